"""The bill's documents without a database: the e-bill SMS text (content and length), number display, the chart
data, the PDF of a hand-made view, and the print file's column documentation."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from barq.billing.documents import (
    EBILL_MAX_CHARS,
    PRINT_FILE_COLUMNS,
    BillView,
    HistoryPoint,
    LineView,
    bill_html,
    bill_pdf,
    cycle_label,
    ebill_text,
    fa_amount,
    fa_milli,
)
from barq.calendar import fa_digits
from barq.ids import bill_barcode, build_bill_id, build_payment_id

DOCS = Path(__file__).resolve().parents[2] / "docs" / "print-file.md"


def _view(**changes: object) -> BillView:
    bill_id = build_bill_id(12345678, "123")  # 13 digits: the longest bill ID
    payment_id = build_payment_id(bill_id=bill_id, amount=1_234_000, year=1405, period=8)
    lines = (
        LineView("energy_step_1", "بهای انرژی پله ۱", "kwh", 100_000, 646_000, 64_600, "1401", 0),
        LineView("fixed_charge", "آبونمان", "day", 30_000, 392_333, 11_770, "1401", 0),
        LineView("vat", "مالیات بر ارزش افزوده", "share", 76_370_000, 90, 6_873, "1401", 0),
        LineView("carry_out", "کسر هزار ریال", "", 1_000, -243_000, -243, "1401", 0),
    )
    view = BillView(
        id=7,
        bill_number="140508-7",
        state="issued",
        cycle=140508,
        company_name="شرکت آزمایشی",
        subscription_id=1,
        subscription_number="110000001",
        file_number="12345678",
        customer_name="علی بیرانوند",
        address="خرم‌آباد، خیابان شریعتی، پلاک ۱",
        postal_code="6813733333",
        district_name="خرم‌آباد",
        route_code="R1",
        route_sequence=2,
        tariff_group=1,
        tariff_sub_code="1",
        tariff_versions=("1401",),
        households=1,
        amperage=25,
        contract_kw="5.5",
        meter_serial="TM-7001",
        multiplier=1,
        prev_read_on=date(2026, 9, 25),
        cur_read_on=date(2026, 10, 25),
        days=30,
        prev_read=1490,
        cur_read=1590,
        kwh=100,
        peak_kwh=None,
        offpeak_kwh=None,
        estimated=False,
        lines=lines,
        total=1_234_243,
        carry_in=0,
        carry_out=243,
        payable=1_234_000,
        bill_id=bill_id,
        payment_id=payment_id,
        barcode=bill_barcode(bill_id, payment_id),
        issued_on=date(2026, 11, 28),
        due_on=date(2026, 12, 8),
        history=(HistoryPoint(140507, 230, 236_000, False), HistoryPoint(140508, 100, 1_234_000, False)),
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def _sms_parts(text: str) -> int:
    """Parts of a UCS-2 SMS: one of 70 characters, or parts of 67 when concatenated."""
    assert all(ord(ch) <= 0xFFFF for ch in text)
    return 1 if len(text) <= 70 else math.ceil(len(text) / 67)


def test_ebill_text_says_amount_due_date_ids_and_link() -> None:
    view = _view()
    text = ebill_text(view)
    lines = text.split("\n")
    assert lines[0] == "قبض برق آبان ۱۴۰۵"
    assert lines[1] == "۱٬۲۳۴٬۰۰۰ ریال تا ۱۴۰۵/۰۹/۱۷"  # due 2026-12-08
    assert lines[2] == f"شناسه قبض {fa_digits(view.bill_id)}" and len(view.bill_id) == 13
    assert lines[3] == f"شناسه پرداخت {fa_digits(view.payment_id or '')}"
    assert lines[4] == f"/pay?bill={view.bill_id}&pay={view.payment_id}"  # Latin digits: a link
    assert "{" not in text and "…" not in text
    assert len(text) <= EBILL_MAX_CHARS and _sms_parts(text) <= 2


def test_ebill_text_of_the_longest_bill_still_fits_two_parts() -> None:
    bill_id = build_bill_id(99999999, "999")
    payment_id = build_payment_id(bill_id=bill_id, amount=99_999_999_000, year=1405, period=2)
    assert len(bill_id) == len(payment_id) == 13
    view = _view(
        cycle=140502,
        bill_id=bill_id,
        payment_id=payment_id,
        payable=99_999_999_000,
        barcode=bill_barcode(bill_id, payment_id),
    )
    text = ebill_text(view)
    assert len(text) <= EBILL_MAX_CHARS and _sms_parts(text) == 2
    assert text.startswith("برق اردیبهشت ۱۴۰۵\n۹۹٬۹۹۹٬۹۹۹٬۰۰۰ ریال تا ")
    assert "ش.قبض" in text and "ش.پرداخت" in text and text.endswith(f"pay={payment_id}")


def test_ebill_text_shortens_only_when_needed() -> None:
    short = _view(bill_id="112321", payment_id="16150840", payable=161_000)
    assert ebill_text(short).startswith("قبض برق آبان ۱۴۰۵\n")
    assert "شناسه پرداخت ۱۶۱۵۰۸۴۰" in ebill_text(short)
    with_portal = ebill_text(short, portal="https://barq.example/")
    assert with_portal.endswith("\nhttps://barq.example/pay?bill=112321&pay=16150840")
    assert len(with_portal) <= EBILL_MAX_CHARS


def test_ebill_text_when_nothing_is_payable() -> None:
    text = ebill_text(_view(payable=0, payment_id=None, barcode=None))
    assert "مبلغ قابل پرداخت ندارد" in text and "/pay" not in text
    assert len(text) <= 70


@pytest.mark.parametrize(
    ("milli", "shown"),
    [
        (100_000, "۱۰۰"),
        (150_500, "۱۵۰٫۵"),
        (392_333, "۳۹۲٫۳۳۳"),
        (127_770_000, "۱۲۷٬۷۷۰"),
        (0, "۰"),
        (-243_000, "\u202a-۲۴۳\u202c"),
    ],
)
def test_fa_milli(milli: int, shown: str) -> None:
    assert fa_milli(milli) == shown


def test_amounts_and_labels() -> None:
    assert fa_amount(1_234_000) == "۱٬۲۳۴٬۰۰۰"
    assert fa_amount(-869) == "\u202a-۸۶۹\u202c"  # the minus stays on the left in right-to-left text
    assert cycle_label(140501) == "فروردین ۱۴۰۵" and cycle_label(140412) == "اسفند ۱۴۰۴"
    line = _view().lines[2]
    assert (line.quantity_fa, line.rate_fa) == ("۷۶٬۳۷۰", "۹ درصد")
    carry = _view().lines[3]
    assert (carry.quantity_fa, carry.rate_fa, carry.amount_fa) == ("", "", "\u202a-۲۴۳\u202c")


def test_view_totals_and_chart_data() -> None:
    view = _view()
    assert view.energy_amount == 64_600 and view.amount_of("vat") == 6_873
    assert sum(ln.amount for ln in view.lines) == 64_600 + 11_770 + 6_873 - 243
    assert view.mid_kwh is None and _view(peak_kwh=30, offpeak_kwh=20).mid_kwh == 50
    assert view.chart_data() == {
        "labels": ["مهر ۱۴۰۵", "آبان ۱۴۰۵"],
        "kwh": [230, 100],
        "payable": [236_000, 1_234_000],
        "estimated": [False, False],
        "current": 1,
    }


def test_bill_html_is_right_to_left_persian() -> None:
    html = bill_html(_view(estimated=True))
    assert '<html lang="fa" dir="rtl">' in html
    assert "direction: ltr" in html  # the barcode box
    assert "data:image/svg+xml;base64," in html
    assert "علی‌الحساب" in html
    assert "۱۴۰۵/۰۸/۰۳" in html and "۱٬۲۳۴٬۰۰۰" in html


def test_bill_pdf_of_a_view() -> None:
    pdf = bill_pdf(_view())
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000


def test_print_file_columns_are_documented() -> None:
    documented = re.findall(r"^\| `([a-z_0-9]+)` \|", DOCS.read_text(encoding="utf-8"), flags=re.M)
    assert tuple(documented) == PRINT_FILE_COLUMNS
