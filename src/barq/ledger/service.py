"""Writing and reading the ledger: one ``post`` for an entry, ``post_selected`` for a million-line entry (a
bill run, a bank file), balances, a subscription's statement, and ``verify``.

Every write goes through :func:`post` or :func:`post_selected`; both refuse an unbalanced entry before anything
is written, and both move the stored per-subscription balances in the same transaction. Nothing here
updates or deletes a posting (database triggers refuse it, see ``models``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from barq.db import bulk_insert, fetch_int_columns
from barq.errors import ValidationError
from barq.ledger.models import LedgerBalance, LedgerEntry, LedgerPosting
from barq.ledger.postings import (
    CHART,
    CUSTOMER_CREDIT,
    RECEIVABLE,
    ROUNDING_CARRY,
    Entry,
    EntryKind,
    Posting,
    check,
)

I64 = NDArray[np.int64]

POSTING_COLUMNS = ("entry_id", "account", "subscription_id", "channel", "amount", "doc_type", "doc_id", "due_on")

# ------------------------------------------------------------------------------------- posting


def _stamp(
    session: Session,
    *,
    kind: str,
    actor: str,
    at: datetime,
    on: date,
    memo: str,
    source: tuple[str, int] | None,
    reverses: int | None,
    debit_total: int,
    count: int,
) -> int:
    row = LedgerEntry(
        kind=kind,
        posted_on=on,
        posted_at=at,
        actor=actor,
        memo=memo[:200],
        source_type=source[0] if source else None,
        source_id=source[1] if source else None,
        reverses_id=reverses,
        debit_total=debit_total,
        posting_count=count,
    )
    session.add(row)
    session.flush()
    return row.id


def _posting_row(entry_id: int, p: Posting) -> tuple[Any, ...]:
    scope = CHART[p.account.code].scope
    return (
        entry_id,
        p.account.code,
        p.account.key if scope == "subscription" else None,
        p.account.key if scope == "channel" else None,
        p.amount,
        p.doc_type,
        p.doc_id,
        p.due_on,
    )


def post(
    session: Session,
    *,
    entry: Entry,
    actor: str,
    at: datetime,
    on: date,
    source: tuple[str, int] | None = None,
    reverses: int | None = None,
) -> int:
    """Write one checked entry and move the balances it touches; returns the entry's id.

    Balances are updated in (subscription, account) order, so two transactions posting to the same
    subscriptions never wait for each other in opposite orders.
    """
    check(entry)
    entry_id = _stamp(
        session,
        kind=str(entry.kind),
        actor=actor,
        at=at,
        on=on,
        memo=entry.memo,
        source=source,
        reverses=reverses,
        debit_total=sum(p.amount for p in entry.postings if p.amount > 0),
        count=len(entry.postings),
    )
    session.execute(
        insert(LedgerPosting),
        [dict(zip(POSTING_COLUMNS, _posting_row(entry_id, p), strict=True)) for p in entry.postings],
    )
    deltas: dict[tuple[int, str], int] = {}
    for p in entry.postings:
        if CHART[p.account.code].scope == "subscription":
            key = (int(p.account.key or 0), p.account.code)
            deltas[key] = deltas.get(key, 0) + p.amount
    for (sid, code), amount in sorted(deltas.items()):
        _move_balance(session, sid, code, amount)
    return entry_id


def _move_balance(session: Session, subscription_id: int, account: str, amount: int) -> None:
    moved = session.execute(
        text("UPDATE ledger_balance SET amount = amount + :amount WHERE subscription_id = :sid AND account = :account"),
        {"amount": amount, "sid": subscription_id, "account": account},
    )
    if getattr(moved, "rowcount", 0) == 0:
        session.execute(
            text(
                "INSERT INTO ledger_balance (subscription_id, account, amount) VALUES (:sid, :account, :amount) "
                "ON CONFLICT (subscription_id, account) DO UPDATE SET amount = ledger_balance.amount + excluded.amount"
            ),
            {"amount": amount, "sid": subscription_id, "account": account},
        )


def post_selected(
    session: Session,
    *,
    kind: EntryKind,
    select_sql: str,
    params: dict[str, Any],
    others: Sequence[Posting] = (),
    actor: str,
    at: datetime,
    on: date,
    memo: str = "",
    source: tuple[str, int] | None = None,
) -> int | None:
    """Write one entry whose per-subscription postings a query selects, inside the database (no row comes
    to Python): a million-line entry from rows another capability has just written (a bank file's payments,
    a run's bills). ``select_sql`` yields the columns ``account, subscription_id, amount, doc_type, doc_id,
    due_on``; zero amounts are left out. The accounts and the balance are checked before anything is written.
    """
    rest = [p for p in others if p.amount != 0]
    for p in rest:
        check(Entry(kind, (p, Posting(p.account, -p.amount))))
    count = len(rest)
    total = sum(p.amount for p in rest)
    debit = sum(p.amount for p in rest if p.amount > 0)
    for account, n, amount, positive in session.execute(
        text(
            "SELECT account, COUNT(*), SUM(amount), SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) "
            f"FROM ({select_sql}) x WHERE amount <> 0 GROUP BY account"
        ),
        params,
    ):
        if CHART.get(account) is None or CHART[account].scope != "subscription":
            raise ValidationError(
                "حساب باید حساب مشترک باشد", field="account", detail=f"not per-subscription: {account}"
            )
        count, total, debit = count + int(n), total + int(amount), debit + int(positive)
    if count == 0:
        return None
    if total != 0:
        raise ValidationError(
            "سند حسابداری تراز نیست: جمع بدهکار و بستانکار برابر نیست",
            field="postings",
            detail=f"entry does not balance: off by {total}",
        )
    after = _last_posting(session)
    entry_id = _stamp(
        session,
        kind=str(kind),
        actor=actor,
        at=at,
        on=on,
        memo=memo,
        source=source,
        reverses=None,
        debit_total=debit,
        count=count,
    )
    bulk_insert(session, "ledger_posting", POSTING_COLUMNS, [_posting_row(entry_id, p) for p in rest])
    session.execute(
        text(
            "INSERT INTO ledger_posting (entry_id, account, subscription_id, amount, doc_type, doc_id, due_on) "
            f"SELECT :entry_id, account, subscription_id, amount, doc_type, doc_id, due_on FROM ({select_sql}) x "
            "WHERE amount <> 0"
        ),
        {**params, "entry_id": entry_id},
    )
    _move_balances(session, entry_id, after)
    return entry_id


def _last_posting(session: Session) -> int:
    return int(session.scalar(select(func.max(LedgerPosting.id))) or 0)


def _move_balances(session: Session, entry_id: int, after: int) -> None:
    """Add an entry's per-subscription postings to the stored balances, set-based. Its postings have ids above
    ``after`` (the last posting id before it was written), which keeps the scan to them."""
    delta = (
        "SELECT subscription_id, account, SUM(amount) AS total FROM ledger_posting "
        f"WHERE id > {int(after)} AND entry_id = {int(entry_id)} AND subscription_id IS NOT NULL "
        "GROUP BY subscription_id, account"
    )
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text(
                "INSERT INTO ledger_balance (subscription_id, account, amount) "
                f"SELECT subscription_id, account, total FROM ({delta}) WHERE true "
                "ON CONFLICT (subscription_id, account) DO UPDATE SET amount = ledger_balance.amount + excluded.amount"
            )
        )
        return
    # PostgreSQL: an UPDATE … FROM and an INSERT of the new ones is faster than ON CONFLICT for a million rows
    session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS ledger_delta AS {delta} WITH NO DATA"))
    session.execute(text("TRUNCATE ledger_delta"))
    session.execute(text(f"INSERT INTO ledger_delta {delta}"))
    session.execute(text("ANALYZE ledger_delta"))
    moved = session.execute(
        text(
            "UPDATE ledger_balance SET amount = ledger_balance.amount + d.total FROM ledger_delta d "
            "WHERE ledger_balance.subscription_id = d.subscription_id AND ledger_balance.account = d.account"
        )
    )
    if getattr(moved, "rowcount", -1) == session.scalar(text("SELECT COUNT(*) FROM ledger_delta")):
        return  # every balance existed (a bank file pays subscriptions that were billed)
    # a nested-loop anti-join against a table the planner believes empty rescans the rows this very statement
    # inserts (seen: minutes for a first bill run); a hash or merge anti-join is linear
    session.execute(text("SET LOCAL enable_nestloop = off"))
    session.execute(
        text(
            "INSERT INTO ledger_balance (subscription_id, account, amount) "
            "SELECT d.subscription_id, d.account, d.total FROM ledger_delta d WHERE NOT EXISTS "
            "(SELECT 1 FROM ledger_balance b WHERE b.subscription_id = d.subscription_id AND b.account = d.account)"
        )
    )
    session.execute(text("RESET enable_nestloop"))


# ------------------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Balances:
    """What one subscription's accounts stand at: ``receivable`` > 0 is owed now, ``credit`` > 0 is held for
    the next bill, ``carry`` is the sub-thousand remainder carried to the next bill."""

    receivable: int = 0
    credit: int = 0
    carry: int = 0

    @property
    def net(self) -> int:
        """What the subscription owes after its credit (negative: the company owes it)."""
        return self.receivable - self.credit


def balances(session: Session, subscription_id: int) -> Balances:
    rows = dict(
        session.execute(
            select(LedgerBalance.account, LedgerBalance.amount).where(LedgerBalance.subscription_id == subscription_id)
        ).all()
    )
    return Balances(
        receivable=int(rows.get(RECEIVABLE, 0)),
        credit=-int(rows.get(CUSTOMER_CREDIT, 0)),
        carry=int(rows.get(ROUNDING_CARRY, 0)),
    )


def lock_balances(session: Session, subscription_id: int) -> Balances:
    """Read a subscription's stored balances and hold their rows until the transaction ends (PostgreSQL
    ``FOR UPDATE``), so that concurrent payments, bounces and resolutions for one subscription see each other's
    effect. Every verb locks them through this one statement, in one order (by account, the order ``post``
    moves them in), so two of them never wait for each other crosswise."""
    rows = dict(
        session.execute(
            select(LedgerBalance.account, LedgerBalance.amount)
            .where(LedgerBalance.subscription_id == subscription_id)
            .order_by(LedgerBalance.account)
            .with_for_update()
        ).all()
    )
    return Balances(
        receivable=int(rows.get(RECEIVABLE, 0)),
        credit=-int(rows.get(CUSTOMER_CREDIT, 0)),
        carry=int(rows.get(ROUNDING_CARRY, 0)),
    )


def lock_ledger_for_bulk(session: Session) -> None:
    """Hold every stored balance still while a bulk entry is matched and posted: on PostgreSQL a lock that
    waits for the single payments in flight and makes new ones wait until the transaction ends (SQLite's
    one writer does the same once the transaction has written)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE ledger_balance IN SHARE ROW EXCLUSIVE MODE"))


def balances_many(session: Session, subscription_ids: I64, account: str) -> I64:
    """The stored balance of ``account`` for each of ``subscription_ids`` (0 where none), in their order."""
    out = np.zeros(len(subscription_ids), dtype=np.int64)
    if not len(subscription_ids):
        return out
    lo, hi = int(subscription_ids.min()), int(subscription_ids.max())
    rows = session.execute(
        text(
            "SELECT subscription_id, amount FROM ledger_balance "
            "WHERE account = :account AND subscription_id BETWEEN :lo AND :hi"
        ),
        {"account": account, "lo": lo, "hi": hi},
    ).all()
    if rows:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        amounts = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        order = np.argsort(ids)
        ids, amounts = ids[order], amounts[order]
        pos = np.searchsorted(ids, subscription_ids)
        pos[pos >= len(ids)] = 0
        hit = ids[pos] == subscription_ids
        out[hit] = amounts[pos[hit]]
    return out


@dataclass(frozen=True, slots=True)
class StatementLine:
    posting_id: int
    entry_id: int
    kind: str
    posted_on: date
    memo: str
    account: str
    amount: int
    doc_type: str | None
    doc_id: int | None
    due_on: date | None
    balance: int  # running: receivable minus credit after this line


def statement(session: Session, subscription_id: int) -> list[StatementLine]:
    """A subscription's receivable and credit postings in order, with the running balance it owes."""
    rows = session.execute(
        select(
            LedgerPosting.id,
            LedgerPosting.entry_id,
            LedgerEntry.kind,
            LedgerEntry.posted_on,
            LedgerEntry.memo,
            LedgerPosting.account,
            LedgerPosting.amount,
            LedgerPosting.doc_type,
            LedgerPosting.doc_id,
            LedgerPosting.due_on,
        )
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(
            LedgerPosting.subscription_id == subscription_id,
            LedgerPosting.account.in_((RECEIVABLE, CUSTOMER_CREDIT)),
        )
        .order_by(LedgerPosting.id)
    ).all()
    out: list[StatementLine] = []
    running = 0
    for r in rows:
        running += int(r.amount)
        out.append(StatementLine(*r, balance=running))  # type: ignore[misc]
    return out


def account_totals(session: Session) -> dict[str, int]:
    """The trial balance: every account code's total over all postings (they sum to zero)."""
    rows = session.execute(
        select(LedgerPosting.account, func.sum(LedgerPosting.amount)).group_by(LedgerPosting.account)
    )
    return {code: int(total or 0) for code, total in rows}


# ------------------------------------------------------------------------------------- verify


@dataclass
class VerifyReport:
    """What ``verify`` found. ``ok`` when every list is empty and the whole ledger sums to zero."""

    entries: int = 0
    postings: int = 0
    balances: int = 0
    ledger_total: int = 0
    unbalanced_entries: list[tuple[int, int]] = field(default_factory=list)  # (entry, off by)
    incomplete_entries: list[int] = field(default_factory=list)  # count or debit total differs
    orphan_postings: int = 0
    balance_differences: list[tuple[int, str, int, int]] = field(default_factory=list)  # (sub, acct, stored, sum)

    @property
    def ok(self) -> bool:
        return (
            not (self.ledger_total or self.unbalanced_entries or self.incomplete_entries or self.orphan_postings)
            and not self.balance_differences
        )


VERIFY_CHUNK = 4_000_000


def _exact_bincount(index: I64, amounts: I64, size: int) -> I64:
    """Integer sums of ``amounts`` by ``index`` (0 ≤ index < size), exactly: ``np.bincount`` sums in float64,
    so the amounts are split into two 26-bit-wide halves whose sums stay far below 2**53."""
    low = amounts & (2**26 - 1)
    high = amounts >> 26
    lows = np.rint(np.bincount(index, weights=low, minlength=size)).astype(np.int64)
    highs = np.rint(np.bincount(index, weights=high, minlength=size)).astype(np.int64)
    return np.asarray(highs * 2**26 + lows, dtype=np.int64)


def _sum_by_key(keys: I64, amounts: I64) -> tuple[I64, I64]:
    """(sorted distinct keys, the integer sum of ``amounts`` for each)."""
    if not len(keys):
        return keys, amounts
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], np.add.reduceat(amounts[order], starts)


def _code_name(codes: list[str], index: int) -> str:
    return codes[index] if 0 <= index < len(codes) else "(unknown account)"


def verify(session: Session, *, limit: int = 100) -> VerifyReport:
    """Prove the ledger from its postings: each entry sums to zero and has all its postings, the whole
    ledger sums to zero, no posting lacks an entry, and every stored balance equals the sum of its postings.
    Up to ``limit`` differences of each kind are listed.

    The postings are read column-wise in id ranges and summed in numpy (per entry, and per subscription and
    account), which is several times faster than the same GROUP BYs in either database."""
    codes = list(CHART)
    code_of = "CASE account " + " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(codes)) + " ELSE -1 END"
    e_ids, e_count, e_debit = fetch_int_columns(session, ["id", "posting_count", "debit_total"], "FROM ledger_entry")
    top = int(e_ids.max()) + 1 if len(e_ids) else 1
    last = _last_posting(session)
    per_total = np.zeros(top, dtype=np.int64)
    per_count = np.zeros(top, dtype=np.int64)
    per_debit = np.zeros(top, dtype=np.int64)
    known = np.zeros(top, dtype=bool)
    known[e_ids] = True
    report = VerifyReport(entries=len(e_ids))
    keys: list[I64] = []
    sums: list[I64] = []
    for lo in range(0, last, VERIFY_CHUNK):
        entry, amount, sub, acct = fetch_int_columns(
            session,
            ["entry_id", "amount", "COALESCE(subscription_id, 0)", code_of],
            f"FROM ledger_posting WHERE id > {lo} AND id <= {lo + VERIFY_CHUNK}",
        )
        report.postings += len(entry)
        report.ledger_total += int(amount.sum())
        inside = (entry >= 0) & (entry < top)
        inside[inside] = known[entry[inside]]
        report.orphan_postings += int((~inside).sum())
        e, a = entry[inside], amount[inside]
        per_total += _exact_bincount(e, a, top)
        per_count += np.bincount(e, minlength=top)
        per_debit += _exact_bincount(e, np.maximum(a, 0), top)
        mine = sub > 0
        k, total = _sum_by_key(sub[mine] * 64 + acct[mine] + 1, amount[mine])
        keys.append(k)
        sums.append(total)
    off = np.flatnonzero(per_total[e_ids] != 0)
    report.unbalanced_entries = [(int(e_ids[i]), int(per_total[e_ids[i]])) for i in off[:limit]]
    bad = np.flatnonzero((per_count[e_ids] != e_count) | (per_debit[e_ids] != e_debit))
    report.incomplete_entries = [int(e_ids[i]) for i in bad[:limit]]
    # every (subscription, account) sum of postings against the stored balance
    empty = np.zeros(0, dtype=np.int64)
    k, posted = _sum_by_key(np.concatenate(keys) if keys else empty, np.concatenate(sums) if sums else empty)
    b_sub, b_acct, b_amount = fetch_int_columns(session, ["subscription_id", code_of, "amount"], "FROM ledger_balance")
    report.balances = len(b_sub)
    b_key = b_sub * 64 + b_acct + 1
    union = np.union1d(k, b_key)
    stored = np.zeros(len(union), dtype=np.int64)
    summed = np.zeros(len(union), dtype=np.int64)
    stored[np.searchsorted(union, b_key)] = b_amount
    summed[np.searchsorted(union, k)] = posted
    differ = np.flatnonzero(stored != summed)[:limit]
    report.balance_differences = [
        (int(union[i] // 64), _code_name(codes, int(union[i] % 64) - 1), int(stored[i]), int(summed[i])) for i in differ
    ]
    return report
