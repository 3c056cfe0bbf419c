"""Receiving payments one at a time (a bank's API notification, the counter, the portal), the bank inquiry,
suspense and bounced payments. Bank files go through ``payments.files`` with the same rules, set-based.

The rules (domain.md §6):

- the bill ID and the payment ID must pass their check digits, the amount must be a positive number of
  rials, the channel must be known: otherwise the payment is refused (422, nothing is written);
- the same trace from the same channel is posted once: a second arrival returns the first payment;
- a payment is **matched** when its bill ID names a subscription, its payment ID is the payment ID of one
  of that subscription's issued bills that no earlier payment has paid, and its amount equals the amount
  the payment ID encodes. Otherwise it goes to **suspense** with its reason;
- a matched payment credits the subscription's receivable, which settles its oldest debt first (aging
  reads the receivable first in, first out); what exceeds the debt becomes customer credit for the next bill.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, join, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.billing.models import Bill, BillRun
from barq.calendar import to_jalali
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.connections.service import subscription_scope
from barq.customers.models import Customer, Premises
from barq.errors import InvalidTransition, NotFound, ValidationError
from barq.ids import normalize_digits, parse_payment_id, validate_bill_id, validate_payment_id
from barq.ledger import postings as L
from barq.ledger.models import LedgerBalance, LedgerEntry, LedgerPosting
from barq.ledger.service import Balances, lock_balances, post
from barq.network.models import District
from barq.payments.channels import channel as find_channel
from barq.payments.models import Payment

MAX_TRACE = 40
PAID_STATES = ("posted", "resolved")
SUSPENSE_REASON_FA = {
    "unknown_bill": "شناسه قبض به هیچ اشتراکی تعلق ندارد",
    "no_open_bill": "شناسه پرداخت با هیچ صورتحساب پرداخت‌نشده‌ای مطابقت ندارد",
    "amount_mismatch": "مبلغ پرداخت با مبلغ شناسه پرداخت برابر نیست",
}
STATUS_FA = {
    "posted": "ثبت شده",
    "suspense": "معلق",
    "resolved": "تعیین تکلیف شده",
    "refunded": "مسترد شده",
    "reversed": "برگشت خورده",
}


class BadCheckDigit(ValidationError):
    code = "bad_check_digit"


class BadAmount(ValidationError):
    code = "bad_amount"


@dataclass(frozen=True)
class PaymentIn:
    """A payment as a channel reports it; :func:`check_payment` normalises it."""

    channel: str
    trace: str
    bill_id: str
    payment_id: str
    amount: int
    paid_on: date


def check_payment(p: PaymentIn, *, today: date) -> PaymentIn:
    """The payment with its IDs normalised, or a :class:`ValidationError` (with a stable code) naming the
    field that is wrong. At the counter the payment ID may be empty: a payment on account (علی‌الحساب) of
    any amount toward what the subscription owes."""
    on_account = find_channel(p.channel).kind == "counter" and not p.payment_id.strip()
    trace = normalize_digits(p.trace.strip())
    if not trace or len(trace) > MAX_TRACE or not trace.isprintable() or not trace.isascii():
        raise ValidationError(
            f"شماره پیگیری بانک باید ۱ تا {MAX_TRACE} نویسه لاتین باشد", field="trace", detail="bad trace number"
        )
    try:
        bill_id = validate_bill_id(p.bill_id)
    except ValidationError as exc:
        raise BadCheckDigit(exc.message_fa, field="bill_id", detail=exc.detail) from exc
    try:
        payment_id = "" if on_account else validate_payment_id(p.payment_id, bill_id)
    except ValidationError as exc:
        raise BadCheckDigit(exc.message_fa, field="payment_id", detail=exc.detail) from exc
    if not isinstance(p.amount, int) or isinstance(p.amount, bool) or p.amount <= 0:
        raise BadAmount("مبلغ پرداخت باید عدد صحیح مثبت ریال باشد", field="amount", detail=f"amount {p.amount!r}")
    if p.paid_on > today:
        raise ValidationError("تاریخ پرداخت در آینده است", field="paid_on", detail=f"paid_on {p.paid_on} > {today}")
    return PaymentIn(p.channel, trace, bill_id, payment_id, p.amount, p.paid_on)


def cycle_of_payment_id(payment_id: str, today: date) -> int:
    """The bill cycle (Jalali yyyymm) a payment ID names: its year digit is taken in the latest year not after
    today's Jalali year."""
    parts = parse_payment_id(payment_id)
    year = int(to_jalali(today).year)
    year -= (year - parts.year_digit) % 10
    return year * 100 + parts.period


@dataclass(frozen=True)
class Match:
    subscription_id: int | None
    bill_ref: int | None
    reason: str | None  # None when matched


def match(session: Session, p: PaymentIn, *, today: date, paid_bills: frozenset[int] = frozenset()) -> Match:
    """Find the open bill a checked payment pays (see the module's rules); a payment on account pays the
    subscription, no bill."""
    sub = session.scalar(select(Subscription.id).where(Subscription.bill_id == p.bill_id))
    if sub is None:
        return Match(None, None, "unknown_bill")
    if not p.payment_id:
        return Match(sub, None, None)
    if parse_payment_id(p.payment_id).amount != p.amount:
        return Match(sub, None, "amount_mismatch")
    bill = session.scalar(
        select(Bill.id).where(
            Bill.cycle == cycle_of_payment_id(p.payment_id, today),
            Bill.subscription_id == sub,
            Bill.payment_id == p.payment_id,
            Bill.state == "rated",
            Bill.run_id.in_(select(BillRun.id).where(BillRun.state == "issued")),
        )
    )
    if bill is None or bill in paid_bills or _paid(session, bill):
        return Match(sub, None, "no_open_bill")
    return Match(sub, bill, None)


def _paid(session: Session, bill_ref: int) -> bool:
    return bool(session.scalar(select(exists().where(Payment.bill_ref == bill_ref, Payment.status.in_(PAID_STATES)))))


@dataclass(frozen=True)
class Received:
    payment: Payment
    duplicate: bool  # the same trace from the same channel had already arrived: nothing new was posted


def receive_payment(session: Session, *, principal: Principal, clock: Clock, payment: PaymentIn) -> Received:
    """Post one payment exactly once (see the module's rules). Safe when the same notification arrives on
    several connections at once: the unique (channel, trace) lets one of them post it."""
    principal.require(P.PAYMENTS_RECEIVE)
    p = check_payment(payment, today=clock.today())
    earlier = _existing(session, p)
    if earlier is not None:
        return Received(earlier, True)
    found = match(session, p, today=clock.today())
    row = Payment(
        channel=p.channel,
        trace=p.trace,
        bill_id=p.bill_id,
        payment_id=p.payment_id,
        amount=p.amount,
        paid_on=p.paid_on,
        received_at=clock.now(),
        actor=principal.username,
        status="suspense" if found.reason else "posted",
        reason=found.reason,
        subscription_id=found.subscription_id,
        bill_ref=found.bill_ref,
        to_credit=0,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        earlier = _existing(session, p)
        if earlier is None:
            raise
        return Received(earlier, True)
    if row.status == "posted":
        assert row.subscription_id is not None
        # the lock first: a payment of the same bill in flight elsewhere has committed once it is ours
        owed = lock_balances(session, row.subscription_id).receivable
        if found.bill_ref is not None and _paid_by_other(session, found.bill_ref, row.id):
            row.status, row.reason, row.bill_ref = "suspense", "no_open_bill", None
        else:
            row.to_credit = max(0, p.amount - max(owed, 0))
    if row.status == "posted":
        assert row.subscription_id is not None
        entry = L.payment_entry(row.subscription_id, p.amount, p.channel, to_credit=row.to_credit, memo=_memo(row))
    else:
        entry = L.suspense_entry(p.amount, p.channel, memo=_memo(row))
    row.entry_id = post(
        session,
        entry=L.with_document(entry, "payment", row.id),
        actor=principal.username,
        at=clock.now(),
        on=clock.today(),
        source=("payment", row.id),
    )
    session.flush()
    return Received(row, False)


def _paid_by_other(session: Session, bill_ref: int, own: int) -> bool:
    """Whether another payment (committed, or earlier in this transaction) already paid the bill."""
    return bool(
        session.scalar(
            select(exists().where(Payment.bill_ref == bill_ref, Payment.status.in_(PAID_STATES), Payment.id != own))
        )
    )


def _existing(session: Session, p: PaymentIn) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.channel == p.channel, Payment.trace == p.trace))


def _memo(row: Payment) -> str:
    return f"پرداخت {row.channel} پیگیری {row.trace}"


# ------------------------------------------------------------------------------------- inquiry


@dataclass(frozen=True)
class OpenBill:
    bill_ref: int
    cycle: int
    payable: int
    payment_id: str
    issued_on: date | None
    due_on: date | None


@dataclass(frozen=True)
class Inquiry:
    """What a bank shows before it takes a payment: the subscription's unpaid bills (oldest first), each with
    its payment ID, and what the subscription owes in all (``balances.receivable``)."""

    bill_id: str
    subscription_id: int
    subscription_number: str
    balances: Balances
    open_bills: list[OpenBill]

    @property
    def amount_due(self) -> int:
        return max(self.balances.receivable, 0)


def _stored_balance(account: str) -> Any:
    return (
        select(LedgerBalance.amount)
        .where(LedgerBalance.subscription_id == Subscription.id, LedgerBalance.account == account)
        .scalar_subquery()
    )


# The inquiry's three reads (the subscription, its open bills, its stored balances) as one statement, built
# once: one round trip and no statement building per request. Open bills: issued, payable, and not paid by a
# posted or resolved payment.
_INQUIRY = (
    select(
        Subscription.id,
        Subscription.subscription_number,
        _stored_balance(L.RECEIVABLE).label("receivable"),
        _stored_balance(L.CUSTOMER_CREDIT).label("customer_credit"),
        _stored_balance(L.ROUNDING_CARRY).label("carry"),
        Bill.id.label("bill_ref"),
        Bill.cycle,
        Bill.payable,
        Bill.payment_id,
        BillRun.issued_on,
        BillRun.due_on,
    )
    .select_from(Subscription)
    .outerjoin(
        join(Bill, BillRun, and_(BillRun.id == Bill.run_id, BillRun.state == "issued")),
        and_(
            Bill.subscription_id == Subscription.id,
            Bill.state == "rated",
            Bill.payable > 0,
            ~exists().where(Payment.bill_ref == Bill.id, Payment.status.in_(PAID_STATES)),
        ),
    )
    .where(Subscription.bill_id == bindparam("bill_id"))
    .order_by(Bill.cycle)
)


def inquiry(session: Session, *, principal: Principal, bill_id: str) -> Inquiry:
    """What a bill ID owes, in one round trip (the banks' API asks thousands of times a second). A wrong check
    digit is :class:`BadCheckDigit`; a bill ID of no subscription, :class:`NotFound`."""
    principal.require(P.PAYMENTS_RECEIVE)
    try:
        bill_id = validate_bill_id(bill_id)
    except ValidationError as exc:
        raise BadCheckDigit(exc.message_fa, field="bill_id", detail=exc.detail) from exc
    rows = session.execute(_INQUIRY, {"bill_id": bill_id}).all()
    if not rows:
        raise NotFound("اشتراکی با این شناسه قبض نیست", detail=f"no subscription with bill id {bill_id}")
    first = rows[0]
    return Inquiry(
        bill_id=bill_id,
        subscription_id=first.id,
        subscription_number=first.subscription_number,
        balances=Balances(
            receivable=int(first.receivable or 0),
            credit=-int(first.customer_credit or 0),
            carry=int(first.carry or 0),
        ),
        open_bills=[
            OpenBill(r.bill_ref, r.cycle, r.payable, r.payment_id, r.issued_on, r.due_on)
            for r in rows
            if r.bill_ref is not None
        ],
    )


# ------------------------------------------------------------------------------------- suspense, bounces


def _payment(session: Session, payment_row: int) -> Payment:
    row = session.get(Payment, payment_row, with_for_update=True)
    if row is None:
        raise NotFound("پرداخت پیدا نشد", detail=f"no payment {payment_row}")
    return row


def _finish(session: Session, row: Payment, *, principal: Principal, clock: Clock, status: str, note: str) -> None:
    before = {"status": row.status, "subscription_id": row.subscription_id}
    row.status = status
    row.resolved_by = principal.username
    row.resolved_at = clock.now()
    row.note = note[:200] or None
    audit.record(
        session,
        actor=principal.username,
        action=f"payment.{status}",
        subject_type="payment",
        subject_id=row.id,
        at=clock.now(),
        before=before,
        after={"status": status, "subscription_id": row.subscription_id, "note": row.note},
    )
    session.flush()


def resolve_suspense(
    session: Session, *, principal: Principal, clock: Clock, payment_row: int, subscription_id: int, note: str = ""
) -> Payment:
    """Give a suspended payment to a subscription: ``Dr suspense``, ``Cr receivable`` up to what it owes and
    ``Cr customer credit`` for the rest."""
    principal.require(P.PAYMENTS_MANAGE)
    row = _payment(session, payment_row)
    if row.status != "suspense":
        raise InvalidTransition("فقط پرداخت معلق را می‌توان تعیین تکلیف کرد", detail=f"payment is {row.status}")
    if session.get(Subscription, subscription_id) is None:
        raise ValidationError("اشتراک پیدا نشد", field="subscription_id")
    owed = lock_balances(session, subscription_id).receivable
    to_receivable = min(row.amount, max(owed, 0))
    postings = [
        L.Posting(L.SUSPENSE, row.amount),
        L.Posting(L.receivable(subscription_id), -to_receivable, "payment", row.id),
        L.Posting(L.customer_credit(subscription_id), -(row.amount - to_receivable), "payment", row.id),
    ]
    entry = L.check(
        L.Entry(L.EntryKind.SUSPENSE, tuple(x for x in postings if x.amount), f"تعیین تکلیف وجه معلق {row.trace}")
    )
    post(session, entry=entry, actor=principal.username, at=clock.now(), on=clock.today(), source=("payment", row.id))
    row.subscription_id = subscription_id
    row.to_credit = row.amount - to_receivable
    _finish(session, row, principal=principal, clock=clock, status="resolved", note=note)
    return row


def refund_suspense(
    session: Session, *, principal: Principal, clock: Clock, payment_row: int, note: str = ""
) -> Payment:
    """Return a suspended payment to its payer through its channel: ``Dr suspense``, ``Cr bank clearing``."""
    principal.require(P.PAYMENTS_MANAGE)
    row = _payment(session, payment_row)
    if row.status != "suspense":
        raise InvalidTransition("فقط پرداخت معلق را می‌توان مسترد کرد", detail=f"payment is {row.status}")
    entry = L.Entry(
        L.EntryKind.SUSPENSE,
        (L.Posting(L.SUSPENSE, row.amount), L.Posting(L.bank_clearing(row.channel), -row.amount)),
        f"استرداد وجه معلق {row.trace}",
    )
    post(session, entry=entry, actor=principal.username, at=clock.now(), on=clock.today(), source=("payment", row.id))
    _finish(session, row, principal=principal, clock=clock, status="refunded", note=note)
    return row


def reverse_payment(
    session: Session, *, principal: Principal, clock: Clock, payment_row: int, note: str = ""
) -> Payment:
    """A bounced payment: undo it. The bank clearing account gives the money back; the subscription owes it
    again (its customer credit first, as far as that credit is still unused), or suspense gives it back."""
    principal.require(P.PAYMENTS_MANAGE)
    row = _payment(session, payment_row)
    if row.status not in ("posted", "resolved", "suspense"):
        raise InvalidTransition("این پرداخت برگشت‌پذیر نیست", detail=f"payment is {row.status}")
    lines: list[L.Posting] = [L.Posting(L.bank_clearing(row.channel), -row.amount)]
    if row.status == "suspense":
        lines.append(L.Posting(L.SUSPENSE, row.amount))
    else:
        assert row.subscription_id is not None
        held = lock_balances(session, row.subscription_id).credit
        from_credit = min(row.to_credit, max(held, 0))
        lines.append(L.Posting(L.customer_credit(row.subscription_id), from_credit, "payment", row.id))
        due = clock.today()
        lines.append(L.Posting(L.receivable(row.subscription_id), row.amount - from_credit, "payment", row.id, due))
    entry = L.check(L.Entry(L.EntryKind.REVERSAL, tuple(x for x in lines if x.amount), f"برگشت پرداخت {row.trace}"))
    post(
        session,
        entry=entry,
        actor=principal.username,
        at=clock.now(),
        on=clock.today(),
        source=("payment", row.id),
        reverses=row.entry_id,
    )
    _finish(session, row, principal=principal, clock=clock, status="reversed", note=note)
    return row


# ------------------------------------------------------------------------------------- the office's pages
# The payment pages (counter, receipt, payment, suspense, list) read and act through these: the district
# scope of architecture rule 10, the counter's own checks, and a payment's ledger entries.


VIEW_PERMISSIONS = (P.LEDGER_VIEW, P.PAYMENTS_RECEIVE, P.PAYMENTS_MANAGE)
COUNTER_CHANNEL = "counter"
_COUNTER_TRACE = re.compile(r"C[0-9]{22}")


class UnknownBillId(ValidationError):
    code = "unknown_bill"


def payment_scope(principal: Principal) -> ColumnElement[bool]:
    """The payments a user may see: every one for a user without a district; for a district's user, the
    payments given to its district's subscriptions. A payment that names no subscription (suspense, unknown
    bill ID) is head office's."""
    if principal.district_id is None:
        return true()
    return Payment.subscription_id.in_(select(Subscription.id).where(Subscription.district_id == principal.district_id))


def _require_view(principal: Principal) -> None:
    if not any(principal.can(p) for p in VIEW_PERMISSIONS):
        principal.require(P.LEDGER_VIEW)


def get_payment(session: Session, *, principal: Principal, payment_row: int) -> Payment:
    """One payment the principal may see (see :func:`payment_scope`), or 404."""
    _require_view(principal)
    row = session.scalar(select(Payment).where(Payment.id == payment_row, payment_scope(principal)))
    if row is None:
        raise NotFound("پرداخت پیدا نشد", detail=f"no payment {payment_row} in scope")
    return row


def require_payment_in_scope(session: Session, *, principal: Principal, payment_row: int) -> None:
    """404 unless the principal may see the payment. Reads only its id, so that a verb called next
    (``resolve_suspense``, ``refund_suspense``, ``reverse_payment``) loads the row itself under its lock
    rather than finding a stale copy in the session."""
    _require_view(principal)
    found = session.scalar(select(Payment.id).where(Payment.id == payment_row, payment_scope(principal)))
    if found is None:
        raise NotFound("پرداخت پیدا نشد", detail=f"no payment {payment_row} in scope")


def find_subscription(session: Session, *, principal: Principal, number_or_bill_id: str) -> int:
    """The id of the subscription in the principal's district whose subscription number or bill ID is
    ``number_or_bill_id`` (Persian digits and separators accepted); a :class:`ValidationError` on
    ``subscription`` when none or two match."""
    value = "".join(normalize_digits(number_or_bill_id).split()).replace("-", "")
    if not value:
        raise ValidationError("شماره اشتراک یا شناسه قبض را وارد کنید", field="subscription")
    ids = list(
        session.scalars(
            select(Subscription.id)
            .where(
                or_(Subscription.subscription_number == value, Subscription.bill_id == value),
                subscription_scope(principal),
            )
            .limit(2)
        )
    )
    if not ids:
        where = " در امور شما" if principal.district_id is not None else ""
        raise ValidationError(
            f"اشتراکی با این شماره اشتراک یا شناسه قبض{where} پیدا نشد",
            field="subscription",
            detail=f"no subscription {value!r}",
        )
    if len(ids) > 1:
        raise ValidationError(
            "این عدد شماره اشتراک یکی و شناسه قبض دیگری است؛ شناسه قبض را وارد کنید",
            field="subscription",
            detail=f"ambiguous {value!r}",
        )
    return ids[0]


@dataclass(frozen=True)
class CounterInquiry:
    """What the cashier sees for a bill ID: the bank's inquiry and who the subscription is."""

    inquiry: Inquiry
    owner: str
    address: str
    district_name: str


def counter_inquiry(session: Session, *, principal: Principal, bill_id: str) -> CounterInquiry:
    """The inquiry of a subscription in the cashier's district (rule 10); 422 on ``bill_id`` otherwise."""
    principal.require(P.PAYMENTS_RECEIVE)
    try:
        bill_id = validate_bill_id(bill_id)
    except ValidationError as exc:
        raise BadCheckDigit(exc.message_fa, field="bill_id", detail=exc.detail) from exc
    row = session.execute(
        select(Customer, Premises.address, District.name)
        .select_from(Subscription)
        .join(Customer, Customer.id == Subscription.customer_id)
        .join(Premises, Premises.id == Subscription.premises_id)
        .join(District, District.id == Subscription.district_id)
        .where(Subscription.bill_id == bill_id, subscription_scope(principal))
    ).first()
    if row is None:
        where = " در امور شما" if principal.district_id is not None else ""
        raise UnknownBillId(
            f"اشتراکی با این شناسه قبض{where} پیدا نشد", field="bill_id", detail=f"no subscription {bill_id}"
        )
    customer, address, district_name = row
    return CounterInquiry(
        inquiry=inquiry(session, principal=principal, bill_id=bill_id),
        owner=customer.display_name,
        address=address,
        district_name=district_name,
    )


def new_counter_trace(clock: Clock) -> str:
    """A trace for a counter payment form: ``C``, the local time (yyyymmddHHMMSS) and 8 random digits. The
    page gives one to each form, so a form sent twice is the same payment (see :func:`receive_at_counter`)."""
    stamp = clock.local(clock.now()).strftime("%Y%m%d%H%M%S")
    return f"C{stamp}{secrets.randbelow(10**8):08d}"


def receive_at_counter(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    bill_id: str,
    payment_id: str,
    amount: int,
    trace: str,
) -> Received:
    """A payment taken at the counter: of one open bill (its payment ID and exactly its amount), or on account
    (no payment ID, any positive amount), for a subscription in the cashier's district. The trace is the one
    :func:`new_counter_trace` gave the form: the same form sent again returns the first payment; a trace
    already used for another payment is refused, as is a bill that is no longer open."""
    principal.require(P.PAYMENTS_RECEIVE)
    trace = trace.strip()
    if not _COUNTER_TRACE.fullmatch(trace):
        raise ValidationError(
            "شماره پیگیری فرم نادرست است؛ صفحه را دوباره باز کنید", field="trace", detail="bad counter trace"
        )
    view = counter_inquiry(session, principal=principal, bill_id=bill_id)
    bill_id = view.inquiry.bill_id
    payment_id = "".join(normalize_digits(payment_id).split())
    earlier = session.scalar(select(Payment).where(Payment.channel == COUNTER_CHANNEL, Payment.trace == trace))
    if earlier is not None:
        if (earlier.actor, earlier.bill_id, earlier.payment_id, earlier.amount) != (
            principal.username,
            bill_id,
            payment_id,
            amount,
        ):
            raise ValidationError(
                "این فرم پیش‌تر برای پرداخت دیگری به کار رفته است؛ صفحه را دوباره باز کنید",
                field="trace",
                detail=f"counter trace {trace} already used",
            )
        return Received(earlier, True)
    if payment_id:
        bill = next((b for b in view.inquiry.open_bills if b.payment_id == payment_id), None)
        if bill is None:
            raise ValidationError(
                "این شناسه پرداخت از صورتحساب‌های پرداخت‌نشدهٔ این اشتراک نیست",
                field="payment_id",
                detail=f"{payment_id} is not an open bill of {bill_id}",
            )
        if amount != bill.payable:
            raise BadAmount(
                "مبلغ پرداخت صورتحساب باید همان مبلغ قابل پرداخت آن باشد",
                field="amount",
                detail=f"amount {amount} != payable {bill.payable}",
            )
    payment = PaymentIn(COUNTER_CHANNEL, trace, bill_id, payment_id, amount, clock.today())
    return receive_payment(session, principal=principal, clock=clock, payment=payment)


@dataclass(frozen=True)
class EntryLine:
    account: str  # a chart code
    key: int | str | None  # the subscription id or channel code of a per-subscription or per-channel account
    amount: int  # debit positive


@dataclass(frozen=True)
class PaymentEntry:
    id: int
    kind: str
    posted_on: date
    posted_at: datetime
    actor: str
    memo: str
    reverses_id: int | None
    lines: list[EntryLine]


def payment_entries(session: Session, row: Payment) -> list[PaymentEntry]:
    """The ledger entries of a payment, oldest first: the one that posted it, then its resolution, refund
    or reversal. The entry ids are read from ``row.entry_id`` on and filtered by source; an index on
    ``ledger_entry (source_type, source_id)`` would spare the filter."""
    if row.entry_id is None:
        return []
    stmt = select(LedgerEntry).where(LedgerEntry.id == row.entry_id)
    if row.resolved_at is not None:
        stmt = select(LedgerEntry).where(
            LedgerEntry.id >= row.entry_id,
            or_(
                LedgerEntry.id == row.entry_id,
                and_(LedgerEntry.source_type == "payment", LedgerEntry.source_id == row.id),
            ),
        )
    entries = list(session.scalars(stmt.order_by(LedgerEntry.id)))
    if not entries:
        return []
    postings = session.execute(
        select(
            LedgerPosting.entry_id,
            LedgerPosting.account,
            LedgerPosting.subscription_id,
            LedgerPosting.channel,
            LedgerPosting.amount,
        )
        .where(LedgerPosting.entry_id.in_([e.id for e in entries]))
        .order_by(LedgerPosting.id)
    ).all()
    lines: dict[int, list[EntryLine]] = {e.id: [] for e in entries}
    for p in postings:
        key = p.subscription_id if p.subscription_id is not None else p.channel
        lines[p.entry_id].append(EntryLine(p.account, key, int(p.amount)))
    return [
        PaymentEntry(e.id, e.kind, e.posted_on, e.posted_at, e.actor, e.memo, e.reverses_id, lines[e.id])
        for e in entries
    ]
