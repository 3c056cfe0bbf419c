"""The bill's documents: what a bill shows, the PDF bill, the print-company file and the e-bill text.

- ``bill_view(session, bill_id)`` gathers everything one bill shows into a :class:`BillView`;
- ``bill_pdf(view)`` renders it as a Persian, right-to-left A5 PDF (WeasyPrint, Vazirmatn) with the
  26-digit Interleaved 2 of 5 barcode (domain.md §2);
- ``print_file(session, cycle=..., route_id=...)`` is the CSV the printing company receives per route and
  cycle (domain.md §4); its columns are documented in ``docs/print-file.md``;
- ``ebill_text(view)`` is the e-bill (قبض سبز) SMS text.

Who may see a bill is decided by ``get_bill`` (the subscription's scope); the other functions take a bill
already allowed.
"""

from __future__ import annotations

import base64
import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import barcode
from barcode.writer import SVGWriter
from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.orm import Session

from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.billing.models import Bill, BillLine, BillRun, issued_bills
from barq.billing.service import bill_lines, previous_cycle
from barq.calendar import MONTH_NAMES, fa_digits, fa_number, format_jalali, to_jalali
from barq.connections.models import Subscription
from barq.connections.service import TARIFF_GROUP_NAMES, get_subscription
from barq.customers.models import Customer, Premises
from barq.errors import NotFound
from barq.ids import bill_barcode
from barq.metering.models import Meter, MeterInstallation, MeterRead
from barq.network.models import Company, District, Route
from barq.rating.engine import TITLES_FA

HISTORY_PERIODS = 12
FONT_DIR = Path(__file__).resolve().parent.parent / "web" / "static" / "vendor" / "fonts"
BILL_STATE_NAMES = {"draft": "پیش‌نویس", "held": "نگه‌داشته", "issued": "صادر شده", "cancelled": "ابطال شده"}


def bill_state(bill: Bill, run: BillRun) -> str:
    """What a person calls the bill's state: a rated bill is a draft until its run is issued."""
    if bill.state == "rated":
        return "issued" if run.state == "issued" else "draft"
    return bill.state


EBILL_MAX_CHARS = 134  # two concatenated UCS-2 SMS parts of 67 characters
PAY_PATH = "/pay"

_ADDON_CODES = frozenset({"fixed_charge", "levy", "vat", "insurance"})
_CARRY_CODES = frozenset({"carry_in", "carry_out"})
_DEMAND_CODES = frozenset({"demand_charge", "demand_excess_penalty", "demand_seasonal_charge", "power_factor_penalty"})
_FA_DECIMAL = "\u066b"  # ARABIC DECIMAL SEPARATOR «٫»
# left-to-right embedding (Vazirmatn has these, not the isolates): a minus stays left of its number in RTL text
_LRE, _PDF = "\u202a", "\u202c"


# ------------------------------------------------------------------------------------------- display


def fa_amount(n: int) -> str:
    """Rials with Persian digits and separators; a negative amount keeps its minus on the left."""
    return f"{_LRE}{fa_number(n)}{_PDF}" if n < 0 else fa_number(n)


def fa_milli(milli: int) -> str:
    """Thousandths as a Persian decimal without trailing zeros: 150500 → «۱۵۰٫۵», 127770000 → «۱۲۷٬۷۷۰»."""
    whole, frac = divmod(abs(milli), 1000)
    text = fa_number(whole)
    if frac:
        text += _FA_DECIMAL + fa_digits(f"{frac:03d}".rstrip("0"))
    return f"{_LRE}-{text}{_PDF}" if milli < 0 else text


def cycle_label(cycle: int) -> str:
    """140508 → «آبان ۱۴۰۵»."""
    year, month = divmod(cycle, 100)
    return f"{MONTH_NAMES[month - 1]} {fa_digits(year)}"


def _unit(code: str) -> str:
    if code.startswith(("energy_", "tou_")):
        return "kwh"
    if code in ("demand_charge", "demand_excess_penalty", "demand_seasonal_charge"):
        return "kw"
    if code in ("fixed_charge", "insurance"):
        return "day"
    if code in ("levy", "vat", "power_factor_penalty"):
        return "share"
    return ""


UNIT_NAMES = {"kwh": "کیلووات‌ساعت", "kw": "کیلووات", "day": "روز", "share": "ریال", "": ""}


# ------------------------------------------------------------------------------------------- the view


@dataclass(frozen=True)
class LineView:
    """One priced line as printed: quantity and rate in thousandths, the amount in rials."""

    code: str
    title: str
    unit: str  # kwh, kw, day, share (a share of an amount in rials), or "" (carried remainders)
    quantity_milli: int
    rate_milli: int
    amount: int
    version: str
    part: int

    @property
    def quantity_fa(self) -> str:
        if not self.unit:
            return ""
        return fa_milli(self.quantity_milli)

    @property
    def rate_fa(self) -> str:
        if not self.unit:
            return ""
        if self.unit == "share":  # levy and VAT rates as a percentage: 100 → «۱۰ درصد»
            return f"{fa_milli(self.rate_milli * 100)} درصد"
        return fa_milli(self.rate_milli)

    @property
    def amount_fa(self) -> str:
        return fa_amount(self.amount)


@dataclass(frozen=True)
class HistoryPoint:
    cycle: int
    kwh: int
    payable: int
    estimated: bool

    @property
    def label(self) -> str:
        return cycle_label(self.cycle)


@dataclass(frozen=True)
class BillView:
    """Everything one bill shows, on the page, in the PDF and in the e-bill text."""

    id: int
    bill_number: str
    state: str
    cycle: int
    company_name: str
    subscription_id: int
    subscription_number: str
    file_number: str
    customer_name: str
    address: str
    postal_code: str
    district_name: str
    route_code: str | None
    route_sequence: int | None
    tariff_group: int
    tariff_sub_code: str
    tariff_versions: tuple[str, ...]
    households: int
    amperage: int
    contract_kw: str
    meter_serial: str | None
    multiplier: int
    prev_read_on: date
    cur_read_on: date
    days: int
    prev_read: int | None  # the meter's active register at the previous and current read, when recorded
    cur_read: int | None
    kwh: int
    peak_kwh: int | None
    offpeak_kwh: int | None
    estimated: bool
    lines: tuple[LineView, ...]
    total: int  # the period's charges, before the carried remainder
    carry_in: int
    carry_out: int
    payable: int
    bill_id: str  # شناسه قبض
    payment_id: str | None  # شناسه پرداخت (none while a draft, or when nothing is payable)
    barcode: str | None  # the 26 digits
    issued_on: date | None
    due_on: date | None
    history: tuple[HistoryPoint, ...]  # the last periods up to this one, oldest first

    @property
    def tariff_name(self) -> str:
        return f"{TARIFF_GROUP_NAMES.get(self.tariff_group, '')} ({fa_digits(self.tariff_sub_code)})"

    @property
    def period_label(self) -> str:
        return cycle_label(self.cycle)

    @property
    def mid_kwh(self) -> int | None:
        if self.peak_kwh is None and self.offpeak_kwh is None:
            return None
        return self.kwh - (self.peak_kwh or 0) - (self.offpeak_kwh or 0)

    @property
    def energy_amount(self) -> int:
        """Energy, time-of-use and demand lines: the base of the levy."""
        return sum(ln.amount for ln in self.lines if ln.code not in _ADDON_CODES | _CARRY_CODES)

    def amount_of(self, code: str) -> int:
        return sum(ln.amount for ln in self.lines if ln.code == code)

    @property
    def pay_path(self) -> str | None:
        """The portal's payment path for this bill, or None when nothing is payable."""
        if not self.payment_id:
            return None
        return f"{PAY_PATH}?bill={self.bill_id}&pay={self.payment_id}"

    def chart_data(self) -> dict[str, Any]:
        """The history as Chart.js wants it: labels and two series."""
        return {
            "labels": [p.label for p in self.history],
            "kwh": [p.kwh for p in self.history],
            "payable": [p.payable for p in self.history],
            "estimated": [p.estimated for p in self.history],
            "current": len(self.history) - 1,
        }


def get_bill(session: Session, *, principal: Principal, bill_id: int) -> Bill:
    """A bill the principal may see: a district user sees only its district's subscriptions' bills."""
    principal.require(P.BILLS_VIEW)
    bill = session.get(Bill, bill_id)
    if bill is None:
        raise NotFound("صورتحساب پیدا نشد")
    try:
        get_subscription(session, principal=principal, subscription_id=bill.subscription_id)
    except NotFound:
        raise NotFound("صورتحساب پیدا نشد") from None
    return bill


def _line_views(lines: list[BillLine]) -> tuple[LineView, ...]:
    parts = {ln.part for ln in lines}
    versions = {ln.version for ln in lines}
    out = []
    for ln in lines:
        title = TITLES_FA.get(ln.code, ln.code)
        if len(versions) > 1 and ln.code not in _CARRY_CODES:
            title += f" (تعرفه {fa_digits(ln.version)})"
        elif len(parts) > 1 and ln.code not in _CARRY_CODES and ln.code not in _ADDON_CODES:
            title += f" (بخش {fa_digits(ln.part + 1)})"
        out.append(
            LineView(
                code=ln.code,
                title=title,
                unit=_unit(ln.code),
                quantity_milli=ln.quantity_milli,
                rate_milli=ln.rate_milli,
                amount=ln.amount,
                version=ln.version,
                part=ln.part,
            )
        )
    return tuple(out)


def _register(session: Session, subscription_id: int, day: date) -> int | None:
    """The active register recorded on ``day`` by a valid read, if any."""
    value = session.scalar(
        select(MeterRead.active)
        .where(
            MeterRead.subscription_id == subscription_id,
            MeterRead.read_on == day,
            MeterRead.status == "valid",
            MeterRead.active.is_not(None),
        )
        .order_by(MeterRead.id.desc())
        .limit(1)
    )
    return None if value is None else int(value)


def _history(session: Session, bill: Bill) -> tuple[HistoryPoint, ...]:
    rows = session.execute(
        select(Bill.cycle, Bill.kwh, Bill.payable, Bill.estimated)
        .where(
            Bill.subscription_id == bill.subscription_id,
            Bill.cycle <= bill.cycle,
            issued_bills() | (Bill.id == bill.id),
        )
        .order_by(Bill.cycle.desc())
        .limit(HISTORY_PERIODS)
    ).all()
    return tuple(HistoryPoint(int(c), int(k), int(p), bool(e)) for c, k, p, e in reversed(rows))


def _barcode_of(bill_id: str, payment_id: str | None) -> str | None:
    if not payment_id:
        return None
    return bill_barcode(bill_id, payment_id)


def bill_view(session: Session, bill_id: int) -> BillView:
    """Everything bill ``bill_id`` (the bill's row id) shows; NotFound if there is no such bill."""
    bill = session.get(Bill, bill_id)
    if bill is None:
        raise NotFound("صورتحساب پیدا نشد")
    sub = session.get_one(Subscription, bill.subscription_id)
    customer = session.get_one(Customer, sub.customer_id)
    premises = session.get_one(Premises, sub.premises_id)
    district = session.get_one(District, sub.district_id)
    company = session.get(Company, district.company_id)
    route = session.get(Route, sub.route_id) if sub.route_id is not None else None
    meter = session.execute(
        select(Meter.serial, Meter.multiplier)
        .join(MeterInstallation, MeterInstallation.meter_id == Meter.id)
        .where(
            MeterInstallation.subscription_id == sub.id,
            MeterInstallation.installed_on <= bill.cur_read_on,
            (MeterInstallation.removed_on.is_(None)) | (MeterInstallation.removed_on >= bill.cur_read_on),
        )
        .order_by(MeterInstallation.installed_on.desc(), MeterInstallation.id.desc())
        .limit(1)
    ).first()
    run = session.get_one(BillRun, bill.run_id)
    lines = bill_lines(session, [bill])[bill.id]
    line_views = _line_views(lines)
    return BillView(
        id=bill.id,
        bill_number=bill.bill_number,
        state=bill_state(bill, run),
        cycle=bill.cycle,
        company_name=company.name if company else "",
        subscription_id=sub.id,
        subscription_number=sub.subscription_number,
        file_number=sub.file_number,
        customer_name=customer.display_name,
        address=premises.address,
        postal_code=premises.postal_code,
        district_name=district.name,
        route_code=route.code if route else None,
        route_sequence=sub.route_sequence,
        tariff_group=sub.tariff_group,
        tariff_sub_code=sub.tariff_sub_code,
        tariff_versions=tuple(sorted({ln.version for ln in lines})),
        households=sub.households,
        amperage=sub.amperage,
        contract_kw=f"{sub.contract_kw.normalize():f}",
        meter_serial=meter.serial if meter else None,
        multiplier=int(meter.multiplier) if meter else 1,
        prev_read_on=bill.prev_read_on,
        cur_read_on=bill.cur_read_on,
        days=bill.days,
        prev_read=_register(session, sub.id, bill.prev_read_on),
        cur_read=_register(session, sub.id, bill.cur_read_on),
        kwh=bill.kwh,
        peak_kwh=bill.peak_kwh,
        offpeak_kwh=bill.offpeak_kwh,
        estimated=bill.estimated,
        lines=line_views,
        total=bill.total,
        carry_in=bill.carry_in,
        carry_out=bill.carry_out,
        payable=bill.payable,
        bill_id=sub.bill_id,
        payment_id=bill.payment_id,
        barcode=_barcode_of(sub.bill_id, bill.payment_id),
        issued_on=run.issued_on if run.state == "issued" else None,
        due_on=run.due_on if run.state == "issued" else None,
        history=_history(session, bill),
    )


# ------------------------------------------------------------------------------------------- barcode


def barcode_svg(digits: str, *, module_height_mm: float = 11.0) -> str:
    """The Interleaved 2 of 5 barcode of ``digits`` as an SVG document, without human-readable text."""
    buf = io.BytesIO()
    barcode.get_barcode_class("itf")(digits, writer=SVGWriter()).write(
        buf,
        options={
            "module_height": module_height_mm,
            "quiet_zone": 4.0,
            "write_text": False,
            "margin_top": 0.5,
            "margin_bottom": 0.5,
        },
    )
    return buf.getvalue().decode("utf-8")


def barcode_svg_inline(digits: str) -> str:
    """The barcode's ``<svg>`` element alone (no XML declaration or doctype), to put inside HTML."""
    svg = barcode_svg(digits)
    start = svg.index("<svg")
    return svg[start:].replace("<svg ", '<svg role="img" aria-label="بارکد قبض" ', 1)


def _barcode_data_uri(digits: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(barcode_svg(digits).encode("utf-8")).decode("ascii")


# ------------------------------------------------------------------------------------------- PDF


def _chart_bars(history: tuple[HistoryPoint, ...], *, max_mm: float = 15.0) -> list[dict[str, Any] | None]:
    """The history as bars for the PDF, oldest on the right, padded to 12 slots (HTML boxes: WeasyPrint's SVG
    text is neither shaped nor laid out right to left)."""
    if not history:
        return []
    peak = max([p.kwh for p in history] + [1])
    bars: list[dict[str, Any] | None] = [
        {
            "month": MONTH_NAMES[p.cycle % 100 - 1],
            "year": fa_digits(p.cycle // 100),
            "kwh": fa_number(p.kwh),
            "height": f"{max(max_mm * p.kwh / peak, 0.3):.1f}mm",
            "kind": "current" if i == len(history) - 1 else ("estimated" if p.estimated else "past"),
        }
        for i, p in enumerate(history)
    ]
    return bars + [None] * (HISTORY_PERIODS - len(bars))


_PDF_TEMPLATE = """<!doctype html>
<html lang="fa" dir="rtl">
<head><meta charset="utf-8"><title>صورتحساب برق {{ v.bill_number }}</title>
<style>
{% for weight, file in fonts %}
@font-face { font-family: "Vazirmatn"; src: url("{{ file }}"); font-weight: {{ weight }}; }
{% endfor %}
@page { size: A5; margin: 8mm 8mm 9mm 8mm;
  @bottom-center { content: "{{ footer }}"; font-family: "Vazirmatn", sans-serif; font-size: 6.5pt; color: #667085; } }
* { box-sizing: border-box; }
body { font-family: "Vazirmatn", "DejaVu Sans", sans-serif; direction: rtl; font-size: 7.6pt; line-height: 1.45;
  color: #1d2633; margin: 0; }
h1 { font-size: 11pt; margin: 0; }
.head { display: flex; justify-content: space-between; align-items: flex-start; border-bottom: 1.2pt solid #0b5cad;
  padding-bottom: 2mm; margin-bottom: 2mm; }
.head .company { font-weight: 700; font-size: 8.5pt; color: #0b5cad; }
.head .period { text-align: left; }
.head .period b { font-size: 10pt; }
.badge { display: inline-block; border: 0.6pt solid #b42318; color: #b42318; border-radius: 2mm; padding: 0 1.5mm;
  font-size: 7pt; }
table { width: 100%; border-collapse: collapse; }
.boxes { display: flex; gap: 2mm; margin-bottom: 2mm; }
.box { flex: 1; border: 0.6pt solid #dde3ea; border-radius: 1.5mm; padding: 1.2mm 2mm; }
.box h2 { font-size: 7.6pt; margin: 0 0 0.8mm; color: #0b5cad; }
.facts td { padding: 0.15mm 0; vertical-align: top; }
.facts td.k { color: #667085; white-space: nowrap; padding-left: 2mm; width: 1%; }
.lines th, .lines td { border-bottom: 0.5pt solid #dde3ea; padding: 0.6mm 1mm; text-align: right; }
.lines th { background: #eef2f7; font-weight: 700; }
.lines td.n, .lines th.n { text-align: left; white-space: nowrap; }
.lines tr.sum td { font-weight: 700; border-top: 0.8pt solid #1d2633; }
.pay { display: flex; gap: 2mm; margin-top: 2mm; align-items: stretch; break-inside: avoid; }
.pay .amount { flex: 1; border: 1pt solid #0b5cad; border-radius: 1.5mm; padding: 1.5mm 2mm; }
.pay .amount .big { font-size: 12pt; font-weight: 700; }
.ids td { padding: 0.2mm 0; }
.ids td.k { color: #667085; padding-left: 2mm; white-space: nowrap; width: 1%; }
.barcode { direction: ltr; text-align: center; margin-top: 1.5mm; }
.barcode img { width: 62mm; height: 12mm; }
.barcode .digits { font-size: 7pt; letter-spacing: 0.3pt; }
.chart { border: 0.6pt solid #dde3ea; border-radius: 1.5mm; padding: 1mm 2mm; margin-top: 2mm; break-inside: avoid; }
.chart h2 { font-size: 7.6pt; margin: 0; color: #0b5cad; }
.bars { table-layout: fixed; margin-top: 1mm; }
.bars td { text-align: center; vertical-align: bottom; padding: 0; font-size: 6pt; line-height: 1.2; }
.bars tr.plot td { height: 21mm; border-bottom: 0.5pt solid #667085; }
.bars .b { line-height: 0; font-size: 0; margin-top: 0.4mm; }
.bars .bar { display: inline-block; width: 5mm; background: #6f95c4; }
.bars .bar.current { background: #0b5cad; }
.bars .bar.estimated { background: #b9cbe2; }
.bars tr.lbl td { padding-top: 0.6mm; }
.bars tr.lbl span { color: #667085; }
.note { color: #667085; font-size: 6.8pt; margin-top: 1mm; }
</style></head>
<body>
<div class="head">
  <div><div class="company">{{ v.company_name }}</div><h1>صورتحساب برق {{ v.tariff_name }}</h1>
    {% if v.estimated %}<span class="badge">علی‌الحساب (برآوردی)</span>{% endif %}
    {% if v.state != 'issued' %}<span class="badge">{{ state }}</span>{% endif %}</div>
  <div class="period">دوره <b>{{ v.period_label }}</b><br>شماره صورتحساب {{ fa(v.bill_number) }}</div>
</div>
<div class="boxes">
  <div class="box"><h2>مشترک</h2><table class="facts">
    <tr><td class="k">نام</td><td>{{ fa(v.customer_name) }}</td></tr>
    <tr><td class="k">نشانی</td><td>{{ fa(v.address) }}</td></tr>
    <tr><td class="k">کد پستی</td><td>{{ fa(v.postal_code) }}</td></tr>
    <tr><td class="k">شماره اشتراک</td><td>{{ fa(v.subscription_number) }}</td></tr>
    <tr><td class="k">امور / مسیر</td><td>{{ v.district_name }}
      {%- if v.route_code %} / {{ fa(v.route_code) }}
      {%- if v.route_sequence %} ردیف {{ fa(v.route_sequence) }}{% endif %}{% endif %}</td></tr>
  </table></div>
  <div class="box"><h2>قرائت و مصرف</h2><table class="facts">
    <tr><td class="k">از تاریخ</td><td>{{ jd(v.prev_read_on) }}</td></tr>
    <tr><td class="k">تا تاریخ</td><td>{{ jd(v.cur_read_on) }} ({{ fa(v.days) }} روز)</td></tr>
    <tr><td class="k">رقم قبلی / فعلی</td><td>{{ register(v.prev_read) }} / {{ register(v.cur_read) }}</td></tr>
    <tr><td class="k">مصرف</td><td><b>{{ num(v.kwh) }}</b> کیلووات‌ساعت
      {%- if v.mid_kwh is not none %} (اوج {{ num(v.peak_kwh or 0) }}، میان {{ num(v.mid_kwh) }}،
      کم {{ num(v.offpeak_kwh or 0) }}){% endif %}</td></tr>
    <tr><td class="k">کنتور</td><td>{{ v.meter_serial or '—' }}
      {%- if v.multiplier > 1 %}، ضریب {{ fa(v.multiplier) }}{% endif %}
      · {{ fa(v.amperage) }} آمپر · خانوار {{ fa(v.households) }}</td></tr>
  </table></div>
</div>
<table class="lines">
  <thead><tr><th>شرح</th><th class="n">مقدار</th><th class="n">نرخ (ریال)</th><th class="n">مبلغ (ریال)</th>
  </tr></thead>
  <tbody>
  {% for ln in v.lines %}<tr><td>{{ ln.title }}</td>
    <td class="n">{{ ln.quantity_fa }}{% if ln.unit %} {{ units[ln.unit] }}{% endif %}</td>
    <td class="n">{{ ln.rate_fa }}</td><td class="n">{{ ln.amount_fa }}</td></tr>
  {% endfor %}
  <tr class="sum"><td>مبلغ قابل پرداخت</td><td></td><td></td><td class="n">{{ amount(v.payable) }}</td></tr>
  </tbody>
</table>
<div class="pay">
  <div class="amount">
    <div>مبلغ قابل پرداخت</div>
    <div class="big">{{ amount(v.payable) }} ریال</div>
    <div>مهلت پرداخت: <b>{{ jd(v.due_on) or '—' }}</b></div>
    <div class="note">صدور: {{ jd(v.issued_on) or '—' }} · بهای دوره {{ amount(v.total) }} ریال
      {%- if v.carry_in %} · کسر هزار ریال دوره قبل {{ amount(v.carry_in) }}{% endif %}
      {%- if v.carry_out %} · کسر هزار ریال این دوره {{ amount(v.carry_out) }}{% endif %}</div>
  </div>
  <div class="amount">
    <table class="ids">
      <tr><td class="k">شناسه قبض</td><td><b>{{ fa(v.bill_id) }}</b></td></tr>
      <tr><td class="k">شناسه پرداخت</td><td><b>{{ fa(v.payment_id or '—') }}</b></td></tr>
    </table>
    {% if barcode %}<div class="barcode"><img src="{{ barcode }}" alt="barcode">
      <div class="digits">{{ v.barcode }}</div></div>{% endif %}
  </div>
</div>
{% if bars %}<div class="chart"><h2>مصرف {{ fa(v.history|length) }} دوره اخیر (کیلووات‌ساعت)</h2>
  <table class="bars"><tr class="plot">{% for b in bars %}<td>{% if b %}{{ b.kwh }}<div class="b">
    <span class="bar {{ b.kind }}" style="height: {{ b.height }}"></span></div>{% endif %}</td>{% endfor %}</tr>
  <tr class="lbl">{% for b in bars %}<td>{% if b %}{{ b.month }}<br><span>{{ b.year }}</span>{% endif %}</td>
  {%- endfor %}</tr></table>
</div>{% endif %}
</body></html>
"""

_env = Environment(autoescape=True)
_template = _env.from_string(_PDF_TEMPLATE)


def _font_faces() -> list[tuple[int, str]]:
    faces = [(400, "Vazirmatn-Regular.ttf"), (700, "Vazirmatn-Bold.ttf")]
    return [(weight, (FONT_DIR / name).as_uri()) for weight, name in faces if (FONT_DIR / name).exists()]


def bill_html(view: BillView) -> str:
    """The bill as a standalone HTML page for WeasyPrint (fonts by file URL, barcode as a data URI)."""
    return _template.render(
        v=view,
        fonts=_font_faces(),
        fa=lambda value: fa_digits(str(value)),
        num=fa_number,
        amount=fa_amount,
        jd=format_jalali,
        register=lambda value: "—" if value is None else fa_number(value),
        units=UNIT_NAMES,
        state=BILL_STATE_NAMES.get(view.state, view.state),
        barcode=_barcode_data_uri(view.barcode) if view.barcode else None,
        bars=_chart_bars(view.history),
        footer=f"{view.company_name} · قبض برق {view.period_label}",
    )


def bill_pdf(view: BillView) -> bytes:
    """The bill as an A5 PDF: Persian, right to left, Persian digits, Jalali dates, the ITF barcode."""
    from weasyprint import HTML

    pdf = HTML(string=bill_html(view), base_url=str(FONT_DIR)).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


# ------------------------------------------------------------------------------------------- e-bill


def ebill_text(view: BillView, *, portal: str = "") -> str:
    """The e-bill (قبض سبز) SMS: period, payable, due date, bill ID, payment ID and the payment link.

    Persian digits, except in the link: ``portal`` (e.g. ``https://barq.example``, empty for the bare path)
    followed by ``/pay?bill=…&pay=…``. The text fits two concatenated UCS-2 SMS parts (``EBILL_MAX_CHARS``,
    134 characters): the full wording when it fits, else short labels (ش.قبض, ش.پرداخت), else also the due
    date without its year. Without ``portal`` every valid bill fits (a 13-digit bill ID and a 13-digit
    payment ID with the longest month name make 131 characters).
    """
    bill_id = fa_digits(view.bill_id)
    if not view.payment_id or view.payable <= 0:
        return f"قبض برق {view.period_label}\nمبلغ قابل پرداخت ندارد\nشناسه قبض {bill_id}"
    link = f"{portal.rstrip('/')}{view.pay_path}"
    amount = f"{fa_number(view.payable)} ریال"
    due = format_jalali(view.due_on) if view.due_on else ""
    short_due = due[5:] if due else ""  # «۰۹/۱۷»: the period names the year
    pay_id = fa_digits(view.payment_id)
    candidates = [
        (f"قبض برق {view.period_label}", due, "شناسه قبض", "شناسه پرداخت"),
        (f"برق {view.period_label}", due, "ش.قبض", "ش.پرداخت"),
        (f"برق {view.period_label}", short_due, "ش.قبض", "ش.پرداخت"),
    ]
    text = ""
    for head, when, bill_label, pay_label in candidates:
        until = f" تا {when}" if when else ""
        text = f"{head}\n{amount}{until}\n{bill_label} {bill_id}\n{pay_label} {pay_id}\n{link}"
        if len(text) <= EBILL_MAX_CHARS:
            break
    return text


# ------------------------------------------------------------------------------------------- print file

PRINT_FILE_COLUMNS: tuple[str, ...] = (
    "seq",
    "route_code",
    "route_sequence",
    "subscription_number",
    "file_number",
    "bill_number",
    "cycle",
    "bill_id",
    "payment_id",
    "barcode",
    "customer_name",
    "address",
    "postal_code",
    "district_code",
    "district_name",
    "tariff_group",
    "tariff_sub_code",
    "households",
    "amperage",
    "meter_serial",
    "multiplier",
    "prev_read_on",
    "cur_read_on",
    "days",
    "prev_read",
    "cur_read",
    "kwh",
    "peak_kwh",
    "mid_kwh",
    "offpeak_kwh",
    "estimated",
    "energy_amount",
    "demand_amount",
    "fixed_charge",
    "levy",
    "vat",
    "insurance",
    "total",
    "carry_in",
    "carry_out",
    "payable",
    "issued_on",
    "due_on",
    "lines",
    "history",
)


def _jalali_latin(d: date | None) -> str:
    if d is None:
        return ""
    j = to_jalali(d)
    return f"{j.year:04d}/{j.month:02d}/{j.day:02d}"


def _milli_text(milli: int) -> str:
    sign = "-" if milli < 0 else ""
    whole, frac = divmod(abs(milli), 1000)
    return f"{sign}{whole}" + (f".{frac:03d}".rstrip("0") if frac else "")


def print_file(session: Session, *, cycle: int, route_id: int) -> str:
    """The printing company's CSV of a route and cycle: one row per issued bill, in route sequence.

    UTF-8 with a byte order mark (Excel opens it in Persian), comma-separated, CRLF line ends, a header
    row of the names in ``PRINT_FILE_COLUMNS``; digits are Latin, dates Jalali ``yyyy/mm/dd``, amounts in
    whole rials without separators. See docs/print-file.md.
    """
    route = session.get(Route, route_id)
    if route is None:
        raise NotFound("مسیر پیدا نشد")
    district = session.get_one(District, route.district_id)
    rows = session.execute(
        select(Bill, Subscription, Customer, Premises)
        .join(Subscription, Subscription.id == Bill.subscription_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .join(Premises, Premises.id == Subscription.premises_id)
        .where(Bill.cycle == cycle, issued_bills(), Subscription.route_id == route_id)
        .order_by(Subscription.route_sequence.is_(None), Subscription.route_sequence, Subscription.subscription_number)
    ).all()
    sub_ids = [s.id for _, s, _, _ in rows]
    lines = bill_lines(session, [b for b, _, _, _ in rows])
    issue_dates = {
        r.id: (r.issued_on, r.due_on)
        for r in session.scalars(select(BillRun).where(BillRun.id.in_({b.run_id for b, _, _, _ in rows})))
    }
    history: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    reads: dict[tuple[int, date], int] = {}
    meters: dict[int, tuple[str, int]] = {}
    first_cycle = previous_cycle(cycle, HISTORY_PERIODS - 1)
    for chunk in _chunks(sub_ids):
        for sid, c, kwh, payable in session.execute(
            select(Bill.subscription_id, Bill.cycle, Bill.kwh, Bill.payable)
            .where(Bill.subscription_id.in_(chunk), issued_bills(), Bill.cycle >= first_cycle, Bill.cycle <= cycle)
            .order_by(Bill.cycle)
        ):
            history[int(sid)].append((int(c), int(kwh), int(payable)))
        for sid, day, active in session.execute(
            select(MeterRead.subscription_id, MeterRead.read_on, MeterRead.active)
            .where(MeterRead.subscription_id.in_(chunk), MeterRead.status == "valid", MeterRead.active.is_not(None))
            .order_by(MeterRead.id)
        ):
            if active is not None:
                reads[(int(sid), day)] = int(active)
        for sid, serial, multiplier in session.execute(
            select(MeterInstallation.subscription_id, Meter.serial, Meter.multiplier)
            .join(Meter, Meter.id == MeterInstallation.meter_id)
            .where(MeterInstallation.subscription_id.in_(chunk), MeterInstallation.removed_on.is_(None))
            .order_by(MeterInstallation.id)
        ):
            meters[int(sid)] = (serial, int(multiplier))

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PRINT_FILE_COLUMNS)
    for n, (bill, sub, customer, premises) in enumerate(rows, start=1):
        bl = lines[bill.id]

        def amount(codes: frozenset[str], bl: list[BillLine] = bl) -> int:
            return sum(ln.amount for ln in bl if ln.code in codes)

        energy = sum(ln.amount for ln in bl if ln.code not in _ADDON_CODES | _CARRY_CODES | _DEMAND_CODES)
        tou = bill.peak_kwh is not None or bill.offpeak_kwh is not None
        mid = bill.kwh - (bill.peak_kwh or 0) - (bill.offpeak_kwh or 0) if tou else None
        serial, multiplier = meters.get(sub.id, ("", 1))
        writer.writerow(
            [
                n,
                route.code,
                sub.route_sequence if sub.route_sequence is not None else "",
                sub.subscription_number,
                sub.file_number,
                bill.bill_number,
                bill.cycle,
                sub.bill_id,
                bill.payment_id or "",
                _barcode_of(sub.bill_id, bill.payment_id) or "",
                customer.display_name,
                premises.address,
                premises.postal_code,
                district.code,
                district.name,
                sub.tariff_group,
                sub.tariff_sub_code,
                sub.households,
                sub.amperage,
                serial,
                multiplier,
                _jalali_latin(bill.prev_read_on),
                _jalali_latin(bill.cur_read_on),
                bill.days,
                _opt(reads.get((sub.id, bill.prev_read_on))),
                _opt(reads.get((sub.id, bill.cur_read_on))),
                bill.kwh,
                _opt(bill.peak_kwh),
                _opt(mid),
                _opt(bill.offpeak_kwh),
                1 if bill.estimated else 0,
                energy,
                amount(_DEMAND_CODES),
                amount(frozenset({"fixed_charge"})),
                amount(frozenset({"levy"})),
                amount(frozenset({"vat"})),
                amount(frozenset({"insurance"})),
                bill.total,
                bill.carry_in,
                bill.carry_out,
                bill.payable,
                _jalali_latin(issue_dates[bill.run_id][0]),
                _jalali_latin(issue_dates[bill.run_id][1]),
                "|".join(
                    f"{ln.code}:{_milli_text(ln.quantity_milli)}:{_milli_text(ln.rate_milli)}:{ln.amount}" for ln in bl
                ),
                ";".join(f"{c}:{k}:{p}" for c, k, p in history[sub.id]),
            ]
        )
    return out.getvalue()


def get_print_route(session: Session, *, principal: Principal, route_id: int) -> tuple[Route, District]:
    """A route whose print file the principal may take: a district user only its own district's routes."""
    principal.require(P.BILLS_VIEW)
    route = session.get(Route, route_id)
    if route is None or (principal.district_id is not None and route.district_id != principal.district_id):
        raise NotFound("مسیر پیدا نشد")
    return route, session.get_one(District, route.district_id)


def print_file_name(*, cycle: int, route_code: str, district_code: str) -> str:
    return f"bills-{cycle}-{district_code}-{route_code}.csv"


def _opt(value: int | None) -> int | str:
    return "" if value is None else value


def _chunks(ids: list[int], size: int = 900) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
