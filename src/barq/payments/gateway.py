"""Portal payments (پرداخت اینترنتی, domain.md §6) through a payment gateway; docs/portal-payments.md.

A customer names a bill by its bill ID and payment ID; barq checks both (check digits, an open bill of a
subscription of this company), records a :class:`GatewayPayment` under an unguessable token and sends the
customer to the gateway. The gateway sends the customer back to the callback; barq asks the gateway to
verify it and, when the money was taken, posts it **once** with ``receive_payment`` (channel ``portal``,
trace = the gateway's reference number). A refreshed or repeated callback finds the payment finished and
answers as before; a callback the gateway cannot verify changes nothing.

The gateway is a :class:`Gateway` (start → where to send the customer; verify a callback → paid, failed or
cancelled, with the gateway's reference and the amount actually paid), chosen by ``BARQ_PAYMENT_GATEWAY``:
a code of ``GATEWAYS`` or ``package.module:factory``. :class:`DevGateway` simulates a bank for development
and tests: its bank page is served by barq itself and its callback is signed with an HMAC whose key comes
from ``BARQ_PAYMENT_GATEWAY_SECRET`` (or ``BARQ_SECRET_KEY``), so an altered or forged callback is refused.

A gateway payment moves ``started`` → ``paid`` | ``failed`` | ``cancelled`` and no further
(``TRANSITIONS``); each move writes an audit row in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal, Protocol
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.billing.models import Bill, BillRun
from barq.calendar import fa_digits, fa_number, jalali_month_name
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.customers.models import Customer
from barq.errors import BarqError, Conflict, InvalidTransition, NotFound, ValidationError
from barq.ids import parse_payment_id, validate_bill_id, validate_payment_id
from barq.payments.models import GatewayPayment, Payment
from barq.payments.service import (
    SUSPENSE_REASON_FA,
    BadCheckDigit,
    PaymentIn,
    cycle_of_payment_id,
    inquiry,
    receive_payment,
)
from barq.settings import Settings

CHANNEL: Final = "portal"
PORTAL: Final = Principal(
    user_id=0,
    username="portal",
    full_name="پرداخت اینترنتی",
    roles=frozenset(),
    permissions=frozenset({P.PAYMENTS_RECEIVE}),
)
"""Who acts for an anonymous customer of the portal: it may only ask for bills and receive payments."""

Outcome = Literal["paid", "failed", "cancelled"]
TRANSITIONS: Final[dict[str, frozenset[str]]] = {"started": frozenset({"paid", "failed", "cancelled"})}
STATE_FA: Final = {
    "started": "در انتظار بانک",
    "paid": "پرداخت شده",
    "failed": "ناموفق",
    "cancelled": "لغو شده",
}
MAX_REF: Final = 40
TOKEN_BYTES: Final = 24  # 32 URL-safe characters, 192 random bits


# ------------------------------------------------------------------------------------------ errors


class UnknownBill(ValidationError):
    code = "unknown_bill"


class BillPaid(ValidationError):
    code = "bill_paid"


class NoSuchBill(ValidationError):
    code = "no_open_bill"


class CallbackRefused(ValidationError):
    """A callback the gateway does not vouch for (bad signature, unknown status, another gateway's
    payment): nothing is changed."""

    code = "callback_refused"
    http_status = 400


class TraceCollision(Conflict):
    """The gateway's reference number is already the trace of another portal payment: the money is real
    but cannot be posted under that trace; the office must look into it."""

    code = "trace_collision"


class UnknownGateway(BarqError):
    """``BARQ_PAYMENT_GATEWAY`` names no usable gateway: the portal cannot take payments until it does."""

    code = "unknown_gateway"
    http_status = 503


# ------------------------------------------------------------------------------------------ interface


@dataclass(frozen=True)
class Redirect:
    """Where to send the customer: a GET of ``url``, or (``form`` given) a POST of these fields to ``url``,
    as some banks require; the page then submits the form by itself."""

    url: str
    form: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Verification:
    """What the gateway vouches for: the payment was ``paid`` (then ``ref`` is its reference number and
    ``amount`` the rials actually taken), ``failed`` or ``cancelled`` (nothing was taken); ``detail`` says
    more for the office."""

    outcome: Outcome
    ref: str | None = None
    amount: int | None = None
    detail: str = ""

    @property
    def verified(self) -> bool:
        return self.outcome == "paid"


class Gateway(Protocol):
    """A payment gateway (درگاه پرداخت). ``code`` (at most 16 ASCII characters) is stored with each
    payment; ``name_fa`` is shown to the customer. Reference numbers must be unique among every gateway the
    company uses on the portal (they become the ``portal`` channel's traces): prefix them if need be."""

    code: str
    name_fa: str

    def start(self, *, token: str, order_id: int, amount: int, callback_url: str, description: str) -> Redirect:
        """Register a payment of ``amount`` rials with the bank and say where to send the customer.
        ``token`` (URL-safe, unguessable) and ``order_id`` (a positive number) identify the payment;
        ``callback_url`` already carries ``token``: the bank sends the customer back to it."""
        ...

    def verify(self, *, token: str, order_id: int, amount: int, params: Mapping[str, str]) -> Verification:
        """Decide a callback (``params``: its query and form fields) for the payment of ``token``, which asked
        for ``amount``. Raise :class:`CallbackRefused` when the callback cannot be trusted."""
        ...


GatewayFactory = Callable[[Settings], Gateway]


# ------------------------------------------------------------------------------------------ dev gateway


@dataclass(frozen=True)
class DevBankRequest:
    """A payment request as the development bank received it (from the signed start address)."""

    token: str
    amount: int
    callback_url: str
    sig: str


DevAction = Literal["pay", "cancel", "fail"]
_DEV_STATUS: Final[dict[str, str]] = {"pay": "OK", "cancel": "CANCELLED", "fail": "FAILED"}


class DevGateway:
    """A simulated bank for development and tests; never configure it in production: its bank page
    ``/dev-gateway/{token}`` "pays" without moving money.

    ``start`` sends the customer to the bank page with the amount and the callback address, signed; the
    page refuses an address whose signature does not match (an altered amount). Its «pay», «cancel» and
    «fail» buttons send the customer back to the callback with ``status`` (OK, CANCELLED, FAILED), ``ref``
    (``DEV`` and 12 digits, when paid), ``amount`` and ``sig``, an HMAC-SHA256 over the token and those
    fields; ``verify`` refuses a callback whose signature does not match."""

    code = "dev"
    name_fa = "درگاه آزمایشی (شبیه‌ساز بانک)"
    BANK_PATH: Final = "/dev-gateway"

    def __init__(self, secret: str) -> None:
        if not secret:
            raise UnknownGateway("درگاه آزمایشی کلید امضا ندارد", field="payment_gateway_secret")
        self._key = hashlib.sha256(b"barq dev gateway\x00" + secret.encode("utf-8")).digest()

    @classmethod
    def from_settings(cls, settings: Settings) -> DevGateway:
        return cls(settings.payment_gateway_secret or settings.secret_key)

    def sign(self, *parts: str) -> str:
        return hmac.new(self._key, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()

    def start(self, *, token: str, order_id: int, amount: int, callback_url: str, description: str) -> Redirect:
        sig = self.sign("start", token, str(amount), callback_url)
        query = urlencode({"amount": str(amount), "callback": callback_url, "sig": sig})
        return Redirect(f"{self.BANK_PATH}/{token}?{query}")

    def bank_request(self, token: str, params: Mapping[str, str]) -> DevBankRequest:
        """The request the bank page was opened with; CallbackRefused when it was not signed by ``start``."""
        amount, callback, sig = (params.get(k, "") for k in ("amount", "callback", "sig"))
        if not _signature_ok(self.sign("start", token, amount, callback), sig) or not (
            amount.isascii() and amount.isdigit()
        ):
            raise CallbackRefused("درخواست پرداخت معتبر نیست", detail="dev bank: bad start signature")
        return DevBankRequest(token=token, amount=int(amount), callback_url=callback, sig=sig)

    def answer(self, request: DevBankRequest, action: DevAction) -> str:
        """The signed callback address the bank sends the customer back to after ``action``."""
        status = _DEV_STATUS[action]
        ref = "DEV" + "".join(secrets.choice("0123456789") for _ in range(12)) if action == "pay" else ""
        amount = str(request.amount)
        fields = {
            "status": status,
            "ref": ref,
            "amount": amount,
            "sig": self.callback_sig(request.token, status, ref, amount),
        }
        joiner = "&" if "?" in request.callback_url else "?"
        return request.callback_url + joiner + urlencode(fields)

    def callback_sig(self, token: str, status: str, ref: str, amount: str) -> str:
        return self.sign("callback", token, status, ref, amount)

    def verify(self, *, token: str, order_id: int, amount: int, params: Mapping[str, str]) -> Verification:
        status, ref, paid = (params.get(k, "") for k in ("status", "ref", "amount"))
        if not _signature_ok(self.callback_sig(token, status, ref, paid), params.get("sig", "")):
            raise CallbackRefused(
                "پاسخ بانک تأیید نشد؛ اگر مبلغی از حساب شما برداشته شده است، شماره پیگیری بانک را به امور برق بدهید",
                detail="dev gateway: bad callback signature",
            )
        if status == "OK":
            if not ref or len(ref) > MAX_REF or not (paid.isascii() and paid.isdigit()) or int(paid) <= 0:
                raise CallbackRefused(
                    "پاسخ بانک ناقص است", detail=f"dev gateway: paid without ref/amount {ref!r} {paid!r}"
                )
            return Verification("paid", ref=ref, amount=int(paid))
        if status == "CANCELLED":
            return Verification("cancelled", detail="the customer cancelled at the bank")
        if status == "FAILED":
            return Verification("failed", detail="the bank refused the payment (simulated)")
        raise CallbackRefused("پاسخ بانک نامعلوم است", detail=f"dev gateway: unknown status {status!r}")


def _signature_ok(expected: str, given: str) -> bool:
    return bool(given) and given.isascii() and hmac.compare_digest(expected, given)


# ------------------------------------------------------------------------------------------ registry

GATEWAYS: dict[str, GatewayFactory] = {"dev": DevGateway.from_settings}
"""The gateways shipped with barq, by the code ``BARQ_PAYMENT_GATEWAY`` names."""


def load_gateway(settings: Settings) -> Gateway:
    """The gateway ``settings.payment_gateway`` names: a code of ``GATEWAYS``, or ``package.module:factory``
    where ``factory(settings)`` returns a :class:`Gateway`."""
    name = settings.payment_gateway.strip()
    factory = GATEWAYS.get(name)
    if factory is None and ":" in name:
        module, _, attribute = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise UnknownGateway(
                f"درگاه پرداخت «{name}» پیدا نشد", field="payment_gateway", detail=f"cannot load {name}: {exc}"
            ) from exc
    if factory is None:
        raise UnknownGateway(f"درگاه پرداخت «{name}» شناخته نیست", field="payment_gateway", detail=f"unknown {name!r}")
    gateway = factory(settings)
    if not (isinstance(gateway.code, str) and gateway.code.isascii() and 1 <= len(gateway.code) <= 16):
        raise UnknownGateway("کد درگاه پرداخت باید ۱ تا ۱۶ نویسه لاتین باشد", field="payment_gateway")
    return gateway


# ------------------------------------------------------------------------------------------ display


def mask_name(name: str) -> str:
    """A name as a stranger holding the bill may see it: each word's first letter (and the last of a
    word of five letters or more), the rest hidden: «علی بیرانوند» → «ع*** ب***د»."""
    words = name.split()[:4]
    masked = [w[0] + "***" + (w[-1] if len(w) >= 5 else "") for w in words]
    return " ".join(masked) or "—"


def cycle_label(cycle: int) -> str:
    """``140508`` → «آبان ۱۴۰۵»."""
    year, month = divmod(cycle, 100)
    return f"{jalali_month_name(month)} {fa_digits(year)}"


# ------------------------------------------------------------------------------------------ the bill


@dataclass(frozen=True)
class PortalBill:
    """The open bill a customer is about to pay, as the confirmation shows it."""

    bill_id: str
    payment_id: str
    amount: int
    cycle: int
    owner: str  # masked
    due_on: date | None

    @property
    def period_label(self) -> str:
        return cycle_label(self.cycle)


def find_portal_bill(session: Session, *, bill_id: str, payment_id: str) -> PortalBill:
    """The open bill that ``bill_id`` and ``payment_id`` name, or a ValidationError naming the field at
    fault: a wrong check digit (``bad_check_digit``, both fields at once), a bill ID of no subscription
    (``unknown_bill``), a bill already paid (``bill_paid``) or a payment ID of no issued bill
    (``no_open_bill``). Reads the database, writes nothing."""
    errors: dict[str, str] = {}
    bill = pay = ""
    try:
        bill = validate_bill_id(bill_id)
    except ValidationError as exc:
        errors["bill_id"] = exc.message_fa
    try:
        pay = validate_payment_id(payment_id, bill or None)
    except ValidationError as exc:
        errors["payment_id"] = exc.message_fa
    if errors:
        field, message = next(iter(errors.items()))
        raise BadCheckDigit(message, field=field, errors=errors, detail="; ".join(errors))
    try:
        found = inquiry(session, principal=PORTAL, bill_id=bill)
    except NotFound as exc:
        raise UnknownBill(
            "شناسه قبض به هیچ اشتراکی در این شرکت تعلق ندارد", field="bill_id", detail=exc.detail
        ) from exc
    open_bill = next((b for b in found.open_bills if b.payment_id == pay), None)
    if open_bill is None:
        if _issued(session, found.subscription_id, pay):
            raise BillPaid("این قبض پیش‌تر پرداخت شده است", field="payment_id", detail=f"bill {pay} is paid")
        raise NoSuchBill(
            "شناسه پرداخت با هیچ قبض صادرشدهٔ این اشتراک مطابقت ندارد",
            field="payment_id",
            detail=f"no issued bill with payment id {pay}",
        )
    return PortalBill(
        bill_id=bill,
        payment_id=pay,
        amount=parse_payment_id(pay).amount,
        cycle=open_bill.cycle,
        owner=mask_name(_owner_name(session, bill)),
        due_on=open_bill.due_on,
    )


def _issued(session: Session, subscription_id: int, payment_id: str) -> bool:
    """Whether an issued bill of the subscription carries this payment ID (it is paid when not open)."""
    return (
        session.scalar(
            select(Bill.id)
            .join(BillRun, BillRun.id == Bill.run_id)
            .where(
                Bill.subscription_id == subscription_id,
                Bill.payment_id == payment_id,
                Bill.state == "rated",
                BillRun.state == "issued",
            )
            .limit(1)
        )
        is not None
    )


def _owner_name(session: Session, bill_id: str) -> str:
    customer = session.scalar(
        select(Customer)
        .join(Subscription, Subscription.customer_id == Customer.id)
        .where(Subscription.bill_id == bill_id)
    )
    return customer.display_name if customer is not None else ""


# ------------------------------------------------------------------------------------------ start


@dataclass(frozen=True)
class Started:
    token: str
    redirect: Redirect
    bill: PortalBill


def start_portal_payment(
    session: Session, *, clock: Clock, gateway: Gateway, bill_id: str, payment_id: str, callback_url: str
) -> Started:
    """Check the bill (:func:`find_portal_bill`), record a started gateway payment of the amount the payment
    ID encodes under a new unguessable token, and ask the gateway where to send the customer.
    ``callback_url`` is the callback's address without a query; the token is added to it."""
    bill = find_portal_bill(session, bill_id=bill_id, payment_id=payment_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = GatewayPayment(
        token=token,
        gateway=gateway.code,
        bill_id=bill.bill_id,
        payment_id=bill.payment_id,
        amount=bill.amount,
        state="started",
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    redirect = gateway.start(
        token=token,
        order_id=row.id,
        amount=bill.amount,
        callback_url=f"{callback_url}?{urlencode({'token': token})}",
        description=f"قبض برق {bill.period_label}، شناسه قبض {fa_digits(bill.bill_id)}",
    )
    return Started(token=token, redirect=redirect, bill=bill)


# ------------------------------------------------------------------------------------------ complete


@dataclass(frozen=True)
class PortalResult:
    """A portal payment as its result page shows it. ``payment_status`` is the posted payment's status
    (``posted``; ``suspense`` when the money matched no open bill any more, with ``suspense_reason``)."""

    token: str
    state: str
    gateway: str
    bill_id: str
    payment_id: str
    amount: int
    cycle: int
    owner: str
    created_at: datetime
    completed_at: datetime | None
    gateway_ref: str | None
    payment_status: str | None
    suspense_reason: str | None

    @property
    def state_fa(self) -> str:
        return STATE_FA.get(self.state, self.state)

    @property
    def period_label(self) -> str:
        return cycle_label(self.cycle)

    @property
    def message_fa(self) -> str:
        if self.state == "paid" and self.payment_status == "suspense":
            why = SUSPENSE_REASON_FA.get(self.suspense_reason or "", "")
            return (
                f"مبلغ {fa_number(self.amount)} ریال دریافت شد، اما به قبض نشست ({why}). "
                "کارشناسان امور برق آن را به حساب اشتراک شما منظور یا به شما بازپرداخت می‌کنند."
            )
        return {
            "paid": "پرداخت انجام شد و مبلغ قبض در حساب اشتراک شما ثبت شد.",
            "cancelled": "پرداخت لغو شد و مبلغی از حساب شما برداشته نشد.",
            "failed": "پرداخت ناموفق بود و مبلغی برای این قبض ثبت نشد. "
            "اگر مبلغی از حساب شما کم شده است، بانک آن را بازمی‌گرداند.",
            "started": "پرداخت هنوز تمام نشده است؛ اگر صفحهٔ بانک باز است، آن را تمام کنید.",
        }.get(self.state, self.state_fa)


def portal_payment(session: Session, *, token: str) -> PortalResult:
    """The portal payment of ``token`` (NotFound when there is none)."""
    return _result(session, _by_token(session, token, lock=False))


def complete_portal_payment(
    session: Session, *, clock: Clock, gateway: Gateway, token: str, params: Mapping[str, str]
) -> PortalResult:
    """Finish the portal payment of ``token`` from the gateway's callback ``params``.

    A payment already finished is answered as it stands, whatever the callback says (a refresh, the bank
    calling twice): nothing is posted again. Otherwise the gateway verifies the callback: paid → the money
    is received once (``receive_payment``, channel ``portal``, trace = the gateway's reference, the amount
    the gateway says was taken) and the payment is ``paid``; cancelled or failed → the state says so and
    nothing is posted. A callback the gateway refuses (CallbackRefused) changes nothing."""
    row = _by_token(session, token, lock=True)
    if row.state != "started":
        return _result(session, row)
    if row.gateway != gateway.code:
        raise CallbackRefused(
            "این پرداخت با درگاه دیگری آغاز شده است", detail=f"payment of gateway {row.gateway}, not {gateway.code}"
        )
    verdict = gateway.verify(token=row.token, order_id=row.id, amount=row.amount, params=params)
    before = {"state": row.state}
    if verdict.verified:
        assert verdict.ref is not None and verdict.amount is not None
        received = receive_payment(
            session,
            principal=PORTAL,
            clock=clock,
            payment=PaymentIn(
                channel=CHANNEL,
                trace=verdict.ref,
                bill_id=row.bill_id,
                payment_id=row.payment_id,
                amount=verdict.amount,
                paid_on=clock.today(),
            ),
        )
        if received.duplicate:
            raise TraceCollision(
                "شماره پیگیری بانک پیش‌تر برای پرداخت دیگری ثبت شده است؛ با امور برق تماس بگیرید",
                detail=f"portal trace {verdict.ref} already posted as payment {received.payment.id}",
            )
        row.gateway_ref = verdict.ref
        row.payment_row = received.payment.id
        if verdict.amount != row.amount:
            row.detail = f"the gateway took {verdict.amount} rials for {row.amount}"
    else:
        row.detail = verdict.detail or None
    _transition(session, row, verdict.outcome, clock=clock, before=before)
    return _result(session, row)


def _transition(session: Session, row: GatewayPayment, state: str, *, clock: Clock, before: dict[str, str]) -> None:
    if state not in TRANSITIONS.get(row.state, frozenset()):
        raise InvalidTransition(
            f"پرداخت در وضعیت «{STATE_FA.get(row.state, row.state)}» است", detail=f"{row.state} -> {state}"
        )
    row.state = state
    row.completed_at = clock.now()
    audit.record(
        session,
        actor=PORTAL.username,
        action=f"gateway_payment.{state}",
        subject_type="gateway_payment",
        subject_id=row.id,
        at=row.completed_at,
        before=before,
        after={"state": state, "gateway_ref": row.gateway_ref, "payment_row": row.payment_row, "detail": row.detail},
    )
    session.flush()


def _by_token(session: Session, token: str, *, lock: bool) -> GatewayPayment:
    token = token.strip()
    row = None
    if token and len(token) <= 40 and token.isascii():
        stmt = select(GatewayPayment).where(GatewayPayment.token == token)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        row = session.scalar(stmt)
    if row is None:
        raise NotFound("پرداختی با این نشانی پیدا نشد", detail="unknown gateway payment token")
    return row


def _cycle(session: Session, row: GatewayPayment) -> int:
    """The cycle of the bill the payment ID names (the newest such bill of the subscription)."""
    cycle = session.scalar(
        select(Bill.cycle)
        .join(Subscription, Subscription.id == Bill.subscription_id)
        .where(Subscription.bill_id == row.bill_id, Bill.payment_id == row.payment_id)
        .order_by(Bill.cycle.desc())
        .limit(1)
    )
    return int(cycle) if cycle is not None else cycle_of_payment_id(row.payment_id, row.created_at.date())


def _result(session: Session, row: GatewayPayment) -> PortalResult:
    payment = session.get(Payment, row.payment_row) if row.payment_row is not None else None
    return PortalResult(
        token=row.token,
        state=row.state,
        gateway=row.gateway,
        bill_id=row.bill_id,
        payment_id=row.payment_id,
        amount=payment.amount if payment is not None else row.amount,
        cycle=_cycle(session, row),
        owner=mask_name(_owner_name(session, row.bill_id)),
        created_at=row.created_at,
        completed_at=row.completed_at,
        gateway_ref=row.gateway_ref,
        payment_status=payment.status if payment is not None else None,
        suspense_reason=payment.reason if payment is not None else None,
    )
