"""Meter pages through the test client: list with filters and Excel, the meter page, register and edit."""

from __future__ import annotations

import io
import re
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, select

from barq.audit import AuditEntry, history
from barq.metering.models import Meter
from barq.metering.service import create_meter, install_meter
from tests.factories import World
from tests.web.helpers import csrf, signed_in

STOCK = (
    # serial, kind, phase, accuracy class, year
    ("KH1001", "single", "1", "2", "2019"),
    ("KH1002", "single", "1", "1", "2022"),
    ("KH2001", "tou", "3", "1", "2023"),
    ("KH3001", "demand", "3", "0.5S", "2024"),
)


def _stock(world: World) -> dict[str, int]:
    ids = {}
    with world.session() as s:
        admin = world.principal("admin")
        for serial, kind, phase, cls, year in STOCK:
            meter = create_meter(
                s,
                principal=admin,
                clock=world.clock,
                data={
                    "serial": serial,
                    "kind": kind,
                    "digits": "6",
                    "multiplier": "1",
                    "phase": phase,
                    "accuracy_class": cls,
                    "manufacturer": "پارس سوئیچ",
                    "manufacture_year": year,
                },
            )
            ids[serial] = meter.id
        s.commit()
    return ids


def _install(world: World, serial: str, sub_id: int) -> None:
    with world.session() as s:
        install_meter(
            s,
            principal=world.principal("admin"),
            clock=world.clock,
            subscription_id=sub_id,
            data={"serial": serial, "installed_on": "1405/02/01", "initial_read": "10"},
        )
        s.commit()


def _serials(content: bytes) -> list[str]:
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("سریال", "نوع")
    return [str(r[0]) for r in rows[1:]]


def _field_error(html: str, name: str) -> str:
    match = re.search(rf'<small class="field-error" id="e-{name}" role="alert">([^<]+)</small>', html)
    assert match, f"no error beside {name}"
    return match.group(1)


def _count(world: World, model: Any) -> int:
    with world.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_pages_render_for_admin(world: World) -> None:
    ids = _stock(world)
    client = signed_in(world, "admin")
    listing = client.get("/meters")
    assert listing.status_code == 200
    assert all(serial in listing.text for serial, *_ in STOCK)
    assert "خروجی اکسل" in listing.text
    page = client.get(f"/meters/{ids['KH2001']}")
    assert page.status_code == 200
    assert "چندتعرفه (زمان‌دار)" in page.text and "این کنتور هنوز روی اشتراکی نصب نشده است" in page.text
    assert "ثبت کنتور" in page.text  # the audit trail, for an audit viewer
    assert client.get("/meters/new").status_code == 200
    assert client.get(f"/meters/{ids['KH2001']}/edit").status_code == 200
    assert client.get("/meters/999999").status_code == 404


def test_filters_and_excel_export(world: World) -> None:
    _stock(world)
    client = signed_in(world, "admin")
    assert _serials(client.get("/meters?format=xlsx").content) == ["KH1001", "KH1002", "KH2001", "KH3001"]
    assert _serials(client.get("/meters?format=xlsx&kind=single").content) == ["KH1001", "KH1002"]
    assert _serials(client.get("/meters?format=xlsx&accuracy_class=1").content) == ["KH1002", "KH2001"]
    assert _serials(client.get("/meters?format=xlsx&year_from=2022&year_to=2023").content) == ["KH1002", "KH2001"]
    assert _serials(client.get("/meters?format=xlsx&phase=3&serial=kh3").content) == ["KH3001"]
    _install(world, "KH1001", world.subscription_ids[0])
    assert _serials(client.get("/meters?format=xlsx&state=in_stock").content) == ["KH1002", "KH2001", "KH3001"]
    assert _serials(client.get("/meters?format=xlsx&state=installed").content) == ["KH1001"]
    page = client.get("/meters?kind=tou").text
    assert "KH2001" in page and "KH1001" not in page
    assert "kind=tou" in page.split('class="export"', 1)[1].split(">", 1)[0]


def test_register_a_meter_and_refuse_a_duplicate_serial(world: World) -> None:
    _stock(world)
    client = signed_in(world, "clerk")
    form = {
        "serial": "kh 9001",
        "kind": "single",
        "phase": "1",
        "digits": "6",
        "multiplier": "1",
        "accuracy_class": "2",
        "manufacturer": "",
        "manufacture_year": "۲۰۲۵",
    }
    created = client.post(
        "/meters/new", data={**form, "csrf_token": csrf(client, "/meters/new")}, follow_redirects=False
    )
    assert created.status_code == 303, created.text
    page = client.get(created.headers["location"]).text
    assert "KH9001" in page and "در انبار" in page and "ذخیره شد" in page
    before = _count(world, Meter)
    duplicate = client.post(
        "/meters/new", data={**form, "serial": "KH1001", "digits": "12", "csrf_token": csrf(client, "/meters/new")}
    )
    assert duplicate.status_code == 422
    assert _field_error(duplicate.text, "serial") == "کنتوری با این سریال پیش‌تر ثبت شده است"
    assert _field_error(duplicate.text, "digits") == "«تعداد ارقام» نباید بیشتر از 9 باشد"
    assert _count(world, Meter) == before


def test_edit_is_audited(world: World) -> None:
    ids = _stock(world)
    meter_id = ids["KH1002"]
    client = signed_in(world, "head")
    url = f"/meters/{meter_id}/edit"
    response = client.post(
        url,
        data={
            "csrf_token": csrf(client, url),
            "serial": "KH1002",
            "kind": "single",
            "phase": "1",
            "digits": "7",
            "multiplier": "1",
            "accuracy_class": "1",
            "manufacturer": "امرتات",
            "manufacture_year": "2022",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    with world.session() as s:
        meter = s.get(Meter, meter_id)
        assert meter is not None and meter.digits == 7 and meter.manufacturer == "امرتات"
        entry = next(e for e in history(s, "meter", meter_id) if e.action == "meter.update")
        assert entry.actor == "head" and entry.before and entry.after
        assert (entry.before["digits"], entry.after["digits"]) == (6, 7)
    page = client.get(f"/meters/{meter_id}").text
    assert "ویرایش کنتور" in page and "<del>۶</del>" in page and "<ins>۷</ins>" in page


def test_edit_with_an_error_changes_nothing(world: World) -> None:
    ids = _stock(world)
    client = signed_in(world, "admin")
    url = f"/meters/{ids['KH1002']}/edit"
    audits = _count(world, AuditEntry)
    response = client.post(
        url,
        data={
            "csrf_token": csrf(client, url),
            "serial": "KH1002",
            "kind": "single",
            "phase": "2",
            "digits": "6",
            "multiplier": "1",
            "accuracy_class": "1",
            "manufacture_year": "2099",
        },
    )
    assert response.status_code == 422
    assert _field_error(response.text, "phase") == "«فاز» یکی از گزینه‌های مجاز نیست"
    assert "manufacture_year" in response.text and _field_error(response.text, "manufacture_year")
    assert _count(world, AuditEntry) == audits


def test_installation_history_links_to_subscriptions_in_scope(world: World) -> None:
    ids = _stock(world)
    in_12 = world.subscription_ids[1]
    _install(world, "KH1001", in_12)
    admin = signed_in(world, "admin")
    page = admin.get(f"/meters/{ids['KH1001']}").text
    assert f'href="/subscriptions/{in_12}"' in page and "اکنون" in page
    listing = admin.get("/meters").text
    assert f'href="/subscriptions/{in_12}"' in listing
    clerk11 = signed_in(world, "clerk11")  # a district-11 user sees that the meter stands elsewhere, not where
    page = clerk11.get(f"/meters/{ids['KH1001']}").text
    assert f'href="/subscriptions/{in_12}"' not in page and "اشتراکی در امور دیگر" in page
    assert f'href="/subscriptions/{in_12}"' not in clerk11.get("/meters").text
    assert _serials(clerk11.get("/meters?format=xlsx&state=installed").content) == ["KH1001"]


def test_who_may_edit(world: World) -> None:
    ids = _stock(world)
    field = signed_in(world, "field")  # field staff may see meters but not register them
    assert field.get("/meters").status_code == 200
    assert field.get("/meters/new").status_code == 403
    assert field.get(f"/meters/{ids['KH1001']}/edit").status_code == 403
    assert "ویرایش" not in field.get(f"/meters/{ids['KH1001']}").text.split("<main>", 1)[1]
    contractor = signed_in(world, "contra")
    assert contractor.get("/meters").status_code == 403
