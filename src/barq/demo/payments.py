"""A year of payments for the demo province, through the real services (domain.md §6).

After each approved bill run, :meth:`DemoPayments.pay_run` pays that run's bills as a province does:

- most subscriptions pay the bill at a bank between its issue and a few days after its due date; each bank
  sends the month's payments as one file (a subscription keeps to its bank), posted with
  ``receive_bank_file``. One whose credit already covers all it owes pays nothing;
- some pay late: the bill is paid one or two months later, beside the next one (a few habitual late payers
  do it most months); a few do not pay the bill at all;
- a few pay part of the bill on account at the counter (``receive_payment``, channel ``counter``, no payment
  ID), and a few pay more than the bill there: credit that the next bill run uses;
- a few bank payments carry a wrong amount and go to suspense; the next month the office resolves most of
  them to the subscription the bill ID names and refunds a few. A few bills are paid twice, at two banks;
  the second payment waits in suspense and is refunded the next month;
- a few bank payments bounce and are reversed (``reverse_payment``);
- government organisations (``customer.is_government``) pay each bill three to seven months late, through
  the government's bank, and one in five pays nothing all year: they fall months behind.

Every draw comes from the demo's seed and the run's cycle, so the same province gets the same payments. The
mass goes through the bank files (set-based); the one-at-a-time services take only the few counter
payments, bounces and suspense cases, at most ``COUNTER_MONTHLY`` and ``OFFICE_MONTHLY`` a month whatever
the province's size, each month's in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, text

from barq.auth.service import SYSTEM, Principal, get_user, principal_for
from barq.clock import Clock, FixedClock
from barq.db import make_sessionmaker, raw_connection
from barq.ledger import postings as L
from barq.ledger.service import balances_many
from barq.payments.channels import banks
from barq.payments.files import receive_bank_file
from barq.payments.service import PaymentIn, receive_payment, refund_suspense, resolve_suspense, reverse_payment

I64 = NDArray[np.int64]

# what becomes of a bill of a subscription that is not a government body's
ON_TIME, LATE_1, LATE_2, UNPAID, PARTIAL, OVERPAY, WRONG_AMOUNT, TWICE = range(8)
SHARES = np.array([0.87, 0.06, 0.025, 0.02, 0.014, 0.004, 0.005, 0.002])
HABIT_SHARES = np.array([0.30, 0.40, 0.20, 0.05, 0.03, 0.01, 0.005, 0.005])  # the habitual late payers'
HABITUALLY_LATE = 0.06
GOVERNMENT_LAG = (3, 8)  # months a government body pays its bills late: from 3 up to 7
GOVERNMENT_SILENT = 0.2  # government subscriptions that pay nothing all year
GOVERNMENT_BANK = "melli"  # the bank government bodies pay through (the one file whose bills span months)
BOUNCE_SHARE = 0.002  # of the month's matched bank payments
RESOLVED_SHARE = 0.85  # of last month's wrong amounts (then refunded: 5 %; the rest keep waiting)
REFUNDED_SHARE = 0.05
COUNTER_MONTHLY = 100  # at most this many counter payments (part or more than a bill) a month
OFFICE_MONTHLY = 60  # at most this many bounces, and this many new suspense cases, a month
PAID_AFTER_DUE = 6  # days after the due date that on-time payments still arrive
CASHIERS = ("cashier", "revenue")  # a district's cashier takes its counter payments, the revenue clerk the rest


@dataclass
class _Bills:
    """One run's payable bills, as columns."""

    ref: I64
    subscription: I64
    payable: I64
    payment_id: list[str]
    bill_id: list[str]


@dataclass(frozen=True)
class _Owed:
    """A bill to be paid at a bank in a later month."""

    subscription: int
    bill_id: str
    payment_id: str
    amount: int


@dataclass
class DemoPayments:
    """The province's paying habits, and what one month leaves for the next: bills to be paid late and the
    suspense the office works through. Build it once, then call :meth:`pay_run` after each issued run."""

    engine: Engine
    seed: int
    month: int = 0  # runs paid so far
    later: dict[int, list[_Owed]] = field(default_factory=dict)  # month → bills paid at a bank then
    suspense: list[int] = field(default_factory=list)  # last month's payment rows in suspense

    def __post_init__(self) -> None:
        self.factory = make_sessionmaker(self.engine)
        rng = np.random.default_rng([self.seed, 65])
        self.banks = [b.code for b in banks()]
        with self.factory() as s:
            cur = raw_connection(s).cursor()
            cur.execute(
                "SELECT s.id, s.district_id, c.is_government FROM subscription s "
                "JOIN customer c ON c.id = s.customer_id ORDER BY s.id"
            )
            rows = cur.fetchall()
            cur.close()
            self.cashiers: dict[int | None, Principal] = {}
            for username in reversed(CASHIERS):
                user = get_user(s, username)
                if user is not None and user.is_active:
                    self.cashiers[user.district_id] = principal_for(s, user)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.district = dict(zip(ids.tolist(), (r[1] for r in rows), strict=True))
        weights = 1.0 / (np.arange(len(self.banks)) + 1.5)  # the big banks take most of the payments
        chosen = rng.choice(len(self.banks), size=len(ids), p=weights / weights.sum())
        self.bank_of = {i: self.banks[k] for i, k in zip(ids.tolist(), chosen.tolist(), strict=True)}
        for i, row in zip(ids.tolist(), rows, strict=True):
            if row[2] and GOVERNMENT_BANK in self.banks:
                self.bank_of[i] = GOVERNMENT_BANK
        self.habitually_late = ids[rng.random(len(ids)) < HABITUALLY_LATE]
        lag = rng.integers(*GOVERNMENT_LAG, len(ids))
        silent = rng.random(len(ids)) < GOVERNMENT_SILENT
        # government subscriptions: months late (0: never pays)
        self.government = {
            i: 0 if q else d
            for i, d, q, g in zip(ids.tolist(), lag.tolist(), silent.tolist(), (bool(r[2]) for r in rows), strict=True)
            if g
        }

    def pay_run(self, run_id: int, *, today: date) -> int:
        """Pay the bills of the issued run ``run_id``, and the earlier bills whose late payment falls in its
        month, as they would arrive up to a few days after the run's due date (never after ``today``);
        returns the payments received."""
        month = self.month
        self.month += 1
        with self.factory() as s:
            cycle, issued_on, due_on = s.execute(
                text("SELECT cycle, issued_on, due_on FROM bill_run WHERE id = :id"), {"id": run_id}
            ).one()
        issued, due = _as_date(issued_on), _as_date(due_on)
        last = min(due + timedelta(days=PAID_AFTER_DUE), today)
        if last <= issued:
            return 0
        clock = FixedClock(moment=datetime.combine(last, time(10, 0), tzinfo=UTC))
        rng = np.random.default_rng([self.seed, 66, int(cycle)])
        bills = self._bills(run_id)
        outcome = self._outcomes(rng, bills)
        span = (last - issued).days

        def paid_on(k: int) -> list[date]:
            return [issued + timedelta(days=int(d)) for d in rng.integers(1, span + 1, k)]

        for i in np.flatnonzero(np.isin(outcome, (LATE_1, LATE_2))).tolist():
            self._later(month + (1 if outcome[i] == LATE_1 else 2), bills, i)
        for i in np.flatnonzero(np.isin(bills.subscription, list(self.government))).tolist():
            if self.government[int(bills.subscription[i])]:
                self._later(month + self.government[int(bills.subscription[i])], bills, i)
        received = self._at_counter(rng, clock, bills, outcome, paid_on)
        batches = self._bank_files(rng, clock, int(cycle), bills, outcome, self.later.pop(month, []), paid_on)
        with self.factory() as s:
            where = f"batch_id IN ({', '.join(map(str, batches))})" if batches else "1 = 0"
            received += int(s.scalar(text(f"SELECT COUNT(*) FROM payment WHERE {where}")) or 0)
        self._office(rng, clock, where)
        return received

    # --------------------------------------------------------------------------------- the month's work

    def _bills(self, run_id: int) -> _Bills:
        with self.factory() as s:
            cur = raw_connection(s).cursor()
            cur.execute(
                "SELECT b.id, b.subscription_id, b.payable, b.payment_id, s.bill_id FROM bill b "
                "JOIN subscription s ON s.id = b.subscription_id "
                f"WHERE b.run_id = {int(run_id)} AND b.state = 'rated' AND b.payable > 0 "
                "AND b.payment_id IS NOT NULL ORDER BY b.id"
            )
            rows = cur.fetchall()
            cur.close()
        return _Bills(
            ref=np.array([r[0] for r in rows], dtype=np.int64),
            subscription=np.array([r[1] for r in rows], dtype=np.int64),
            payable=np.array([r[2] for r in rows], dtype=np.int64),
            payment_id=[r[3] for r in rows],
            bill_id=[r[4] for r in rows],
        )

    def _outcomes(self, rng: np.random.Generator, bills: _Bills) -> I64:
        """What becomes of each bill (government bodies' bills: UNPAID here, paid later by ``_later``), with
        the few one-at-a-time cases capped a month."""
        u = rng.random(len(bills.ref))
        habit = np.isin(bills.subscription, self.habitually_late)
        out = np.where(
            habit,
            np.searchsorted(np.cumsum(HABIT_SHARES) / HABIT_SHARES.sum(), u, side="right"),
            np.searchsorted(np.cumsum(SHARES) / SHARES.sum(), u, side="right"),
        ).astype(np.int64)
        out = np.minimum(out, TWICE)
        out[np.isin(bills.subscription, list(self.government))] = UNPAID
        # a subscription whose credit covered all it owes has nothing to pay (the bank's inquiry shows 0)
        with self.factory() as s:
            owed = balances_many(s, bills.subscription, L.RECEIVABLE)
        out[(owed <= 0) & (out == ON_TIME)] = UNPAID
        for kinds, cap in (((PARTIAL, OVERPAY), COUNTER_MONTHLY), ((WRONG_AMOUNT, TWICE), OFFICE_MONTHLY)):
            few = np.flatnonzero(np.isin(out, kinds))
            if len(few) > cap:
                out[rng.choice(few, len(few) - cap, replace=False)] = ON_TIME
        return out

    def _later(self, month: int, bills: _Bills, i: int) -> None:
        owed = _Owed(int(bills.subscription[i]), bills.bill_id[i], bills.payment_id[i], int(bills.payable[i]))
        self.later.setdefault(month, []).append(owed)

    def _at_counter(
        self,
        rng: np.random.Generator,
        clock: Clock,
        bills: _Bills,
        outcome: I64,
        paid_on: Callable[[int], list[date]],
    ) -> int:
        """Payments on account at the counter: part of a bill, or a round sum more than it (credit)."""
        chosen = np.flatnonzero(np.isin(outcome, (PARTIAL, OVERPAY)))
        part = rng.uniform(0.3, 0.8, len(chosen))
        extra = rng.integers(5, 51, len(chosen)) * 10_000
        stamp = clock.local(clock.now()).strftime("%Y%m%d%H%M%S")
        with self.factory() as s:
            for k, (i, on) in enumerate(zip(chosen.tolist(), paid_on(len(chosen)), strict=True)):
                payable = int(bills.payable[i])
                if outcome[i] == PARTIAL:
                    amount = max(int(payable * part[k]) // 1000, 1) * 1000
                else:
                    amount = (payable + int(extra[k])) // 10_000 * 10_000 + 10_000
                sid = int(bills.subscription[i])
                cashier = self.cashiers.get(self.district[sid]) or self.cashiers.get(None, SYSTEM)
                pay = PaymentIn("counter", f"C{stamp}{k:08d}", bills.bill_id[i], "", amount, on)
                receive_payment(s, principal=cashier, clock=clock, payment=pay)
            s.commit()
        return len(chosen)

    def _bank_files(
        self,
        rng: np.random.Generator,
        clock: Clock,
        cycle: int,
        bills: _Bills,
        outcome: I64,
        late: list[_Owed],
        paid_on: Callable[[int], list[date]],
    ) -> list[int]:
        """One file a bank: this month's bills paid on time (a few twice, at two banks; a few with a wrong
        amount) and the earlier bills paid late now. Returns the files' batch ids."""
        lines: dict[str, list[tuple[str, str, str, int, date]]] = {code: [] for code in self.banks}
        serial = 0

        def pay(bank: str, bill_id: str, payment_id: str, amount: int, on: date) -> None:
            nonlocal serial
            serial += 1
            lines[bank].append((f"{cycle % 100_000:05d}{serial:07d}", bill_id, payment_id, amount, on))

        chosen = np.flatnonzero(np.isin(outcome, (ON_TIME, WRONG_AMOUNT, TWICE)))
        off = rng.integers(1, 60, len(chosen)) * 1000 * rng.choice([-1, 1], len(chosen))
        again = rng.integers(1, 5, len(chosen))
        for k, (i, on) in enumerate(zip(chosen.tolist(), paid_on(len(chosen)), strict=True)):
            amount, bank = int(bills.payable[i]), self.bank_of[int(bills.subscription[i])]
            if outcome[i] == WRONG_AMOUNT:
                amount = amount + int(off[k]) if amount + int(off[k]) > 0 else amount + 1000
            pay(bank, bills.bill_id[i], bills.payment_id[i], amount, on)
            if outcome[i] == TWICE:
                other = self.banks[(self.banks.index(bank) + 1) % len(self.banks)]
                later = min(on + timedelta(days=int(again[k])), clock.today())
                pay(other, bills.bill_id[i], bills.payment_id[i], amount, later)
        for owed, on in zip(late, paid_on(len(late)), strict=True):
            pay(self.bank_of[owed.subscription], owed.bill_id, owed.payment_id, owed.amount, on)
        batches: list[int] = []
        for bank, rows in lines.items():
            if not rows:
                continue
            rows.sort(key=lambda r: (r[4], r[0]))
            data = "trace,bill_id,payment_id,amount,paid_on\n" + "".join(
                f"{t},{b},{p},{a},{on.isoformat()}\n" for t, b, p, a, on in rows
            )
            result = receive_bank_file(
                self.factory,
                principal=SYSTEM,
                clock=clock,
                bank=bank,
                data=data.encode(),
                filename=f"{bank}-{cycle}.csv",
            )
            batches.append(result.batch_id)
        return batches

    def _office(self, rng: np.random.Generator, clock: Clock, where: str) -> None:
        """The office at the month's end: a few of the month's bank payments bounced and are reversed; last
        month's suspense is resolved to the subscription its bill ID names (most), refunded (a few, and every
        second payment of a bill) or left waiting; the month's new suspense waits for next month."""
        clerk = self.cashiers.get(None, SYSTEM)
        earlier = ", ".join(map(str, self.suspense)) or "NULL"
        with self.factory() as s:
            posted = s.scalars(text(f"SELECT id FROM payment WHERE {where} AND status = 'posted' ORDER BY id")).all()
            bounced = [
                int(p) for p, u in zip(posted, rng.random(len(posted)).tolist(), strict=True) if u < BOUNCE_SHARE
            ]
            for row in bounced[:OFFICE_MONTHLY]:
                reverse_payment(s, principal=clerk, clock=clock, payment_row=row, note="برگشت از بانک")
            waiting = s.execute(
                text(
                    f"SELECT id, subscription_id, reason FROM payment WHERE id IN ({earlier}) AND status = 'suspense' "
                    "ORDER BY id"
                )
            ).all()
            for (row, sid, reason), u in zip(waiting, rng.random(len(waiting)).tolist(), strict=True):
                if reason == "no_open_bill" or RESOLVED_SHARE <= u < RESOLVED_SHARE + REFUNDED_SHARE:
                    refund_suspense(
                        s, principal=clerk, clock=clock, payment_row=int(row), note="استرداد به پرداخت‌کننده"
                    )
                elif u < RESOLVED_SHARE and sid is not None:
                    resolve_suspense(s, principal=clerk, clock=clock, payment_row=int(row), subscription_id=int(sid))
            self.suspense = [
                int(r) for r in s.scalars(text(f"SELECT id FROM payment WHERE {where} AND status = 'suspense'"))
            ]
            s.commit()


def payments_received(engine: Engine) -> int:
    """How many payments the province has received (``barq demo`` prints it)."""
    with make_sessionmaker(engine)() as s:
        return int(s.scalar(text("SELECT COUNT(*) FROM payment")) or 0)


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
