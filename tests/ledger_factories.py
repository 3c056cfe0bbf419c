"""Test data for the ledger and payments: issued bills through a real bill run."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from barq.billing.models import Bill
from barq.billing.service import approve_bill_run, rate_bill_run, start_bill_run
from barq.db import make_sessionmaker
from barq.metering.models import MeterRead
from barq.rating.book import load_default_library
from tests.factories import World

_LIBRARY = load_default_library()


def issue_bills(world: World, cycle: int, kwh: dict[int, int], *, prev: date, cur: date) -> dict[int, Bill]:
    """Give each subscription of ``kwh`` a valid read of that many kWh from ``prev`` to ``cur``, then run,
    rate and approve the bill run of ``cycle`` as admin; returns the issued bills by subscription id."""
    factory = make_sessionmaker(world.engine)
    with factory() as s:
        for sid, k in kwh.items():
            s.add(
                MeterRead(
                    subscription_id=sid,
                    read_on=cur,
                    prev_read_on=prev,
                    kwh=k,
                    code="read",
                    source="test",
                    estimated=False,
                    status="valid",
                )
            )
        s.commit()
    admin = world.principal("admin")
    with factory() as s:
        run_id = start_bill_run(s, principal=admin, clock=world.clock, cycle=cycle).id
        s.commit()
    rate_bill_run(factory, run_id=run_id, library=_LIBRARY, clock=world.clock)
    with factory() as s:
        approve_bill_run(s, principal=admin, clock=world.clock, run_id=run_id)
        s.commit()
        bills = s.scalars(select(Bill).where(Bill.run_id == run_id)).all()
        return {b.subscription_id: b for b in bills}
