"""Bills and fees into the ledger (domain.md §6).

Approving a bill run posts all its bills as one bulk entry: per bill ``Dr receivable`` the payable and
``Dr/Cr rounding_carry`` the change of the carried remainder, and for the whole run ``Cr energy revenue``,
``Cr levy``, ``Cr VAT`` and ``Cr insurance`` by their totals. Each per-subscription posting names its bill,
and the receivable debit carries the due date, for aging. Then any credit a subscription holds is applied to
what it now owes, as a second entry.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from barq.db import fetch_int_columns
from barq.errors import ValidationError
from barq.ledger import postings as L
from barq.ledger.service import Column, balances_many, post, post_bulk

_TAX_LINES = {"levy": L.LEVY_PAYABLE, "vat": L.VAT_PAYABLE, "insurance": L.INSURANCE_PAYABLE}
FEE_ACCOUNTS = {"connection": L.CONNECTION_REVENUE, "service": L.SERVICE_FEE_REVENUE}


def post_run_bills(
    session: Session, *, run_id: int, cycle: int, on: date, due: date, actor: str, at: datetime
) -> int | None:
    """Post the run's rated bills (called by ``approve_bill_run`` in its transaction); returns the entry id."""
    where = f"FROM bill WHERE cycle = {int(cycle)} AND run_id = {int(run_id)} AND state = 'rated'"
    subs, ids, payable, carry_delta, total = fetch_int_columns(
        session, ["subscription_id", "id", "payable", "carry_out - carry_in", "total"], where
    )
    if not len(ids):
        return None
    sums = session.execute(text(f"SELECT SUM(levy), SUM(vat), SUM(insurance) {where}")).one()
    taxes = {code: int(v or 0) for code, v in zip(_TAX_LINES, sums, strict=True)}
    energy = int(total.sum()) - sum(taxes.values())
    entry = post_bulk(
        session,
        kind=L.EntryKind.BILL,
        columns=[
            Column(L.RECEIVABLE, subs, payable, "bill", ids, due),
            Column(L.ROUNDING_CARRY, subs, carry_delta, "bill", ids),
        ],
        others=[L.Posting(L.ENERGY_REVENUE, -energy), *(L.Posting(a, -taxes[c]) for c, a in _TAX_LINES.items())],
        actor=actor,
        at=at,
        on=on,
        memo=f"صدور صورتحساب‌های دوره {cycle}",
        source=("bill_run", run_id),
    )
    apply_credits(session, subscription_ids=np.unique(subs), actor=actor, at=at, on=on)
    return entry


def apply_credits(session: Session, *, subscription_ids: np.ndarray, actor: str, at: datetime, on: date) -> None:
    """Settle what each subscription owes from the credit it holds (an earlier overpayment), set-based."""
    credit = -balances_many(session, subscription_ids, L.CUSTOMER_CREDIT)
    owed = balances_many(session, subscription_ids, L.RECEIVABLE)
    take = np.minimum(np.maximum(credit, 0), np.maximum(owed, 0))
    used = take > 0
    if not used.any():
        return
    subs, take = subscription_ids[used], take[used]
    post_bulk(
        session,
        kind=L.EntryKind.CREDIT,
        columns=[Column(L.CUSTOMER_CREDIT, subs, take, "credit"), Column(L.RECEIVABLE, subs, -take, "credit")],
        actor=actor,
        at=at,
        on=on,
        memo="تسویه از بستانکاری مشترک",
    )


def post_fee(
    session: Session,
    *,
    subscription_id: int,
    kind: str,
    amount: int,
    doc_id: int | None,
    on: date,
    due: date,
    actor: str,
    at: datetime,
    memo: str,
) -> int:
    """Charge a connection or service fee to a subscription: ``Dr receivable``, ``Cr`` the fee's revenue."""
    account = FEE_ACCOUNTS.get(kind)
    if account is None:
        raise ValidationError("نوع هزینه نامعتبر است", field="kind", detail=f"unknown fee kind {kind!r}")
    if amount <= 0:
        raise ValidationError("مبلغ هزینه باید بیشتر از صفر باشد", field="amount", detail=f"fee amount {amount}")
    entry = L.Entry(
        L.EntryKind.FEE,
        (
            L.Posting(L.receivable(subscription_id), amount, "fee", doc_id, due),
            L.Posting(account, -amount),
        ),
        memo,
    )
    entry_id = post(session, entry=entry, actor=actor, at=at, on=on, source=("fee", doc_id) if doc_id else None)
    apply_credits(session, subscription_ids=np.array([subscription_id], dtype=np.int64), actor=actor, at=at, on=on)
    return entry_id
