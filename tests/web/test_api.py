"""The JSON API under /api/v1 through the test client: API keys, CRUD, problems, scopes, the OpenAPI document."""

from __future__ import annotations

import random
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from barq.api import schemas
from barq.audit import AuditEntry
from barq.auth.models import ApiKey, User
from barq.auth.service import create_api_key
from barq.connections.models import SUPPLY_STATES
from barq.customers.models import Customer
from barq.customers.service import CUSTOMER_KINDS, ORG_CATEGORIES, ZONE_CODES
from barq.metering.models import METER_KINDS, Meter
from barq.metering.service import ACCURACY_CLASSES
from barq.settings import Settings
from barq.web.app import create_app
from barq.workorders.models import WorkOrder
from barq.workorders.service import TRANSITIONS, create_work_order, transition
from tests.factories import COMPANY_CODE, World

PROBLEM = "application/problem+json"
Client = Callable[[str], TestClient]
_rng = random.Random(42)


def national_code() -> str:
    from barq.ids import make_national_code

    return make_national_code(_rng)


def postal_code() -> str:
    from barq.ids import make_postal_code

    return make_postal_code(_rng)


def make_key(world: World, username: str, name: str = "integration") -> str:
    with world.session() as s:
        user = s.get_one(User, world.users[username])
        key = create_api_key(s, name=name, user=user, clock=world.clock, actor="test")
        s.commit()
    return key


@pytest.fixture
def app(world: World) -> FastAPI:
    return create_app(
        Settings(database_url="sqlite://", company_code=COMPANY_CODE), engine=world.engine, clock=world.clock
    )


@pytest.fixture
def api(app: FastAPI, world: World) -> Client:
    """A test client per user name, sending a fresh API key of that user in X-API-Key."""

    def make(username: str) -> TestClient:
        return TestClient(app, headers={"X-API-Key": make_key(world, username)})

    return make


def count(world: World, model: Any) -> int:
    with world.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["message_fa"] and body["instance"].startswith("/api/v1/")
    return body


def field_errors(body: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message_fa"] for e in body["errors"]}


def person(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "person",
        "first_name": "مریم",
        "last_name": "سپهوند",
        "father_name": "رضا",
        "national_code": national_code(),
        "mobile": "09161112233",
    } | overrides


def make_order(world: World, *, district: str = "11", contractor: str | None = None) -> int:
    admin = world.principal("admin")
    with world.session() as s:
        wo = create_work_order(
            s,
            principal=admin,
            clock=world.clock,
            type_code="inspection",
            district_id=world.district_ids[district],
            subscription_id=world.subscription_ids[0] if district == "11" else None,
        )
        if contractor:
            transition(
                s,
                principal=admin,
                clock=world.clock,
                work_order_id=wo.id,
                verb="assign",
                contractor_id=world.contractor_ids[contractor],
            )
        s.commit()
        return wo.id


# ------------------------------------------------------------------------------------- authentication


def test_no_key_is_401_problem(app: FastAPI) -> None:
    client = TestClient(app)
    body = assert_problem(client.get("/api/v1/customers"), 401, "not_authenticated")
    assert body["type"].endswith("/not_authenticated")
    response = client.post("/api/v1/customers", json=person())
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "ApiKey"


def test_invalid_or_revoked_key_is_401(app: FastAPI, world: World) -> None:
    key = make_key(world, "admin")
    for bad in (key + "x", "barq_nothere.abc", "garbage", "x" * 500, "کلید".encode()):
        response = TestClient(app).get("/api/v1/customers", headers={"X-API-Key": bad})
        assert_problem(response, 401, "not_authenticated")
    with world.session() as s:
        row = s.scalars(select(ApiKey)).one()
        row.revoked_at = datetime(2026, 1, 1, tzinfo=UTC)
        s.commit()
    assert_problem(TestClient(app).get("/api/v1/customers", headers={"X-API-Key": key}), 401, "not_authenticated")


def test_bearer_key_is_accepted(app: FastAPI, world: World) -> None:
    key = make_key(world, "admin")
    response = TestClient(app).get("/api/v1/customers", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    assert response.json()["total"] == len(world.customer_ids)


def test_key_without_permission_is_403(api: Client) -> None:
    client = api("contra")
    assert_problem(client.get("/api/v1/customers"), 403, "permission_denied")
    assert_problem(client.post("/api/v1/customers", json=person()), 403, "permission_denied")


# ------------------------------------------------------------------------------------------ customers


def test_customer_create_read_update_find(api: Client, world: World) -> None:
    client = api("admin")
    data = person(district_id=world.district_ids["11"])
    response = client.post("/api/v1/customers", json=data)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/customers/{created['id']}"
    assert created["display_name"] == "مریم سپهوند"
    assert created["national_code"] == data["national_code"]
    assert created["district_id"] == world.district_ids["11"]

    got = client.get(f"/api/v1/customers/{created['id']}")
    assert got.status_code == 200 and got.json() == created

    updated = client.put(f"/api/v1/customers/{created['id']}", json=data | {"last_name": "کرمی"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["display_name"] == "مریم کرمی"
    assert client.get(f"/api/v1/customers/{created['id']}").json()["last_name"] == "کرمی"

    persian_digits = data["national_code"].translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    found = client.get("/api/v1/customers", params={"national_code": persian_digits}).json()
    assert found["total"] == 1 and [c["id"] for c in found["items"]] == [created["id"]]
    by_mobile = client.get("/api/v1/customers", params={"mobile": "+98 916 111 2233"}).json()
    assert [c["id"] for c in by_mobile["items"]] == [created["id"]]
    assert client.get("/api/v1/customers", params={"legal_id": "10317066901"}).json()["total"] == 0

    with world.session() as s:
        actions = list(
            s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.subject_id == created["id"], AuditEntry.subject_type == "customer"
                )
            )
        )
    assert actions == ["customer.create", "customer.update"]


def test_organisation_customer(api: Client) -> None:
    response = api("admin").post(
        "/api/v1/customers",
        json={
            "kind": "organisation",
            "org_name": "اداره آب و فاضلاب",
            "legal_id": "10317066901",
            "is_government": True,
            "org_category": "water",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["display_name"] == "اداره آب و فاضلاب"
    assert response.json()["is_government"] is True


def test_invalid_national_code_is_422_and_writes_nothing(api: Client, world: World) -> None:
    client = api("admin")
    before = (count(world, Customer), count(world, AuditEntry))
    good = national_code()
    bad = good[:9] + str((int(good[9]) + 1) % 10)
    body = assert_problem(client.post("/api/v1/customers", json=person(national_code=bad)), 422, "validation_error")
    errors = field_errors(body)
    assert "national_code" in errors
    assert "کد ملی" in errors["national_code"]
    assert (count(world, Customer), count(world, AuditEntry)) == before


def test_every_field_at_fault_is_named(api: Client) -> None:
    body = assert_problem(
        api("admin").post("/api/v1/customers", json={"kind": "person", "mobile": "12"}), 422, "validation_error"
    )
    assert {"first_name", "last_name", "national_code", "mobile"} <= set(field_errors(body))


def test_wrong_type_unknown_field_and_bad_json_are_422(api: Client, world: World) -> None:
    client = api("admin")
    body = assert_problem(client.post("/api/v1/customers", json=person(district_id="یازده")), 422, "validation_error")
    assert field_errors(body) == {"district_id": "باید عدد باشد"}
    body = assert_problem(client.post("/api/v1/customers", json=person(nickname="علی")), 422, "validation_error")
    assert field_errors(body) == {"nickname": "این فیلد شناخته نیست"}
    body = assert_problem(client.post("/api/v1/customers", json=person(kind="alien")), 422, "validation_error")
    assert "kind" in field_errors(body)
    response = client.post("/api/v1/customers", content=b"{not json", headers={"Content-Type": "application/json"})
    assert field_errors(assert_problem(response, 422, "validation_error")) == {"body": "بدنه درخواست JSON درستی نیست"}
    body = assert_problem(client.get("/api/v1/customers/not-a-number"), 422, "validation_error")
    assert "customer_id" in field_errors(body)
    assert count(world, Customer) == len(world.customer_ids)


def test_unknown_customer_is_404(api: Client) -> None:
    assert_problem(api("admin").get("/api/v1/customers/999999"), 404, "not_found")
    assert_problem(api("admin").put("/api/v1/customers/999999", json=person()), 404, "not_found")


def test_unknown_district_is_422_not_500(api: Client) -> None:
    body = assert_problem(
        api("admin").post("/api/v1/customers", json=person(district_id=999999)), 422, "validation_error"
    )
    assert "district_id" in field_errors(body)


def test_nul_character_is_refused(api: Client) -> None:
    body = assert_problem(
        api("admin").post("/api/v1/customers", json=person(first_name="ع\x00لی")), 422, "validation_error"
    )
    assert "first_name" in field_errors(body)
    assert_problem(api("admin").get("/api/v1/customers", params={"mobile": "09\x0016"}), 422, "validation_error")


# -------------------------------------------------------------------------------------- subscriptions


def _premises(client: TestClient, world: World, district: str = "11") -> int:
    response = client.post(
        "/api/v1/premises",
        json={
            "district_id": world.district_ids[district],
            "zone": "normal",
            "address": "خرم‌آباد، خیابان انقلاب، پلاک ۷",
            "postal_code": postal_code(),
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _subscription(world: World, premises_id: int, **overrides: Any) -> dict[str, Any]:
    return {
        "customer_id": world.customer_ids[0],
        "premises_id": premises_id,
        "tariff_group": 1,
        "tariff_sub_code": "1",
        "phase": 1,
        "amperage": 25,
        "contract_kw": "5.5",
    } | overrides


def test_subscription_create_read_update_find(api: Client, world: World) -> None:
    client = api("admin")
    premises_id = _premises(client, world)
    assert client.get(f"/api/v1/premises/{premises_id}").json()["zone"] == "normal"
    data = _subscription(
        world,
        premises_id,
        medical_certificate="پ-۱۲۳",
        medical_valid_from="2026-03-21",
        medical_valid_to="2027-03-20",
        connected_on="2026-04-01",
    )
    response = client.post("/api/v1/subscriptions", json=data)
    assert response.status_code == 201, response.text
    sub = response.json()
    assert response.headers["location"] == f"/api/v1/subscriptions/{sub['id']}"
    assert sub["district_id"] == world.district_ids["11"]
    assert sub["contract_kw"] == "5.50"
    assert sub["medical_valid_from"] == "2026-03-21" and sub["connected_on"] == "2026-04-01"
    assert sub["subscription_number"].startswith("11") and sub["bill_id"]

    assert client.get(f"/api/v1/subscriptions/{sub['id']}").json() == sub
    updated = client.put(f"/api/v1/subscriptions/{sub['id']}", json=data | {"amperage": 32, "phase": 3})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["amperage"], updated.json()["phase"]) == (32, 3)
    assert updated.json()["bill_id"] == sub["bill_id"]

    for params in ({"bill_id": sub["bill_id"]}, {"subscription_number": sub["subscription_number"]}):
        found = client.get("/api/v1/subscriptions", params=params).json()
        assert [s["id"] for s in found["items"]] == [sub["id"]] and found["total"] == 1
    mine = client.get("/api/v1/subscriptions", params={"customer_id": world.customer_ids[0]}).json()
    assert {s["id"] for s in mine["items"]} == {world.subscription_ids[0], sub["id"]}


def test_string_for_amperage_is_422_naming_the_field(api: Client, world: World) -> None:
    client = api("admin")
    premises_id = _premises(client, world)
    before = count(world, AuditEntry)
    body = assert_problem(
        client.post("/api/v1/subscriptions", json=_subscription(world, premises_id, amperage="بیست و پنج")),
        422,
        "validation_error",
    )
    assert field_errors(body) == {"amperage": "باید عدد باشد"}
    body = assert_problem(
        client.post("/api/v1/subscriptions", json=_subscription(world, premises_id, contract_kw="1e20")),
        422,
        "validation_error",
    )
    assert "contract_kw" in field_errors(body)
    assert count(world, AuditEntry) == before


def test_subscription_rules_come_from_the_service(api: Client, world: World) -> None:
    client = api("admin")
    premises_id = _premises(client, world)
    data = _subscription(
        world,
        premises_id,
        tariff_sub_code="2-ب",
        amperage=2,
        medical_valid_to="2020-01-01",
        medical_certificate="x",
        medical_valid_from="2021-01-01",
    )
    errors = field_errors(assert_problem(client.post("/api/v1/subscriptions", json=data), 422, "validation_error"))
    assert {"tariff_sub_code", "amperage", "medical_valid_to"} <= set(errors)
    assert "پیش از" in errors["medical_valid_to"]


# --------------------------------------------------------------------------------------------- meters


def test_meter_create_read_find(api: Client, world: World) -> None:
    client = api("admin")
    data = {
        "serial": "ab 123456",
        "kind": "tou",
        "digits": 6,
        "phase": 3,
        "accuracy_class": "1",
        "manufacturer": "کنتورسازی ایران",
        "manufacture_year": 2024,
    }
    response = client.post("/api/v1/meters", json=data)
    assert response.status_code == 201, response.text
    meter = response.json()
    assert meter["serial"] == "AB123456" and meter["state"] == "in_stock"
    assert meter["registers"] == ["peak", "mid", "offpeak"]
    assert client.get(f"/api/v1/meters/{meter['id']}").json() == meter
    found = client.get("/api/v1/meters", params={"serial": "ab123456"}).json()
    assert [m["id"] for m in found["items"]] == [meter["id"]]
    again = assert_problem(client.post("/api/v1/meters", json=data), 422, "validation_error")
    assert "serial" in field_errors(again)
    assert count(world, Meter) == 1
    assert_problem(client.get("/api/v1/meters/424242"), 404, "not_found")


# ---------------------------------------------------------------------------------------- work orders


def test_work_order_life_through_the_api(api: Client, world: World) -> None:
    admin, contra = api("admin"), api("contra")
    response = admin.post(
        "/api/v1/work-orders",
        json={
            "type_code": "inspection",
            "subscription_id": world.subscription_ids[0],
            "description": "بازدید پیش از نصب",
        },
    )
    assert response.status_code == 201, response.text
    wo = response.json()
    assert wo["state"] == "created" and wo["district_id"] == world.district_ids["11"]
    assert wo["number"].startswith("WO-") and "assign" in wo["allowed_verbs"]
    url = f"/api/v1/work-orders/{wo['id']}"

    assigned = admin.post(f"{url}/transitions", json={"verb": "assign", "contractor_id": world.contractor_ids["a"]})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["contractor_id"] == world.contractor_ids["a"]
    assert contra.get(url).json()["allowed_verbs"] == ["start"]
    assert contra.post(f"{url}/transitions", json={"verb": "start"}).json()["state"] == "in_progress"
    missing = assert_problem(
        contra.post(f"{url}/transitions", json={"verb": "complete", "result": {}}), 422, "validation_error"
    )
    assert "findings" in field_errors(missing)
    done = contra.post(
        f"{url}/transitions",
        json={
            "verb": "complete",
            "result": {"feasible": True, "findings": "امکان نصب هست"},
        },
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "done"
    assert done.json()["result"] == {"feasible": True, "findings": "امکان نصب هست"}
    body = assert_problem(contra.post(f"{url}/transitions", json={"verb": "start"}), 409, "invalid_transition")
    assert "انجام شده" in body["message_fa"]
    assert_problem(admin.post(f"{url}/transitions", json={"verb": "fly"}), 422, "validation_error")
    assert_problem(
        admin.post("/api/v1/work-orders/999999/transitions", json={"verb": "cancel", "reason": "x"}), 404, "not_found"
    )

    listed = admin.get("/api/v1/work-orders", params={"state": "done"}).json()
    assert [w["id"] for w in listed["items"]] == [wo["id"]]


def test_work_order_input_is_checked(api: Client, world: World) -> None:
    admin = api("admin")
    assert "type_code" in field_errors(
        assert_problem(
            admin.post("/api/v1/work-orders", json={"type_code": "teleport", "district_id": world.district_ids["11"]}),
            422,
            "validation_error",
        )
    )
    assert "district_id" in field_errors(
        assert_problem(admin.post("/api/v1/work-orders", json={"type_code": "inspection"}), 422, "validation_error")
    )
    assert "district_id" in field_errors(
        assert_problem(
            admin.post("/api/v1/work-orders", json={"type_code": "inspection", "district_id": 999999}),
            422,
            "validation_error",
        )
    )
    assert "subscription_id" in field_errors(
        assert_problem(
            admin.post("/api/v1/work-orders", json={"type_code": "inspection", "subscription_id": 999999}),
            422,
            "validation_error",
        )
    )
    assert "district_id" in field_errors(
        assert_problem(
            admin.post(
                "/api/v1/work-orders",
                json={
                    "type_code": "inspection",
                    "district_id": world.district_ids["12"],
                    "subscription_id": world.subscription_ids[0],
                },
            ),
            422,
            "validation_error",
        )
    )
    assert count(world, WorkOrder) == 0


def test_contractor_key_sees_only_its_contractors_orders(api: Client, world: World) -> None:
    order_a = make_order(world, contractor="a")
    order_b = make_order(world, contractor="b")
    contra, contrb = api("contra"), api("contrb")

    assert contra.get(f"/api/v1/work-orders/{order_a}").status_code == 200
    assert_problem(contrb.get(f"/api/v1/work-orders/{order_a}"), 404, "not_found")
    listed = contrb.get("/api/v1/work-orders").json()
    assert [w["id"] for w in listed["items"]] == [order_b] and listed["total"] == 1
    assert order_a not in {
        w["id"]
        for w in contrb.get("/api/v1/work-orders", params={"contractor_id": world.contractor_ids["a"]}).json()["items"]
    }
    assert_problem(contrb.post(f"/api/v1/work-orders/{order_a}/transitions", json={"verb": "start"}), 404, "not_found")
    with world.session() as s:
        assert s.get_one(WorkOrder, order_a).state == "assigned"
    assert contra.post(f"/api/v1/work-orders/{order_a}/transitions", json={"verb": "start"}).status_code == 200


def test_district_keys_see_only_their_district(api: Client, world: World) -> None:
    clerk11, manager12 = api("clerk11"), api("manager12")
    d11, d12 = world.district_ids["11"], world.district_ids["12"]
    customers = clerk11.get("/api/v1/customers").json()
    assert customers["total"] == 2 and {c["district_id"] for c in customers["items"]} == {d11}
    in_12 = world.customer_ids[1]
    assert_problem(clerk11.get(f"/api/v1/customers/{in_12}"), 404, "not_found")
    assert_problem(clerk11.put(f"/api/v1/customers/{in_12}", json=person()), 404, "not_found")
    assert manager12.get(f"/api/v1/customers/{in_12}").status_code == 200

    subs = clerk11.get("/api/v1/subscriptions").json()
    assert {s["district_id"] for s in subs["items"]} == {d11} and subs["total"] == 2
    assert_problem(clerk11.get(f"/api/v1/subscriptions/{world.subscription_ids[1]}"), 404, "not_found")

    order12 = make_order(world, district="12")
    order11 = make_order(world, district="11")
    assert [w["id"] for w in clerk11.get("/api/v1/work-orders").json()["items"]] == [order11]
    assert_problem(clerk11.get(f"/api/v1/work-orders/{order12}"), 404, "not_found")
    assert_problem(
        clerk11.post("/api/v1/work-orders", json={"type_code": "inspection", "district_id": d12}),
        403,
        "permission_denied",
    )

    # A district user's new customer goes to its own district whatever it asks for.
    created = clerk11.post("/api/v1/customers", json=person(district_id=d12))
    assert created.status_code == 201, created.text
    assert created.json()["district_id"] == d11


# -------------------------------------------------------------------------------------------- listing


def test_lists_are_paged_with_total(api: Client, world: World) -> None:
    client = api("admin")
    first = client.get("/api/v1/customers", params={"size": 2}).json()
    second = client.get("/api/v1/customers", params={"size": 2, "page": 2}).json()
    assert (first["total"], second["total"]) == (3, 3)
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert {c["id"] for c in first["items"] + second["items"]} == set(world.customer_ids)
    assert client.get("/api/v1/customers", params={"page": 9}).json()["items"] == []
    assert "size" in field_errors(
        assert_problem(client.get("/api/v1/customers", params={"size": 201}), 422, "validation_error")
    )
    assert "page" in field_errors(
        assert_problem(client.get("/api/v1/customers", params={"page": 0}), 422, "validation_error")
    )


# -------------------------------------------------------------------------------------------- OpenAPI

EXPECTED = {
    ("/api/v1/customers", "get"),
    ("/api/v1/customers", "post"),
    ("/api/v1/customers/{customer_id}", "get"),
    ("/api/v1/customers/{customer_id}", "put"),
    ("/api/v1/premises", "post"),
    ("/api/v1/premises/{premises_id}", "get"),
    ("/api/v1/premises/{premises_id}", "put"),
    ("/api/v1/subscriptions", "get"),
    ("/api/v1/subscriptions", "post"),
    ("/api/v1/subscriptions/{subscription_id}", "get"),
    ("/api/v1/subscriptions/{subscription_id}", "put"),
    ("/api/v1/meters", "get"),
    ("/api/v1/meters", "post"),
    ("/api/v1/meters/{meter_id}", "get"),
    ("/api/v1/work-orders", "get"),
    ("/api/v1/work-orders", "post"),
    ("/api/v1/work-orders/{work_order_id}", "get"),
    ("/api/v1/work-orders/{work_order_id}/transitions", "post"),
}


def test_openapi_lists_every_route_with_schemas_and_the_key_scheme(app: FastAPI) -> None:
    response = TestClient(app).get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    operations = {(path, method): op for path, item in doc["paths"].items() for method, op in item.items()}
    assert set(operations) >= EXPECTED
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["BearerApiKey"]["scheme"] == "bearer"
    names = set(doc["components"]["schemas"])
    for path, method in EXPECTED:
        op = operations[(path, method)]
        assert {"ApiKey": []} in op["security"] and {"BearerApiKey": []} in op["security"], (path, method)
        ok = next(code for code in op["responses"] if code.startswith("2"))
        assert op["responses"][ok]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1] in names
        for code in ("401", "403", "422"):
            problem = op["responses"][code]["content"][PROBLEM]["schema"]
            assert "code" in problem["required"] and "errors" in problem["properties"]
        if method in ("post", "put"):
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in names
        if "{" in path:
            assert PROBLEM in op["responses"]["404"]["content"]
    assert "409" in operations[("/api/v1/work-orders/{work_order_id}/transitions", "post")]["responses"]
    assert doc["components"]["schemas"]["CustomerIn"]["examples"][0]["kind"] == "person"


def test_schema_choices_match_the_services() -> None:
    assert set(typing.get_args(schemas.CustomerKind)) == set(CUSTOMER_KINDS)
    assert set(typing.get_args(schemas.OrgCategory)) == set(ORG_CATEGORIES)
    assert set(typing.get_args(schemas.Zone)) == set(ZONE_CODES)
    assert set(typing.get_args(schemas.SupplyState)) == set(SUPPLY_STATES)
    assert set(typing.get_args(schemas.MeterKind)) == set(METER_KINDS)
    assert set(typing.get_args(schemas.AccuracyClass)) == set(ACCURACY_CLASSES)
    assert set(typing.get_args(schemas.Verb)) == set(TRANSITIONS)


# ----------------------------------------------------------------------------------------- transaction


def test_commit_happens_before_the_response(app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed commit must reach the client as a 500, never as a 201 for a customer that was not saved."""
    client = TestClient(app, headers={"X-API-Key": make_key(world, "admin")}, raise_server_exceptions=False)

    def failing_commit(self: Session) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(Session, "commit", failing_commit)
    response = client.post("/api/v1/customers", json=person())
    monkeypatch.undo()
    assert response.status_code == 500
    assert count(world, Customer) == len(world.customer_ids)
