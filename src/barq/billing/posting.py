"""Bills and fees into the ledger (domain.md §6).

Approving a bill run posts all its bills as one bulk entry: per bill ``Dr receivable`` the payable and
``Dr/Cr rounding_carry`` the change of the carried remainder, and for the whole run ``Cr energy revenue``,
``Cr levy``, ``Cr VAT`` and ``Cr insurance`` by their totals. Each per-subscription posting names its bill,
and the receivable debit carries the due date, for aging. Then any credit a subscription holds is applied to
what it now owes, as a second entry.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from barq.errors import ValidationError
from barq.ledger import postings as L
from barq.ledger.service import post, post_selected

FEE_ACCOUNTS = {"connection": L.CONNECTION_REVENUE, "service": L.SERVICE_FEE_REVENUE}


def post_run_bills(
    session: Session, *, run_id: int, cycle: int, on: date, due: date, actor: str, at: datetime
) -> int | None:
    """Post the run's rated bills (called by ``approve_bill_run`` in its transaction); returns the entry id.
    The per-bill postings are selected from the bill rows inside the database."""
    where = f"FROM bill WHERE cycle = {int(cycle)} AND run_id = {int(run_id)} AND state = 'rated'"
    total, levy, vat, insurance = (
        int(v or 0)
        for v in session.execute(text(f"SELECT SUM(total), SUM(levy), SUM(vat), SUM(insurance) {where}")).one()
    )
    entry = post_selected(
        session,
        kind=L.EntryKind.BILL,
        select_sql=(
            f"SELECT '{L.RECEIVABLE}' AS account, subscription_id, payable AS amount, 'bill' AS doc_type, "
            f"id AS doc_id, :due AS due_on {where} UNION ALL "
            f"SELECT '{L.ROUNDING_CARRY}', subscription_id, carry_out - carry_in, 'bill', id, NULL {where}"
        ),
        params={"due": due},
        others=[
            L.Posting(L.ENERGY_REVENUE, -(total - levy - vat - insurance)),
            L.Posting(L.LEVY_PAYABLE, -levy),
            L.Posting(L.VAT_PAYABLE, -vat),
            L.Posting(L.INSURANCE_PAYABLE, -insurance),
        ],
        actor=actor,
        at=at,
        on=on,
        memo=f"صدور صورتحساب‌های دوره {cycle}",
        source=("bill_run", run_id),
    )
    apply_credits(session, actor=actor, at=at, on=on)
    return entry


def apply_credits(
    session: Session, *, actor: str, at: datetime, on: date, subscription_id: int | None = None
) -> int | None:
    """Settle what subscriptions owe from the credit they hold (earlier overpayments), set-based: every
    subscription holding both, or only ``subscription_id``."""
    least = "MIN" if session.get_bind().dialect.name == "sqlite" else "LEAST"
    only = f"AND c.subscription_id = {int(subscription_id)}" if subscription_id is not None else ""
    pairs = (
        f"FROM ledger_balance c JOIN ledger_balance r ON r.subscription_id = c.subscription_id "
        f"AND r.account = '{L.RECEIVABLE}' WHERE c.account = '{L.CUSTOMER_CREDIT}' AND c.amount < 0 "
        f"AND r.amount > 0 {only}"
    )
    take = f"{least}(-c.amount, r.amount)"
    return post_selected(
        session,
        kind=L.EntryKind.CREDIT,
        select_sql=(
            f"SELECT '{L.CUSTOMER_CREDIT}' AS account, c.subscription_id, {take} AS amount, 'credit' AS doc_type, "
            f"CAST(NULL AS BIGINT) AS doc_id, CAST(NULL AS DATE) AS due_on {pairs} UNION ALL "
            f"SELECT '{L.RECEIVABLE}', c.subscription_id, -{take}, 'credit', NULL, NULL {pairs}"
        ),
        params={},
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
    apply_credits(session, actor=actor, at=at, on=on, subscription_id=subscription_id)
    return entry_id
