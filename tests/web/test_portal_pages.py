"""The public payment portal ``/pay`` with the test client, through the development gateway's bank page:
the form (and the e-bill's link), the confirmation, the bank, the callback and the receipt; refusals of
bad input beside the field at fault; CSRF, rate limits, forged callbacks and the gateway's own pages.

World: two subscriptions billed for آبان ۱۴۰۵ (tests/ledger_factories.py); the test clock stands on
2026-11-28 06:00 UTC, ۱۴۰۵/۰۹/۰۷ ۰۹:۳۰ in Tehran.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.db import Base
from barq.ids import build_bill_id, build_payment_id
from barq.ledger.service import balances
from barq.payments.gateway import CallbackRefused, Redirect, Verification
from barq.payments.models import GatewayPayment, Payment
from barq.payments.service import PaymentIn, receive_payment
from barq.settings import Settings
from barq.web.routes.portal import CSRF_COOKIE, PortalLimits
from barq.web.routes.selfread import AttemptLimiter
from tests.factories import COMPANY_CODE, World, build_world
from tests.ledger_factories import issue_bills
from tests.web.helpers import form_token, make_app_client

FA = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@dataclass(frozen=True)
class Billed:
    world: World
    sid: int
    bill_id: str
    payment_id: str
    amount: int
    other_sid: int
    other_bill_id: str
    other_payment_id: str
    other_amount: int


@pytest.fixture
def billed(engine: Engine, clock: FixedClock) -> Billed:
    world = build_world(engine, clock)
    subs = world.subscription_ids
    bills = issue_bills(world, 140508, {subs[0]: 180, subs[1]: 420}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))
    with world.session() as s:
        ids = [s.get_one(Subscription, sid).bill_id for sid in subs[:2]]
    b0, b1 = bills[subs[0]], bills[subs[1]]
    return Billed(world, subs[0], ids[0], b0.payment_id, b0.payable, subs[1], ids[1], b1.payment_id, b1.payable)


@pytest.fixture
def client(billed: Billed) -> TestClient:
    return make_app_client(billed.world)


def _fa(value: int | str) -> str:
    return str(value).translate(FA)


def _rial(amount: int) -> str:
    return f"{amount:,}".replace(",", "٬").translate(FA) + " ریال"


def _field_error(html: str, name: str) -> str:
    match = re.search(rf'<small class="field-error" id="e-{name}" role="alert">([^<]*)</small>', html)
    assert match, f"no error beside {name}"
    return match.group(1)


def _check(client: TestClient, bill_id: str, payment_id: str) -> httpx.Response:
    token = form_token(client.get("/pay").text)
    return client.post("/pay", data={"csrf_token": token, "bill_id": bill_id, "payment_id": payment_id})


def _start(client: TestClient, bill_id: str, payment_id: str) -> httpx.Response:
    confirm = _check(client, bill_id, payment_id)
    assert confirm.status_code == 200, confirm.text
    data = {"csrf_token": form_token(confirm.text), "bill_id": bill_id, "payment_id": payment_id}
    return client.post("/pay/start", data=data, follow_redirects=False)


def _to_bank(client: TestClient, b: Billed) -> tuple[str, str]:
    """Start a payment of the first bill; the bank page's address and the payment's token."""
    started = _start(client, b.bill_id, b.payment_id)
    assert started.status_code == 303, started.text
    bank = started.headers["location"]
    match = re.fullmatch(r"/dev-gateway/([A-Za-z0-9_-]{32})\?.+", bank)
    assert match, bank
    return bank, match.group(1)


def _press(client: TestClient, bank: str, action: str) -> str:
    """Open the bank page and press a button; the callback address the bank sends the customer to."""
    page = client.get(bank)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
    answer = client.post(urlsplit(bank).path, data=fields | {"action": action}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def _count(b: Billed, model: type[Base]) -> int:
    with b.world.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _owed(b: Billed, sid: int) -> int:
    with b.world.session() as s:
        return balances(s, sid).receivable


# ------------------------------------------------------------------------------------------ the flow


def test_the_form_is_public_and_takes_the_ebill_link(client: TestClient, billed: Billed) -> None:
    page = client.get("/pay")
    assert page.status_code == 200
    assert "پرداخت قبض برق" in page.text and "خروج" not in page.text
    assert 'name="bill_id"' in page.text and 'name="payment_id"' in page.text
    assert client.cookies.get(CSRF_COOKIE) == form_token(page.text)
    cookie = page.headers["set-cookie"]
    assert "SameSite=strict" in cookie and "HttpOnly" in cookie and "Path=/pay" in cookie
    for link in (
        f"/pay?bill={billed.bill_id}&pay={billed.payment_id}",  # the e-bill's link (billing.documents)
        f"/pay?bill_id={billed.bill_id}&payment_id={billed.payment_id}",
    ):
        filled = client.get(link).text
        assert f'value="{billed.bill_id}"' in filled and f'value="{billed.payment_id}"' in filled, link


def test_a_bill_is_paid_through_the_dev_gateway(client: TestClient, billed: Billed) -> None:
    assert _owed(billed, billed.sid) == billed.amount
    confirm = _check(client, _fa(billed.bill_id), f"{billed.payment_id[:3]} {billed.payment_id[3:]}")
    assert confirm.status_code == 200, confirm.text
    assert confirm.headers["cache-control"] == "no-store"
    assert f'<b id="amount">{_rial(billed.amount)}</b>' in confirm.text
    assert '<dd id="period">آبان ۱۴۰۵</dd>' in confirm.text
    assert '<dd id="owner">ع*** ب***0</dd>' in confirm.text and "بیرانوند" not in confirm.text
    assert _count(billed, GatewayPayment) == 0  # the confirmation writes nothing

    bank, token = _to_bank(client, billed)
    page = client.get(bank)
    assert f'<b id="bank-amount">{_rial(billed.amount)}</b>' in page.text
    assert f"<dt>پذیرنده</dt><dd>{Settings().company_name}</dd>" in page.text
    assert "پولی جابه‌جا نمی‌شود" in page.text
    callback = _press(client, bank, "pay")
    assert callback.startswith(f"http://testserver/pay/callback?token={token}&status=OK&ref=DEV")

    done = client.get(callback, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, f"/pay/result/{token}")
    receipt = client.get(done.headers["location"])
    assert receipt.status_code == 200
    assert receipt.headers["referrer-policy"] == "no-referrer" and receipt.headers["cache-control"] == "no-store"
    ref = dict(parse_qsl(urlsplit(callback).query))["ref"]
    assert f'<bdi id="trace">{_fa(ref)}</bdi>' in receipt.text
    assert f'<dd id="paid-amount">{_rial(billed.amount)}</dd>' in receipt.text
    assert '<dd id="paid-at">۱۴۰۵/۰۹/۰۷ ۰۹:۳۰</dd>' in receipt.text
    assert "پرداخت انجام شد و مبلغ قبض در حساب اشتراک شما ثبت شد." in receipt.text
    assert "window.print()" in receipt.text
    assert _owed(billed, billed.sid) == 0

    # the customer refreshes the callback, or presses the bank's button again: the same receipt, nothing more
    assert client.get(callback).text == receipt.text
    again = client.get(_press(client, bank, "pay"))
    assert again.text == receipt.text
    assert _count(billed, Payment) == 1 and _owed(billed, billed.sid) == 0

    # and the bill cannot be paid a second time
    paid = _check(client, billed.bill_id, billed.payment_id)
    assert paid.status_code == 422
    assert _field_error(paid.text, "payment_id") == "این قبض پیش‌تر پرداخت شده است"


def test_a_cancelled_payment_posts_nothing_and_can_be_tried_again(client: TestClient, billed: Billed) -> None:
    bank, token = _to_bank(client, billed)
    result = client.get(_press(client, bank, "cancel"))
    assert result.status_code == 200 and result.url.path == f"/pay/result/{token}"
    assert "پرداخت لغو شد و مبلغی از حساب شما برداشته نشد." in result.text
    assert 'id="receipt"' not in result.text
    retry = re.search(r'href="(/pay\?[^"]+)">پرداخت دوباره', result.text)
    assert retry, "no way to try again"
    assert f'value="{billed.bill_id}"' in client.get(retry.group(1).replace("&amp;", "&")).text
    failed = client.get(_press(client, _to_bank(client, billed)[0], "fail"))
    assert "پرداخت ناموفق بود" in failed.text
    assert _count(billed, Payment) == 0 and _owed(billed, billed.sid) == billed.amount
    with billed.world.session() as s:
        assert sorted(s.scalars(select(GatewayPayment.state))) == ["cancelled", "failed"]


# ------------------------------------------------------------------------------------------ bad input


def test_bad_input_is_refused_beside_the_field(client: TestClient, billed: Billed) -> None:
    def wrong(digits: str) -> str:
        return digits[:-1] + str((int(digits[-1]) + 1) % 10)

    with billed.world.session() as s:
        receive_payment(  # the other bill is paid at a bank
            s,
            principal=billed.world.principal("admin"),
            clock=billed.world.clock,
            payment=PaymentIn(
                "melli", "B-1", billed.other_bill_id, billed.other_payment_id, billed.other_amount, date(2026, 11, 27)
            ),
        )
        s.commit()
    stranger = build_bill_id(99_999, COMPANY_CODE)  # a valid bill ID of no subscription
    unbilled = build_payment_id(bill_id=billed.bill_id, amount=1_234_000, year=1405, period=8)
    mismatch = "شناسه پرداخت با شناسه قبض همخوانی ندارد (رقم کنترل دوم درست نیست)"
    cases = [
        (wrong(billed.bill_id), billed.payment_id, "bill_id", "رقم کنترل شناسه قبض درست نیست"),
        (billed.bill_id, wrong(billed.payment_id), "payment_id", mismatch),
        (billed.bill_id, billed.other_payment_id, "payment_id", mismatch),
        ("", billed.payment_id, "bill_id", "شناسه قبض وارد نشده است"),
        (billed.bill_id, "12ab", "payment_id", "شناسه پرداخت فقط می‌تواند رقم داشته باشد"),
        (billed.bill_id, "12345", "payment_id", "شناسه پرداخت باید بین ۶ و ۱۳ رقم باشد؛ ۵ رقم وارد شده است"),
        (
            stranger,
            build_payment_id(bill_id=stranger, amount=10_000, year=1405, period=8),
            "bill_id",
            "شناسه قبض به هیچ اشتراکی در این شرکت تعلق ندارد",
        ),
        (billed.bill_id, unbilled, "payment_id", "شناسه پرداخت با هیچ قبض صادرشدهٔ این اشتراک مطابقت ندارد"),
        (billed.other_bill_id, billed.other_payment_id, "payment_id", "این قبض پیش‌تر پرداخت شده است"),
    ]
    for bill_id, payment_id, field, message in cases:
        refused = _check(client, bill_id, payment_id)
        assert refused.status_code == 422, (bill_id, payment_id)
        assert _field_error(refused.text, field) == message
        assert "ادامه ممکن نشد: خطای کنار فیلد را برطرف کنید." in refused.text
        assert f'value="{bill_id}"' in refused.text and f'value="{payment_id}"' in refused.text  # values are kept
    # the same refusals on the way to the bank, should the confirmation be sent again later
    token = form_token(client.get("/pay").text)
    data = {"csrf_token": token, "bill_id": billed.other_bill_id, "payment_id": billed.other_payment_id}
    late = client.post("/pay/start", data=data, follow_redirects=False)
    assert late.status_code == 422 and _field_error(late.text, "payment_id") == "این قبض پیش‌تر پرداخت شده است"
    assert _count(billed, GatewayPayment) == 0


def test_a_stale_form_is_refused(client: TestClient, billed: Billed) -> None:
    data = {"bill_id": billed.bill_id, "payment_id": billed.payment_id}
    client.get("/pay")
    for url in ("/pay", "/pay/start"):
        for token in ("", "forged"):
            refused = client.post(url, data=data | {"csrf_token": token}, follow_redirects=False)
            assert refused.status_code == 400, url
            assert "فرم کهنه شده است" in refused.text
            assert form_token(refused.text) == client.cookies.get(CSRF_COOKIE) != token
    client.cookies.clear()
    no_cookie = client.post("/pay/start", data=data | {"csrf_token": "anything"}, follow_redirects=False)
    assert no_cookie.status_code == 400
    assert _count(billed, GatewayPayment) == 0


def test_submissions_are_rate_limited(client: TestClient, billed: Billed) -> None:
    limits = PortalLimits(per_client=AttemptLimiter(3, 3600), per_bill=AttemptLimiter(2, 3600))
    client.app.state.portal_limits = limits  # type: ignore[attr-defined]
    bank, token = _to_bank(client, billed)  # a check and a start: two of each limit
    per_bill = _check(client, billed.bill_id, billed.payment_id)
    assert per_bill.status_code == 429 and per_bill.headers["retry-after"].isdigit()
    assert "درخواست‌ها بیش از حد مجاز است؛ ۶۰ دقیقهٔ دیگر دوباره بکوشید" in per_bill.text
    assert f'value="{billed.bill_id}"' in per_bill.text
    per_client = _check(client, billed.other_bill_id, billed.other_payment_id)  # another bill, the same client
    assert per_client.status_code == 429
    # the way back from the bank is never limited: a customer who paid gets the receipt
    receipt = client.get(_press(client, bank, "pay"))
    assert receipt.status_code == 200 and receipt.url.path == f"/pay/result/{token}" and 'id="receipt"' in receipt.text


# ------------------------------------------------------------------------------------------ callbacks


def test_a_forged_callback_is_refused_and_changes_nothing(client: TestClient, billed: Billed) -> None:
    bank, token = _to_bank(client, billed)
    callback = _press(client, bank, "pay")
    params = dict(parse_qsl(urlsplit(callback).query))
    for change in ({"amount": "1000"}, {"status": "OK", "sig": "0" * 64}, {"sig": ""}):
        forged = client.get("/pay/callback", params=params | change, follow_redirects=False)
        assert forged.status_code == 400
        assert "پاسخ بانک تأیید نشد" in forged.text and 'href="/pay"' in forged.text
    posted = client.post(
        "/pay/callback?token=" + token, data={k: v for k, v in params.items() if k != "token"} | {"amount": "1"}
    )
    assert posted.status_code == 400
    assert _count(billed, Payment) == 0
    with billed.world.session() as s:
        assert s.scalars(select(GatewayPayment.state)).one() == "started"
    # the genuine callback, sent by POST as some banks do, still finishes it
    done = client.post("/pay/callback?token=" + token, data={k: v for k, v in params.items() if k != "token"})
    assert done.status_code == 200 and done.url.path == f"/pay/result/{token}"
    assert _owed(billed, billed.sid) == 0
    missing = client.get("/pay/callback?token=nope&status=OK")
    assert missing.status_code == 404 and "پرداخت پیدا نشد" in missing.text


def test_the_bank_page_refuses_an_altered_request(client: TestClient, billed: Billed) -> None:
    bank, _ = _to_bank(client, billed)
    altered = re.sub(r"amount=\d+", "amount=1000", bank)
    assert client.get(altered).status_code == 400
    fields = dict(parse_qsl(urlsplit(bank).query))
    answered = client.post(
        urlsplit(bank).path, data=fields | {"amount": "1000", "action": "pay"}, follow_redirects=False
    )
    assert answered.status_code == 400
    unknown = client.post(urlsplit(bank).path, data=fields | {"action": "steal"}, follow_redirects=False)
    assert unknown.status_code == 422


# ------------------------------------------------------------------------------------------ another gateway


class FormGateway:
    """A bank that wants the customer sent with a POST form (as some Iranian banks do)."""

    code = "formbank"
    name_fa = "درگاه بانک نمونه"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def start(self, *, token: str, order_id: int, amount: int, callback_url: str, description: str) -> Redirect:
        return Redirect("https://bank.example/startpay", form={"RefId": f"R{order_id}", "Amount": str(amount)})

    def verify(self, *, token: str, order_id: int, amount: int, params: Mapping[str, str]) -> Verification:
        if params.get("ResCode") == "0":
            return Verification("paid", ref=f"SALE{order_id}", amount=amount)
        raise CallbackRefused("پاسخ بانک تأیید نشد")


def test_another_gateway_gets_a_post_form_and_no_dev_bank(client: TestClient, billed: Billed) -> None:
    client.app.state.payment_gateway = FormGateway()  # type: ignore[attr-defined]
    started = _start(client, billed.bill_id, billed.payment_id)
    assert started.status_code == 200
    assert '<form id="to-bank" method="post" action="https://bank.example/startpay">' in started.text
    assert '<input type="hidden" name="Amount" value="' + str(billed.amount) + '">' in started.text
    assert 'document.getElementById("to-bank").submit()' in started.text
    with billed.world.session() as s:
        row = s.scalars(select(GatewayPayment)).one()
    assert f'name="RefId" value="R{row.id}"' in started.text and row.gateway == "formbank"
    # the development bank is not there while another gateway is configured
    assert client.get(f"/dev-gateway/{row.token}?amount=1&callback=x&sig=y").status_code == 404
    done = client.post(f"/pay/callback?token={row.token}", data={"ResCode": "0", "token": "the bank's own field"})
    assert done.status_code == 200 and f"SALE{row.id}".translate(FA) in done.text
    assert _owed(billed, billed.sid) == 0


def test_the_gateway_and_the_callback_address_come_from_the_settings(client: TestClient, billed: Billed) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    settings.public_url = "https://pay.example.ir/"
    bank, token = _to_bank(client, billed)
    callback = dict(parse_qsl(urlsplit(bank).query))["callback"]
    assert callback == f"https://pay.example.ir/pay/callback?token={token}"

    broken = make_app_client(billed.world)
    broken.app.state.settings.payment_gateway = "no-such-gateway"  # type: ignore[attr-defined]
    down = _check(broken, billed.bill_id, billed.payment_id)
    assert down.status_code == 503
    assert "پرداخت اینترنتی اکنون در دسترس نیست؛ کمی بعد دوباره بکوشید" in down.text
    assert "no-such-gateway" not in down.text
