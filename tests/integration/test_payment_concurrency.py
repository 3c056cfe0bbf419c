"""Payments arriving at the same time (domain.md §6: the same trace twice is posted once; a bill is paid
once and a second payment of it waits in suspense; a payment settles what is owed and only the rest becomes
credit).

The threaded tests need PostgreSQL and skip on SQLite: SQLite serialises every writer on one file lock, so
nothing there runs at the same time, and its ``FOR UPDATE`` is a no-op. Each thread has its own session and
connection and waits at a barrier so that all of them call the service together. The bank-file tests at the
end are deterministic (a payment arrives between the file's matching and its posting) and run on both.

Four tests fail today, each on a bug in ``payments`` described in its docstring and in the report of issue
#5: one bill paid at once under several traces, a bounce and a payment deadlocking, and a bank file that
posts what it matched before another payment arrived.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TypeVar

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.db import make_sessionmaker
from barq.ledger import postings as L
from barq.ledger.models import LedgerEntry, LedgerPosting
from barq.ledger.service import Balances, balances, verify
from barq.payments import service
from barq.payments.files import receive_bank_file
from barq.payments.models import Payment
from barq.payments.service import PaymentIn, receive_payment, reverse_payment
from tests.factories import World, build_world
from tests.ledger_factories import issue_bills

THREADS = 8
PAID = date(2026, 11, 20)
RUNS = (
    (140505, date(2026, 7, 10), date(2026, 8, 10)),
    (140506, date(2026, 8, 10), date(2026, 9, 10)),
    (140507, date(2026, 9, 10), date(2026, 10, 10)),
    (140508, date(2026, 10, 10), date(2026, 11, 10)),
)
T = TypeVar("T")


@pytest.fixture
def pg_world(engine: Engine, clock: FixedClock) -> World:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time: concurrent payments need PostgreSQL")
    return build_world(engine, clock)


def _bill_id(world: World, sid: int) -> str:
    with world.session() as s:
        return s.get_one(Subscription, sid).bill_id


def _at_once(work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` for i in 0..7 in eight threads that start it together."""
    barrier = threading.Barrier(THREADS)

    def one(i: int) -> T:
        barrier.wait(timeout=60)
        return work(i)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(THREADS)))


def test_the_same_notification_eight_times_at_once_is_posted_once(pg_world: World) -> None:
    world = pg_world
    sid = world.subscription_ids[0]
    bill = issue_bills(world, 140508, {sid: 310}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))[sid]
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    pay = PaymentIn("melli", "SAME-TRACE-1", _bill_id(world, sid), bill.payment_id, bill.payable, PAID)

    def send(_: int) -> tuple[int, bool, str]:
        with factory() as s:
            got = receive_payment(s, principal=admin, clock=world.clock, payment=pay)
            s.commit()
            return got.payment.id, got.duplicate, got.payment.status

    results = _at_once(send)
    assert len({row for row, _, _ in results}) == 1, results  # all eight got the same payment back
    assert sorted(duplicate for _, duplicate, _ in results) == [False] + [True] * (THREADS - 1)
    assert {status for _, _, status in results} == {"posted"}
    (row,) = {row for row, _, _ in results}
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
        entries = s.scalars(
            select(LedgerEntry.id).where(LedgerEntry.source_type == "payment", LedgerEntry.source_id == row)
        ).all()
        assert len(entries) == 1  # one posting set
        postings = s.execute(
            select(LedgerPosting.account, LedgerPosting.amount).where(LedgerPosting.entry_id == entries[0])
        ).all()
        assert sorted(postings) == sorted([(L.BANK_CLEARING, bill.payable), (L.RECEIVABLE, -bill.payable)])
        assert (balances(s, sid).receivable, balances(s, sid).credit) == (0, 0)
        report = verify(s)
        assert report.ok, report


def test_eight_different_payments_at_once_to_one_subscription_lose_none(pg_world: World) -> None:
    world = pg_world
    sid = world.subscription_ids[0]
    bills = [
        issue_bills(world, cycle, {sid: 150 + 60 * k}, prev=prev, cur=cur)[sid]
        for k, (cycle, prev, cur) in enumerate(RUNS)
    ]
    owed = sum(b.payable for b in bills)
    bill_id = _bill_id(world, sid)
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    with factory() as s:
        assert balances(s, sid).receivable == owed
    # four banks pay the four bills; four cashiers take payments on account (no payment ID): together more
    # than is owed, so whatever the order, the receivable ends at zero and the rest is credit
    sent = [
        PaymentIn(bank, f"B-{bank}", bill_id, b.payment_id, b.payable, PAID)
        for bank, b in zip(("melli", "mellat", "sepah", "tejarat"), bills, strict=True)
    ] + [PaymentIn("counter", f"C-{k}", bill_id, "", 150_000 * (k + 1), PAID) for k in range(4)]
    paid = sum(p.amount for p in sent)
    assert paid > owed

    def send(i: int) -> tuple[str, int | None, int]:
        with factory() as s:
            got = receive_payment(s, principal=admin, clock=world.clock, payment=sent[i])
            s.commit()
            assert not got.duplicate
            return got.payment.status, got.payment.bill_ref, got.payment.to_credit

    results = _at_once(send)
    assert [status for status, _, _ in results] == ["posted"] * THREADS
    assert [ref for _, ref, _ in results] == [b.id for b in bills] + [None] * 4  # each bank's its own bill
    with factory() as s:
        b = balances(s, sid)
        assert (b.receivable, b.credit) == (0, paid - owed)
        assert sum(to_credit for _, _, to_credit in results) == paid - owed
        assert s.scalar(select(func.count()).select_from(Payment)) == THREADS
        clearing = dict(
            s.execute(
                select(LedgerPosting.channel, func.sum(LedgerPosting.amount))
                .where(LedgerPosting.account == L.BANK_CLEARING)
                .group_by(LedgerPosting.channel)
            ).all()
        )
        assert {k: int(v) for k, v in clearing.items()} == {
            **{p.channel: p.amount for p in sent[:4]},
            "counter": sum(p.amount for p in sent[4:]),
        }
        report = verify(s)
        assert report.ok, report


def test_one_bill_paid_eight_times_at_once_under_different_traces_is_paid_once(pg_world: World) -> None:
    """The customer pays the same bill at eight banks at the same moment: one payment pays the bill, the other
    seven match no open bill and wait in suspense for a refund (domain.md §6).

    It failed before ``receive_payment`` took the balance lock before asking whether another payment paid the
    bill: all eight were posted against it (seven became credit), since no transaction saw the others'
    uncommitted rows."""
    world = pg_world
    sid = world.subscription_ids[0]
    bill = issue_bills(world, 140508, {sid: 310}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))[sid]
    bill_id = _bill_id(world, sid)
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    banks = ("melli", "mellat", "sepah", "tejarat", "saderat", "keshavarzi", "refah", "post")

    def send(i: int) -> tuple[str, str | None]:
        pay = PaymentIn(banks[i], f"ONE-BILL-{i}", bill_id, bill.payment_id, bill.payable, PAID)
        with factory() as s:
            got = receive_payment(s, principal=admin, clock=world.clock, payment=pay)
            s.commit()
            return got.payment.status, got.payment.reason

    results = Counter(_at_once(send))
    assert results == {("posted", None): 1, ("suspense", "no_open_bill"): THREADS - 1}
    with factory() as s:
        assert (balances(s, sid).receivable, balances(s, sid).credit) == (0, 0)
        report = verify(s)
        assert report.ok, report


def test_a_bounce_and_a_payment_for_one_subscription_at_once_do_not_deadlock(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bounced payment is reversed while the same subscription pays at the counter. ``reverse_payment``
    locks the customer-credit balance first; ``receive_payment`` locks the receivable first and then, posting
    an overpayment, moves the credit. Each takes its first lock and then waits for the other's: PostgreSQL
    aborts one of them as a deadlock. The two are held at a barrier right after their first lock so that the
    interleaving, which production meets by chance, happens every time; with one lock order for every verb
    the second simply waits at its first lock, the barrier times out, and both go through."""
    world = pg_world
    sid = world.subscription_ids[0]
    bill = issue_bills(world, 140508, {sid: 310}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))[sid]
    bill_id = _bill_id(world, sid)
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    with factory() as s:  # paid on account, 50,000 rials more than owed: credit
        bounced = receive_payment(
            s,
            principal=admin,
            clock=world.clock,
            payment=PaymentIn("counter", "C-1", bill_id, "", bill.payable + 50_000, PAID),
        ).payment.id
        s.commit()
        assert (balances(s, sid).receivable, balances(s, sid).credit) == (0, 50_000)
    real = service.lock_balances
    both = threading.Barrier(2)

    def lock_then_wait(session: Session, subscription_id: int) -> Balances:
        value = real(session, subscription_id)
        with contextlib.suppress(threading.BrokenBarrierError):
            both.wait(timeout=3)
        return value

    monkeypatch.setattr(service, "lock_balances", lock_then_wait)

    def work(i: int) -> None:
        with factory() as s:
            if i == 0:
                reverse_payment(s, principal=admin, clock=world.clock, payment_row=bounced)
            else:
                receive_payment(
                    s,
                    principal=admin,
                    clock=world.clock,
                    payment=PaymentIn("counter", "C-2", bill_id, "", 10_000, PAID),
                )
            s.commit()

    with ThreadPoolExecutor(2) as pool:
        errors = [f.exception() for f in [pool.submit(work, 0), pool.submit(work, 1)]]
    assert errors == [None, None]
    with factory() as s:
        b = balances(s, sid)
        assert b.net == bill.payable - 10_000  # in either order
        report = verify(s)
        assert report.ok, report


# ------------------------------------------------------------------------------------- a bank file meanwhile


def _file(rows: list[tuple[object, ...]]) -> bytes:
    return (
        "\n".join(["trace,bill_id,payment_id,amount,paid_on", *(",".join(map(str, r)) for r in rows)]) + "\n"
    ).encode()


def _file_with_a_payment_meanwhile(engine: Engine, clock: FixedClock, meanwhile: str) -> tuple[World, int, int]:
    """A bank file pays the bill of one subscription; after the file is matched and before its first chunk is
    posted (its ``progress`` callback runs there), the same bill is paid by the bank's API notification
    (``meanwhile="notification"``) or what is owed is paid at the counter on account (``"counter"``).
    Returns the world, the subscription and its bill's id."""
    world = build_world(engine, clock)
    sid = world.subscription_ids[0]
    bill = issue_bills(world, 140508, {sid: 310}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))[sid]
    bill_id = _bill_id(world, sid)
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    data = _file([("F1", bill_id, bill.payment_id, bill.payable, "2026-11-20")])
    other = (
        PaymentIn("melli", "API-1", bill_id, bill.payment_id, bill.payable, PAID)
        if meanwhile == "notification"
        else PaymentIn("counter", "CASH-1", bill_id, "", bill.payable, PAID)
    )

    def arrives(done: int, total: int) -> None:
        if done == 0:
            with factory() as s:
                assert receive_payment(s, principal=admin, clock=world.clock, payment=other).payment.status == "posted"
                s.commit()

    receive_bank_file(factory, principal=admin, clock=world.clock, bank="mellat", data=data, progress=arrives)
    return world, sid, bill.id


# These two fail today (see the report of issue #5): ``receive_bank_file`` matches the whole file, and works
# out each payment's credit from the balances, before it posts any chunk, and ``_post_chunk`` posts what was
# matched without looking again. They are deterministic, so they run on both databases.


def test_a_bill_paid_by_a_notification_while_a_bank_file_posts_is_not_paid_again_by_the_file(
    engine: Engine, clock: FixedClock
) -> None:
    world, sid, bill_ref = _file_with_a_payment_meanwhile(engine, clock, "notification")
    with world.session() as s:
        paying = s.scalars(select(Payment.trace).where(Payment.bill_ref == bill_ref, Payment.status == "posted"))
        assert list(paying) == ["API-1"], "the bill was paid twice: by the notification and by the file"
        file_row = s.scalars(select(Payment).where(Payment.trace == "F1")).one()
        assert (file_row.status, file_row.reason) == ("suspense", "no_open_bill")
        assert balances(s, sid).receivable == 0
        assert verify(s).ok


def test_a_bank_file_payment_after_the_debt_was_paid_at_the_counter_becomes_credit(
    engine: Engine, clock: FixedClock
) -> None:
    world, sid, _ = _file_with_a_payment_meanwhile(engine, clock, "counter")
    with world.session() as s:
        file_row = s.scalars(select(Payment).where(Payment.trace == "F1")).one()
        b = balances(s, sid)
        # nothing was owed any more when the file's payment was posted: all of it is credit, and the
        # receivable is never credited below zero
        assert (file_row.to_credit, b.receivable, b.credit) == (file_row.amount, 0, file_row.amount)
        assert verify(s).ok
