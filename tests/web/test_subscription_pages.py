"""Subscription pages through the test client: list, page and tabs, open/edit with inline premises, scope,
Excel export, installing a meter."""

from __future__ import annotations

import io
import random
import re
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from barq.audit import AuditEntry, history
from barq.calendar import fa_digits
from barq.connections.models import Subscription
from barq.customers.models import Premises
from barq.ids import is_valid_bill_id, make_postal_code
from barq.metering.models import Meter, MeterInstallation
from barq.metering.service import create_meter
from barq.network.models import District, Route
from barq.workorders.service import create_work_order
from tests.factories import World
from tests.web.helpers import csrf, signed_in


def _count(world: World, model: Any) -> int:
    with world.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _counts(world: World) -> tuple[int, int, int]:
    return _count(world, Subscription), _count(world, Premises), _count(world, AuditEntry)


def _field_error(html: str, name: str) -> str:
    """The message shown beside field ``name`` (inside the same .field block as the input)."""
    block = re.search(
        rf'<div class="field has-error">(?:(?!<div class="field).)*?name="{name}"(?:(?!<div class="field).)*?'
        rf'<small class="field-error" id="e-{name}" role="alert">([^<]+)</small>',
        html,
        re.S,
    )
    assert block, f"no error beside {name}"
    return block.group(1)


def _new_form(world: World, client: TestClient, **changes: str) -> dict[str, str]:
    customer_id = world.customer_ids[0]  # a customer of district 11
    data = {
        "csrf_token": csrf(client, f"/subscriptions/new?customer_id={customer_id}"),
        "customer_id": str(customer_id),
        "premises_id": "new",
        "district_id": str(world.district_ids["11"]),
        "zone": "normal",
        "address": "خرم‌آباد، خیابان امام، کوچه ۳",
        "postal_code": make_postal_code(random.Random(5)),
        "tariff_group": "1",
        "tariff_sub_code": "1",
        "phase": "1",
        "amperage": "25",
        "contract_kw": "5.5",
        "households": "1",
        "supply_state": "active",
        "connected_on": "۱۴۰۵/۰۹/۰۱",
    }
    data.update(changes)
    return data


def _sub(world: World, sub_id: int) -> Subscription:
    with world.session() as s:
        sub = s.get(Subscription, sub_id)
        assert sub is not None
        s.expunge(sub)
        return sub


def _add_route(world: World, district: str, code: str) -> int:
    with world.session() as s:
        route = Route(district_id=world.district_ids[district], code=code, name=f"مسیر {code}")
        s.add(route)
        s.commit()
        return route.id


def test_pages_render_for_admin(world: World) -> None:
    client = signed_in(world, "admin")
    sub = _sub(world, world.subscription_ids[0])
    listing = client.get("/subscriptions")
    assert listing.status_code == 200
    assert fa_digits(sub.subscription_number) in listing.text
    assert 'name="district_id"' in listing.text  # a company-wide user may filter by district
    page = client.get(f"/subscriptions/{sub.id}")
    assert page.status_code == 200
    for text in (
        fa_digits(sub.bill_id),
        "خیابان شریعتی",
        "قرائت‌ها",
        "صورتحساب‌ها",
        "پرداخت‌ها",
        "درخواست‌ها",
        "دستورکارها",
        "کنتوری روی این اشتراک نصب نیست",
        "برای این اشتراک هنوز قرائتی ثبت نشده است",
    ):
        assert text in page.text
    bills_tab = client.get(f"/subscriptions/{sub.id}?tab=bills")
    assert f'hx-get="/subscriptions/{sub.id}/bills"' in bills_tab.text
    for tab, empty in (("payments", "پرداختی"), ("requests", "درخواستی"), ("workorders", "دستورکاری")):
        response = client.get(f"/subscriptions/{sub.id}?tab={tab}")
        assert response.status_code == 200
        assert f"برای این اشتراک هنوز {empty}" in response.text
    history_tab = client.get(f"/subscriptions/{sub.id}?tab=history")
    assert "گشایش اشتراک" in history_tab.text
    for url in (
        f"/subscriptions/new?customer_id={sub.customer_id}",
        f"/subscriptions/{sub.id}/edit",
        f"/subscriptions/{sub.id}/install-meter",
        f"/premises/{sub.premises_id}/edit",
    ):
        assert client.get(url).status_code == 200, url


def test_work_orders_tab_lists_the_subscriptions_orders(world: World) -> None:
    sub = _sub(world, world.subscription_ids[0])
    with world.session() as s:
        wo = create_work_order(
            s,
            principal=world.principal("admin"),
            clock=world.clock,
            type_code="inspection",
            district_id=sub.district_id,
            subscription_id=sub.id,
            description="بازدید",
        )
        number = wo.number
        s.commit()
    client = signed_in(world, "admin")
    page = client.get(f"/subscriptions/{sub.id}?tab=workorders")
    assert fa_digits(number) in page.text
    assert "بازدید محل" in page.text
    assert "هنوز دستورکاری" not in page.text


def test_history_tab_only_for_audit_viewers(world: World) -> None:
    sub_id = world.subscription_ids[0]
    clerk = signed_in(world, "clerk")  # the clerk role has no audit.view
    page = clerk.get(f"/subscriptions/{sub_id}")
    assert "tab=history" not in page.text
    assert "گشایش اشتراک" not in clerk.get(f"/subscriptions/{sub_id}?tab=history").text


def test_district_user_cannot_open_another_districts_subscription(world: World) -> None:
    other = world.subscription_ids[1]  # district 12
    own = world.subscription_ids[0]  # district 11
    client = signed_in(world, "clerk11")
    assert client.get(f"/subscriptions/{other}").status_code == 404
    assert client.get(f"/subscriptions/{other}/edit").status_code == 404
    assert client.get(f"/subscriptions/{other}/install-meter").status_code == 404
    assert client.get(f"/subscriptions/{own}").status_code == 200
    listing = client.get("/subscriptions")
    assert fa_digits(_sub(world, own).subscription_number) in listing.text
    assert fa_digits(_sub(world, other).subscription_number) not in listing.text
    assert 'name="district_id"' not in listing.text  # no district filter for a district user
    # asking for the other district in the URL changes nothing: the export still holds only district 11
    rows = _xlsx_rows(client.get(f"/subscriptions?format=xlsx&district_id={world.district_ids['12']}").content)
    assert len(rows) == 2 and all(r[0].startswith("11") for r in rows)


def test_wrong_postal_code_is_shown_beside_the_field_and_nothing_is_written(world: World) -> None:
    client = signed_in(world, "clerk")
    before = _counts(world)
    response = client.post("/subscriptions/new", data=_new_form(world, client, postal_code="12345"))
    assert response.status_code == 422
    assert _field_error(response.text, "postal_code") == "کد پستی باید ۱۰ رقم باشد؛ ۵ رقم وارد شده است"
    assert "فرم ذخیره نشد" in response.text
    assert 'value="12345"' in response.text  # what was typed is kept
    assert _counts(world) == before


def test_a_refused_subscription_leaves_no_premises_behind(world: World) -> None:
    """The premises part is valid and written first; the subscription part fails: the whole form rolls back."""
    client = signed_in(world, "clerk")
    before = _counts(world)
    response = client.post("/subscriptions/new", data=_new_form(world, client, amperage="2", tariff_sub_code="2-ب"))
    assert response.status_code == 422
    assert "«آمپراژ» نباید کمتر از 5 باشد" in _field_error(response.text, "amperage")
    assert "تعریف نشده" in _field_error(response.text, "tariff_sub_code")
    assert _counts(world) == before


def test_errors_of_both_parts_are_shown_together(world: World) -> None:
    client = signed_in(world, "clerk")
    response = client.post("/subscriptions/new", data=_new_form(world, client, postal_code="", amperage="x"))
    assert response.status_code == 422
    assert _field_error(response.text, "postal_code")
    assert _field_error(response.text, "amperage") == "«آمپراژ» باید عدد صحیح باشد"
    assert 'id="e-premises_id"' not in response.text


def test_valid_create_gives_a_number_with_the_district_prefix_and_a_valid_bill_id(world: World) -> None:
    route_id = _add_route(world, "11", "R-07")
    client = signed_in(world, "clerk11")
    before = _counts(world)
    form = _new_form(
        world,
        client,
        route_id=str(route_id),
        route_sequence="12",
        medical_certificate="MED-99",
        medical_valid_from="1405/01/01",
        medical_valid_to="1405/12/29",
    )
    form.pop("district_id")  # a district user's premises are in its district
    response = client.post("/subscriptions/new", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    sub_id = int(response.headers["location"].split("/")[2].split("?")[0])
    sub = _sub(world, sub_id)
    with world.session() as s:
        district = s.get(District, sub.district_id)
        assert district is not None and district.code == "11"
        premises = s.get(Premises, sub.premises_id)
        assert premises is not None and premises.address == "خرم‌آباد، خیابان امام، کوچه ۳"
    assert sub.subscription_number.startswith("11")
    assert is_valid_bill_id(sub.bill_id)
    assert sub.route_id == route_id and sub.route_sequence == 12 and sub.medical_certificate == "MED-99"
    assert _counts(world)[:2] == (before[0] + 1, before[1] + 1)
    page = client.get(response.headers["location"])
    assert "ذخیره شد" in page.text and fa_digits(sub.bill_id) in page.text and "R-07" in page.text


def test_a_route_of_another_district_is_refused(world: World) -> None:
    other_route = _add_route(world, "12", "R-01")
    client = signed_in(world, "clerk")
    before = _counts(world)
    response = client.post("/subscriptions/new", data=_new_form(world, client, route_id=str(other_route)))
    assert response.status_code == 422
    assert _field_error(response.text, "route_id") == "مسیر در امور این محل نیست"
    assert _counts(world) == before


def test_route_options_follow_the_district(world: World) -> None:
    own = _add_route(world, "11", "R-11")
    other = _add_route(world, "12", "R-12")
    client = signed_in(world, "admin")
    options = client.get(f"/subscriptions/route-options?district_id={world.district_ids['12']}").text
    assert f'value="{other}"' in options and f'value="{own}"' not in options
    form = client.get(f"/subscriptions/{world.subscription_ids[0]}/edit").text  # premises in district 11
    routes = form.split('name="route_id"', 1)[1].split("</select>", 1)[0]
    assert f'value="{own}"' in routes and f'value="{other}"' not in routes


def test_a_second_subscription_at_an_existing_premises(world: World) -> None:
    client = signed_in(world, "clerk")
    first = _sub(world, world.subscription_ids[0])
    form = _new_form(world, client, premises_id=str(first.premises_id), postal_code="", address="")
    response = client.post("/subscriptions/new", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    sub = _sub(world, int(response.headers["location"].split("/")[2].split("?")[0]))
    assert sub.premises_id == first.premises_id


def test_edit_is_audited(world: World) -> None:
    sub = _sub(world, world.subscription_ids[0])
    client = signed_in(world, "head")
    form = client.get(f"/subscriptions/{sub.id}/edit").text
    assert 'value="25"' in form  # the current amperage
    data = {
        "csrf_token": csrf(client, f"/subscriptions/{sub.id}/edit"),
        "premises_id": str(sub.premises_id),
        "tariff_group": "1",
        "tariff_sub_code": "1",
        "phase": "1",
        "amperage": "32",
        "contract_kw": "7",
        "households": "2",
        "supply_state": "disconnected",
        "connected_on": "1405/08/15",
    }
    response = client.post(f"/subscriptions/{sub.id}/edit", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    after = _sub(world, sub.id)
    assert (after.amperage, after.households, after.supply_state) == (32, 2, "disconnected")
    with world.session() as s:
        entries = [e for e in history(s, "subscription", sub.id) if e.action == "subscription.update"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor == "head"
    assert entry.before is not None and entry.after is not None
    assert (entry.before["amperage"], entry.after["amperage"]) == (25, 32)
    assert (entry.before["supply_state"], entry.after["supply_state"]) == ("active", "disconnected")
    tab = client.get(f"/subscriptions/{sub.id}?tab=history").text
    assert "ویرایش اشتراک" in tab and "آمپراژ" in tab and "<del>۲۵</del>" in tab and "<ins>۳۲</ins>" in tab


def test_edit_with_an_error_changes_nothing(world: World) -> None:
    sub = _sub(world, world.subscription_ids[0])
    client = signed_in(world, "admin")
    before = _counts(world)
    data = {
        "csrf_token": csrf(client, f"/subscriptions/{sub.id}/edit"),
        "premises_id": "new",
        "district_id": str(world.district_ids["11"]),
        "zone": "normal",
        "address": "نشانی تازه",
        "postal_code": make_postal_code(random.Random(8)),
        "tariff_group": "2",
        "tariff_sub_code": "1",
        "phase": "1",
        "amperage": "32",
        "contract_kw": "7",
        "households": "3",
    }
    response = client.post(f"/subscriptions/{sub.id}/edit", data=data)
    assert response.status_code == 422
    assert _field_error(response.text, "households") == "کد خانوار فقط برای تعرفه خانگی است"
    assert _counts(world) == before
    assert _sub(world, sub.id).amperage == 25


def test_a_form_without_its_csrf_token_is_refused(world: World) -> None:
    client = signed_in(world, "admin")
    before = _counts(world)
    data = _new_form(world, client)
    data["csrf_token"] = "forged"
    assert client.post("/subscriptions/new", data=data).status_code == 403
    assert _counts(world) == before


def _xlsx_rows(content: bytes) -> list[tuple[Any, ...]]:
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "شماره اشتراک"
    return rows[1:]


def test_excel_export_has_the_filtered_rows(world: World) -> None:
    client = signed_in(world, "admin")
    d11 = world.district_ids["11"]
    response = client.get(f"/subscriptions?format=xlsx&district_id={d11}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    expected = sorted(
        _sub(world, i).subscription_number for i in world.subscription_ids if _sub(world, i).district_id == d11
    )
    rows = _xlsx_rows(response.content)
    assert sorted(r[0] for r in rows) == expected and len(expected) == 2
    assert {r[12] for r in rows} == {"خرم‌آباد"}
    # more filters: a medical certificate narrows to none, supply state "active" keeps them
    assert _xlsx_rows(client.get(f"/subscriptions?format=xlsx&district_id={d11}&medical=1").content) == []
    assert len(_xlsx_rows(client.get("/subscriptions?format=xlsx&supply_state=active").content)) == 3
    assert _xlsx_rows(client.get("/subscriptions?format=xlsx&multi=1").content) == []
    # the page shows the same filter and links to the export with it
    page = client.get(f"/subscriptions?district_id={d11}").text
    assert "format=xlsx" in page and f"district_id={d11}" in page
    assert fa_digits(_sub(world, world.subscription_ids[1]).subscription_number) not in page


def test_list_pages(world: World) -> None:
    client = signed_in(world, "admin")
    client.app.state.settings.page_size = 2  # type: ignore[attr-defined]
    first = client.get("/subscriptions").text
    assert "صفحه ۱ از ۲" in first and "p=2" in first
    second = client.get("/subscriptions?p=2").text
    assert "صفحه ۲ از ۲" in second
    numbers = sorted(_sub(world, i).subscription_number for i in world.subscription_ids)
    assert fa_digits(numbers[2]) in second and fa_digits(numbers[0]) not in second


def _stock_meter(world: World, serial: str) -> None:
    with world.session() as s:
        create_meter(
            s,
            principal=world.principal("admin"),
            clock=world.clock,
            data={
                "serial": serial,
                "kind": "single",
                "digits": "6",
                "multiplier": "1",
                "phase": "1",
                "accuracy_class": "2",
                "manufacture_year": "2024",
            },
        )
        s.commit()


def test_install_meter_replaces_the_old_installation(world: World) -> None:
    sub_id = world.subscription_ids[0]
    _stock_meter(world, "AB1001")
    _stock_meter(world, "AB1002")
    client = signed_in(world, "clerk")
    url = f"/subscriptions/{sub_id}/install-meter"
    assert "AB1001" in client.get(url).text  # offered from stock
    first = client.post(
        url,
        data={
            "csrf_token": csrf(client, url),
            "serial": "ab1001",
            "installed_on": "1405/01/10",
            "initial_read": "120",
            "reason": "نصب اولیه",
        },
        follow_redirects=False,
    )
    assert first.status_code == 303, first.text
    # the second install needs the old meter's final read
    form = client.get(url).text
    assert 'name="final_read"' in form
    missing = client.post(
        url,
        data={"csrf_token": csrf(client, url), "serial": "AB1002", "installed_on": "1405/08/01", "initial_read": "0"},
    )
    assert missing.status_code == 422
    assert _field_error(missing.text, "final_read") == "«رقم پایانی کنتور قبلی» را وارد کنید"
    second = client.post(
        url,
        data={
            "csrf_token": csrf(client, url),
            "serial": "AB1002",
            "installed_on": "1405/08/01",
            "initial_read": "0",
            "final_read": "4521",
            "reason": "خرابی",
        },
        follow_redirects=False,
    )
    assert second.status_code == 303, second.text
    with world.session() as s:
        rows = s.execute(
            select(MeterInstallation, Meter)
            .join(Meter, Meter.id == MeterInstallation.meter_id)
            .where(MeterInstallation.subscription_id == sub_id)
            .order_by(MeterInstallation.id)
        ).all()
    (old, old_meter), (new, new_meter) = rows
    assert old_meter.serial == "AB1001" and old.removed_on is not None and old.final_read == 4521
    assert old_meter.state == "retired"
    assert new_meter.serial == "AB1002" and new.removed_on is None and new_meter.state == "installed"
    page = client.get(f"/subscriptions/{sub_id}?saved=meter").text
    assert "کنتور نصب شد" in page
    current = page.split("کنتور نصب‌شده", 1)[1].split("تاریخچه کنتورها", 1)[0]
    assert "AB1002" in current and "AB1001" not in current
    history_table = page.split("تاریخچه کنتورها", 1)[1]
    assert "AB1001" in history_table and "۴٬۵۲۱" in history_table


def test_a_meter_not_in_stock_is_refused(world: World) -> None:
    client = signed_in(world, "clerk")
    url = f"/subscriptions/{world.subscription_ids[0]}/install-meter"
    response = client.post(
        url,
        data={"csrf_token": csrf(client, url), "serial": "NOPE1", "installed_on": "1405/01/10", "initial_read": "0"},
    )
    assert response.status_code == 422
    assert _field_error(response.text, "serial") == "کنتوری با این سریال در انبار نیست"
    assert _count(world, MeterInstallation) == 0


def test_premises_edit(world: World) -> None:
    sub = _sub(world, world.subscription_ids[0])
    client = signed_in(world, "clerk")
    url = f"/premises/{sub.premises_id}/edit?next=/subscriptions/{sub.id}"
    page = client.get(url).text
    assert "خیابان شریعتی" in page
    bad = client.post(
        f"/premises/{sub.premises_id}/edit",
        data={
            "csrf_token": csrf(client, url),
            "next": f"/subscriptions/{sub.id}",
            "district_id": str(sub.district_id),
            "zone": "normal",
            "address": "نشانی تازه",
            "postal_code": "0123456789",
        },
    )
    assert bad.status_code == 422
    assert _field_error(bad.text, "postal_code") == "کد پستی نمی‌تواند با صفر شروع شود"
    good = client.post(
        f"/premises/{sub.premises_id}/edit",
        data={
            "csrf_token": csrf(client, url),
            "next": f"/subscriptions/{sub.id}",
            "district_id": str(sub.district_id),
            "zone": "tropical1",
            "address": "نشانی تازه",
            "postal_code": make_postal_code(random.Random(3)),
            "is_rural": "1",
        },
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert good.headers["location"] == f"/subscriptions/{sub.id}?saved=1"
    shown = client.get(good.headers["location"]).text
    assert "نشانی تازه" in shown and "گرمسیر ۱" in shown and "روستایی" in shown
    with world.session() as s:
        assert [e.action for e in history(s, "premises", sub.premises_id)][-1] == "premises.update"


def test_premises_of_another_district_is_not_found(world: World) -> None:
    other = _sub(world, world.subscription_ids[1])
    client = signed_in(world, "clerk11")
    assert client.get(f"/premises/{other.premises_id}/edit").status_code == 404


def test_a_date_typed_in_persian_digits_comes_back_in_latin_for_the_picker(world: World) -> None:
    client = signed_in(world, "admin")
    sub_id = world.subscription_ids[0]
    token = csrf(client, f"/subscriptions/{sub_id}/install-meter")
    response = client.post(
        f"/subscriptions/{sub_id}/install-meter",
        data={"csrf_token": token, "serial": "NO-SUCH-METER", "installed_on": "۱۴۰۵/۰۹/۰۱", "initial_read": "0"},
    )
    assert response.status_code == 422
    assert 'value="1405/09/01"' in response.text
