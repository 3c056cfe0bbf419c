"""Test data: a small world with reference data, roles, contractors, users and customers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from barq.auth.models import User
from barq.auth.service import Principal, create_user, ensure_roles, principal_for
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.connections.service import open_subscription
from barq.contractors.models import Contract, Contractor
from barq.customers.models import Customer, Premises
from barq.customers.service import create_customer, create_premises
from barq.db import make_sessionmaker
from barq.ids import make_legal_id, make_national_code, make_postal_code
from barq.network.models import District
from barq.network.service import seed_reference_data

PASSWORD = "secret-pass-1"
COMPANY_CODE = "123"
WORK_TYPES = (
    "inspection",
    "installation",
    "meter_replacement",
    "reread",
    "disconnection",
    "reconnection",
    "meter_test",
    "removal",
)


@dataclass
class World:
    engine: Engine
    clock: Clock
    district_ids: dict[str, int]  # code -> id
    contractor_ids: dict[str, int]  # "a" / "b" / "c"
    users: dict[str, int] = field(default_factory=dict)  # username -> id
    customer_ids: list[int] = field(default_factory=list)
    subscription_ids: list[int] = field(default_factory=list)

    def session(self) -> Session:
        return make_sessionmaker(self.engine)()

    def principal(self, username: str) -> Principal:
        from barq.auth.models import User

        with self.session() as s:
            user = s.get(User, self.users[username])
            assert user is not None
            return principal_for(s, user)


def build_world(engine: Engine, clock: Clock, *, customers: int = 3) -> World:
    rng = random.Random(7)
    with make_sessionmaker(engine)() as s:
        seed_reference_data(s, company_code=COMPANY_CODE, company_name="شرکت آزمایشی")
        ensure_roles(s)
        districts = {d.code: d.id for d in s.scalars(select(District))}
        contractors: dict[str, int] = {}
        for key, name, district in (
            ("a", "پیمانکار الف", "11"),
            ("b", "پیمانکار ب", "11"),
            ("c", "پیمانکار پ", "12"),
        ):
            c = Contractor(name=name, legal_id=make_legal_id(rng))
            s.add(c)
            s.flush()
            contractors[key] = c.id
            for wt in WORK_TYPES:
                s.add(
                    Contract(
                        number=f"C-{key}-{wt}",
                        contractor_id=c.id,
                        district_id=districts[district],
                        work_type=wt,
                        valid_from=date(2020, 1, 1),
                        valid_to=date(2030, 12, 31),
                    )
                )
        world = World(engine=engine, clock=clock, district_ids=districts, contractor_ids=contractors)
        specs: list[tuple[str, list[str], dict[str, Any]]] = [
            ("admin", ["admin"], {}),
            ("clerk", ["clerk"], {}),
            ("clerk11", ["clerk"], {"district_id": districts["11"]}),
            ("head", ["head_of_unit"], {}),
            ("manager12", ["district_manager"], {"district_id": districts["12"]}),
            ("contra", ["contractor"], {"contractor_id": contractors["a"]}),
            ("contrb", ["contractor"], {"contractor_id": contractors["b"]}),
            ("field", ["field_staff"], {}),
            ("revenue", ["revenue_clerk"], {}),
        ]
        for username, roles, scope in specs:
            u = create_user(
                s,
                username=username,
                full_name=f"کاربر {username}",
                password=PASSWORD,
                roles=roles,
                clock=clock,
                actor="test",
                **scope,
            )
            world.users[username] = u.id
        s.commit()
        admin = principal_for(s, s.get_one(User, world.users["admin"]))
        for i in range(customers):
            district_code = "11" if i % 2 == 0 else "12"
            c = create_customer(
                s,
                principal=admin,
                clock=clock,
                data={
                    "kind": "person",
                    "first_name": "علی",
                    "last_name": f"بیرانوند{i}",
                    "national_code": make_national_code(rng),
                    "mobile": f"0916{i:07d}",
                    "district_id": districts[district_code],
                },
            )
            p = create_premises(
                s,
                principal=admin,
                clock=clock,
                data={
                    "district_id": districts[district_code],
                    "zone": "normal",
                    "address": f"خرم‌آباد، خیابان شریعتی، پلاک {i + 1}",
                    "postal_code": make_postal_code(rng),
                },
            )
            sub = open_subscription(
                s,
                principal=admin,
                clock=clock,
                company_code=COMPANY_CODE,
                data={
                    "customer_id": c.id,
                    "premises_id": p.id,
                    "tariff_group": 1,
                    "tariff_sub_code": "1",
                    "phase": 1,
                    "amperage": 25,
                    "contract_kw": "5.5",
                    "households": 1,
                },
            )
            world.customer_ids.append(c.id)
            world.subscription_ids.append(sub.id)
        s.commit()
    return world


def one(session: Session, model: Any, **by: Any) -> Any:
    return session.scalars(select(model).filter_by(**by)).one()


__all__ = ["Customer", "Premises", "Subscription", "World", "build_world", "one"]
