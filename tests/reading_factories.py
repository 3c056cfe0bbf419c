"""Test data for meter reading: routes with readers, meters on every subscription, and a reading state.

``build_reading(world)`` works on a ``build_world(..., customers=6)`` world (subscriptions alternate between
districts 11 and 12). Routes:

- ``R11A`` (district 11, contractor a, reader ``reader_a``): subscriptions 0 and 4
- ``R11B`` (district 11, contractor b, reader ``reader_b``): subscription 2
- ``R12`` (district 12, contractor c, reader ``reader_c``): subscriptions 1, 3 and 5

Every subscription has a 5-digit single-register meter (multiplier 1) installed on 2026-03-21 with
initial read 1000, and a reading state: last actual read 12 000 on 2026-10-22, after three 30-day actual
periods of 300 kWh each (expected 10 kWh a day).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from barq.auth.models import User
from barq.auth.service import create_user
from barq.connections.models import Subscription
from barq.metering.models import Meter, MeterInstallation, ReadingState, RouteMembership
from barq.metering.service import install_meter
from barq.network.models import Route
from tests.factories import PASSWORD, World

INSTALLED_ON = date(2026, 3, 21)
LAST_ON = date(2026, 10, 22)
LAST_VALUE = 12_000
PERIOD_KWH = 300


@dataclass
class Reading:
    world: World
    route_ids: dict[str, int] = field(default_factory=dict)  # code -> id
    meter_ids: dict[int, int] = field(default_factory=dict)  # subscription id -> meter id
    numbers: dict[int, str] = field(default_factory=dict)  # subscription id -> subscription number

    def subs_on(self, code: str) -> list[int]:
        with self.world.session() as s:
            return list(
                s.scalars(
                    select(Subscription.id)
                    .where(Subscription.route_id == self.route_ids[code])
                    .order_by(Subscription.route_sequence)
                )
            )


def build_reading(world: World) -> Reading:
    out = Reading(world=world)
    with world.session() as s:
        readers = {}
        for username, contractor in (("reader_a", "a"), ("reader_b", "b"), ("reader_c", "c")):
            u = create_user(
                s,
                username=username,
                full_name=f"مامور {username}",
                password=PASSWORD,
                roles=["reader"],
                clock=world.clock,
                actor="test",
                contractor_id=world.contractor_ids[contractor],
            )
            world.users[username] = u.id
            readers[username] = u.id
        for code, district, contractor, reader in (
            ("R11A", "11", "a", "reader_a"),
            ("R11B", "11", "b", "reader_b"),
            ("R12", "12", "c", "reader_c"),
        ):
            r = Route(
                district_id=world.district_ids[district],
                code=code,
                name=f"مسیر {code}",
                cycle_days=30,
                contractor_id=world.contractor_ids[contractor],
                reader_id=readers[reader],
                window_start=1,
                window_end=25,
            )
            s.add(r)
            s.flush()
            out.route_ids[code] = r.id
        placement = {0: "R11A", 4: "R11A", 2: "R11B", 1: "R12", 3: "R12", 5: "R12"}
        seq: dict[str, int] = {}
        for k, sub_id in enumerate(world.subscription_ids):
            sub = s.get_one(Subscription, sub_id)
            code = placement[k]
            seq[code] = seq.get(code, 0) + 10
            sub.route_id = out.route_ids[code]
            sub.route_sequence = seq[code]
            s.add(
                RouteMembership(subscription_id=sub_id, route_id=sub.route_id, sequence=seq[code], from_on=INSTALLED_ON)
            )
            m = Meter(
                serial=f"T{sub_id:08d}",
                kind="single",
                registers="active",
                digits=5,
                multiplier=1,
                phase=1,
                accuracy_class="1",
                manufacture_year=2024,
                state="installed",
            )
            s.add(m)
            s.flush()
            s.add(
                MeterInstallation(subscription_id=sub_id, meter_id=m.id, installed_on=INSTALLED_ON, initial_read=1000)
            )
            s.add(
                ReadingState(
                    subscription_id=sub_id,
                    meter_id=m.id,
                    last_value=LAST_VALUE,
                    last_actual_on=LAST_ON,
                    last_on=LAST_ON,
                    estimated_kwh=0,
                    door_closed_run=0,
                    h1_kwh=PERIOD_KWH,
                    h1_days=30,
                    h1_on=LAST_ON,
                    h2_kwh=PERIOD_KWH,
                    h2_days=30,
                    h2_on=date(2026, 9, 22),
                    h3_kwh=PERIOD_KWH,
                    h3_days=30,
                    h3_on=date(2026, 8, 23),
                )
            )
            out.meter_ids[sub_id] = m.id
            out.numbers[sub_id] = sub.subscription_number
        s.commit()
        assert s.get(User, readers["reader_a"]) is not None
    return out


def replace_meter(rd: Reading, sub_id: int, serial: str, *, kind: str = "single", multiplier: int = 1) -> None:
    """A new 6-digit meter for the subscription, installed on 1405/08/15 reading 5; the old one's final read
    is 12 100."""
    with rd.world.session() as s:
        s.add(
            Meter(
                serial=serial,
                kind=kind,
                registers="active" if kind == "single" else "active,peak,offpeak",
                digits=6,
                multiplier=multiplier,
                phase=1 if kind == "single" else 3,
                accuracy_class="1",
                manufacture_year=2025,
                state="in_stock",
            )
        )
        s.commit()
        install_meter(
            s,
            principal=rd.world.principal("admin"),
            clock=rd.world.clock,
            subscription_id=sub_id,
            data={"serial": serial, "installed_on": "1405/08/15", "initial_read": "5", "final_read": "12100"},
        )
        s.commit()
