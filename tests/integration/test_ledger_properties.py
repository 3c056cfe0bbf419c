"""Random sequences of bills, payments, bounces, suspense, credits, fees and adjustments keep the ledger
provable (domain.md §6, architecture rule 4). After **every** step:

- ``verify`` is ok: each entry sums to zero and is complete, the ledger sums to zero, every stored balance
  equals its postings;
- the same, recomputed here with plain SQL: the postings sum to zero, and for every per-subscription account
  the stored balance, the sum of its postings and an independent model of the rules agree to the rial; the
  company accounts and each channel's clearing account agree with the model too;
- every payment row has the status, subscription, bill and credit the model expects (a bank file's rows
  as if they had been received one by one, in file order).

The model is written from the rules, not from the code: a payment settles what is owed (never below zero)
and the rest becomes credit; a bill is paid by one payment whose payment ID and amount match it while it is
open; a bounce takes back unused credit first; a resolution settles what is owed and credits the rest;
credits settle what is owed after each bill run and fee.

Each example starts from the same small world (three subscriptions): on SQLite a copy of a template file,
on PostgreSQL the template's database with the tables the steps write truncated. ``BARQ_LEDGER_EXAMPLES``
and ``BARQ_LEDGER_STEPS`` run it longer (defaults keep it to a few seconds per database).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select, text

from barq.auth.service import Principal
from barq.billing.posting import apply_credits, post_fee
from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.db import make_engine, make_sessionmaker
from barq.errors import InvalidTransition
from barq.ids import build_bill_id, build_payment_id
from barq.ledger import postings as L
from barq.ledger.service import post, verify
from barq.payments.files import receive_bank_file
from barq.payments.models import Payment
from barq.payments.service import PaymentIn, receive_payment, refund_suspense, resolve_suspense, reverse_payment
from barq.tables import metadata
from tests.factories import COMPANY_CODE, World, build_world
from tests.ledger_factories import issue_bills

EXAMPLES = int(os.environ.get("BARQ_LEDGER_EXAMPLES", "6"))
STEPS = int(os.environ.get("BARQ_LEDGER_STEPS", "15"))
BANKS = ("melli", "mellat", "sepah")
# real bill runs: (cycle, previous read, this read); an example runs at most these four
RUNS = (
    (140505, date(2026, 7, 10), date(2026, 8, 10)),
    (140506, date(2026, 8, 10), date(2026, 9, 10)),
    (140507, date(2026, 9, 10), date(2026, 10, 10)),
    (140508, date(2026, 10, 10), date(2026, 11, 10)),
)
SUBS = 3
KWH = st.lists(st.integers(20, 1_500), min_size=SUBS, max_size=SUBS)
REVENUE = {
    "energy": L.ENERGY_REVENUE_CODE,
    "levy": L.LEVY_PAYABLE_CODE,
    "vat": L.VAT_PAYABLE_CODE,
    "insurance": L.INSURANCE_PAYABLE_CODE,
}


@dataclass
class BillSeen:
    ref: int
    subscription_id: int
    payment_id: str
    payable: int


@dataclass
class PaymentSeen:
    row: int
    sent: PaymentIn
    status: str
    subscription_id: int | None
    bill_ref: int | None
    to_credit: int


@dataclass
class Template:
    """The world every example starts from, and how to get a fresh copy of it."""

    world: World
    admin: Principal
    bill_ids: dict[int, str]
    path: Path | None  # the SQLite template file
    scratch: list[str]  # PostgreSQL: the tables to truncate
    tmp: Path

    def fresh(self, n: int) -> World:
        if self.path is not None:
            copy = self.tmp / f"example-{n}.db"
            src, dst = sqlite3.connect(self.path), sqlite3.connect(copy)
            with dst:
                src.backup(dst)
            src.close()
            dst.close()
            return dataclasses.replace(self.world, engine=make_engine(f"sqlite:///{copy}"))
        with self.world.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(self.scratch)} RESTART IDENTITY"))
        return self.world


def _template(engine: Engine, tmp: Path) -> Template:
    world = build_world(engine, FixedClock(), customers=SUBS)
    with world.session() as s:
        bill_ids = {sid: s.get_one(Subscription, sid).bill_id for sid in world.subscription_ids}
        empty = {t.name for t in metadata.sorted_tables if not s.scalar(select(func.count()).select_from(t))}
    # the tables the world left empty, less any a kept table refers to (TRUNCATE without CASCADE)
    kept_refer = {fk.column.table.name for t in metadata.sorted_tables if t.name not in empty for fk in t.foreign_keys}
    scratch = sorted(empty - kept_refer)
    path = Path(engine.url.database or "") if engine.dialect.name == "sqlite" else None
    return Template(world, world.principal("admin"), bill_ids, path, scratch, tmp)


# ------------------------------------------------------------------------------------- the machine


class LedgerMachine(RuleBasedStateMachine):
    template: Template
    examples = 0

    def __init__(self) -> None:
        super().__init__()
        cls = type(self)
        cls.examples += 1
        self.world = cls.template.fresh(cls.examples)
        self.factory = make_sessionmaker(self.world.engine)
        self.admin = cls.template.admin
        self.subs = self.world.subscription_ids
        self.runs = list(RUNS)
        self.bills: list[BillSeen] = []
        self.payments: list[PaymentSeen] = []
        self.traces = 0
        # the model, in the ledger's signs (debit positive)
        self.bal: Counter[tuple[int, str]] = Counter()  # per-subscription accounts
        self.company: Counter[str] = Counter()  # company accounts by code
        self.clearing: Counter[str] = Counter()  # bank clearing by channel
        with self.factory() as s:
            for table in ("ledger_posting", "ledger_balance", "payment", "bill", "meter_read"):
                assert s.scalar(text(f"SELECT COUNT(*) FROM {table}")) == 0, table

    def teardown(self) -> None:
        if self.world.engine is not type(self).template.world.engine:
            self.world.engine.dispose()

    # --------------------------------------------------------------------------------- model moves

    def _owed(self, sid: int) -> int:
        return self.bal[(sid, L.RECEIVABLE)]

    def _settle(self, sid: int, amount: int) -> int:
        """A payment or resolution of ``amount`` to ``sid``: settles what is owed, the rest is credit."""
        to_credit = amount - min(amount, max(self._owed(sid), 0))
        self.bal[(sid, L.RECEIVABLE)] -= amount - to_credit
        self.bal[(sid, L.CUSTOMER_CREDIT)] -= to_credit
        return to_credit

    def _apply_credits(self, only: int | None = None) -> None:
        for sid in self.subs if only is None else [only]:
            take = min(-self.bal[(sid, L.CUSTOMER_CREDIT)], self._owed(sid))
            if take > 0:
                self.bal[(sid, L.CUSTOMER_CREDIT)] += take
                self.bal[(sid, L.RECEIVABLE)] -= take

    def _paid(self, ref: int) -> bool:
        return any(p.bill_ref == ref and p.status in ("posted", "resolved") for p in self.payments)

    def _trace(self) -> str:
        self.traces += 1
        return f"P{self.traces}"

    def _pick(self, items: list[PaymentSeen], pick: int) -> PaymentSeen:
        return items[pick % len(items)]

    # --------------------------------------------------------------------------------- bills

    @rule(
        sub=st.integers(0, SUBS - 1),
        energy=st.integers(1_000, 9_000_000),
        levy=st.integers(0, 400_000),
        vat=st.integers(0, 900_000),
        insurance=st.integers(0, 5_000),
        carry=st.integers(-999, 999),
    )
    def bill_entry(self, sub: int, energy: int, levy: int, vat: int, insurance: int, carry: int) -> None:
        """A bill posted through ``post`` with the pure builder (no bill row: nothing to pay it by ID)."""
        sid = self.subs[sub]
        with self.factory() as s:
            post(s, entry=L.bill_entry(sid, energy, levy, vat, insurance, carry), actor="t", at=self._at, on=self._on)
            s.commit()
        self.bal[(sid, L.RECEIVABLE)] += energy + levy + vat + insurance - carry
        self.bal[(sid, L.ROUNDING_CARRY)] += carry
        for name, amount in zip(REVENUE.values(), (energy, levy, vat, insurance), strict=True):
            self.company[name] -= amount

    @initialize(kwh=KWH)
    def first_bill_run(self, kwh: list[int]) -> None:
        self.bill_run(kwh)

    @precondition(lambda self: len(self.runs) > 1)  # at most three real runs an example: they are the slow step
    @rule(kwh=KWH)
    def bill_run(self, kwh: list[int]) -> None:
        """A real bill run: reads, rating, approval; approval posts the bills and then applies credits."""
        cycle, prev, cur = self.runs.pop(0)
        bills = issue_bills(self.world, cycle, dict(zip(self.subs, kwh, strict=True)), prev=prev, cur=cur)
        for b in bills.values():
            if b.state != "rated":
                continue
            self.bal[(b.subscription_id, L.RECEIVABLE)] += b.payable
            self.bal[(b.subscription_id, L.ROUNDING_CARRY)] += b.carry_out - b.carry_in
            self.company[REVENUE["energy"]] -= b.total - b.levy - b.vat - b.insurance
            self.company[REVENUE["levy"]] -= b.levy
            self.company[REVENUE["vat"]] -= b.vat
            self.company[REVENUE["insurance"]] -= b.insurance
            if b.payable > 0 and b.payment_id:
                self.bills.append(BillSeen(b.id, b.subscription_id, b.payment_id, b.payable))
        self._apply_credits()

    @rule(
        sub=st.integers(0, SUBS - 1), kind=st.sampled_from(["connection", "service"]), amount=st.integers(1, 5_000_000)
    )
    def fee(self, sub: int, kind: str, amount: int) -> None:
        sid = self.subs[sub]
        with self.factory() as s:
            post_fee(
                s, subscription_id=sid, kind=kind, amount=amount, doc_id=None, on=self._on, due=self._on,
                actor="t", at=self._at, memo="fee",
            )  # fmt: skip
            s.commit()
        self.bal[(sid, L.RECEIVABLE)] += amount
        self.company[L.CONNECTION_REVENUE_CODE if kind == "connection" else L.SERVICE_FEE_REVENUE_CODE] -= amount
        self._apply_credits(sid)

    @rule(sub=st.integers(0, SUBS - 1), amount=st.integers(-3_000_000, 3_000_000).filter(bool))
    def adjustment(self, sub: int, amount: int) -> None:
        sid = self.subs[sub]
        with self.factory() as s:
            post(s, entry=L.adjustment_entry(sid, amount, memo="تعدیل"), actor="t", at=self._at, on=self._on)
            s.commit()
        self.bal[(sid, L.RECEIVABLE)] += amount
        self.company[L.ENERGY_REVENUE_CODE] -= amount

    @rule(sub=st.one_of(st.none(), st.integers(0, SUBS - 1)))
    def credits(self, sub: int | None) -> None:
        sid = None if sub is None else self.subs[sub]
        with self.factory() as s:
            apply_credits(s, actor="t", at=self._at, on=self._on, subscription_id=sid)
            s.commit()
        self._apply_credits(sid)

    # --------------------------------------------------------------------------------- payments

    def _receive(self, sent: PaymentIn) -> None:
        """Post ``sent`` and check what came back against the model's expectation."""
        with self.factory() as s:
            got = receive_payment(s, principal=self.admin, clock=self.world.clock, payment=sent)
            s.commit()
        assert not got.duplicate
        seen = self._expect(sent, got.payment.id)
        assert (got.payment.status, got.payment.bill_ref, got.payment.to_credit) == (
            seen.status,
            seen.bill_ref,
            seen.to_credit,
        )

    def _expect(self, sent: PaymentIn, row: int) -> PaymentSeen:
        """What the rules make of ``sent`` (stored as payment ``row``), moved into the model."""
        sid = next((k for k, v in type(self).template.bill_ids.items() if v == sent.bill_id), None)
        bill = next((b for b in self.bills if b.payment_id == sent.payment_id and b.subscription_id == sid), None)
        on_account = sent.channel == "counter" and not sent.payment_id
        matched = sid is not None and (
            on_account or (bill is not None and sent.amount == bill.payable and not self._paid(bill.ref))
        )
        self.clearing[sent.channel] += sent.amount
        if matched:
            assert sid is not None
            seen = PaymentSeen(row, sent, "posted", sid, bill.ref if bill and not on_account else None, 0)
            seen.to_credit = self._settle(sid, sent.amount)
        else:
            seen = PaymentSeen(row, sent, "suspense", sid, None, 0)
            self.company[L.SUSPENSE_CODE] -= sent.amount
        self.payments.append(seen)
        return seen

    @precondition(lambda self: self.bills)
    @rule(pick=st.integers(0, 1_000), bank=st.sampled_from(BANKS))
    def pay_bill(self, pick: int, bank: str) -> None:
        """A bank pays a bill by its IDs: matched while the bill is open, to suspense once it is paid."""
        bill = self.bills[pick % len(self.bills)]
        bill_id = type(self).template.bill_ids[bill.subscription_id]
        self._receive(PaymentIn(bank, self._trace(), bill_id, bill.payment_id, bill.payable, self._on))

    @precondition(lambda self: self.bills)
    @rule(pick=st.integers(0, 1_000), bank=st.sampled_from(BANKS), delta=st.integers(-5, 5).filter(bool))
    def pay_wrong_amount(self, pick: int, bank: str, delta: int) -> None:
        bill = self.bills[pick % len(self.bills)]
        amount = bill.payable + delta * 1000 if bill.payable + delta * 1000 > 0 else bill.payable + 1000
        bill_id = type(self).template.bill_ids[bill.subscription_id]
        self._receive(PaymentIn(bank, self._trace(), bill_id, bill.payment_id, amount, self._on))

    @precondition(lambda self: self.bills)
    @rule(
        rows=st.lists(st.tuples(st.integers(0, 1_000), st.sampled_from([0, 0, 0, -2, 3])), min_size=1, max_size=4),
        bank=st.sampled_from(BANKS),
    )
    def bank_file(self, rows: list[tuple[int, int]], bank: str) -> None:
        """A bank file of a few payments (matched, a bill paid twice, wrong amounts), matched set-based and
        posted with ``post_selected``: it must come out as if its rows had been received one by one."""
        sent: list[PaymentIn] = []
        for pick, delta in rows:
            bill = self.bills[pick % len(self.bills)]
            amount = bill.payable + delta * 1000 if bill.payable + delta * 1000 > 0 else bill.payable
            bill_id = type(self).template.bill_ids[bill.subscription_id]
            sent.append(PaymentIn(bank, self._trace(), bill_id, bill.payment_id, amount, self._on))
        data = "trace,bill_id,payment_id,amount,paid_on\n" + "".join(
            f"{p.trace},{p.bill_id},{p.payment_id},{p.amount},{p.paid_on.isoformat()}\n" for p in sent
        )
        result = receive_bank_file(
            self.factory, principal=self.admin, clock=self.world.clock, bank=bank, data=data.encode()
        )
        with self.factory() as s:
            row_of = dict(s.execute(select(Payment.trace, Payment.id).where(Payment.batch_id == result.batch_id)).all())
        for p in sent:
            self._expect(p, row_of[p.trace])

    @rule(sub=st.integers(0, SUBS - 1), amount=st.integers(1, 8_000_000))
    def pay_on_account(self, sub: int, amount: int) -> None:
        """At the counter with no payment ID: any amount toward what is owed, the rest (if any) is credit."""
        bill_id = type(self).template.bill_ids[self.subs[sub]]
        self._receive(PaymentIn("counter", self._trace(), bill_id, "", amount, self._on))

    @rule(amount=st.integers(1, 5_000).map(lambda k: k * 1000), bank=st.sampled_from(BANKS))
    def pay_unknown_bill(self, amount: int, bank: str) -> None:
        """Good check digits, but the bill ID names no subscription: to suspense, owned by nobody."""
        bill_id = build_bill_id(987_654, COMPANY_CODE)
        payment_id = build_payment_id(bill_id=bill_id, amount=amount, year=1405, period=7)
        self._receive(PaymentIn(bank, self._trace(), bill_id, payment_id, amount, self._on))

    @precondition(lambda self: self.payments)
    @rule(pick=st.integers(0, 1_000))
    def same_notification_again(self, pick: int) -> None:
        first = self._pick(self.payments, pick)
        with self.factory() as s:
            got = receive_payment(s, principal=self.admin, clock=self.world.clock, payment=first.sent)
            s.commit()
        assert got.duplicate and got.payment.id == first.row

    @precondition(lambda self: self.payments)
    @rule(pick=st.integers(0, 1_000))
    def bounce(self, pick: int) -> None:
        p = self._pick(self.payments, pick)
        with self.factory() as s:
            if p.status not in ("posted", "resolved", "suspense"):
                with pytest.raises(InvalidTransition):
                    reverse_payment(s, principal=self.admin, clock=self.world.clock, payment_row=p.row)
                return
            reverse_payment(s, principal=self.admin, clock=self.world.clock, payment_row=p.row)
            s.commit()
        self.clearing[p.sent.channel] -= p.sent.amount
        if p.status == "suspense":
            self.company[L.SUSPENSE_CODE] += p.sent.amount
        else:
            assert p.subscription_id is not None
            held = -self.bal[(p.subscription_id, L.CUSTOMER_CREDIT)]
            from_credit = min(p.to_credit, max(held, 0))
            self.bal[(p.subscription_id, L.CUSTOMER_CREDIT)] += from_credit
            self.bal[(p.subscription_id, L.RECEIVABLE)] += p.sent.amount - from_credit
        p.status = "reversed"

    @precondition(lambda self: any(p.status == "suspense" for p in self.payments))
    @rule(pick=st.integers(0, 1_000), sub=st.integers(0, SUBS - 1))
    def resolve(self, pick: int, sub: int) -> None:
        """Give a suspended payment to a subscription: it settles what that one owes, the rest is credit."""
        p = self._pick([p for p in self.payments if p.status == "suspense"], pick)
        sid = self.subs[sub]
        with self.factory() as s:
            got = resolve_suspense(
                s, principal=self.admin, clock=self.world.clock, payment_row=p.row, subscription_id=sid
            )
            s.commit()
        self.company[L.SUSPENSE_CODE] += p.sent.amount
        p.status, p.subscription_id, p.to_credit = "resolved", sid, self._settle(sid, p.sent.amount)
        assert got.to_credit == p.to_credit

    @precondition(lambda self: any(p.status == "suspense" for p in self.payments))
    @rule(pick=st.integers(0, 1_000))
    def refund(self, pick: int) -> None:
        p = self._pick([p for p in self.payments if p.status == "suspense"], pick)
        with self.factory() as s:
            refund_suspense(s, principal=self.admin, clock=self.world.clock, payment_row=p.row)
            s.commit()
        self.company[L.SUSPENSE_CODE] += p.sent.amount
        self.clearing[p.sent.channel] -= p.sent.amount
        p.status = "refunded"

    # --------------------------------------------------------------------------------- after every step

    @invariant()
    def the_ledger_is_provable_and_as_modelled(self) -> None:
        with self.factory() as s:
            report = verify(s)
            assert report.ok, report
            assert int(s.scalar(text("SELECT COALESCE(SUM(amount), 0) FROM ledger_posting")) or 0) == 0
            stored = {
                (int(r[0]), r[1]): int(r[2])
                for r in s.execute(text("SELECT subscription_id, account, amount FROM ledger_balance"))
            }
            summed = {
                (int(r[0]), r[1]): int(r[2])
                for r in s.execute(
                    text(
                        "SELECT subscription_id, account, SUM(amount) FROM ledger_posting "
                        "WHERE subscription_id IS NOT NULL GROUP BY subscription_id, account"
                    )
                )
            }
            for key in set(stored) | set(summed) | set(self.bal):
                assert (stored.get(key, 0), summed.get(key, 0)) == (self.bal[key], self.bal[key]), key
            company = dict(
                s.execute(
                    text(
                        "SELECT account, SUM(amount) FROM ledger_posting "
                        "WHERE subscription_id IS NULL AND channel IS NULL GROUP BY account"
                    )
                ).all()
            )
            assert _nonzero(company) == _nonzero(self.company)
            clearing = dict(
                s.execute(
                    text(
                        f"SELECT channel, SUM(amount) FROM ledger_posting WHERE account = '{L.BANK_CLEARING}' "
                        "GROUP BY channel"
                    )
                ).all()
            )
            assert _nonzero(clearing) == _nonzero(self.clearing)
            rows = {p.id: (p.status, p.subscription_id, p.bill_ref, p.to_credit) for p in s.scalars(select(Payment))}
            assert rows == {p.row: (p.status, p.subscription_id, p.bill_ref, p.to_credit) for p in self.payments}

    @property
    def _on(self) -> date:
        return self.world.clock.today()

    @property
    def _at(self) -> datetime:
        return self.world.clock.now()


def _nonzero(totals: dict[str, object] | Counter[str]) -> dict[str, int]:
    return {k: int(v) for k, v in totals.items() if int(v)}  # type: ignore[call-overload]


def test_every_step_keeps_the_ledger_provable(engine: Engine, tmp_path: Path) -> None:
    template = _template(engine, tmp_path)
    machine = type("Machine", (LedgerMachine,), {"template": template, "examples": 0})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
