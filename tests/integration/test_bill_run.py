from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from barq.billing.models import Bill, BillRun, BillRunException, issued_bills
from barq.billing.service import approve_bill_run, bill_lines, hold_bill, rate_bill_run, start_bill_run
from barq.db import make_sessionmaker
from barq.ids import validate_payment_id
from barq.metering.models import MeterRead
from barq.rating.book import load_default_library
from barq.rating.engine import RatingInput, rate_bill
from tests.factories import World

CYCLE = 140508  # Aban 1405


def _add_read(world: World, sub_id: int, prev: date, cur: date, kwh: int, *, estimated: bool = False) -> None:
    with world.session() as s:
        s.add(
            MeterRead(
                subscription_id=sub_id,
                read_on=cur,
                prev_read_on=prev,
                kwh=kwh,
                code="read",
                source="test",
                estimated=estimated,
                status="valid",
            )
        )
        s.commit()


@pytest.fixture
def library():  # type: ignore[no-untyped-def]
    return load_default_library()


def test_run_prices_like_the_engine_and_approval_issues(world: World, library) -> None:  # type: ignore[no-untyped-def]
    subs = world.subscription_ids
    _add_read(world, subs[0], date(2026, 9, 25), date(2026, 10, 25), 180)
    _add_read(world, subs[1], date(2026, 9, 25), date(2026, 10, 26), 420, estimated=True)
    # subs[2] has no read: an exception, not a crash
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    with factory() as s:
        run = start_bill_run(s, principal=admin, clock=world.clock, cycle=CYCLE)
        s.commit()
        run_id = run.id
    run = rate_bill_run(factory, run_id=run_id, library=library, clock=world.clock, chunk_size=1)
    assert run.state == "review" and run.rated_count == 2 and run.exception_count == 1
    with factory() as s:
        bills = {b.subscription_id: b for b in s.scalars(select(Bill).where(Bill.run_id == run_id))}
        assert set(bills) == {subs[0], subs[1]}
        expected = rate_bill(
            library,
            RatingInput(
                group=1, sub_code="1", zone="normal", prev_date=date(2026, 9, 25), cur_date=date(2026, 10, 25), kwh=180
            ),
        )
        b0 = bills[subs[0]]
        assert (b0.total, b0.payable, b0.carry_out) == (expected.total, expected.payable, expected.carry)
        lines = bill_lines(s, [b0])[b0.id]
        assert [ln.code for ln in lines] == [ln.code for ln in expected.lines]
        assert [ln.amount for ln in lines] == [ln.amount for ln in expected.lines]
        assert b0.payment_id is not None
        validate_payment_id(b0.payment_id, _bill_id(s, subs[0]))
        kinds = {sid: k for sid, k in s.execute(select(BillRunException.subscription_id, BillRunException.kind))}
        assert kinds == {subs[1]: "estimated", subs[2]: "no_read"}
        hold_bill(s, principal=admin, clock=world.clock, bill_id=bills[subs[1]].id)
        run2 = approve_bill_run(s, principal=admin, clock=world.clock, run_id=run_id)
        s.commit()
        assert run2.state == "issued" and run2.issued_count == 1
        issued = s.scalars(select(Bill).where(Bill.cycle == CYCLE)).all()
        assert [(b.subscription_id, b.state) for b in issued] == [(subs[0], "rated")]
        assert run2.due_on is not None and run2.issued_on is not None and (run2.due_on - run2.issued_on).days == 10
        assert s.scalars(select(Bill).where(issued_bills())).all() == issued


def _bill_id(s, sub_id: int) -> str:  # type: ignore[no-untyped-def]
    from barq.connections.models import Subscription

    return s.get(Subscription, sub_id).bill_id  # type: ignore[no-any-return]


def test_rerun_after_a_crash_bills_each_subscription_once(world: World, library) -> None:  # type: ignore[no-untyped-def]
    for sid in world.subscription_ids:
        _add_read(world, sid, date(2026, 9, 25), date(2026, 10, 25), 150 + sid)
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    with factory() as s:
        run_id = start_bill_run(s, principal=admin, clock=world.clock, cycle=CYCLE).id
        s.commit()

    def crash(done: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rate_bill_run(factory, run_id=run_id, library=library, clock=world.clock, chunk_size=1, after_chunk=crash)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Bill)) == 1
    run = rate_bill_run(factory, run_id=run_id, library=library, clock=world.clock, chunk_size=1)
    assert run.rated_count == 3
    with factory() as s:
        counts = s.execute(select(Bill.subscription_id, func.count()).group_by(Bill.subscription_id)).all()
        assert sorted(c for _, c in counts) == [1, 1, 1]
        approve_bill_run(s, principal=admin, clock=world.clock, run_id=run_id)
        s.commit()
        # a second run on the issued cycle changes nothing
        again = start_bill_run(s, principal=admin, clock=world.clock, cycle=CYCLE)
        s.commit()
        again_id = again.id
    run3 = rate_bill_run(factory, run_id=again_id, library=library, clock=world.clock)
    assert run3.rated_count == 0 and run3.due_count == 0
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Bill)) == 3
        assert s.get_one(BillRun, again_id).state == "review"


def test_a_subscription_the_books_cannot_price_is_an_exception_not_a_crash(world: World, library) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from barq.connections.models import Subscription

    for sid in world.subscription_ids:
        _add_read(world, sid, date(2026, 9, 25), date(2026, 10, 25), 200)
    with world.session() as s:  # a sub-code no book knows (e.g. loaded from an old system)
        s.execute(update(Subscription).where(Subscription.id == world.subscription_ids[1]).values(tariff_sub_code="9"))
        s.commit()
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    with factory() as s:
        run_id = start_bill_run(s, principal=admin, clock=world.clock, cycle=CYCLE).id
        s.commit()
    run = rate_bill_run(factory, run_id=run_id, library=library, clock=world.clock)
    assert (run.rated_count, run.exception_count) == (2, 1)
    with factory() as s:
        kinds = {sid: k for sid, k in s.execute(select(BillRunException.subscription_id, BillRunException.kind))}
        assert kinds == {world.subscription_ids[1]: "rating_error"}
