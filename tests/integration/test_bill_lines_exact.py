"""Every bill a run issues shows exactly the lines the scalar engine gives for the same inputs, whether
the lines were stored or made again (add-ons of one-part bills, carried remainders). On a small demo
province with two months of history: Mehr 1405 periods cross the end of the warm months (split bills)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, select, text

from barq.billing.models import Bill, issued_bills
from barq.billing.service import bill_lines, demand_codes
from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.customers.models import Premises
from barq.db import make_sessionmaker
from barq.demo.generator import build_demo
from barq.demo.history import build_history
from barq.rating.book import load_default_library
from barq.rating.engine import DemandInput, RatingInput, rate_bill


def test_stored_and_remade_lines_equal_the_engine(engine: Engine) -> None:
    clock = FixedClock()
    build_demo(engine, accounts=600, seed=5, clock=clock)
    with engine.begin() as conn:  # a contract demand with a fraction bills its whole kilowatts on both databases
        conn.execute(text("UPDATE subscription SET contract_kw = contract_kw + 0.7 WHERE id % 2 = 0"))
    build_history(engine, clock=clock, months=3, seed=5)
    library = load_default_library()
    demand = demand_codes(library)
    checked = split = 0
    with make_sessionmaker(engine)() as s:
        rows = s.execute(
            select(Bill, Subscription, Premises.zone)
            .join(Subscription, Subscription.id == Bill.subscription_id)
            .join(Premises, Premises.id == Subscription.premises_id)
            .where(issued_bills())
            .order_by(Bill.id)
        ).all()
        shown = bill_lines(s, [b for b, _, _ in rows], library)
        for bill, sub, zone in rows:
            expected = rate_bill(
                library,
                RatingInput(
                    group=sub.tariff_group,
                    sub_code=sub.tariff_sub_code,
                    zone=zone,
                    prev_date=bill.prev_read_on,
                    cur_date=bill.cur_read_on,
                    kwh=bill.kwh,
                    peak_kwh=bill.peak_kwh,
                    offpeak_kwh=bill.offpeak_kwh,
                    households=sub.households,
                    medical=sub.medical_valid_on(bill.cur_read_on),
                    carry_in=bill.carry_in,
                    demand=DemandInput(contract_kw=int(sub.contract_kw), maximeter_kw=Decimal(0))
                    if sub.tariff_sub_code in demand
                    else None,
                ),
            )
            got = [(ln.code, ln.part, ln.version, ln.quantity_milli, ln.rate_milli, ln.amount) for ln in shown[bill.id]]
            want = [
                (ln.code, ln.part, ln.version, int(ln.quantity * 1000), int(ln.rate * 1000), ln.amount)
                for ln in expected.lines
            ]
            assert got == want, bill.id
            assert (bill.total, bill.payable, bill.carry_out) == (expected.total, expected.payable, expected.carry)
            checked += 1
            split += len(expected.parts) > 1
    assert checked > 1000 and split > 100
