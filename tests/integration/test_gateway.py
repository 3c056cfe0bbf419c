"""Portal payments through the development gateway (payments.gateway), on SQLite and PostgreSQL: a paid
callback posts once and moves the ledger; a replayed, refreshed or second callback posts nothing; a
forged or altered callback is refused; a cancelled or failed payment posts nothing; a paid, unknown or
mistyped bill is refused before anything is written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select

from barq.audit import AuditEntry
from barq.billing.models import Bill
from barq.connections.models import Subscription
from barq.db import Base
from barq.errors import NotFound
from barq.ids import build_bill_id, build_payment_id
from barq.ledger.models import LedgerEntry
from barq.ledger.service import balances, verify
from barq.payments.gateway import (
    PORTAL,
    BillPaid,
    CallbackRefused,
    DevGateway,
    NoSuchBill,
    PortalResult,
    Redirect,
    TraceCollision,
    UnknownBill,
    UnknownGateway,
    Verification,
    complete_portal_payment,
    find_portal_bill,
    load_gateway,
    mask_name,
    portal_payment,
    start_portal_payment,
)
from barq.payments.models import GatewayPayment, Payment
from barq.payments.service import BadCheckDigit, PaymentIn, receive_payment
from barq.settings import Settings
from tests.factories import COMPANY_CODE, World
from tests.ledger_factories import issue_bills

CYCLE = 140508
CALLBACK = "http://testserver/pay/callback"
GATEWAY = DevGateway("test-secret")


@pytest.fixture
def billed(world: World) -> dict[int, Bill]:
    subs = world.subscription_ids
    return issue_bills(world, CYCLE, {subs[0]: 180, subs[1]: 420}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))


@dataclass(frozen=True)
class Bought:
    sid: int
    bill_id: str
    payment_id: str
    amount: int


def _bought(world: World, billed: dict[int, Bill], k: int) -> Bought:
    sid = world.subscription_ids[k]
    with world.session() as s:
        bill_id = s.get_one(Subscription, sid).bill_id
    return Bought(sid, bill_id, billed[sid].payment_id, billed[sid].payable)


def _start(world: World, b: Bought, gateway: DevGateway = GATEWAY) -> str:
    with world.session() as s:
        started = start_portal_payment(
            s, clock=world.clock, gateway=gateway, bill_id=b.bill_id, payment_id=b.payment_id, callback_url=CALLBACK
        )
        s.commit()
    return started.token


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _callback(world: World, token: str, action: str = "pay", gateway: DevGateway = GATEWAY) -> dict[str, str]:
    """Go through the development bank as a customer would: the start address the gateway gave, the bank's
    request read back from it, the button, and the callback address it answers with."""
    with world.session() as s:
        row = s.scalars(select(GatewayPayment).where(GatewayPayment.token == token)).one()
        redirect = gateway.start(
            token=token, order_id=row.id, amount=row.amount, callback_url=f"{CALLBACK}?token={token}", description=""
        )
    bank = gateway.bank_request(token, _query(redirect.url))
    url = gateway.answer(bank, action)  # type: ignore[arg-type]
    assert url.startswith(f"{CALLBACK}?token={token}&")
    return _query(url)


def _complete(world: World, token: str, params: Mapping[str, str], gateway: DevGateway = GATEWAY) -> PortalResult:
    with world.session() as s:
        result = complete_portal_payment(s, clock=world.clock, gateway=gateway, token=token, params=params)
        s.commit()
    return result


def _count(world: World, model: type[Base]) -> int:
    with world.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _owed(world: World, sid: int) -> int:
    with world.session() as s:
        return balances(s, sid).receivable


def _row(world: World, token: str) -> GatewayPayment:
    with world.session() as s:
        return s.scalars(select(GatewayPayment).where(GatewayPayment.token == token)).one()


# ------------------------------------------------------------------------------------------ paid


def test_a_paid_callback_posts_once_and_moves_the_ledger(world: World, billed: dict[int, Bill]) -> None:
    b = _bought(world, billed, 0)
    owed = _owed(world, b.sid)
    assert owed == b.amount > 0
    token = _start(world, b)
    row = _row(world, token)
    assert (row.state, row.amount, row.bill_id, row.payment_id, row.gateway) == (
        "started",
        b.amount,
        b.bill_id,
        b.payment_id,
        "dev",
    )
    assert len(token) >= 32 and token.isascii()
    assert _count(world, Payment) == 0

    params = _callback(world, token)
    result = _complete(world, token, params)
    assert (result.state, result.payment_status, result.amount) == ("paid", "posted", b.amount)
    assert result.gateway_ref == params["ref"] and result.gateway_ref.startswith("DEV")
    assert result.message_fa == "پرداخت انجام شد و مبلغ قبض در حساب اشتراک شما ثبت شد."
    assert _owed(world, b.sid) == owed - b.amount == 0
    with world.session() as s:
        (payment,) = s.scalars(select(Payment)).all()
        assert (payment.channel, payment.trace, payment.amount, payment.status, payment.actor) == (
            "portal",
            params["ref"],
            b.amount,
            "posted",
            PORTAL.username,
        )
        assert payment.bill_ref == billed[b.sid].id and payment.paid_on == world.clock.today()
        row = s.scalars(select(GatewayPayment)).one()
        assert (row.state, row.gateway_ref, row.payment_row) == ("paid", params["ref"], payment.id)
        assert row.completed_at is not None
        audits = s.scalars(select(AuditEntry).where(AuditEntry.subject_type == "gateway_payment")).all()
        assert [(a.action, a.subject_id, a.actor) for a in audits] == [("gateway_payment.paid", row.id, "portal")]
        assert verify(s).ok
    entries = _count(world, LedgerEntry)

    # the same callback again (a refresh), and a second genuine "paid" answer of the bank: nothing more
    again = _complete(world, token, params)
    other = _complete(world, token, _callback(world, token))
    assert again == result and other == result
    assert _count(world, Payment) == 1 and _count(world, LedgerEntry) == entries
    assert _owed(world, b.sid) == 0
    with world.session() as s:
        assert portal_payment(s, token=token) == result


def test_an_amount_other_than_the_bill_goes_to_suspense(world: World, billed: dict[int, Bill]) -> None:
    b = _bought(world, billed, 1)
    token = _start(world, b)
    params = _callback(world, token)
    more = str(b.amount + 5_000)
    params |= {"amount": more, "sig": GATEWAY.callback_sig(token, "OK", params["ref"], more)}
    result = _complete(world, token, params)
    assert (result.state, result.payment_status, result.suspense_reason) == ("paid", "suspense", "amount_mismatch")
    assert result.amount == b.amount + 5_000
    assert "کارشناسان امور برق" in result.message_fa
    assert _owed(world, b.sid) == b.amount  # the bill is still owed; the money waits in suspense
    with world.session() as s:
        assert (
            s.scalars(select(GatewayPayment)).one().detail
            == f"the gateway took {b.amount + 5_000} rials for {b.amount}"
        )
        assert verify(s).ok


def test_a_reference_posted_before_is_refused_not_lost(world: World, billed: dict[int, Bill]) -> None:
    first, second = _bought(world, billed, 0), _bought(world, billed, 1)
    t1, t2 = _start(world, first), _start(world, second)
    p1 = _callback(world, t1)
    _complete(world, t1, p1)
    p2 = _callback(world, t2)
    p2 |= {"ref": p1["ref"], "sig": GATEWAY.callback_sig(t2, "OK", p1["ref"], p2["amount"])}
    with pytest.raises(TraceCollision):
        _complete(world, t2, p2)
    assert _row(world, t2).state == "started" and _count(world, Payment) == 1
    assert _owed(world, second.sid) == second.amount


# ------------------------------------------------------------------------------------------ refused callbacks


def test_forged_or_altered_callbacks_are_refused_and_change_nothing(world: World, billed: dict[int, Bill]) -> None:
    b = _bought(world, billed, 0)
    token = _start(world, b)
    genuine = _callback(world, token)
    cancel = _callback(world, token, "cancel")
    other_token = _start(world, b)
    forged = [
        genuine | {"amount": str(b.amount - 1000)},  # amount changed
        genuine | {"ref": "DEV000000000001"},  # reference changed
        genuine | {"sig": genuine["sig"][:-1] + ("0" if genuine["sig"][-1] != "0" else "1")},
        {k: v for k, v in genuine.items() if k != "sig"},
        genuine | {"sig": "ا" * 64},  # not even ASCII
        cancel | {"status": "OK", "ref": genuine["ref"]},  # a cancel turned into a payment
        _callback(world, token, gateway=DevGateway("another secret")),  # signed with another key
    ]
    for params in forged:
        with pytest.raises(CallbackRefused) as refused:
            _complete(world, token, params)
        assert refused.value.code == "callback_refused" and refused.value.http_status == 400
    # a genuine callback of one payment does not finish another
    with pytest.raises(CallbackRefused):
        _complete(world, other_token, genuine | {"token": other_token})
    assert _row(world, token).state == "started" and _row(world, other_token).state == "started"
    assert _count(world, Payment) == 0 and _owed(world, b.sid) == b.amount
    # and the genuine one still works afterwards
    assert _complete(world, token, genuine).state == "paid"


def test_an_unknown_token_is_not_found(world: World, billed: dict[int, Bill]) -> None:
    for token in ("", "no-such-token", "x" * 80):
        with world.session() as s, pytest.raises(NotFound):
            complete_portal_payment(s, clock=world.clock, gateway=GATEWAY, token=token, params={})
        with world.session() as s, pytest.raises(NotFound):
            portal_payment(s, token=token)


def test_a_payment_of_another_gateway_is_refused(world: World, billed: dict[int, Bill]) -> None:
    class Other(DevGateway):
        code = "other"

    b = _bought(world, billed, 0)
    token = _start(world, b, gateway=Other("test-secret"))
    with pytest.raises(CallbackRefused):
        _complete(world, token, _callback(world, token), gateway=GATEWAY)
    assert _row(world, token).state == "started"
    assert _complete(world, token, _callback(world, token), gateway=Other("test-secret")).state == "paid"


def test_the_bank_page_refuses_an_altered_amount(world: World, billed: dict[int, Bill]) -> None:
    redirect = GATEWAY.start(
        token="tok", order_id=1, amount=250_000, callback_url=f"{CALLBACK}?token=tok", description=""
    )
    assert redirect.form is None and redirect.url.startswith("/dev-gateway/tok?")
    query = _query(redirect.url)
    assert GATEWAY.bank_request("tok", query).amount == 250_000
    for change in ({"amount": "1000"}, {"callback": "https://evil.example/pay/callback?token=tok"}, {"sig": ""}):
        with pytest.raises(CallbackRefused):
            GATEWAY.bank_request("tok", query | change)
    with pytest.raises(CallbackRefused):
        GATEWAY.bank_request("another", query)


# ------------------------------------------------------------------------------------------ cancel, fail


@pytest.mark.parametrize(("action", "state"), [("cancel", "cancelled"), ("fail", "failed")])
def test_cancelled_or_failed_posts_nothing(world: World, billed: dict[int, Bill], action: str, state: str) -> None:
    b = _bought(world, billed, 0)
    entries = _count(world, LedgerEntry)
    token = _start(world, b)
    result = _complete(world, token, _callback(world, token, action))
    assert (result.state, result.payment_status, result.gateway_ref) == (state, None, None)
    assert ("برداشته نشد" if action == "cancel" else "ناموفق") in result.message_fa
    # the bank then says "paid" for the same payment: the payment stays as it ended, nothing is posted
    assert _complete(world, token, _callback(world, token, "pay")) == result
    assert _count(world, Payment) == 0 and _count(world, LedgerEntry) == entries
    assert _owed(world, b.sid) == b.amount
    with world.session() as s:
        row = s.scalars(select(GatewayPayment)).one()
        assert (row.state, row.payment_row) == (state, None) and row.detail
        audit = s.scalars(select(AuditEntry).where(AuditEntry.subject_type == "gateway_payment")).one()
        assert (audit.action, audit.before, audit.after["state"]) == (
            f"gateway_payment.{state}",
            {"state": "started"},
            state,
        )
    # the customer may try again: a new payment of the same bill
    again = _start(world, b)
    assert _complete(world, again, _callback(world, again)).state == "paid"
    assert _owed(world, b.sid) == 0


# ------------------------------------------------------------------------------------------ refused bills


def test_a_paid_bill_is_refused(world: World, billed: dict[int, Bill]) -> None:
    b = _bought(world, billed, 0)
    with world.session() as s:
        receive_payment(
            s,
            principal=world.principal("admin"),
            clock=world.clock,
            payment=PaymentIn("melli", "BANK-1", b.bill_id, b.payment_id, b.amount, world.clock.today()),
        )
        s.commit()
    with world.session() as s, pytest.raises(BillPaid) as refused:
        start_portal_payment(
            s, clock=world.clock, gateway=GATEWAY, bill_id=b.bill_id, payment_id=b.payment_id, callback_url=CALLBACK
        )
    assert (refused.value.field, refused.value.code) == ("payment_id", "bill_paid")
    assert refused.value.message_fa == "این قبض پیش‌تر پرداخت شده است"
    assert _count(world, GatewayPayment) == 0


def test_a_bill_paid_while_at_the_bank_goes_to_suspense(world: World, billed: dict[int, Bill]) -> None:
    b = _bought(world, billed, 0)
    token = _start(world, b)
    with world.session() as s:
        receive_payment(
            s,
            principal=world.principal("admin"),
            clock=world.clock,
            payment=PaymentIn("counter", "C-1", b.bill_id, b.payment_id, b.amount, world.clock.today()),
        )
        s.commit()
    result = _complete(world, token, _callback(world, token))
    assert (result.state, result.payment_status, result.suspense_reason) == ("paid", "suspense", "no_open_bill")
    assert _owed(world, b.sid) == 0 and _count(world, Payment) == 2


def test_mistyped_unknown_and_unbilled_ids_name_the_field(world: World, billed: dict[int, Bill]) -> None:
    b = _bought(world, billed, 0)

    def wrong_last(digits: str) -> str:
        return digits[:-1] + str((int(digits[-1]) + 1) % 10)

    stranger = build_bill_id(99_999, COMPANY_CODE)  # valid check digit, no subscription
    unbilled = build_payment_id(bill_id=b.bill_id, amount=1_234_000, year=1405, period=8)
    cases = [
        (wrong_last(b.bill_id), b.payment_id, BadCheckDigit, "bill_id", "رقم کنترل شناسه قبض درست نیست"),
        (b.bill_id, wrong_last(b.payment_id), BadCheckDigit, "payment_id", "رقم کنترل دوم"),
        (b.bill_id, "", BadCheckDigit, "payment_id", "شناسه پرداخت وارد نشده است"),
        (
            stranger,
            build_payment_id(bill_id=stranger, amount=10_000, year=1405, period=8),
            UnknownBill,
            "bill_id",
            "اشتراکی",
        ),
        (b.bill_id, unbilled, NoSuchBill, "payment_id", "با هیچ قبض صادرشدهٔ این اشتراک مطابقت ندارد"),
    ]
    for bill_id, payment_id, kind, field, message in cases:
        with world.session() as s, pytest.raises(kind) as refused:
            start_portal_payment(
                s, clock=world.clock, gateway=GATEWAY, bill_id=bill_id, payment_id=payment_id, callback_url=CALLBACK
            )
        assert refused.value.field == field and message in refused.value.errors[field], (bill_id, payment_id)
    # both IDs mistyped: both fields are named at once
    pid = b.payment_id
    with world.session() as s, pytest.raises(BadCheckDigit) as both:
        find_portal_bill(s, bill_id=wrong_last(b.bill_id), payment_id=wrong_last(pid[:-1]) + pid[-1])
    assert set(both.value.errors) == {"bill_id", "payment_id"}
    assert _count(world, GatewayPayment) == 0


def test_the_confirmation_shows_amount_period_and_a_masked_owner(world: World, billed: dict[int, Bill]) -> None:
    b = _bought(world, billed, 0)
    fa = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    with world.session() as s:
        found = find_portal_bill(
            s, bill_id=b.bill_id.translate(fa), payment_id=f" {b.payment_id[:4]}-{b.payment_id[4:]} "
        )
    assert (found.bill_id, found.payment_id, found.amount, found.cycle) == (b.bill_id, b.payment_id, b.amount, CYCLE)
    assert found.period_label == "آبان ۱۴۰۵"
    assert found.owner == "ع*** ب***0"  # «علی بیرانوند0»
    assert mask_name("شرکت آب و فاضلاب لرستان") == "ش*** آ*** و*** ف***ب"
    assert mask_name("") == "—"


# ------------------------------------------------------------------------------------------ registry


def test_the_gateway_is_chosen_by_the_settings() -> None:
    dev = load_gateway(Settings(payment_gateway="dev", secret_key="k"))
    assert isinstance(dev, DevGateway) and dev.code == "dev"
    # the dev key is the gateway secret when set, else derived from the secret key
    assert dev.sign("x") == DevGateway("k").sign("x") != DevGateway("other").sign("x")
    assert load_gateway(Settings(payment_gateway_secret="g", secret_key="k")).sign("x") == DevGateway("g").sign("x")
    plugged = load_gateway(Settings(payment_gateway="tests.integration.test_gateway:EchoGateway"))
    assert isinstance(plugged, EchoGateway)
    for name in ("nope", "tests.integration.no_such_module:X", "tests.integration.test_gateway:Missing"):
        with pytest.raises(UnknownGateway):
            load_gateway(Settings(payment_gateway=name))


class EchoGateway:
    """A gateway loaded by its import path: sends the customer with a POST form and trusts nothing."""

    code = "echo"
    name_fa = "درگاه پژواک"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def start(self, *, token: str, order_id: int, amount: int, callback_url: str, description: str) -> Redirect:
        return Redirect("https://bank.example/pay", form={"order": str(order_id), "amount": str(amount)})

    def verify(self, *, token: str, order_id: int, amount: int, params: Mapping[str, str]) -> Verification:
        raise CallbackRefused("پاسخ بانک تأیید نشد")
