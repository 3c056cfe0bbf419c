"""Payment pages: the counter (صندوق) and its printable receipt, a payment's page with its bounce, the
suspense queue (give to a subscription, refund) and the payments list; lists go to Excel.

Every read and act goes through ``barq.payments.service``, which applies the district scope (rule 10): a
district's user sees and takes only payments of its district's subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from barq.auth import permissions as P
from barq.auth.models import User
from barq.billing.models import Bill, BillRun
from barq.calendar import MONTH_NAMES, fa_digits, format_jalali_datetime
from barq.connections.models import Subscription
from barq.customers.models import Customer, Premises
from barq.errors import InvalidTransition, ValidationError
from barq.ids import normalize_digits
from barq.inputs import Inputs
from barq.ledger.postings import CHART, EntryKind
from barq.payments.channels import channels
from barq.payments.models import PAYMENT_STATES, SUSPENSE_REASONS, Payment
from barq.payments.service import (
    STATUS_FA,
    SUSPENSE_REASON_FA,
    CounterInquiry,
    counter_inquiry,
    find_subscription,
    get_payment,
    new_counter_trace,
    payment_entries,
    payment_scope,
    receive_at_counter,
    refund_suspense,
    require_payment_in_scope,
    resolve_suspense,
    reverse_payment,
)
from barq.reports.excel import to_xlsx
from barq.reports.listing import EXPORT_LIMIT, paginate
from barq.web.deps import Page, PageDep, xlsx_download

router = APIRouter(include_in_schema=False)
Listed = Select[Payment, str]  # a payment and its subscription's number (None when it has none)

ENTRY_KIND_FA = {
    EntryKind.BILL: "صورتحساب",
    EntryKind.PAYMENT: "پرداخت",
    EntryKind.CREDIT: "اعمال بستانکاری",
    EntryKind.ADJUSTMENT: "تعدیل",
    EntryKind.SUSPENSE: "وجوه معلق",
    EntryKind.REVERSAL: "برگشت",
    EntryKind.FEE: "هزینه خدمات",
}
STATUS_BADGE = {
    "posted": "active",
    "resolved": "active",
    "suspense": "in_progress",
    "refunded": "cancelled",
    "reversed": "failed",
}
_SEPARATORS = str.maketrans("", "", ",٬،' \u200c")


def cycle_label(cycle: int) -> str:
    """140508 → «آبان ۱۴۰۵»."""
    year, month = divmod(cycle, 100)
    return f"{MONTH_NAMES[month - 1]} {fa_digits(year)}" if 1 <= month <= 12 else fa_digits(cycle)


def _channel_names() -> dict[str, str]:
    return {code: c.name_fa for code, c in channels().items()}


def _amount(raw: str, label: str = "مبلغ") -> int:
    """Rials typed by a person: Persian or Latin digits, thousands separators allowed."""
    text = normalize_digits(raw).translate(_SEPARATORS).strip()
    if not text:
        raise ValidationError(f"«{label}» را وارد کنید", field="amount")
    if not text.isdigit() or not text.isascii():
        raise ValidationError(f"«{label}» باید عدد صحیح ریال باشد، مانند ۱۲۵۰۰۰۰", field="amount")
    value = int(text)
    if value <= 0:
        raise ValidationError(f"«{label}» باید بیشتر از صفر ریال باشد", field="amount")
    if value >= 2**63:
        raise ValidationError(f"«{label}» بیش از اندازه بزرگ است", field="amount")
    return value


def _full_names(db: Session, usernames: set[str]) -> dict[str, str]:
    if not usernames:
        return {}
    rows = db.execute(select(User.username, User.full_name).where(User.username.in_(usernames)))
    return {u: n for u, n in rows}


def _subscription_numbers(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.execute(select(Subscription.id, Subscription.subscription_number).where(Subscription.id.in_(ids)))
    return {i: n for i, n in rows}


def _base(page: Page) -> Listed:
    return (
        select(Payment, Subscription.subscription_number)
        .outerjoin(Subscription, Subscription.id == Payment.subscription_id)
        .where(payment_scope(page.principal))
    )


_EXPORT_HEADER = [
    "شماره",
    "زمان دریافت",
    "تاریخ پرداخت",
    "کانال",
    "شماره پیگیری",
    "شناسه قبض",
    "شناسه پرداخت",
    "مبلغ (ریال)",
    "وضعیت",
    "علت تعلیق",
    "اشتراک",
    "بستانکاری (ریال)",
]


def _export(page: Page, stmt: Listed, title: str, filename: str) -> Response:
    names = _channel_names()
    rows = [
        (
            pay.id,
            format_jalali_datetime(pay.received_at),
            pay.paid_on,
            names.get(pay.channel, pay.channel),
            pay.trace,
            pay.bill_id,
            pay.payment_id or "علی‌الحساب",
            pay.amount,
            STATUS_FA.get(pay.status, pay.status),
            SUSPENSE_REASON_FA.get(pay.reason or "", ""),
            number or "",
            pay.to_credit,
        )
        for pay, number in page.db.execute(stmt.limit(EXPORT_LIMIT))
    ]
    return xlsx_download(to_xlsx(title, _EXPORT_HEADER, rows), filename)


# ------------------------------------------------------------------------------------------ the list


@router.get("/payments", response_class=HTMLResponse)
def payment_list(
    page: PageDep,
    q: str = "",
    status: str = "",
    channel: str = "",
    date_from: str = "",
    date_to: str = "",
    p: int = 1,
    format: str = "",
) -> Response:
    page.principal.require(P.LEDGER_VIEW)
    params = {"q": q, "status": status, "channel": channel, "date_from": date_from, "date_to": date_to}
    form = Inputs(params)
    start = form.jalali_date("date_from", "از تاریخ", required=False)
    end = form.jalali_date("date_to", "تا تاریخ", required=False)
    if start and end and end < start:
        form.errors["date_to"] = "«تا تاریخ» پیش از «از تاریخ» است"
    stmt = _base(page)
    wanted = "".join(normalize_digits(q).split())
    if wanted:
        stmt = stmt.where(or_(Payment.trace == wanted, Payment.bill_id == wanted.lstrip("0")))
    if status in PAYMENT_STATES:
        stmt = stmt.where(Payment.status == status)
    if channel in channels():
        stmt = stmt.where(Payment.channel == channel)
    if start:
        stmt = stmt.where(Payment.paid_on >= start)
    if end:
        stmt = stmt.where(Payment.paid_on <= end)
    stmt = stmt.order_by(Payment.id.desc())
    if form.errors:
        return _list_page(page, None, params, form.errors, 422)
    if format == "xlsx":
        return _export(page, stmt, "پرداخت‌ها", "payments.xlsx")
    return _list_page(page, paginate(page.db, stmt, page=p, size=page.settings.page_size, rows=True), params, {})


def _list_page(page: Page, listing: Any, params: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    return page.render(
        "payments/list.html",
        status_code=status,
        listing=listing,
        params=params,
        errors=errors,
        states=STATUS_FA,
        badges=STATUS_BADGE,
        reasons=SUSPENSE_REASON_FA,
        channels=_channel_names(),
    )


# ------------------------------------------------------------------------------------------ the counter


@dataclass
class CounterForm:
    """A payment form of the counter page and the trace the server gave it."""

    payment_id: str
    amount: int
    trace: str


def _counter(
    page: Page,
    bill_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    errors = dict(errors or {})
    view: CounterInquiry | None = None
    if bill_id.strip():
        try:
            view = counter_inquiry(page.db, principal=page.principal, bill_id=bill_id)
        except ValidationError as exc:
            errors.setdefault("bill_id", exc.message_fa)
            status = 422
    forms = []
    if view is not None:
        forms = [CounterForm(b.payment_id, b.payable, new_counter_trace(page.clock)) for b in view.inquiry.open_bills]
    return page.render(
        "payments/counter.html",
        status_code=status,
        bill_id=bill_id,
        view=view,
        forms=forms,
        on_account_trace=new_counter_trace(page.clock),
        errors=errors,
        values=values or {},
        cycle_label=cycle_label,
        bills={b.payment_id: b for b in view.inquiry.open_bills} if view else {},
    )


@router.get("/payments/counter", response_class=HTMLResponse)
def counter(page: PageDep, bill_id: str = "") -> Response:
    page.principal.require(P.PAYMENTS_RECEIVE)
    return _counter(page, bill_id)


@router.post("/payments/counter", response_class=HTMLResponse)
async def counter_take(page: PageDep) -> Response:
    page.principal.require(P.PAYMENTS_RECEIVE)
    data = await page.form()
    bill_id = data.get("bill_id", "")
    try:
        received = receive_at_counter(
            page.db,
            principal=page.principal,
            clock=page.clock,
            bill_id=bill_id,
            payment_id=data.get("payment_id", ""),
            amount=_amount(data.get("amount", "")),
            trace=data.get("trace", ""),
        )
    except ValidationError as exc:
        page.db.rollback()
        # the field's message beside it (the bill ID on the lookup, the amount on account) and on top
        errors = {**(exc.errors or {}), "form": exc.message_fa}
        return _counter(page, bill_id, errors=errors, values=data, status=422)
    return RedirectResponse(f"/payments/{received.payment.id}/receipt?new=1", status_code=303)


# ------------------------------------------------------------------------------------------ the receipt


@router.get("/payments/{payment_id}/receipt", response_class=HTMLResponse)
def receipt(page: PageDep, payment_id: int, new: int = 0) -> Response:
    """The printable receipt: anyone who may see payments (ledger.view), and the cashier who took it."""
    row = get_payment(page.db, principal=page.principal, payment_row=payment_id)
    if not page.principal.can(P.LEDGER_VIEW) and row.actor != page.principal.username:
        page.principal.require(P.LEDGER_VIEW)
    sub = page.db.get(Subscription, row.subscription_id) if row.subscription_id else None
    owner = address = ""
    if sub is not None:
        customer = page.db.get(Customer, sub.customer_id)
        premises = page.db.get(Premises, sub.premises_id)
        owner = customer.display_name if customer else ""
        address = premises.address if premises else ""
    cycle = None
    if row.bill_ref is not None:
        cycle = page.db.scalar(select(Bill.cycle).where(Bill.id == row.bill_ref))
    return page.render(
        "payments/receipt.html",
        p=row,
        sub=sub,
        owner=owner,
        address=address,
        cycle=cycle_label(cycle) if cycle else "",
        cashier=_full_names(page.db, {row.actor}).get(row.actor, row.actor),
        channel=_channel_names().get(row.channel, row.channel),
        company=page.settings.company_name,
        states=STATUS_FA,
        reasons=SUSPENSE_REASON_FA,
        received=format_jalali_datetime(row.received_at, page.clock.tz),
        new=bool(new),
    )


# ------------------------------------------------------------------------------------------ suspense


def _suspense_params(reason: str, channel: str) -> dict[str, str]:
    return {"reason": reason if reason in SUSPENSE_REASONS else "", "channel": channel if channel in channels() else ""}


def _suspense_stmt(page: Page, params: dict[str, str]) -> Listed:
    stmt = _base(page).where(Payment.status == "suspense")
    if params["reason"]:
        stmt = stmt.where(Payment.reason == params["reason"])
    if params["channel"]:
        stmt = stmt.where(Payment.channel == params["channel"])
    return stmt.order_by(Payment.id)


def _suspense(
    page: Page,
    params: dict[str, str],
    p: int,
    *,
    errors: dict[int, dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
    flash: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    page.principal.require(P.PAYMENTS_MANAGE)
    listing = paginate(page.db, _suspense_stmt(page, params), page=p, size=page.settings.page_size, rows=True)
    return page.render(
        "payments/suspense.html",
        status_code=status,
        listing=listing,
        params=params,
        page_no=listing.page,
        reasons=SUSPENSE_REASON_FA,
        channels=_channel_names(),
        errors=errors or {},
        values=values or {},
        flash=flash,
        flash_kind="err" if errors else "ok",
    )


@router.get("/payments/suspense", response_class=HTMLResponse)
def suspense(
    page: PageDep, reason: str = "", channel: str = "", p: int = 1, format: str = "", done: str = "", trace: str = ""
) -> Response:
    page.principal.require(P.PAYMENTS_MANAGE)
    params = _suspense_params(reason, channel)
    if format == "xlsx":
        return _export(page, _suspense_stmt(page, params), "وجوه معلق", "suspense.xlsx")
    flash = None
    if done == "resolved":
        flash = f"پرداخت با شماره پیگیری {fa_digits(trace)} به اشتراک داده شد."
    elif done == "refunded":
        flash = f"پرداخت با شماره پیگیری {fa_digits(trace)} مسترد شد."
    return _suspense(page, params, p, flash=flash)


def _back_to_suspense(data: dict[str, str], done: str, trace: str) -> RedirectResponse:
    params = _suspense_params(data.get("reason", ""), data.get("channel", ""))
    page_no = data.get("p", "")
    query = {k: v for k, v in params.items() if v} | {"done": done, "trace": trace}
    if page_no.isdigit() and page_no != "1":
        query["p"] = page_no
    return RedirectResponse(f"/payments/suspense?{urlencode(query)}", status_code=303)


def _refused(page: Page, data: dict[str, str], payment_id: int, errors: dict[str, str]) -> HTMLResponse:
    page.db.rollback()
    params = _suspense_params(data.get("reason", ""), data.get("channel", ""))
    page_no = int(data["p"]) if data.get("p", "").isdigit() else 1
    return _suspense(
        page,
        params,
        page_no,
        errors={payment_id: errors},
        values=data,
        flash="کار انجام نشد: " + next(iter(errors.values())),
        status=422,
    )


@router.post("/payments/{payment_id}/resolve", response_class=HTMLResponse)
async def resolve(page: PageDep, payment_id: int) -> Response:
    """Give a suspended payment to a subscription, named by its subscription number or bill ID."""
    page.principal.require(P.PAYMENTS_MANAGE)
    data = await page.form()
    try:
        require_payment_in_scope(page.db, principal=page.principal, payment_row=payment_id)
        target = find_subscription(page.db, principal=page.principal, number_or_bill_id=data.get("subscription", ""))
        row = resolve_suspense(
            page.db,
            principal=page.principal,
            clock=page.clock,
            payment_row=payment_id,
            subscription_id=target,
            note=" ".join(data.get("note", "").split())[:200],
        )
    except ValidationError as exc:
        return _refused(page, data, payment_id, exc.errors or {"subscription": exc.message_fa})
    except InvalidTransition as exc:
        return _refused(page, data, payment_id, {"form": exc.message_fa})
    return _back_to_suspense(data, "resolved", row.trace)


@router.post("/payments/{payment_id}/refund", response_class=HTMLResponse)
async def refund(page: PageDep, payment_id: int) -> Response:
    page.principal.require(P.PAYMENTS_MANAGE)
    data = await page.form()
    if data.get("confirm") != "1":
        require_payment_in_scope(page.db, principal=page.principal, payment_row=payment_id)
        return _refused(page, data, payment_id, {"confirm": "برای استرداد، گزینهٔ «تأیید می‌کنم» را بزنید"})
    try:
        require_payment_in_scope(page.db, principal=page.principal, payment_row=payment_id)
        row = refund_suspense(
            page.db,
            principal=page.principal,
            clock=page.clock,
            payment_row=payment_id,
            note=" ".join(data.get("note", "").split())[:200],
        )
    except InvalidTransition as exc:
        return _refused(page, data, payment_id, {"form": exc.message_fa})
    return _back_to_suspense(data, "refunded", row.trace)


# ------------------------------------------------------------------------------------------ one payment


def _detail(
    page: Page,
    payment_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    flash: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    page.principal.require(P.LEDGER_VIEW)
    row = get_payment(page.db, principal=page.principal, payment_row=payment_id)
    entries = payment_entries(page.db, row)
    sub_ids = {int(ln.key) for e in entries for ln in e.lines if isinstance(ln.key, int)}
    if row.subscription_id:
        sub_ids.add(row.subscription_id)
    bill = None
    if row.bill_ref is not None:
        bill = page.db.execute(
            select(Bill.id, Bill.cycle, Bill.payable, BillRun.due_on)
            .join(BillRun, BillRun.id == Bill.run_id)
            .where(Bill.id == row.bill_ref)
        ).first()
    people = {row.actor, *(e.actor for e in entries)}
    if row.resolved_by:
        people.add(row.resolved_by)
    return page.render(
        "payments/detail.html",
        status_code=status,
        p=row,
        entries=entries,
        bill=bill,
        cycle_label=cycle_label,
        numbers=_subscription_numbers(page.db, sub_ids),
        names=_full_names(page.db, people),
        channels=_channel_names(),
        states=STATUS_FA,
        badges=STATUS_BADGE,
        reasons=SUSPENSE_REASON_FA,
        kinds=ENTRY_KIND_FA,
        chart=CHART,
        can_reverse=page.principal.can(P.PAYMENTS_MANAGE) and row.status in ("posted", "resolved", "suspense"),
        errors=errors or {},
        values=values or {},
        flash=flash,
        flash_kind="err" if errors else "ok",
    )


@router.get("/payments/{payment_id}", response_class=HTMLResponse)
def payment_page(page: PageDep, payment_id: int, done: str = "") -> Response:
    flash = "پرداخت برگشت خورد." if done == "reversed" else None
    return _detail(page, payment_id, flash=flash)


@router.post("/payments/{payment_id}/reverse", response_class=HTMLResponse)
async def reverse(page: PageDep, payment_id: int) -> Response:
    """Bounce: the money did not stay with the company (a bank took it back, a counter payment was a
    mistake). Needs a note and the confirmation box."""
    page.principal.require(P.PAYMENTS_MANAGE)
    data = await page.form()
    form = Inputs(data)
    note = form.text("note", "علت برگشت", max_len=200)
    if data.get("confirm") != "1":
        form.errors["confirm"] = "برای برگشت پرداخت، گزینهٔ «تأیید می‌کنم» را بزنید"
    require_payment_in_scope(page.db, principal=page.principal, payment_row=payment_id)
    if form.errors:
        return _detail(page, payment_id, errors=form.errors, values=data, status=422)
    try:
        reverse_payment(page.db, principal=page.principal, clock=page.clock, payment_row=payment_id, note=note or "")
    except InvalidTransition as exc:
        page.db.rollback()
        return _detail(page, payment_id, errors={"form": exc.message_fa}, values=data, status=409)
    return RedirectResponse(f"/payments/{payment_id}?done=reversed", status_code=303)
