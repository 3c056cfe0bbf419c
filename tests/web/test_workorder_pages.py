"""Work-order pages through the test client: the life of an order, refusals, scopes, due dates, CSRF."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from barq.audit import AuditEntry
from barq.calendar import fa_digits as fa
from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.settings import Settings
from barq.web.app import create_app
from barq.workorders.models import WorkOrder
from barq.workorders.service import create_work_order, transition
from tests.factories import PASSWORD, World
from tests.web.helpers import csrf, login

Client = Callable[[str], TestClient]


@pytest.fixture
def app(world: World) -> FastAPI:
    return create_app(Settings(database_url="sqlite://"), engine=world.engine, clock=world.clock)


@pytest.fixture
def client(app: FastAPI) -> Client:
    """A signed-in test client per user name."""

    def make(username: str) -> TestClient:
        c = TestClient(app)
        login(c, username, PASSWORD)
        return c

    return make


def make_order(
    world: World,
    *,
    type_code: str = "inspection",
    district: str = "11",
    contractor: str | None = None,
    subscription: int | None = 0,
) -> tuple[int, str]:
    """A work order made through the service as admin, optionally assigned to contractor a/b/c."""
    admin = world.principal("admin")
    with world.session() as s:
        wo = create_work_order(
            s,
            principal=admin,
            clock=world.clock,
            type_code=type_code,
            district_id=world.district_ids[district],
            subscription_id=world.subscription_ids[subscription] if subscription is not None else None,
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
        return wo.id, wo.number


def state_of(world: World, wo_id: int) -> WorkOrder:
    with world.session() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None
        s.expunge(wo)
        return wo


def audit_rows(world: World, wo_id: int) -> list[AuditEntry]:
    with world.session() as s:
        rows = list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject_type == "work_order", AuditEntry.subject_id == wo_id)
                .order_by(AuditEntry.id)
            )
        )
        s.expunge_all()
        return rows


def post(c: TestClient, url: str, data: dict[str, str], *, token_from: str) -> tuple[int, str, str]:
    token = csrf(c, token_from)
    r = c.post(url, data={"csrf_token": token, **data}, follow_redirects=False)
    return r.status_code, r.headers.get("location", ""), r.text


def xlsx_column(content: bytes, col: int = 0) -> list[str]:
    ws = load_workbook(io.BytesIO(content)).active
    assert ws is not None
    return [str(row[col]) for row in ws.iter_rows(min_row=2, values_only=True)]


# ------------------------------------------------------------------------------------- the life


def test_order_taken_from_created_to_done_through_the_pages(world: World, client: Client) -> None:
    head, contra = client("head"), client("contra")
    sub_id = world.subscription_ids[0]

    form = head.get(f"/work-orders/new?subscription_id={sub_id}")
    assert form.status_code == 200
    assert "بازدید محل (مهلت ۳ روز کاری)" in form.text

    with world.session() as s:
        sub_number = s.get_one(Subscription, sub_id).subscription_number
    status, location, _ = post(
        head,
        "/work-orders/new",
        {
            "type_code": "inspection",
            "district_id": "",
            "subscription_number": sub_number,
            "description": "بازدید پیش از نصب",
        },
        token_from="/work-orders/new",
    )
    assert status == 303, _
    m = re.fullmatch(r"/work-orders/(\d+)\?done=create", location)
    assert m
    wo_id = int(m.group(1))
    wo = state_of(world, wo_id)
    assert (wo.state, wo.district_id, wo.subscription_id) == ("created", world.district_ids["11"], sub_id)

    page = head.get(location)
    assert "دستورکار صادر شد" in page.text and "ایجاد شده" in page.text
    assert f'action="/work-orders/{wo_id}/assign"' in page.text
    assert f'action="/work-orders/{wo_id}/start"' not in page.text  # the head does not do field work

    detail = f"/work-orders/{wo_id}"
    status, location, _ = post(
        head, f"{detail}/assign", {"contractor_id": str(world.contractor_ids["a"])}, token_from=detail
    )
    assert (status, location) == (303, f"{detail}?done=assign")
    assert state_of(world, wo_id).contractor_id == world.contractor_ids["a"]

    page = contra.get(detail)
    assert page.status_code == 200
    assert f'action="{detail}/start"' in page.text and f'action="{detail}/cancel"' not in page.text
    status, _, _ = post(contra, f"{detail}/start", {}, token_from=detail)
    assert status == 303
    assert isinstance(world.clock, FixedClock)
    world.clock.advance(timedelta(hours=5))
    page = contra.get(detail)
    assert 'name="findings"' in page.text and 'type="checkbox" name="feasible"' in page.text
    status, _, text = post(
        contra, f"{detail}/complete", {"feasible": "1", "findings": "تیر برق سالم است"}, token_from=detail
    )
    assert status == 303, text

    wo = state_of(world, wo_id)
    assert wo.state == "done"
    assert wo.result == {"feasible": True, "findings": "تیر برق سالم است"}
    assert wo.started_at is not None and wo.finished_at is not None

    rows = audit_rows(world, wo_id)
    assert [r.action for r in rows] == [
        "work_order.create",
        "work_order.assign",
        "work_order.start",
        "work_order.complete",
    ]
    assert [r.actor for r in rows] == ["head", "head", "contra", "contra"]
    assert [(r.before or {}).get("state") for r in rows] == [None, "created", "assigned", "in_progress"]
    assert [(r.after or {}).get("state") for r in rows] == ["created", "assigned", "in_progress", "done"]
    assert rows[1].after is not None and rows[1].after["contractor_id"] == world.contractor_ids["a"]
    assert rows[3].after is not None and rows[3].after["result"]["findings"] == "تیر برق سالم است"

    page = head.get(detail)
    assert "انجام شده" in page.text and "نتیجه ثبت‌شده" in page.text and "تیر برق سالم است" in page.text
    assert "امکان‌پذیر است" in page.text and "بله" in page.text
    history = page.text.split("<h2>سابقه</h2>", 1)[1]
    rows_html = re.findall(r"<tr>(.*?)</tr>", history, flags=re.S)[1:]  # skip the header row
    cells = [re.findall(r"<td>(.*?)</td>", r, flags=re.S) for r in rows_html]
    assert [c[0] for c in cells] == ["۱۴۰۵/۰۹/۰۷ ۰۹:۳۰"] * 3 + ["۱۴۰۵/۰۹/۰۷ ۱۴:۳۰"]  # when, Jalali, Tehran time
    assert [c[1] for c in cells] == ["کاربر head", "کاربر head", "کاربر contra", "کاربر contra"]  # who
    assert [c[2] for c in cells] == ["صدور", "واگذاری", "شروع کار", "انجام شد"]
    assert [re.sub(r"<[^>]+>", "", c[3]).strip() for c in cells] == ["—", "ایجاد شده", "واگذار شده", "در حال انجام"]
    assert [re.sub(r"<[^>]+>", "", c[4]).strip() for c in cells] == [
        "ایجاد شده",
        "واگذار شده",
        "در حال انجام",
        "انجام شده",
    ]
    assert cells[1][5] == "پیمانکار: پیمانکار الف"
    assert "در این وضعیت اقدامی از شما برنمی‌آید" in page.text  # done: nothing left to do


def test_complete_from_created_is_refused_and_nothing_changes(world: World, client: Client) -> None:
    wo_id, _ = make_order(world)
    admin = client("admin")
    before = audit_rows(world, wo_id)
    status, _, text = post(
        admin, f"/work-orders/{wo_id}/complete", {"feasible": "1", "findings": "x"}, token_from=f"/work-orders/{wo_id}"
    )
    assert status == 409
    assert "«انجام شد» ممکن نیست" in text and 'class="flash err"' in text
    assert state_of(world, wo_id).state == "created"
    assert state_of(world, wo_id).result is None
    assert len(audit_rows(world, wo_id)) == len(before)


def test_unknown_verb_is_refused(world: World, client: Client) -> None:
    wo_id, _ = make_order(world)
    status, _, text = post(client("admin"), f"/work-orders/{wo_id}/approve", {}, token_from=f"/work-orders/{wo_id}")
    assert status == 409 and "تعریف نشده" in text
    assert state_of(world, wo_id).state == "created"


def test_missing_required_result_field_is_422_beside_the_field(world: World, client: Client) -> None:
    wo_id, _ = make_order(world, contractor="a")
    contra = client("contra")
    detail = f"/work-orders/{wo_id}"
    assert post(contra, f"{detail}/start", {}, token_from=detail)[0] == 303
    n_audit = len(audit_rows(world, wo_id))
    status, _, text = post(contra, f"{detail}/complete", {"feasible": "1", "findings": "  "}, token_from=detail)
    assert status == 422
    assert 'id="e-findings"' in text and "«یافته‌ها» را وارد کنید" in text
    wo = state_of(world, wo_id)
    assert (wo.state, wo.result, wo.finished_at) == ("in_progress", None, None)
    assert len(audit_rows(world, wo_id)) == n_audit


def test_typed_result_field_must_be_an_integer(world: World, client: Client) -> None:
    wo_id, _ = make_order(world, type_code="reread", contractor="a")
    contra = client("contra")
    detail = f"/work-orders/{wo_id}"
    post(contra, f"{detail}/start", {}, token_from=detail)
    status, _, text = post(contra, f"{detail}/complete", {"read": "دوازده"}, token_from=detail)
    assert status == 422 and "«رقم کنتور» باید عدد صحیح باشد" in text
    # Persian digits are accepted and stored as a number
    status, _, _ = post(contra, f"{detail}/complete", {"read": "۱۲۳۴۵"}, token_from=detail)
    assert status == 303
    assert state_of(world, wo_id).result == {"read": 12345}


def test_cancel_needs_a_reason(world: World, client: Client) -> None:
    wo_id, _ = make_order(world)
    head = client("head")
    detail = f"/work-orders/{wo_id}"
    status, _, text = post(head, f"{detail}/cancel", {"reason": ""}, token_from=detail)
    assert status == 422 and "علت را بنویسید" in text and 'id="e-reason"' in text
    assert state_of(world, wo_id).state == "created"
    status, _, _ = post(head, f"{detail}/cancel", {"reason": "درخواست مشترک"}, token_from=detail)
    assert status == 303
    wo = state_of(world, wo_id)
    assert (wo.state, wo.failure_reason) == ("cancelled", "درخواست مشترک")
    assert "علت ابطال" in head.get(detail).text


# ------------------------------------------------------------------------------------------ scopes


def test_contractor_b_sees_nothing_of_contractor_a(world: World, client: Client) -> None:
    a_id, a_number = make_order(world, contractor="a")
    _, b_number = make_order(world, contractor="b", subscription=2)
    contra, contrb = client("contra"), client("contrb")

    # the list: each sees its own only
    listing = contrb.get("/work-orders")
    assert fa(b_number) in listing.text and fa(a_number) not in listing.text
    assert 'name="contractor_id"' not in listing.text  # no contractor filter for a contractor's user
    assert fa(a_number) in contra.get("/work-orders").text
    # a filter cannot widen the scope
    assert fa(a_number) not in contrb.get(f"/work-orders?contractor_id={world.contractor_ids['a']}").text

    # the page
    assert contrb.get(f"/work-orders/{a_id}").status_code == 404
    assert contra.get(f"/work-orders/{a_id}").status_code == 200

    # transitions: not found (field work) or forbidden (assign), and nothing written
    n_audit = len(audit_rows(world, a_id))
    token = csrf(contrb, "/work-orders")
    for verb, expected in (("start", 404), ("fail", 404), ("assign", 403), ("cancel", 403)):
        r = contrb.post(
            f"/work-orders/{a_id}/{verb}",
            data={"csrf_token": token, "reason": "x", "contractor_id": str(world.contractor_ids["b"])},
            follow_redirects=False,
        )
        assert r.status_code == expected, verb
    wo = state_of(world, a_id)
    assert (wo.state, wo.contractor_id) == ("assigned", world.contractor_ids["a"])
    assert len(audit_rows(world, a_id)) == n_audit

    # search
    r = contrb.get("/search", params={"q": a_number}, follow_redirects=False)
    assert r.status_code == 200 and f"/work-orders/{a_id}" not in r.text
    r = contra.get("/search", params={"q": a_number}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/work-orders/{a_id}"
    r = contra.get("/search", params={"q": fa(a_number)}, follow_redirects=False)  # as shown on screen
    assert r.status_code == 303 and r.headers["location"] == f"/work-orders/{a_id}"

    # Excel
    r = contrb.get("/work-orders?format=xlsx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert xlsx_column(r.content) == [b_number]
    assert a_number in xlsx_column(contra.get("/work-orders?format=xlsx").content)


def test_district_12_manager_cannot_see_a_district_11_order(world: World, client: Client) -> None:
    d11_id, d11_number = make_order(world, district="11")
    d12_id, d12_number = make_order(world, district="12", subscription=1)
    manager = client("manager12")
    listing = manager.get("/work-orders")
    assert fa(d12_number) in listing.text and fa(d11_number) not in listing.text
    assert 'name="district_id"' not in listing.text  # no district filter for a district user
    assert manager.get(f"/work-orders?district_id={world.district_ids['11']}").text.count(fa(d11_number)) == 0
    assert manager.get(f"/work-orders/{d11_id}").status_code == 404
    assert manager.get(f"/work-orders/{d12_id}").status_code == 200
    assert d11_number not in xlsx_column(manager.get("/work-orders?format=xlsx").content)
    r = manager.get("/search", params={"q": d11_number}, follow_redirects=False)
    assert r.status_code == 200 and f"/work-orders/{d11_id}" not in r.text


def test_assigning_to_a_contractor_without_a_contract_is_refused(world: World, client: Client) -> None:
    wo_id, _ = make_order(world, district="11", contractor="a")
    head = client("head")
    detail = f"/work-orders/{wo_id}"
    page = head.get(detail).text
    assert "پیمانکار الف" in page and "پیمانکار ب" in page
    assert "پیمانکار پ" not in page  # contractor c holds contracts in district 12 only: not offered
    status, _, text = post(
        head,
        f"{detail}/assign",
        {"assignee_kind": "contractor", "contractor_id": str(world.contractor_ids["c"])},
        token_from=detail,
    )
    assert status == 422
    assert "قرارداد معتبر ندارد" in text and 'id="e-contractor_id"' in text
    assert state_of(world, wo_id).contractor_id == world.contractor_ids["a"]
    # reassigning to b, who holds a contract, works; and to an internal team
    assert (
        post(
            head,
            f"{detail}/assign",
            {"assignee_kind": "contractor", "contractor_id": str(world.contractor_ids["b"])},
            token_from=detail,
        )[0]
        == 303
    )
    assert state_of(world, wo_id).contractor_id == world.contractor_ids["b"]
    assert (
        post(
            head,
            f"{detail}/assign",
            {"assignee_kind": "team", "team": "گروه بازرسی", "contractor_id": str(world.contractor_ids["b"])},
            token_from=detail,
        )[0]
        == 303
    )
    wo = state_of(world, wo_id)
    assert (wo.assignee_team, wo.contractor_id) == ("گروه بازرسی", None)


def test_create_needs_the_permission_and_a_subscription_of_the_right_district(world: World, client: Client) -> None:
    assert client("contra").get("/work-orders/new").status_code == 403
    assert client("field").get("/work-orders/new").status_code == 403
    clerk11 = client("clerk11")
    form = clerk11.get("/work-orders/new")
    assert form.status_code == 200 and 'name="district_id"' not in form.text
    with world.session() as s:
        other = s.get_one(Subscription, world.subscription_ids[1]).subscription_number  # district 12
    status, _, text = post(
        clerk11,
        "/work-orders/new",
        {"type_code": "inspection", "subscription_number": other},
        token_from="/work-orders/new",
    )
    assert status == 422 and "اشتراکی با این شماره پیدا نشد" in text
    status, _, text = post(clerk11, "/work-orders/new", {"type_code": ""}, token_from="/work-orders/new")
    assert status == 422 and "نوع دستورکار را انتخاب کنید" in text
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrder)) == 0
    status, location, _ = post(
        clerk11, "/work-orders/new", {"type_code": "reconnection"}, token_from="/work-orders/new"
    )
    assert status == 303
    wo = state_of(world, int(location.split("/")[-1].split("?")[0]))
    assert wo.district_id == world.district_ids["11"] and wo.subscription_id is None


# ---------------------------------------------------------------------------------------- due dates


@pytest.mark.parametrize(
    ("moment", "number_year", "due_text"),
    [
        # Wednesday 27 Esfand 1404, 10:00 Tehran: Thu 28 counts; 29 Esfand (Friday, oil day) and Nowruz 1–4
        # (with Eid al-Fitr) do not; then Wed 5 and Thu 6 Farvardin 1405.
        (datetime(2026, 3, 18, 6, 30, tzinfo=UTC), "1404", "۱۴۰۵/۰۱/۰۶ ۲۳:۵۹"),
        # Thursday 21:00 UTC is already Friday 29 Esfand 00:30 in Tehran: Wed 5, Thu 6, Sat 8 Farvardin.
        (datetime(2026, 3, 19, 21, 0, tzinfo=UTC), "1404", "۱۴۰۵/۰۱/۰۸ ۲۳:۵۹"),
        # Friday 6 Azar 1405: Sat 7, Sun 8, Mon 9 Azar.
        (datetime(2026, 11, 27, 8, 0, tzinfo=UTC), "1405", "۱۴۰۵/۰۹/۰۹ ۲۳:۵۹"),
    ],
)
def test_three_working_day_due_date_lands_on_the_right_jalali_day(
    world: World, client: Client, moment: datetime, number_year: str, due_text: str
) -> None:
    assert isinstance(world.clock, FixedClock)
    world.clock.moment = moment
    wo_id, number = make_order(world, type_code="inspection")
    assert number.startswith(f"WO-{number_year}-")
    page = client("head").get(f"/work-orders/{wo_id}").text
    assert f"<dt>سررسید</dt><dd>{due_text}</dd>" in page
    assert "۳ روز کاری" in page


def test_overdue_orders_are_red_and_filterable(world: World, client: Client) -> None:
    assert isinstance(world.clock, FixedClock)
    late_id, late_number = make_order(world, type_code="reconnection")  # 24 hours
    world.clock.advance(timedelta(hours=30))
    fresh_id, fresh_number = make_order(world, type_code="inspection", subscription=2)
    head = client("head")
    listing = head.get("/work-orders").text
    assert fa(late_number) in listing and fa(fresh_number) in listing
    assert listing.count("badge overdue") == 1
    overdue = head.get("/work-orders?overdue=1").text
    assert fa(late_number) in overdue and fa(fresh_number) not in overdue
    assert "مهلت گذشته است" in head.get(f"/work-orders/{late_id}").text
    assert "مهلت گذشته است" not in head.get(f"/work-orders/{fresh_id}").text
    assert xlsx_column(head.get("/work-orders?overdue=1&format=xlsx").content) == [late_number]


def test_list_filters_by_state_type_and_contractor(world: World, client: Client) -> None:
    _, a_number = make_order(world, contractor="a")
    _, b_number = make_order(world, type_code="reread", contractor="b", subscription=2)
    _, new_number = make_order(world, district="12", subscription=1)
    head = client("head")
    assert head.get("/work-orders?state=created").text.count("WO-") == 1
    page = head.get("/work-orders?type_code=reread").text
    assert fa(b_number) in page and fa(a_number) not in page and fa(new_number) not in page
    page = head.get(f"/work-orders?contractor_id={world.contractor_ids['a']}").text
    assert fa(a_number) in page and fa(b_number) not in page
    page = head.get(f"/work-orders?district_id={world.district_ids['12']}").text
    assert fa(new_number) in page and fa(a_number) not in page


# ---------------------------------------------------------------------------------------------- CSRF


def test_posts_without_the_csrf_token_are_refused_and_write_nothing(world: World, client: Client) -> None:
    wo_id, _ = make_order(world)
    head = client("head")
    n_audit = len(audit_rows(world, wo_id))
    r = head.post(f"/work-orders/{wo_id}/cancel", data={"reason": "x"}, follow_redirects=False)
    assert r.status_code == 403
    r = head.post(f"/work-orders/{wo_id}/cancel", data={"reason": "x", "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert state_of(world, wo_id).state == "created"
    assert len(audit_rows(world, wo_id)) == n_audit
    r = head.post(
        "/work-orders/new",
        data={"type_code": "inspection", "district_id": str(world.district_ids["11"])},
        follow_redirects=False,
    )
    assert r.status_code == 403
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrder)) == 1


def test_signed_out_visitor_is_sent_to_sign_in(app: FastAPI) -> None:
    r = TestClient(app).get("/work-orders", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
