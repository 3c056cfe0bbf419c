"""The banks' API: ``GET /api/v1/bills/{bill_id}`` and ``POST /api/v1/payments`` with a key of role ``bank``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update

from barq.api.payments import InquiryOut, inquiry_body
from barq.auth.models import ApiKey, User
from barq.auth.service import create_api_key, create_user
from barq.connections.models import Subscription
from barq.ledger.models import LedgerEntry
from barq.ledger.service import balances, verify
from barq.payments.models import Payment
from barq.settings import Settings
from barq.web.app import create_app
from tests.factories import COMPANY_CODE, PASSWORD, World
from tests.ledger_factories import issue_bills
from tests.web.test_api import assert_problem, field_errors, make_key

AUGUST, SEPTEMBER = 140508, 140509
PAID = "2026-11-20"
FA = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def app(world: World) -> FastAPI:
    with world.session() as s:
        bank = create_user(
            s, username="mellat", full_name="بانک ملت", password=PASSWORD, roles=["bank"], clock=world.clock, actor="t"
        )
        world.users["mellat"] = bank.id
        s.commit()
    return create_app(
        Settings(database_url="sqlite://", company_code=COMPANY_CODE), engine=world.engine, clock=world.clock
    )


@pytest.fixture
def bills(world: World) -> dict[str, Any]:
    """Subscription 0 has two unpaid bills (Aban and Azar 1405), subscription 1 one (Aban)."""
    s0, s1 = world.subscription_ids[:2]
    aban = issue_bills(world, AUGUST, {s0: 180, s1: 420}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))
    azar = issue_bills(world, SEPTEMBER, {s0: 250}, prev=date(2026, 10, 25), cur=date(2026, 11, 24))
    with world.session() as s:
        ids = {sid: s.get_one(Subscription, sid).bill_id for sid in (s0, s1)}
        numbers = {sid: s.get_one(Subscription, sid).subscription_number for sid in (s0, s1)}
    return {"aban": aban, "azar": azar, "bill_id": ids, "number": numbers}


@pytest.fixture
def bank(app: FastAPI, world: World) -> TestClient:
    return TestClient(app, headers={"X-API-Key": make_key(world, "mellat", "bank mellat")})


def _count(world: World, model: Any) -> int:
    with world.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _notice(bills: dict[str, Any], world: World, **changes: Any) -> dict[str, Any]:
    sid = world.subscription_ids[1]
    bill = bills["aban"][sid]
    return {
        "bank": "mellat",
        "trace": "845120399871",
        "bill_id": bills["bill_id"][sid],
        "payment_id": bill.payment_id,
        "amount": bill.payable,
        "paid_on": PAID,
    } | changes


def _as_service_says(world: World, bill_id: str) -> dict[str, Any]:
    """What ``payments.service.inquiry`` answers, in the documented shape (``InquiryOut``)."""
    from barq.payments.service import inquiry

    with world.session() as s:
        found = inquiry(s, principal=world.principal("admin"), bill_id=bill_id)
    return InquiryOut.model_validate(inquiry_body(found)).model_dump(mode="json")


def _wrong_digit(digits: str) -> str:
    return digits[:-1] + str((int(digits[-1]) + 1) % 10)


# ------------------------------------------------------------------------------------------ inquiry


def test_inquiry_lists_open_bills_oldest_first(bank: TestClient, bills: dict[str, Any], world: World) -> None:
    s0 = world.subscription_ids[0]
    aban, azar = bills["aban"][s0], bills["azar"][s0]
    r = bank.get(f"/api/v1/bills/{bills['bill_id'][s0]}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["bill_id"] == bills["bill_id"][s0] and body["subscription_number"] == bills["number"][s0]
    assert (body["amount_due"], body["credit"]) == (aban.payable + azar.payable, 0)
    assert [(b["cycle"], b["payment_id"], b["payable"]) for b in body["open_bills"]] == [
        (AUGUST, aban.payment_id, aban.payable),
        (SEPTEMBER, azar.payment_id, azar.payable),
    ]
    first = body["open_bills"][0]
    assert date.fromisoformat(first["due_on"]) > date.fromisoformat(first["issued_on"])
    assert body == _as_service_says(world, bills["bill_id"][s0])
    # Persian digits and a dash typed by a person are the same bill ID
    spaced = bills["bill_id"][s0][:4] + "-" + bills["bill_id"][s0][4:]
    assert bank.get(f"/api/v1/bills/{spaced.translate(FA)}").json() == body


def test_inquiry_after_payment_and_with_credit(bank: TestClient, bills: dict[str, Any], world: World) -> None:
    s1 = world.subscription_ids[1]
    assert bank.post("/api/v1/payments", json=_notice(bills, world)).status_code == 201
    body = bank.get(f"/api/v1/bills/{bills['bill_id'][s1]}").json()
    assert (body["amount_due"], body["credit"], body["open_bills"]) == (0, 0, [])
    assert body == _as_service_says(world, bills["bill_id"][s1])
    # a payment on account at the counter beyond the debt leaves credit, which the inquiry shows
    from barq.payments.service import PaymentIn, receive_payment

    with world.session() as s:
        receive_payment(
            s,
            principal=world.principal("admin"),
            clock=world.clock,
            payment=PaymentIn("counter", "C1", bills["bill_id"][s1], "", 70_000, date(2026, 11, 27)),
        )
        s.commit()
    body = bank.get(f"/api/v1/bills/{bills['bill_id'][s1]}").json()
    assert (body["amount_due"], body["credit"]) == (0, 70_000)
    assert body == _as_service_says(world, bills["bill_id"][s1])
    # a subscription never billed: nothing open, nothing owed
    with world.session() as s:
        unbilled = s.get_one(Subscription, world.subscription_ids[2]).bill_id
    body = bank.get(f"/api/v1/bills/{unbilled}").json()
    assert (body["amount_due"], body["credit"], body["open_bills"]) == (0, 0, [])
    assert body == _as_service_says(world, unbilled)


def test_inquiry_refusals(bank: TestClient, bills: dict[str, Any], world: World) -> None:
    good = bills["bill_id"][world.subscription_ids[0]]
    body = assert_problem(bank.get(f"/api/v1/bills/{_wrong_digit(good)}"), 422, "bad_check_digit")
    assert field_errors(body) == {"bill_id": "رقم کنترل شناسه قبض درست نیست"}
    assert_problem(bank.get("/api/v1/bills/abc"), 422, "bad_check_digit")
    from barq.ids import build_bill_id

    nobody = build_bill_id(98765432, COMPANY_CODE)
    body = assert_problem(bank.get(f"/api/v1/bills/{nobody}"), 404, "not_found")
    assert body["message_fa"] == "اشتراکی با این شناسه قبض نیست"


# ------------------------------------------------------------------------------------------ payments


def test_payment_is_posted_once(bank: TestClient, bills: dict[str, Any], world: World) -> None:
    s1 = world.subscription_ids[1]
    notice = _notice(bills, world)
    first = bank.post("/api/v1/payments", json=notice)
    assert first.status_code == 201, first.text
    out = first.json()
    assert (out["status"], out["reason"], out["to_credit"], out["duplicate"]) == ("posted", None, 0, False)
    assert (out["bank"], out["trace"], out["amount"], out["paid_on"]) == (
        "mellat",
        notice["trace"],
        notice["amount"],
        PAID,
    )
    assert out["status_fa"] == "ثبت شده"
    again = bank.post("/api/v1/payments", json=notice)
    assert again.status_code == 200
    assert again.json() == {**out, "duplicate": True}
    # a retry that differs is still the same trace: the first payment comes back, nothing else is posted
    changed = bank.post("/api/v1/payments", json=notice | {"amount": notice["amount"] + 1000})
    assert changed.status_code == 200 and changed.json()["id"] == out["id"] and changed.json()["duplicate"]
    with world.session() as s:
        row = s.get_one(Payment, out["id"])
        assert (row.channel, row.actor, row.bill_ref) == ("mellat", "mellat", bills["aban"][s1].id)
        assert balances(s, s1).receivable == 0
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
        assert verify(s).ok


def test_payments_that_match_nothing_go_to_suspense(bank: TestClient, bills: dict[str, Any], world: World) -> None:
    assert bank.post("/api/v1/payments", json=_notice(bills, world)).status_code == 201
    again = bank.post("/api/v1/payments", json=_notice(bills, world, trace="T-2"))
    assert again.status_code == 201
    assert (again.json()["status"], again.json()["reason"]) == ("suspense", "no_open_bill")
    assert again.json()["reason_fa"] == "شناسه پرداخت با هیچ صورتحساب پرداخت‌نشده‌ای مطابقت ندارد"
    s0 = world.subscription_ids[0]
    bill = bills["aban"][s0]
    wrong = _notice(bills, world, trace="T-3", bill_id=bills["bill_id"][s0], payment_id=bill.payment_id)
    wrong["amount"] = bill.payable - 1000
    out = bank.post("/api/v1/payments", json=wrong).json()
    assert (out["status"], out["reason"]) == ("suspense", "amount_mismatch")
    with world.session() as s:
        assert balances(s, s0).receivable == bill.payable + bills["azar"][s0].payable


def test_a_bounced_payment_opens_its_bill_again(bank: TestClient, bills: dict[str, Any], world: World) -> None:
    from barq.payments.service import reverse_payment

    s1 = world.subscription_ids[1]
    url = f"/api/v1/bills/{bills['bill_id'][s1]}"
    before = bank.get(url).json()
    paid = bank.post("/api/v1/payments", json=_notice(bills, world)).json()
    assert bank.get(url).json()["open_bills"] == []
    with world.session() as s:
        reverse_payment(s, principal=world.principal("admin"), clock=world.clock, payment_row=paid["id"], note="چک")
        s.commit()
    assert bank.get(url).json() == before == _as_service_says(world, bills["bill_id"][s1])
    again = bank.post("/api/v1/payments", json=_notice(bills, world))
    assert again.status_code == 200 and again.json()["status"] == "reversed" and again.json()["duplicate"]


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"bill_id": "wrong"}, 422, "bad_check_digit", "bill_id"),
        ({"payment_id": "wrong"}, 422, "bad_check_digit", "payment_id"),
        ({"payment_id": ""}, 422, "bad_check_digit", "payment_id"),
        ({"amount": 0}, 422, "bad_amount", "amount"),
        ({"amount": -5000}, 422, "bad_amount", "amount"),
        ({"amount": 2**63}, 422, "bad_amount", "amount"),
        ({"amount": "1254000"}, 422, "validation_error", "amount"),
        ({"amount": 1254000.0}, 422, "validation_error", "amount"),
        ({"amount": None}, 422, "validation_error", "amount"),
        ({"bank": "nobank"}, 422, "unknown_bank", "bank"),
        ({"bank": "counter"}, 422, "unknown_bank", "bank"),
        ({"trace": ""}, 422, "validation_error", "trace"),
        ({"trace": "x" * 41}, 422, "validation_error", "trace"),
        ({"trace": "پیگیری"}, 422, "validation_error", "trace"),
        ({"paid_on": "2027-01-01"}, 422, "validation_error", "paid_on"),
        ({"paid_on": "1405/08/29"}, 422, "validation_error", "paid_on"),
        ({"paid_on": 20261120}, 422, "validation_error", "paid_on"),
        ({"bill_id": 123}, 422, "validation_error", "bill_id"),
        ({"teller": "7"}, 422, "validation_error", "teller"),
    ],
)
def test_refused_notifications_name_the_field_and_write_nothing(
    bank: TestClient, bills: dict[str, Any], world: World, change: dict[str, Any], status: int, code: str, field: str
) -> None:
    notice = _notice(bills, world)
    if change.get("bill_id") == "wrong":
        change = {"bill_id": _wrong_digit(notice["bill_id"])}
    if change.get("payment_id") == "wrong":
        change = {"payment_id": _wrong_digit(notice["payment_id"])}
    entries = _count(world, LedgerEntry)
    body = assert_problem(bank.post("/api/v1/payments", json=notice | change), status, code)
    assert field in field_errors(body), body
    assert _count(world, Payment) == 0 and _count(world, LedgerEntry) == entries


def test_missing_fields_are_named(bank: TestClient, bills: dict[str, Any], world: World) -> None:
    notice = _notice(bills, world)
    del notice["trace"], notice["amount"]
    body = assert_problem(bank.post("/api/v1/payments", json=notice), 422, "validation_error")
    assert field_errors(body) == {"trace": "این فیلد لازم است", "amount": "این فیلد لازم است"}
    assert_problem(
        bank.post("/api/v1/payments", content=b"{not json", headers={"Content-Type": "application/json"}),
        422,
        "validation_error",
    )


# ------------------------------------------------------------------------------------------ keys


def test_a_key_bound_to_a_bank_notifies_for_that_bank_only(app: FastAPI, bills: dict[str, Any], world: World) -> None:
    with world.session() as s:
        user = s.get_one(User, world.users["mellat"])
        key = create_api_key(s, name="mellat switch", user=user, clock=world.clock, actor="test", channel="mellat")
        s.commit()
    bound = TestClient(app, headers={"X-API-Key": key})
    body = assert_problem(bound.post("/api/v1/payments", json=_notice(bills, world, bank="melli")), 403, "wrong_bank")
    assert "'mellat'" in body["detail"] and _count(world, Payment) == 0
    assert bound.post("/api/v1/payments", json=_notice(bills, world)).status_code == 201
    with world.session() as s:
        assert s.scalars(select(ApiKey.channel).where(ApiKey.name == "mellat switch")).one() == "mellat"


def test_keys_and_permissions(app: FastAPI, bills: dict[str, Any], world: World) -> None:
    bill_id = bills["bill_id"][world.subscription_ids[0]]
    assert_problem(TestClient(app).get(f"/api/v1/bills/{bill_id}"), 401, "not_authenticated")
    assert_problem(TestClient(app).post("/api/v1/payments", json=_notice(bills, world)), 401, "not_authenticated")
    wrong = TestClient(app, headers={"X-API-Key": "barq_00000000.nothing"})
    assert_problem(wrong.get(f"/api/v1/bills/{bill_id}"), 401, "not_authenticated")
    clerk = TestClient(app, headers={"X-API-Key": make_key(world, "clerk")})
    assert_problem(clerk.get(f"/api/v1/bills/{bill_id}"), 403, "permission_denied")
    assert_problem(clerk.post("/api/v1/payments", json=_notice(bills, world, bank="nobank")), 403, "permission_denied")
    bank = TestClient(app, headers={"Authorization": f"Bearer {make_key(world, 'mellat')}"})
    assert bank.get(f"/api/v1/bills/{bill_id}").status_code == 200
    assert_problem(bank.get("/api/v1/customers"), 403, "permission_denied")  # a bank's key does nothing else
    assert _count(world, Payment) == 0


@pytest.fixture
def statements(world: World) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(world.engine, "before_cursor_execute", record)
    yield seen
    event.remove(world.engine, "before_cursor_execute", record)


def test_inquiry_is_one_query_once_the_key_is_known(
    app: FastAPI, bills: dict[str, Any], world: World, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(world, "mellat")
    bank = TestClient(app, headers={"X-API-Key": key})
    url = f"/api/v1/bills/{bills['bill_id'][world.subscription_ids[0]]}"
    statements.clear()
    assert bank.get(url).status_code == 200
    first = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    statements.clear()
    assert bank.get(url).status_code == 200
    cached = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(first) == 5 and len(cached) == 1, (first, cached)
    assert not any("api_key" in s or "user_role" in s for s in cached)
    # a revoked key is refused once its principal has expired from the cache, within a few seconds
    with world.session() as s:
        s.execute(update(ApiKey).values(revoked_at=datetime(2026, 11, 28, tzinfo=UTC)))
        s.commit()
    assert bank.get(url).status_code == 200
    import barq.api.payments as module

    later = module.time.monotonic() + module.PRINCIPAL_TTL_SECONDS + 0.1
    monkeypatch.setattr(module.time, "monotonic", lambda: later)
    assert_problem(bank.get(url), 401, "not_authenticated")


def test_principal_cache_is_bounded() -> None:
    from barq.api.payments import PrincipalCache
    from barq.auth.service import SYSTEM

    cache = PrincipalCache(ttl=60, size=3)
    for k in "abc":
        cache.put(k, SYSTEM)
    assert cache.get("a") is SYSTEM
    cache.put("d", SYSTEM)  # full and nothing expired: start again
    assert (cache.get("a"), cache.get("d")) == (None, SYSTEM)


def test_openapi_documents_the_bank_endpoints(app: FastAPI) -> None:
    doc = TestClient(app).get("/api/v1/openapi.json").json()
    inquiry = doc["paths"]["/api/v1/bills/{bill_id}"]["get"]
    notify = doc["paths"]["/api/v1/payments"]["post"]
    assert {"ApiKey": []} in inquiry["security"] and {"ApiKey": []} in notify["security"]
    assert {"200", "401", "403", "404", "422"} <= set(inquiry["responses"])
    assert {"200", "201", "401", "403", "422"} <= set(notify["responses"])
    notice = doc["components"]["schemas"]["PaymentNotice"]
    assert set(notice["required"]) == {"bank", "trace", "bill_id", "payment_id", "amount", "paid_on"}
    assert notice["additionalProperties"] is False
    example = notice["examples"][0]
    from barq.ids import validate_payment_id

    assert validate_payment_id(example["payment_id"], example["bill_id"]) == example["payment_id"]
