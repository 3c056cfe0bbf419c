from __future__ import annotations

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from barq.audit import AuditEntry, history, record
from barq.customers.service import update_customer
from tests.factories import World


def test_audit_log_refuses_update_and_delete(world: World) -> None:
    with world.session() as s:
        entry = record(s, actor="t", action="x.y", subject_type="thing", subject_id=1, at=world.clock.now())
        s.commit()
        with pytest.raises(DBAPIError):
            s.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(actor="someone else"))
        s.rollback()
        with pytest.raises(DBAPIError):
            s.execute(text("DELETE FROM audit_log"))
        s.rollback()
        assert s.scalar(select(func.count()).select_from(AuditEntry)) > 0


def test_customer_change_is_audited_with_before_and_after(world: World) -> None:
    admin = world.principal("admin")
    cid = world.customer_ids[0]
    with world.session() as s:
        c = update_customer(
            s,
            principal=admin,
            clock=world.clock,
            customer_id=cid,
            data={
                "kind": "person",
                "first_name": "رضا",
                "last_name": "سپهوند",
                "national_code": "0013542419",
            },
        )
        s.commit()
        rows = history(s, "customer", c.id)
        assert [r.action for r in rows] == ["customer.create", "customer.update"]
        assert rows[-1].before is not None and rows[-1].after is not None
        assert rows[-1].after["last_name"] == "سپهوند" and rows[-1].before["last_name"] != "سپهوند"
        assert rows[-1].actor == "admin"


def test_a_district_user_sees_a_customer_of_another_district_who_holds_a_subscription_in_its_own(
    world: World,
) -> None:
    from barq.connections.models import Subscription
    from barq.customers.models import Customer
    from barq.customers.service import get_customer
    from barq.errors import NotFound

    manager12 = world.principal("manager12")  # district 12
    with world.session() as s:
        held = {sub.customer_id: sub.district_id for sub in s.scalars(select(Subscription))}
        # every file is kept in district 11, whatever district the subscription is in
        s.execute(update(Customer).values(district_id=world.district_ids["11"]))
        s.commit()
        for cid, district_id in held.items():
            if district_id == world.district_ids["12"]:
                assert get_customer(s, principal=manager12, customer_id=cid).id == cid
            else:
                with pytest.raises(NotFound):
                    get_customer(s, principal=manager12, customer_id=cid)
