"""The bill's documents through the pages: the bill page, the PDF (text, Persian, barcode), the print-company
file of a route and cycle, the subscription's bills list, and the district scope."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from barq.billing.documents import PRINT_FILE_COLUMNS, bill_view
from barq.billing.models import Bill
from barq.billing.service import approve_bill_run, rate_bill_run, start_bill_run
from barq.calendar import fa_digits, fa_number
from barq.connections.models import Subscription
from barq.db import make_sessionmaker
from barq.metering.models import Meter, MeterInstallation, MeterRead
from barq.network.models import Route
from barq.rating.book import load_default_library
from tests.factories import World
from tests.web.helpers import login, make_app_client

# Three monthly cycles: Shahrivar, Mehr and Aban 1405 (reads on the 3rd of the Jalali month).
CYCLES = {140506: date(2026, 8, 25), 140507: date(2026, 9, 25), 140508: date(2026, 10, 25)}
CYCLE = 140508
KWH = {140506: 260, 140507: 230, 140508: 180}


def signed_in(world: World, username: str) -> TestClient:
    client = make_app_client(world)
    login(client, username)
    return client


@dataclass
class Billed:
    route_id: int
    district11: list[int]  # subscriptions of district 11, in route order
    bills: dict[int, int]  # subscription id -> its bill id of CYCLE
    other_bill: int  # the district-12 subscription's bill of CYCLE


def _bill_all(world: World) -> Billed:
    """Route R1 of district 11 holds subscriptions 2 (sequence 1) and 0 (sequence 2); subscription 1 is in
    district 12. Every subscription gets reads and an issued bill in each of three cycles."""
    subs = world.subscription_ids
    with world.session() as s:
        route = Route(district_id=world.district_ids["11"], code="R1", name="شریعتی", cycle_days=30)
        s.add(route)
        s.flush()
        for sid, seq in ((subs[2], 1), (subs[0], 2)):
            sub = s.get_one(Subscription, sid)
            sub.route_id, sub.route_sequence = route.id, seq
        meter = Meter(
            serial="TM-7001",
            kind="single",
            registers="active",
            digits=6,
            multiplier=1,
            phase=1,
            accuracy_class="1",
            manufacture_year=2020,
            state="installed",
        )
        s.add(meter)
        s.flush()
        s.add(
            MeterInstallation(
                subscription_id=subs[0], meter_id=meter.id, installed_on=date(2025, 1, 1), initial_read=1000
            )
        )
        register = {sid: 1000 + 37 * i for i, sid in enumerate(subs)}
        prev = date(2026, 7, 26)
        for cycle, read_on in CYCLES.items():
            for i, sid in enumerate(subs):
                kwh = KWH[cycle] + 10 * i
                register[sid] += kwh
                s.add(
                    MeterRead(
                        subscription_id=sid,
                        read_on=read_on,
                        prev_read_on=prev,
                        kwh=kwh,
                        code="read",
                        source="test",
                        estimated=False,
                        status="valid",
                        active=register[sid],
                    )
                )
            prev = read_on
        s.commit()
        route_id = route.id
    library = load_default_library()
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    for cycle in CYCLES:
        with factory() as s:
            run_id = start_bill_run(s, principal=admin, clock=world.clock, cycle=cycle).id
            s.commit()
        rate_bill_run(factory, run_id=run_id, library=library, clock=world.clock)
        with factory() as s:
            approve_bill_run(s, principal=admin, clock=world.clock, run_id=run_id)
            s.commit()
    with factory() as s:
        bills = {b.subscription_id: b.id for b in s.scalars(select(Bill).where(Bill.cycle == CYCLE))}
    return Billed(route_id=route_id, district11=[subs[2], subs[0]], bills=bills, other_bill=bills[subs[1]])


@pytest.fixture
def billed(world: World) -> Billed:
    return _bill_all(world)


def test_bill_page_shows_lines_ids_barcode_and_chart(world: World, billed: Billed) -> None:
    sid = world.subscription_ids[0]
    with world.session() as s:
        view = bill_view(s, billed.bills[sid])
    client = signed_in(world, "clerk11")
    page = client.get(f"/bills/{view.id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert fa_digits(view.customer_name) in html
    assert fa_digits(view.subscription_number) in html
    assert fa_digits(view.bill_id) in html and view.payment_id and fa_digits(view.payment_id) in html
    assert "بهای انرژی پله ۱" in html and "آبونمان" in html and "مالیات بر ارزش افزوده" in html
    for line in view.lines:
        assert line.amount_fa in html
    assert fa_number(view.payable) in html
    assert "۱۴۰۵/" in html  # Jalali dates in Persian digits
    assert "<svg" in html and "barcode" in html  # the ITF barcode, inline
    assert 'type="application/json"' in html and "/static/vendor/chart.umd.min.js" in html
    assert f'href="/bills/{view.id}.pdf"' in html
    assert "قبض برق آبان ۱۴۰۵" in html  # the e-bill text
    assert [p.cycle for p in view.history] == list(CYCLES)


@pytest.mark.skipif(
    not all(shutil.which(t) for t in ("pdftotext", "pdftoppm", "zbarimg")), reason="needs poppler-utils and zbar-tools"
)
def test_bill_pdf_is_persian_with_a_readable_barcode(world: World, billed: Billed, tmp_path: Path) -> None:
    sid = world.subscription_ids[0]
    client = signed_in(world, "admin")
    response = client.get(f"/bills/{billed.bills[sid]}.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    pdf = tmp_path / "bill.pdf"
    pdf.write_bytes(response.content)
    with world.session() as s:
        view = bill_view(s, billed.bills[sid])
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    # logical order, letters as Unicode (not presentation forms): the Persian text was shaped from real text
    for words in ("صورتحساب برق", "آبونمان", "مالیات بر ارزش افزوده", "مبلغ قابل پرداخت", "آبان"):
        assert words in text
    assert fa_digits(view.bill_id) in text and fa_digits(view.payment_id or "") in text
    assert "۱۴۰۵/۰۸/۰۳" in text and fa_number(view.payable) in text
    subprocess.run(["pdftoppm", "-r", "300", "-png", "-singlefile", str(pdf), str(tmp_path / "bill")], check=True)
    decoded = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(tmp_path / "bill.png")], capture_output=True, text=True, check=True
    ).stdout.split()
    assert view.barcode and len(view.barcode) == 26
    assert decoded == [view.barcode]


def test_print_file_has_one_row_per_issued_bill_in_route_order(world: World, billed: Billed) -> None:
    client = signed_in(world, "clerk11")
    response = client.get(f"/bills/print-file?cycle={CYCLE}&route_id={billed.route_id}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert tuple(header) == PRINT_FILE_COLUMNS
    with world.session() as s:
        numbers = [s.get_one(Subscription, sid).subscription_number for sid in billed.district11]
        views = [bill_view(s, billed.bills[sid]) for sid in billed.district11]
    assert len(body) == 2
    col = {name: i for i, name in enumerate(header)}
    assert [r[col["subscription_number"]] for r in body] == numbers
    assert [r[col["route_sequence"]] for r in body] == ["1", "2"]
    for row, view in zip(body, views, strict=True):
        assert row[col["bill_id"]] == view.bill_id and row[col["payment_id"]] == view.payment_id
        assert row[col["barcode"]] == view.barcode and len(row[col["barcode"]]) == 26
        assert int(row[col["payable"]]) == view.payable and int(row[col["kwh"]]) == view.kwh
        assert row[col["cur_read_on"]] == "1405/08/03" and row[col["customer_name"]] == view.customer_name
        assert row[col["due_on"]].startswith("1405/")
        amounts = {c: int(row[col[c]]) for c in PRINT_FILE_COLUMNS[31:41]}  # energy_amount … payable
        charges = ("energy_amount", "demand_amount", "fixed_charge", "levy", "vat", "insurance")
        assert sum(amounts[c] for c in charges) == amounts["total"] == view.total
        assert amounts["total"] + amounts["carry_in"] - amounts["carry_out"] == amounts["payable"]
        assert (amounts["carry_in"], amounts["carry_out"]) == (view.carry_in, view.carry_out)
        assert sum(int(x.split(":")[3]) for x in row[col["lines"]].split("|")) == view.payable
        assert len(row[col["history"]].split(";")) == 3
        assert int(row[col["cur_read"]]) - int(row[col["prev_read"]]) == view.kwh
    # a cycle with no bills on the route gives the header alone
    empty = client.get(f"/bills/print-file?cycle=140412&route_id={billed.route_id}")
    assert empty.status_code == 200 and len(empty.content.decode("utf-8-sig").strip().splitlines()) == 1


def test_district_scope(world: World, billed: Billed) -> None:
    manager12 = signed_in(world, "manager12")
    district11_bill = billed.bills[world.subscription_ids[0]]
    assert manager12.get(f"/bills/{district11_bill}").status_code == 404
    assert manager12.get(f"/bills/{district11_bill}.pdf").status_code == 404
    assert manager12.get(f"/bills/print-file?cycle={CYCLE}&route_id={billed.route_id}").status_code == 404
    assert manager12.get(f"/subscriptions/{world.subscription_ids[0]}/bills").status_code == 404
    assert manager12.get(f"/bills/{billed.other_bill}").status_code == 200
    # a user without the bills permission is refused
    assert signed_in(world, "field").get(f"/bills/{billed.other_bill}").status_code == 403


def test_subscription_bills_partial(world: World, billed: Billed) -> None:
    sid = world.subscription_ids[0]
    client = signed_in(world, "clerk11")
    response = client.get(f"/subscriptions/{sid}/bills")
    assert response.status_code == 200
    html = response.text
    assert "<html" not in html  # a fragment for the subscription page's tab
    assert len(re.findall(r'href="/bills/\d+"', html)) == 3 and html.count('.pdf"') == 3
    assert "آبان ۱۴۰۵" in html and "مهر ۱۴۰۵" in html
    assert html.index("آبان ۱۴۰۵") < html.index("مهر ۱۴۰۵")  # newest first
