"""Reading routes and orders through the test client: the route list (filters, Excel), a route's page with
its edit and move forms, the order download page, the printable route sheet, the API and the command."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from barq.audit import AuditEntry
from barq.auth.models import User
from barq.auth.service import create_api_key, create_user
from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.network.models import Route
from barq.settings import get_settings
from tests.factories import PASSWORD, build_world
from tests.reading_factories import LAST_VALUE, Reading, build_reading
from tests.web.helpers import csrf, make_app_client, signed_in

PROBLEM = "application/problem+json"
LOW, HIGH = LAST_VALUE + 138, LAST_VALUE + 1650  # cycle 1405/09, see tests/integration/test_reading_orders.py


@pytest.fixture
def rd(engine: Engine, clock: FixedClock) -> Reading:
    out = build_reading(build_world(engine, clock, customers=6))
    with out.world.session() as s:
        user = create_user(
            s,
            username="manager11",
            full_name="مدیر امور خرم‌آباد",
            password=PASSWORD,
            roles=["district_manager"],
            clock=clock,
            actor="test",
            district_id=out.world.district_ids["11"],
        )
        out.world.users["manager11"] = user.id
        s.commit()
    return out


def _error_beside(html: str, name: str) -> str:
    match = re.search(rf'<small class="field-error" id="e-{name}" role="alert">([^<]+)</small>', html)
    assert match, f"no error beside {name}"
    return match.group(1)


# ------------------------------------------------------------------------------------------ list


def test_the_route_list_is_persian_and_scoped(rd: Reading) -> None:
    page = signed_in(rd.world, "admin").get("/reading/routes")
    assert page.status_code == 200
    assert '<html lang="fa" dir="rtl">' in page.text
    for code in ("R۱۱A", "R۱۱B", "R۱۲"):
        assert code in page.text
    assert "مامور reader_a" in page.text and "پیمانکار پ" in page.text
    assert "۱ تا ۲۵" in page.text and "ماهانه (۳۰ روزه)" in page.text
    mine = signed_in(rd.world, "clerk11").get("/reading/routes")
    assert "R۱۱A" in mine.text and "R۱۲" not in mine.text
    filtered = signed_in(rd.world, "admin").get(
        f"/reading/routes?district_id={rd.world.district_ids['12']}&cycle_days=30"
    )
    assert "R۱۲" in filtered.text and "R۱۱A" not in filtered.text


def test_the_route_list_goes_to_excel(rd: Reading) -> None:
    response = signed_in(rd.world, "admin").get("/reading/routes?format=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("امور", "کد مسیر", "نام")
    assert [(r[1], r[8]) for r in rows[1:]] == [("R11A", 2), ("R11B", 1), ("R12", 3)]


def test_pages_need_reading_view_and_keep_the_scope(rd: Reading) -> None:
    client = signed_in(rd.world, "field")
    assert client.get("/reading/routes").status_code == 403
    assert client.get(f"/reading/routes/{rd.route_ids['R11A']}").status_code == 403
    assert client.get("/reading/orders").status_code == 403
    assert signed_in(rd.world, "manager12").get(f"/reading/routes/{rd.route_ids['R11A']}").status_code == 404
    reader = signed_in(rd.world, "reader_a")
    mine = reader.get("/reading/routes")
    assert "R۱۱A" in mine.text and "R۱۱B" not in mine.text and "R۱۲" not in mine.text
    page = reader.get(f"/reading/routes/{rd.route_ids['R11A']}")
    assert page.status_code == 200 and "ویرایش مسیر" not in page.text
    assert reader.get(f"/reading/routes/{rd.route_ids['R11B']}").status_code == 404
    elsewhere = rd.subs_on("R12")[0]
    assert reader.get(f"/reading/routes/{rd.route_ids['R11A']}?sub={elsewhere}").status_code == 404
    assert reader.get(f"/reading/routes/{rd.route_ids['R11A']}?sub={rd.subs_on('R11A')[0]}").status_code == 200


# ------------------------------------------------------------------------------------------ one route


def test_the_route_page_shows_the_route_and_its_subscriptions(rd: Reading) -> None:
    page = signed_in(rd.world, "admin").get(f"/reading/routes/{rd.route_ids['R11A']}")
    assert page.status_code == 200
    assert "مسیر قرائت" in page.text and "قرائت در آذر ۱۴۰۵" in page.text
    assert "۱۴۰۵/۰۹/۰۱ تا ۱۴۰۵/۰۹/۲۵" in page.text
    numbers = [rd.numbers[i] for i in rd.subs_on("R11A")]
    text = page.text
    assert text.index(numbers[0].translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))) < text.index(
        numbers[1].translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    )
    assert 'action="/reading/routes/' in text and "جابه‌جایی اشتراک" in text
    assert "ویرایش مسیر" in text
    viewer = signed_in(rd.world, "contra").get(f"/reading/routes/{rd.route_ids['R11A']}")
    assert viewer.status_code == 200 and "ویرایش مسیر" not in viewer.text and "جابه‌جایی اشتراک" not in viewer.text


def test_editing_a_route_from_its_page(rd: Reading) -> None:
    client = signed_in(rd.world, "manager11")
    url = f"/reading/routes/{rd.route_ids['R11A']}"
    form = {
        "csrf_token": csrf(client, url),
        "contractor_id": str(rd.world.contractor_ids["b"]),
        "reader_id": str(rd.world.users["reader_b"]),
        "cycle_days": "60",
        "window_start": "۳",
        "window_end": "۲۰",
    }
    response = client.post(url, data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"{url}?saved=1"
    page = client.get(response.headers["location"])
    assert "تغییرات مسیر ذخیره شد" in page.text and "دوماهه (۶۰ روزه)" in page.text
    assert "روز ۳ تا ۲۰ هر ماه" in page.text
    assert "تاریخچهٔ تغییرات مسیر" in page.text  # a district manager may see the audit trail


def test_a_reader_of_another_contractor_is_refused_beside_the_field(rd: Reading) -> None:
    client = signed_in(rd.world, "admin")
    url = f"/reading/routes/{rd.route_ids['R11A']}"
    form = {
        "csrf_token": csrf(client, url),
        "contractor_id": str(rd.world.contractor_ids["a"]),
        "reader_id": str(rd.world.users["reader_b"]),
        "cycle_days": "30",
        "window_start": "1",
        "window_end": "25",
    }
    response = client.post(url, data=form)
    assert response.status_code == 422
    assert _error_beside(response.text, "reader_id").startswith("مامور «مامور reader_b» از پیمانکار «پیمانکار ب» است")
    form["reader_id"], form["window_end"] = str(rd.world.users["reader_a"]), "0"
    response = client.post(url, data=form)
    assert response.status_code == 422
    assert _error_beside(response.text, "window_end") == "«روز پایان قرائت» نباید کمتر از 1 باشد"
    with rd.world.session() as s:
        assert s.get_one(Route, rd.route_ids["R11A"]).reader_id == rd.world.users["reader_a"]
    assert client.post(url, data={**form, "csrf_token": "wrong"}).status_code == 403
    contra = signed_in(rd.world, "contra")
    assert contra.post(url, data={**form, "csrf_token": csrf(contra, url)}).status_code == 403


def test_moving_a_subscription_from_the_route_page(rd: Reading) -> None:
    client = signed_in(rd.world, "manager11")
    url = f"/reading/routes/{rd.route_ids['R11B']}"
    sub_id = rd.subs_on("R11A")[0]
    number = rd.numbers[sub_id].translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    form = {
        "csrf_token": csrf(client, url),
        "subscription": number,
        "route_id": str(rd.route_ids["R11B"]),
        "sequence": "5",
    }
    response = client.post(f"{url}/move", data=form, follow_redirects=False)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert "اشتراک جابه‌جا شد" in page.text and "سابقهٔ مسیرهای اشتراک" in page.text
    assert rd.subs_on("R11B")[0] == sub_id
    with rd.world.session() as s:
        assert (
            s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "subscription.route_move"))
            == 1
        )


def test_a_bad_move_is_shown_in_persian(rd: Reading) -> None:
    client = signed_in(rd.world, "admin")
    url = f"/reading/routes/{rd.route_ids['R11A']}"
    sub_id = rd.subs_on("R11A")[0]
    form = {
        "csrf_token": csrf(client, url),
        "subscription": rd.numbers[sub_id],
        "route_id": str(rd.route_ids["R12"]),
        "sequence": "5",
    }
    response = client.post(f"{url}/move", data=form)
    assert response.status_code == 422
    assert _error_beside(response.text, "route_id").startswith("مسیر «R12» از امور دیگری است")
    response = client.post(f"{url}/move", data={**form, "subscription": "99999", "route_id": str(rd.route_ids["R11B"])})
    assert response.status_code == 422
    assert _error_beside(response.text, "subscription") == "اشتراک «۹۹۹۹۹» در امور شما پیدا نشد"
    with rd.world.session() as s:
        assert s.get_one(Subscription, sub_id).route_id == rd.route_ids["R11A"]


# ------------------------------------------------------------------------------------------ sheet


def test_the_route_sheet_is_printable_persian(rd: Reading) -> None:
    client = signed_in(rd.world, "admin")
    sheet = client.get(f"/reading/routes/{rd.route_ids['R11A']}/sheet?cycle=1405/09")
    assert sheet.status_code == 200
    text = sheet.text
    assert '<html lang="fa" dir="rtl">' in text and "size: A4" in text
    assert "برگهٔ قرائت کنتور" in text and "آذر ۱۴۰۵" in text
    assert "۱۴۰۵/۰۹/۰۱" in text and "۱۴۰۵/۰۹/۲۵" in text and "۱۴۰۵/۰۷/۳۰" in text
    assert f"{LOW}".translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")) in text
    assert f"{HIGH}".translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")) in text
    for title in ("قرائت شد", "در بسته", "کنتور مفقود", "خطر جانی"):
        assert title in text
    assert "علی‌الحساب" not in text and "خوداظهاری" not in text  # the system's and the customer's codes
    assert text.count('<td class="blank">') == 2
    assert (
        re.search(
            r"[0-9]{4}", re.sub(r'<span class="serial">[^<]*</span>|<style>.*?</style>|"[^"]*"', "", text, flags=re.S)
        )
        is None
    )


def test_a_bad_cycle_on_the_sheet_is_a_persian_message(rd: Reading) -> None:
    client = signed_in(rd.world, "admin")
    response = client.get(f"/reading/routes/{rd.route_ids['R11A']}/sheet?cycle=1405/13")
    assert response.status_code == 422
    assert "ماه دوره باید بین ۱ و ۱۲ باشد، نه ۱۳" in response.text


# ------------------------------------------------------------------------------------------ orders page


def test_the_orders_page_previews_and_downloads(rd: Reading) -> None:
    client = signed_in(rd.world, "admin")
    page = client.get("/reading/orders")
    assert page.status_code == 200 and 'value="1405/09"' in page.text
    preview = client.get("/reading/orders?cycle=۱۴۰۵/۰۹&district=11&route=&format=csv&action=preview")
    assert preview.status_code == 200
    assert "دستور قرائت آذر ۱۴۰۵: ۲ مسیر، حدود ۳ اشتراک" in preview.text
    download = client.get("/reading/orders?cycle=1405/09&district=11&route=R11A&format=csv&action=download")
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="reading-orders-140509-11-R11A.csv"' in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text, newline="")))
    assert [(r["route"], r["low"], r["high"]) for r in rows] == [("R11A", str(LOW), str(HIGH))] * 2
    as_json = client.get("/reading/orders?cycle=1405/09&format=json&action=download").json()
    assert as_json["count"] == 6


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("cycle=1405/13", "cycle", "ماه دوره باید بین ۱ و ۱۲ باشد، نه ۱۳"),
        ("cycle=", "cycle", "دوره را وارد کنید، مانند ۱۴۰۵/۰۹"),
        ("cycle=1405/09&district=11&route=R12", "route", "مسیر «R12» از امور «۱۱» نیست"),
        ("cycle=1405/09&format=xml", "format", "قالب پرونده باید csv یا json باشد"),
    ],
)
def test_a_bad_order_request_is_shown_in_persian(rd: Reading, query: str, field: str, message: str) -> None:
    response = signed_in(rd.world, "admin").get(f"/reading/orders?{query}&action=download")
    assert response.status_code == 422
    assert message in response.text
    if field != "format":
        assert _error_beside(response.text, field) == message


def test_a_district_user_orders_only_its_district(rd: Reading) -> None:
    client = signed_in(rd.world, "clerk11")
    response = client.get("/reading/orders?cycle=1405/09&district=12&format=csv&action=download")
    assert response.status_code == 200  # the district is the user's own, whatever was asked
    assert {r["district"] for r in csv.DictReader(io.StringIO(response.text, newline=""))} == {"11"}
    refused = client.get("/reading/orders?cycle=1405/09&route=R12&action=download")
    assert refused.status_code == 422 and "مسیر «R12» از امور «۱۱» نیست" in refused.text


# ------------------------------------------------------------------------------------------ API


def _key(rd: Reading, username: str) -> dict[str, str]:
    with rd.world.session() as s:
        key = create_api_key(
            s, name="handhelds", user=s.get_one(User, rd.world.users[username]), clock=rd.world.clock, actor="test"
        )
        s.commit()
    return {"X-API-Key": key}


def _api(rd: Reading) -> TestClient:
    return make_app_client(rd.world)


def test_the_api_gives_json_and_csv(rd: Reading) -> None:
    client, key = _api(rd), _key(rd, "admin")
    response = client.get("/api/v1/reading-orders?cycle=140509", headers=key)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    doc = response.json()
    assert (doc["cycle"], doc["count"]) == (140509, 6)
    assert doc["orders"][0]["low"] == LOW and doc["orders"][0]["last_read_on"] == "2026-10-22"
    response = client.get("/api/v1/reading-orders?cycle=1405/09&district=12&format=csv", headers=key)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert [r["route"] for r in csv.DictReader(io.StringIO(response.text, newline=""))] == ["R12"] * 3
    reader = client.get("/api/v1/reading-orders?cycle=1405/09", headers=_key(rd, "reader_b")).json()
    assert [o["route"] for o in reader["orders"]] == ["R11B"]


@pytest.mark.parametrize(
    ("username", "query", "field", "message"),
    [
        ("admin", "cycle=1405-13", "cycle", "ماه دوره باید بین ۱ و ۱۲ باشد، نه ۱۳"),
        ("admin", "cycle=abc", "cycle", "دوره باید سال و ماه شمسی باشد، مانند ۱۴۰۵/۰۹"),
        ("admin", "cycle=140509&route=R12&district=11", "route", "مسیر «R12» از امور «۱۱» نیست"),
        ("clerk11", "cycle=140509&district=12", "district", "امور «بروجرد» در حوزهٔ دسترسی شما نیست"),
        ("admin", "cycle=140509&format=xml", "format", "قالب پرونده باید csv یا json باشد"),
    ],
)
def test_bad_api_requests_are_422_problems(rd: Reading, username: str, query: str, field: str, message: str) -> None:
    response = _api(rd).get(f"/api/v1/reading-orders?{query}", headers=_key(rd, username))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"] == [{"field": field, "message_fa": message}]


def test_the_api_needs_a_key_and_a_permission(rd: Reading) -> None:
    client = _api(rd)
    missing = client.get("/api/v1/reading-orders?cycle=140509")
    assert missing.status_code == 401 and missing.headers["content-type"] == PROBLEM
    no_cycle = client.get("/api/v1/reading-orders", headers=_key(rd, "admin"))
    assert no_cycle.status_code == 422 and no_cycle.json()["errors"][0]["field"] == "cycle"
    denied = client.get("/api/v1/reading-orders?cycle=140509", headers=_key(rd, "field"))
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"


# ------------------------------------------------------------------------------------------ command


def test_the_command_writes_the_file(rd: Reading, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from barq.cli.main import app

    monkeypatch.setenv("BARQ_DATABASE_URL", rd.world.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = tmp_path / "orders.json"
        done = runner.invoke(app, ["reading-orders", "--cycle", "1405/09", "--format", "json", "--out", str(out)])
        assert done.exit_code == 0, done.output
        assert "cycle 140509: 6 orders on 3 routes" in done.output
        assert json.loads(out.read_text(encoding="utf-8"))["count"] == 6
        csv_out = tmp_path / "r12.csv"
        done = runner.invoke(
            app,
            [
                "reading-orders",
                "--cycle",
                "140509",
                "--district",
                "12",
                "--route",
                "R12",
                "--out",
                str(csv_out),
                "--workers",
                "1",
            ],
        )
        assert done.exit_code == 0, done.output
        assert len(csv_out.read_text(encoding="utf-8").splitlines()) == 4
        bad = runner.invoke(app, ["reading-orders", "--cycle", "1405/13", "--out", str(tmp_path / "x.csv")])
        assert bad.exit_code == 1 and "month 13 not in 1..12" in bad.output
        assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.csv.part").exists()
    finally:
        get_settings.cache_clear()
