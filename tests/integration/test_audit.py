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
