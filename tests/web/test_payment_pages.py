"""The payment pages: the counter and its receipt, a payment's page and its bounce, the suspense queue, the
payments list; district scope, CSRF, Persian input and Excel exports."""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from barq.auth.service import create_user
from barq.connections.models import Subscription
from barq.ledger.models import LedgerEntry
from barq.ledger.service import balances, verify
from barq.payments.models import Payment
from barq.payments.service import PaymentIn, receive_payment
from barq.settings import Settings
from barq.web.app import create_app
from tests.factories import COMPANY_CODE, PASSWORD, World
from tests.ledger_factories import issue_bills
from tests.web.helpers import csrf, form_token, login, signed_in

CYCLE = 140508
FA = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
LATIN = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")
_INPUT = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def fa(value: object) -> str:
    return str(value).translate(FA)


def fa_amount(n: int) -> str:
    return f"{n:,}".replace(",", "٬").translate(FA)


@pytest.fixture
def billed(world: World) -> dict[str, Any]:
    """Subscriptions 0 and 2 are in district 11, subscription 1 in district 12; each has an issued Aban bill.
    Cashiers: ``cashier`` (head office) and ``cashier11`` (district 11)."""
    with world.session() as s:
        for username, district in (("cashier", None), ("cashier11", world.district_ids["11"])):
            user = create_user(
                s,
                username=username,
                full_name=f"صندوقدار {username}",
                password=PASSWORD,
                roles=["cashier"],
                clock=world.clock,
                actor="test",
                district_id=district,
            )
            world.users[username] = user.id
        s.commit()
    subs = world.subscription_ids
    bills = issue_bills(
        world, CYCLE, {subs[0]: 180, subs[1]: 420, subs[2]: 300}, prev=date(2026, 9, 25), cur=date(2026, 10, 25)
    )
    with world.session() as s:
        ids = {sid: s.get_one(Subscription, sid).bill_id for sid in subs}
        numbers = {sid: s.get_one(Subscription, sid).subscription_number for sid in subs}
    return {"bills": bills, "bill_id": ids, "number": numbers}


def _count(world: World, model: Any) -> int:
    with world.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _forms(html: str) -> list[dict[str, str]]:
    """The counter page's payment forms, each as its hidden fields."""
    out = []
    for chunk in html.split('action="/payments/counter"')[1:]:
        fields = dict(_INPUT.findall(chunk.split("</form>", 1)[0]))
        if "trace" in fields:
            out.append(fields)
    return out


def _wrong_digit(digits: str) -> str:
    return digits[:-1] + str((int(digits[-1]) + 1) % 10)


def _pay(world: World, channel: str, trace: str, bill_id: str, payment_id: str, amount: int) -> int:
    with world.session() as s:
        got = receive_payment(
            s,
            principal=world.principal("admin"),
            clock=world.clock,
            payment=PaymentIn(channel, trace, bill_id, payment_id, amount, date(2026, 11, 20)),
        )
        s.commit()
        return got.payment.id


# ------------------------------------------------------------------------------------------ the counter


def test_counter_takes_a_bill_and_prints_the_receipt(world: World, billed: dict[str, Any]) -> None:
    sid = world.subscription_ids[0]
    bill = billed["bills"][sid]
    client = signed_in(world, "cashier")
    # the bill ID typed in Persian digits
    page = client.get("/payments/counter", params={"bill_id": fa(billed["bill_id"][sid])})
    assert page.status_code == 200
    text = page.text
    assert fa(billed["number"][sid]) in text and "علی بیرانوند0" in text and "خیابان شریعتی، پلاک ۱" in text
    assert fa(bill.payment_id) in text and fa_amount(bill.payable) in text and "آبان ۱۴۰۵" in text
    forms = _forms(text)
    assert [f["payment_id"] for f in forms] == [bill.payment_id, ""]
    pay_bill = forms[0]
    assert pay_bill["amount"] == str(bill.payable) and re.fullmatch(r"C\d{22}", pay_bill["trace"])
    r = client.post("/payments/counter", data=pay_bill, follow_redirects=False)
    assert r.status_code == 303, r.text
    receipt_url = r.headers["location"]
    assert receipt_url.endswith("/receipt?new=1")
    # the same form sent again (a double click) is the same payment
    again = client.post("/payments/counter", data=pay_bill, follow_redirects=False)
    assert again.headers["location"] == receipt_url
    with world.session() as s:
        row = s.scalars(select(Payment)).one()
        assert (row.channel, row.status, row.bill_ref, row.actor) == ("counter", "posted", bill.id, "cashier")
        assert (row.paid_on, row.trace) == (date(2026, 11, 28), pay_bill["trace"])
        assert balances(s, sid).receivable == 0 and verify(s).ok
    receipt = client.get(receipt_url)
    assert receipt.status_code == 200
    for expected in (
        "رسید پرداخت",
        "پرداخت ثبت شد",
        fa_amount(bill.payable),
        "صندوقدار cashier",
        fa(pay_bill["trace"]),
        fa(billed["bill_id"][sid]),
        fa(bill.payment_id),
        fa(billed["number"][sid]),
        "۱۴۰۵/۰۹/۰۷ ۰۹:۳۰",  # 06:00 UTC on 28 November 2026 is 09:30 in Tehran, 7 Azar 1405
        "@media print",
        "شرکت توزیع نیروی برق استان لرستان",
    ):
        assert expected in receipt.text, expected
    # the bill is paid: the counter shows nothing to take but the payment on account
    after = client.get("/payments/counter", params={"bill_id": billed["bill_id"][sid]})
    assert "صورتحساب پرداخت‌نشده‌ای نیست" in after.text


def test_counter_takes_an_amount_on_account_typed_in_persian(world: World, billed: dict[str, Any]) -> None:
    sid = world.subscription_ids[0]
    bill = billed["bills"][sid]
    client = signed_in(world, "cashier")
    page = client.get("/payments/counter", params={"bill_id": billed["bill_id"][sid]})
    on_account = _forms(page.text)[1]
    extra = 50_000
    typed = fa_amount(bill.payable + extra)  # «۱٬۲۳۴٬۰۰۰»
    r = client.post("/payments/counter", data=on_account | {"amount": typed}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with world.session() as s:
        row = s.scalars(select(Payment)).one()
        assert (row.payment_id, row.amount, row.to_credit, row.bill_ref) == ("", bill.payable + extra, extra, None)
        assert (balances(s, sid).receivable, balances(s, sid).credit) == (0, extra)
    receipt = client.get(r.headers["location"]).text
    assert "علی‌الحساب" in receipt and fa_amount(extra) in receipt


@pytest.mark.parametrize(
    ("amount", "message"),
    [("", "«مبلغ» را وارد کنید"), ("دویست", "«مبلغ» باید عدد صحیح ریال باشد"), ("0", "باید بیشتر از صفر")],
)
def test_counter_refuses_a_bad_amount(world: World, billed: dict[str, Any], amount: str, message: str) -> None:
    sid = world.subscription_ids[0]
    client = signed_in(world, "cashier")
    on_account = _forms(client.get("/payments/counter", params={"bill_id": billed["bill_id"][sid]}).text)[1]
    r = client.post("/payments/counter", data=on_account | {"amount": amount})
    assert r.status_code == 422 and message in r.text and 'aria-invalid="true"' in r.text
    assert fa(billed["number"][sid]) in r.text  # the cashier stays on the subscription
    assert _count(world, Payment) == 0


def test_counter_refusals_leave_nothing(world: World, billed: dict[str, Any]) -> None:
    sid = world.subscription_ids[0]
    bill = billed["bills"][sid]
    good = billed["bill_id"][sid]
    client = signed_in(world, "cashier")
    r = client.get("/payments/counter", params={"bill_id": _wrong_digit(good)})
    assert r.status_code == 422 and "رقم کنترل شناسه قبض درست نیست" in r.text
    from barq.ids import build_bill_id

    r = client.get("/payments/counter", params={"bill_id": build_bill_id(98765432, COMPANY_CODE)})
    assert r.status_code == 422 and "اشتراکی با این شناسه قبض پیدا نشد" in r.text
    forms = _forms(client.get("/payments/counter", params={"bill_id": good}).text)
    # a bill paid for less than its amount, a payment ID of no open bill, a trace not given by the server
    cases = [
        (forms[0] | {"amount": str(bill.payable - 1000)}, "باید همان مبلغ قابل پرداخت آن باشد"),
        (forms[0] | {"payment_id": _wrong_digit(forms[0]["payment_id"])}, "از صورتحساب‌های پرداخت‌نشدهٔ این اشتراک نیست"),
        (forms[0] | {"trace": "my-own-trace"}, "صفحه را دوباره باز کنید"),
        ({k: v for k, v in forms[0].items() if k != "csrf_token"}, "نشانه امنیتی فرم"),
    ]
    for data, message in cases:
        r = client.post("/payments/counter", data=data, follow_redirects=False)
        assert r.status_code in (403, 422) and message in r.text, (data, r.text[:500])
    # a trace already used for another payment cannot be used again
    assert (
        client.post("/payments/counter", data=forms[1] | {"amount": "1000"}, follow_redirects=False).status_code == 303
    )
    r = client.post("/payments/counter", data=forms[1] | {"amount": "2000"})
    assert r.status_code == 422 and "پیش‌تر برای پرداخت دیگری" in r.text
    with world.session() as s:
        assert [p.amount for p in s.scalars(select(Payment))] == [1000]


def test_counter_and_receipt_keep_to_the_cashiers_district(world: World, billed: dict[str, Any]) -> None:
    s0, s1 = world.subscription_ids[:2]  # districts 11 and 12
    client = signed_in(world, "cashier11")
    r = client.get("/payments/counter", params={"bill_id": billed["bill_id"][s1]})
    assert r.status_code == 422 and "در امور شما پیدا نشد" in r.text and fa(billed["number"][s1]) not in r.text
    # a form for the other district's bill, forged from the head-office cashier's page, is refused
    head = signed_in(world, "cashier")
    forged = _forms(head.get("/payments/counter", params={"bill_id": billed["bill_id"][s1]}).text)[0]
    token = csrf(client, "/payments/counter")
    r = client.post("/payments/counter", data=forged | {"csrf_token": token})
    assert r.status_code == 422 and "در امور شما پیدا نشد" in r.text
    assert _count(world, Payment) == 0
    other = _pay(
        world, "melli", "M-1", billed["bill_id"][s1], billed["bills"][s1].payment_id, billed["bills"][s1].payable
    )
    own = _pay(
        world, "melli", "M-2", billed["bill_id"][s0], billed["bills"][s0].payment_id, billed["bills"][s0].payable
    )
    assert client.get(f"/payments/{other}/receipt").status_code == 404
    assert client.get(f"/payments/{own}/receipt").status_code == 200


def test_counter_needs_the_permission(world: World, billed: dict[str, Any]) -> None:
    clerk = signed_in(world, "clerk")
    assert clerk.get("/payments/counter").status_code == 403
    assert clerk.post("/payments/counter", data={"csrf_token": "x"}).status_code == 403
    field = signed_in(world, "field")
    assert field.get("/payments").status_code == 403
    cashier = signed_in(world, "cashier")
    assert cashier.get("/payments/suspense").status_code == 403
    assert TestClient(cashier.app).get("/payments/counter", follow_redirects=False).status_code == 303  # sign in


# ------------------------------------------------------------------------------------------ one payment


def test_payment_page_explains_and_bounces(world: World, billed: dict[str, Any]) -> None:
    sid = world.subscription_ids[0]
    bill = billed["bills"][sid]
    pid = _pay(world, "mellat", "845120399871", billed["bill_id"][sid], bill.payment_id, bill.payable)
    client = signed_in(world, "revenue")
    page = client.get(f"/payments/{pid}")
    assert page.status_code == 200
    for expected in (
        "ثبت شده",
        "بانک ملت",
        "آبان ۱۴۰۵",
        f'href="/bills/{bill.id}"',
        "مطالبات از مشترک",
        "حساب واسط بانک",
        fa_amount(bill.payable),
        "<h2>برگشت پرداخت</h2>",
    ):
        assert expected in page.text, expected
    token = form_token(page.text)
    r = client.post(f"/payments/{pid}/reverse", data={"csrf_token": "stale", "note": "چک برگشتی", "confirm": "1"})
    assert r.status_code == 403 and "نشانه امنیتی فرم" in r.text
    r = client.post(f"/payments/{pid}/reverse", data={"csrf_token": token, "note": ""})
    assert r.status_code == 422 and "«علت برگشت» را وارد کنید" in r.text and "«تأیید می‌کنم»" in r.text
    r = client.post(f"/payments/{pid}/reverse", data={"csrf_token": token, "note": "چک برگشتی"})
    assert r.status_code == 422 and "«تأیید می‌کنم»" in r.text
    with world.session() as s:
        assert s.get_one(Payment, pid).status == "posted" and balances(s, sid).receivable == 0
    r = client.post(
        f"/payments/{pid}/reverse",
        data={"csrf_token": token, "note": "چک برگشتی", "confirm": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "برگشت خورده" in page.text and "چک برگشتی" in page.text and "برگشت سند" in page.text
    assert f'action="/payments/{pid}/reverse"' not in page.text
    r = client.post(f"/payments/{pid}/reverse", data={"csrf_token": token, "note": "دوباره", "confirm": "1"})
    assert r.status_code == 409 and "برگشت‌پذیر نیست" in r.text
    with world.session() as s:
        row = s.get_one(Payment, pid)
        assert (row.status, row.note, row.resolved_by) == ("reversed", "چک برگشتی", "revenue")
        assert balances(s, sid).receivable == bill.payable and verify(s).ok


def test_payment_page_permissions_and_scope(world: World, billed: dict[str, Any]) -> None:
    s0, s1 = world.subscription_ids[:2]
    other = _pay(
        world, "melli", "M-1", billed["bill_id"][s1], billed["bills"][s1].payment_id, billed["bills"][s1].payable
    )
    clerk = signed_in(world, "clerk11")  # ledger.view in district 11, no payments.manage
    assert clerk.get(f"/payments/{other}").status_code == 404
    own = _pay(
        world, "melli", "M-2", billed["bill_id"][s0], billed["bills"][s0].payment_id, billed["bills"][s0].payable
    )
    page = clerk.get(f"/payments/{own}")
    assert page.status_code == 200 and "<h2>برگشت پرداخت</h2>" not in page.text
    token = form_token(page.text)
    r = clerk.post(f"/payments/{own}/reverse", data={"csrf_token": token, "note": "x", "confirm": "1"})
    assert r.status_code == 403
    manager = signed_in(world, "manager12")  # payments.manage in district 12
    token = csrf(manager, f"/payments/{other}")
    r = manager.post(f"/payments/{own}/reverse", data={"csrf_token": token, "note": "x", "confirm": "1"})
    assert r.status_code == 404
    assert signed_in(world, "clerk").get("/payments/999").status_code == 404
    with world.session() as s:
        assert {p.status for p in s.scalars(select(Payment))} == {"posted"}


# ------------------------------------------------------------------------------------------ suspense


def _suspended(world: World, billed: dict[str, Any]) -> dict[str, int]:
    s0, s1 = world.subscription_ids[:2]
    from barq.ids import build_bill_id, build_payment_id

    nobody = build_bill_id(98765432, COMPANY_CODE)
    b0, b1 = billed["bills"][s0], billed["bills"][s1]
    stray = build_payment_id(bill_id=nobody, amount=b0.payable, year=1405, period=8)
    return {
        "unknown": _pay(world, "melli", "U-1", nobody, stray, b0.payable),
        "mismatch": _pay(world, "mellat", "A-1", billed["bill_id"][s0], b0.payment_id, b0.payable + 5000),
        "other": _pay(world, "mellat", "A-2", billed["bill_id"][s1], b1.payment_id, b1.payable + 5000),
    }


def test_suspense_queue_filters_pages_and_exports(world: World, billed: dict[str, Any]) -> None:
    ids = _suspended(world, billed)
    client = signed_in(world, "revenue")
    page = client.get("/payments/suspense")
    assert page.status_code == 200
    badge = '<span class="badge in_progress">{}</span>'
    assert badge.format("شناسه قبض به هیچ اشتراکی تعلق ندارد") in page.text
    assert badge.format("مبلغ پرداخت با مبلغ شناسه پرداخت برابر نیست") in page.text
    assert all(f'href="/payments/{i}"' in page.text for i in ids.values())
    only = client.get("/payments/suspense", params={"reason": "unknown_bill"}).text
    assert f'href="/payments/{ids["unknown"]}"' in only and f'href="/payments/{ids["mismatch"]}"' not in only
    by_bank = client.get("/payments/suspense", params={"channel": "mellat"}).text
    assert f'href="/payments/{ids["unknown"]}"' not in by_bank and f'href="/payments/{ids["other"]}"' in by_bank
    sheet = load_workbook(io.BytesIO(client.get("/payments/suspense?format=xlsx&channel=mellat").content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("شماره", "زمان دریافت", "تاریخ پرداخت", "کانال") and len(rows) == 3
    assert {r[0] for r in rows[1:]} == {ids["mismatch"], ids["other"]}
    assert rows[1][3] == "بانک ملت" and rows[1][9] == "مبلغ پرداخت با مبلغ شناسه پرداخت برابر نیست"
    # pages of two
    app = create_app(
        Settings(database_url="sqlite://", company_code=COMPANY_CODE, page_size=2),
        engine=world.engine,
        clock=world.clock,
    )
    small = TestClient(app)
    login(small, "revenue")
    first, second = small.get("/payments/suspense").text, small.get("/payments/suspense?p=2").text
    assert "صفحه ۱ از ۲" in first and "صفحه ۲ از ۲" in second
    assert f'href="/payments/{ids["unknown"]}"' in first and f'href="/payments/{ids["other"]}"' in second


def test_suspense_is_given_to_a_subscription_or_refunded(world: World, billed: dict[str, Any]) -> None:
    ids = _suspended(world, billed)
    s0, s2 = world.subscription_ids[0], world.subscription_ids[2]
    client = signed_in(world, "revenue")
    token = csrf(client, "/payments/suspense")
    for action in ("resolve", "refund"):
        r = client.post(
            f"/payments/{ids['unknown']}/{action}", data={"subscription": billed["number"][s2], "confirm": "1"}
        )
        assert r.status_code == 403
    # the wrong number is refused, with the queue still shown
    r = client.post(f"/payments/{ids['unknown']}/resolve", data={"csrf_token": token, "subscription": "999999"})
    assert r.status_code == 422 and "پیدا نشد" in r.text and 'id="pay-{}"'.format(ids["unknown"]) in r.text
    # given to subscription 2 by its subscription number typed in Persian digits
    amount = billed["bills"][s0].payable
    r = client.post(
        f"/payments/{ids['unknown']}/resolve",
        data={
            "csrf_token": token,
            "subscription": fa(billed["number"][s2]),
            "note": "واریز اشتباه",
            "reason": "unknown_bill",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and "reason=unknown_bill" in r.headers["location"]
    assert "به اشتراک داده شد" in client.get(r.headers["location"]).text
    # the other by its bill ID
    r = client.post(
        f"/payments/{ids['mismatch']}/resolve",
        data={"csrf_token": token, "subscription": billed["bill_id"][s0]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    # a refund needs the confirmation
    r = client.post(f"/payments/{ids['other']}/refund", data={"csrf_token": token, "note": "به درخواست بانک"})
    assert r.status_code == 422 and "«تأیید می‌کنم»" in r.text
    r = client.post(
        f"/payments/{ids['other']}/refund",
        data={"csrf_token": token, "note": "به درخواست بانک", "confirm": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    # acting twice is refused with a message, not an error page
    r = client.post(f"/payments/{ids['other']}/refund", data={"csrf_token": token, "confirm": "1"})
    assert r.status_code == 422 and "فقط پرداخت معلق" in r.text
    with world.session() as s:
        rows = {p.id: p for p in s.scalars(select(Payment))}
        assert (rows[ids["unknown"]].status, rows[ids["unknown"]].subscription_id) == ("resolved", s2)
        assert rows[ids["unknown"]].note == "واریز اشتباه"
        assert (rows[ids["mismatch"]].status, rows[ids["mismatch"]].subscription_id) == ("resolved", s0)
        assert (rows[ids["other"]].status, rows[ids["other"]].note) == ("refunded", "به درخواست بانک")
        b2 = billed["bills"][s2].payable
        assert (balances(s, s2).receivable, balances(s, s2).credit) == (max(b2 - amount, 0), max(amount - b2, 0))
        assert verify(s).ok
    assert "وجه معلقی نیست" in client.get("/payments/suspense").text


def test_suspense_keeps_to_the_district(world: World, billed: dict[str, Any]) -> None:
    ids = _suspended(world, billed)
    s0 = world.subscription_ids[0]
    manager = signed_in(world, "manager12")  # district 12
    page = manager.get("/payments/suspense").text
    assert f'href="/payments/{ids["other"]}"' in page
    assert f'href="/payments/{ids["unknown"]}"' not in page and f'href="/payments/{ids["mismatch"]}"' not in page
    token = form_token(page)
    entries = _count(world, LedgerEntry)
    r = manager.post(f"/payments/{ids['mismatch']}/refund", data={"csrf_token": token, "confirm": "1"})
    assert r.status_code == 404
    # its own district's payment cannot be given to another district's subscription
    r = manager.post(
        f"/payments/{ids['other']}/resolve", data={"csrf_token": token, "subscription": billed["number"][s0]}
    )
    assert r.status_code == 422 and "در امور شما پیدا نشد" in r.text
    assert _count(world, LedgerEntry) == entries


# ------------------------------------------------------------------------------------------ the list


def test_payments_list_searches_filters_and_exports(world: World, billed: dict[str, Any]) -> None:
    s0, s1 = world.subscription_ids[:2]
    b0, b1 = billed["bills"][s0], billed["bills"][s1]
    posted = _pay(world, "melli", "TR-77", billed["bill_id"][s0], b0.payment_id, b0.payable)
    suspended = _pay(world, "mellat", "TR-88", billed["bill_id"][s1], b1.payment_id, b1.payable + 1000)
    client = signed_in(world, "revenue")
    every = client.get("/payments").text
    assert f'href="/payments/{posted}"' in every and f'href="/payments/{suspended}"' in every
    assert "<td>بانک ملی ایران</td>" in every and '<span class="badge in_progress">معلق</span>' in every

    def listed(**params: str) -> set[int]:
        r = client.get("/payments", params=params)
        assert r.status_code == 200, r.text
        return {int(i) for i in re.findall(r'href="/payments/(\d+)"', r.text)}

    assert listed(q="TR-77") == {posted}
    assert listed(q=fa(billed["bill_id"][s1])) == {suspended}
    assert listed(status="suspense") == {suspended}
    assert listed(channel="melli") == {posted}
    assert listed(date_from="۱۴۰۵/۰۸/۲۹", date_to="1405/08/29") == {posted, suspended}  # paid 20 November 2026
    assert listed(date_from="1405/08/30") == set()
    r = client.get("/payments", params={"date_from": "1405/13/01"})
    assert r.status_code == 422 and "«از تاریخ»:" in r.text and f'href="/payments/{posted}"' not in r.text
    r = client.get("/payments", params={"date_from": "1405/09/01", "date_to": "1405/08/01"})
    assert r.status_code == 422 and "پیش از «از تاریخ»" in r.text
    sheet = load_workbook(io.BytesIO(client.get("/payments?format=xlsx&status=posted").content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == posted and rows[1][4] == "TR-77" and rows[1][7] == b0.payable
    assert rows[1][2] == "۱۴۰۵/۰۸/۲۹" and rows[1][10] == billed["number"][s0]
    # a district's user sees its district's payments only
    clerk = signed_in(world, "clerk11")
    seen = {int(i) for i in re.findall(r'href="/payments/(\d+)"', clerk.get("/payments").text)}
    assert seen == {posted}
