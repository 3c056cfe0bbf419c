"""Receivables pages through the test client: the dashboard, debt by organisation and a subscription's
statement render in Persian, export to Excel, refuse a user without ``ledger.view`` and keep a district's
user to its district."""

from __future__ import annotations

import io
import json
import random
import re
from dataclasses import dataclass
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from barq.billing.models import Bill
from barq.calendar import fa_number
from barq.ledger.postings import AgingBucket as B
from barq.network.service import district_names
from barq.payments.models import Payment
from tests.factories import World
from tests.integration.test_receivables_reports import TODAY, add_organisation, at, pay
from tests.ledger_factories import issue_bills
from tests.web.helpers import signed_in


@dataclass
class Pages:
    world: World
    subs: dict[str, int]  # a, c (district 11), b (district 12), g11 (government, 11), n12 (company, 12)
    customers: dict[str, int]
    bills: dict[str, list[Bill]]
    payment_row: int


@pytest.fixture
def pages(world: World) -> Pages:
    rng = random.Random(3)
    a, b, c = world.subscription_ids
    subs = {"a": a, "b": b, "c": c}
    customers = dict(zip("abc", world.customer_ids, strict=True))
    customers["g11"], subs["g11"] = add_organisation(world, "آموزش", "11", True, rng)
    customers["n12"], subs["n12"] = add_organisation(world, "نان", "12", False, rng)
    bills: dict[str, list[Bill]] = {k: [] for k in subs}
    runs = (
        (140506, date(2026, 8, 23), date(2026, 9, 20), date(2026, 9, 25), {"a": 250, "b": 180, "c": 90, "g11": 400}),
        (140508, date(2026, 10, 23), date(2026, 11, 19), date(2026, 11, 24), {"a": 200, "b": 160, "n12": 700}),
    )
    for cycle, prev, cur, issue, kwh in runs:
        world.clock.moment = at(issue)  # type: ignore[attr-defined]
        issued = issue_bills(world, cycle, {subs[k]: v for k, v in kwh.items()}, prev=prev, cur=cur)
        for k in kwh:
            bills[k].append(issued[subs[k]])
        if cycle == 140506:
            first = bills["a"][0]
            pay(world, a, first.payable, first.payment_id or "", "melli", "W-1", date(2026, 10, 30))
    world.clock.moment = at(TODAY)  # type: ignore[attr-defined]
    with world.session() as s:
        payment_row = s.scalars(select(Payment.id).where(Payment.trace == "W-1")).one()
    return Pages(world, subs, customers, bills, payment_row)


def _district(world: World, code: str) -> int:
    return world.district_ids[code]


def _row(html: str, marker: str) -> str:
    """The table row that holds ``marker``."""
    start = html.rindex("<tr", 0, html.index(marker))
    return html[start : html.index("</tr>", start)]


def test_dashboard_shows_aging_collection_and_charts(pages: Pages) -> None:
    client = signed_in(pages.world, "admin")
    response = client.get("/receivables")
    assert response.status_code == 200
    html = response.text
    assert "<h1>مطالبات و وصول</h1>" in html
    assert "وضعیت در ۱۴۰۵/۰۹/۰۷" in html
    for bucket in B:
        assert f'<th class="num">{bucket.label_fa}</th>' in html
    b = {k: [x.payable for x in v] for k, v in pages.bills.items()}
    # district 11: a paid its first bill, so its second is open (not due); c's and g11's bills are 31–60
    row = _row(html, "/receivables?district=" + str(_district(pages.world, "11")))
    overdue = b["c"][0] + b["g11"][0]
    owed = overdue + b["a"][1]
    assert f"<b>{fa_number(owed)}</b>" in row
    assert f">{fa_number(overdue)}</td>" in row  # the 31–60 column
    assert ">۳</td>" in row  # three debtors: a, c, g11
    # the collection rate of the twelve months: a's first bill over everything billed in district 11
    billed = b["a"][0] + b["a"][1] + b["c"][0] + b["g11"][0]
    tenths = (b["a"][0] * 1000 * 2 + billed) // (2 * billed)  # rounded half up
    rate = f"{fa_number(tenths // 10)}٫{fa_number(tenths % 10)}٪"
    assert rate in row
    # the total row and the charts' data
    total = owed + b["b"][0] + b["b"][1] + b["n12"][0]
    assert f"<b>{fa_number(total)}</b>" in html
    charts = json.loads(
        re.search(r'<script type="application/json" id="receivables-charts">(.*?)</script>', html, re.S)[1]
    )  # type: ignore[index]
    assert charts["aging"]["labels"][0] == ["سررسید", "نشده"]
    assert sum(charts["aging"]["amounts"]) == total
    assert charts["months"]["labels"][-1] == ["آذر", "۱۴۰۵"] and len(charts["months"]["labels"]) == 12
    assert charts["months"]["collected"][-2] == b["a"][0]  # Aban 1405
    assert '<script src="/static/vendor/chart.umd.min.js"></script>' in html
    assert client.get("/static/vendor/chart.umd.min.js").status_code == 200
    # one district chosen
    one = client.get(f"/receivables?district={_district(pages.world, '12')}").text
    assert "مطالبات و وصول · امور" in one and f"<b>{fa_number(b['b'][0] + b['b'][1] + b['n12'][0])}</b>" in one
    assert "/receivables?district=" + str(_district(pages.world, "11")) not in one
    assert client.get("/receivables?district=x").status_code == 422


def test_dashboard_excel(pages: Pages) -> None:
    client = signed_in(pages.world, "admin")
    response = client.get("/receivables?format=xlsx")
    assert response.status_code == 200
    assert 'filename="receivables-2026-11-28.xlsx"' in response.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(response.content))
    assert wb.sheetnames == ["سنی بدهی", "نرخ وصول ماهانه"]
    rows = list(wb["سنی بدهی"].iter_rows(values_only=True))
    assert rows[0][0] == "امور" and rows[0][3] == "سررسید نشده (ریال)" and rows[0][-1] == "نرخ وصول ٪"
    by_name = {r[0]: r for r in rows[1:]}
    b = {k: [x.payable for x in v] for k, v in pages.bills.items()}
    total = by_name["جمع"]
    assert total[1:3] == (5, 5)  # subscriptions, debtors (a still owes its second bill)
    assert total[3:10] == (b["a"][1] + b["b"][1] + b["n12"][0], 0, b["c"][0] + b["g11"][0] + b["b"][0], 0, 0, 0, 0)
    assert total[10] == sum(total[3:10])
    months = list(wb["نرخ وصول ماهانه"].iter_rows(values_only=True))
    assert months[0] == ("امور", "ماه", "دوره", "صورتحساب (ریال)", "وصول (ریال)", "نرخ وصول ٪")
    aban = [r for r in months if r[0] == "جمع" and r[2] == 140508]
    assert aban == [("جمع", "آبان ۱۴۰۵", 140508, 0, b["a"][0], None)]


def test_organisations_page_and_excel(pages: Pages) -> None:
    client = signed_in(pages.world, "admin")
    html = client.get("/receivables/organisations").text
    assert "بدهی دولتی و غیردولتی به تفکیک سازمان" in html
    b = {k: [x.payable for x in v] for k, v in pages.bills.items()}
    gov = _row(html, "دستگاه‌های دولتی")
    assert f"<b>{fa_number(b['g11'][0])}</b>" in gov
    persons = _row(html, "اشخاص حقیقی")
    assert f"<b>{fa_number(b['a'][1] + b['b'][0] + b['b'][1] + b['c'][0])}</b>" in persons
    assert "جمع غیردولتی (سازمان‌ها و اشخاص)" in html
    # most debt first: the company's 700 kWh bill above the school's 400 kWh one
    names = re.findall(r'<a href="/customers/(\d+)">', html)
    assert names == [str(pages.customers["n12"]), str(pages.customers["g11"])]
    assert '<span class="badge government">دولتی</span>' in _row(html, "سازمان آموزش")
    only_gov = client.get("/receivables/organisations?kind=government").text
    assert re.findall(r'<a href="/customers/(\d+)">', only_gov) == [str(pages.customers["g11"])]
    ascending = client.get("/receivables/organisations?sort=debt_asc").text
    assert re.findall(r'<a href="/customers/(\d+)">', ascending) == [
        str(pages.customers["g11"]),
        str(pages.customers["n12"]),
    ]
    assert client.get("/receivables/organisations?sort=nope").status_code == 422
    response = client.get("/receivables/organisations?format=xlsx&kind=non_government")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.content))
    assert wb.sheetnames == ["دولتی و غیردولتی", "سازمان‌ها"]
    summary = list(wb["دولتی و غیردولتی"].iter_rows(values_only=True))
    assert [r[0] for r in summary[1:]] == [
        "دستگاه‌های دولتی",
        "سازمان‌ها و شرکت‌های غیردولتی",
        "اشخاص حقیقی",
        "جمع غیردولتی (سازمان‌ها و اشخاص)",
        "جمع کل",
    ]
    assert summary[1][4] == b["g11"][0]
    orgs = list(wb["سازمان‌ها"].iter_rows(values_only=True))
    assert orgs[1][:7] == ("سازمان نان", orgs[1][1], "غیردولتی", "شرکت و بنگاه خصوصی", 1, 1, b["n12"][0])
    assert len(orgs) == 2  # government ones filtered out


def test_statement_page_and_excel(pages: Pages) -> None:
    client = signed_in(pages.world, "admin")
    a = pages.subs["a"]
    first, second = pages.bills["a"]
    html = client.get(f"/subscriptions/{a}/statement").text
    assert "صورت‌حساب اشتراک" in html
    bill_row = _row(html, f'<a href="/bills/{first.id}">')
    assert "۱۴۰۵/۰۷/۰۳" in bill_row and "صورتحساب شهریور ۱۴۰۵" in bill_row  # posted and described
    assert "۱۴۰۵/۰۷/۱۳" in bill_row  # due
    assert f">{fa_number(first.payable)}</td>" in bill_row
    paid_row = _row(html, f'<a href="/payments/{pages.payment_row}">')
    assert "پرداخت بانک ملی ایران، پیگیری W-۱" in paid_row and "۱۴۰۵/۰۸/۰۸" in paid_row
    last = _row(html, f'<a href="/bills/{second.id}">')
    assert last.count(f">{fa_number(second.payable)}") >= 3  # debit, balance and still open
    assert f'<dd class="owed"><b>{fa_number(second.payable)}</b></dd>' in html
    assert _row(html, "سررسید نشده").endswith(f'<td class="num">{fa_number(second.payable)}</td>')
    response = client.get(f"/subscriptions/{a}/statement?format=xlsx")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.content))
    rows = list(wb["گردش حساب"].iter_rows(values_only=True))
    assert rows[0][:3] == ("تاریخ", "شرح", "سند")
    assert rows[1] == (
        "۱۴۰۵/۰۷/۰۳",
        "صورتحساب شهریور ۱۴۰۵",
        "صورتحساب",
        first.id,
        "۱۴۰۵/۰۷/۱۳",
        first.payable,
        None,
        first.payable,
        None,
    )
    assert rows[2][2:4] == ("پرداخت", pages.payment_row) and rows[2][6] == first.payable and rows[2][7] == 0
    assert rows[3][-2:] == (second.payable, second.payable)
    summary = dict(wb["مانده و سنی بدهی"].iter_rows(min_row=2, values_only=True))
    assert summary["مانده بدهی"] == second.payable and summary["سررسید نشده"] == second.payable
    # the subscription page links to it
    assert f'href="/subscriptions/{a}/statement"' in client.get(f"/subscriptions/{a}").text


def test_without_ledger_view_nothing_is_shown(pages: Pages) -> None:
    client = signed_in(pages.world, "field")  # field staff: subscriptions, but not the ledger
    for url in (
        "/receivables",
        "/receivables?format=xlsx",
        "/receivables/organisations",
        "/receivables/organisations?format=xlsx",
        f"/subscriptions/{pages.subs['a']}/statement",
        f"/subscriptions/{pages.subs['a']}/statement?format=xlsx",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "اجازه" in response.text
    detail = client.get(f"/subscriptions/{pages.subs['a']}").text
    assert "/statement" not in detail and 'href="/receivables"' not in detail


def test_a_district_user_sees_only_its_district(pages: Pages) -> None:
    client = signed_in(pages.world, "clerk11")
    html = client.get("/receivables").text
    assert 'name="district"' not in html  # no district to choose
    assert "<h1>مطالبات و وصول · امور" in html
    b = {k: [x.payable for x in v] for k, v in pages.bills.items()}
    assert f"<b>{fa_number(b['c'][0] + b['g11'][0] + b['a'][1])}</b>" in html
    assert fa_number(b["n12"][0]) not in html
    assert client.get(f"/receivables?district={_district(pages.world, '12')}").status_code == 403
    with pages.world.session() as s:
        name = district_names(s)[_district(pages.world, "11")]
    wb = load_workbook(io.BytesIO(client.get("/receivables?format=xlsx").content))
    assert [r[0] for r in wb["سنی بدهی"].iter_rows(min_row=2, values_only=True)] == [name, "جمع"]
    orgs = client.get("/receivables/organisations").text
    assert re.findall(r'<a href="/customers/(\d+)">', orgs) == [str(pages.customers["g11"])]
    assert client.get(f"/subscriptions/{pages.subs['b']}/statement").status_code == 404
    assert client.get(f"/subscriptions/{pages.subs['a']}/statement").status_code == 200
