"""The public bill calculator (domain.md §3, «Quote»): anyone, signed in or not, prices a hypothetical
consumption and sees the bill's lines.

``GET /quote`` with no query shows the form; with the form's fields in the query it prices them with
:func:`barq.rating.quote.quote` and shows the lines, or the form again with each error beside its field
(status 422). A quote is a safe, repeatable read (nothing is stored), so it is a GET: the result has an
address that can be bookmarked, shared or linked from the company's site, the back button and reload work
without a «resend the form?» prompt, and no CSRF token is needed. The query holds only consumption
figures, never personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import jdatetime
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from barq.calendar import fa_digits, fa_number, format_jalali, to_jalali
from barq.errors import ValidationError
from barq.ids import normalize_digits
from barq.rating.book import TariffBook, TariffLibrary
from barq.rating.engine import Line, RatedBill
from barq.rating.quote import quote
from barq.web.deps import DB, optional_principal
from barq.web.routes.tariffs import EXAMPLE_LABEL, SEASON_NAMES, TariffFormat, tariff_library

router = APIRouter(include_in_schema=False)

FIELDS: Final = ("group", "zone", "from", "to", "kwh", "peak", "offpeak", "households", "medical", "demand_kw")
LABELS: Final = {
    "group": "تعرفه",
    "zone": "منطقه اقلیمی",
    "from": "تاریخ قرائت قبلی",
    "to": "تاریخ قرائت فعلی",
    "kwh": "کل مصرف",
    "peak": "مصرف اوج بار",
    "offpeak": "مصرف کم باری",
    "households": "تعداد خانوار",
    "demand_kw": "قدرت",
}
# quote() and the engine name some fields after their arguments; the form names them as the API does.
FIELD_NAMES: Final = {
    "from_date": "from",
    "to_date": "to",
    "date": "to",
    "cur_date": "to",
    "sub_code": "group",
    "peak_kwh": "peak",
    "offpeak_kwh": "offpeak",
}
MAX_DIGITS: Final = 10
_INT_RE = re.compile(r"^-?[0-9]+$")
_UNITS: Final = {"kwh": "کیلووات‌ساعت", "kw": "کیلووات", "day": "روز", "share": "ریال"}
_LRE, _PDF = "\u202a", "\u202c"


def form_field(name: str | None) -> str:
    """The form (and API) name of a field an error names."""
    return FIELD_NAMES.get(name or "", name or "group")


def field_errors(exc: ValidationError) -> dict[str, str]:
    """A ValidationError's messages keyed by the form's field names, with Persian digits."""
    errors = {form_field(f): fa_digits(m) for f, m in exc.errors.items()}
    return errors or {form_field(exc.field): fa_digits(exc.message_fa)}


def parse_int(raw: str, name: str, errors: dict[str, str], *, required: bool = False) -> int | None:
    """A whole number typed by a person (Persian or Latin digits, thousands separators allowed); a minus
    sign is read so that the calculator can say why a negative value is refused."""
    text = normalize_digits(raw).strip().replace("\u2212", "-")
    for sep in (",", "\u066c", "،", " "):
        text = text.replace(sep, "")
    if not text:
        if required:
            errors[name] = f"«{LABELS[name]}» را وارد کنید"
        return None
    if not _INT_RE.match(text):
        errors[name] = f"«{LABELS[name]}» باید عدد صحیح باشد"
        return None
    if len(text.lstrip("-")) > MAX_DIGITS:
        errors[name] = f"«{LABELS[name]}» بیش از اندازه بزرگ است"
        return None
    return int(text)


def default_values(today: date) -> dict[str, str]:
    """The form's first values: a residential normal-zone customer, the last whole Jalali month."""
    j = to_jalali(today)
    this_month = jdatetime.date(j.year, j.month, 1)
    last_month = jdatetime.date(j.year - 1, 12, 1) if j.month == 1 else jdatetime.date(j.year, j.month - 1, 1)
    return {
        "group": "1",
        "zone": "normal",
        "from": f"{last_month.year:04d}/{last_month.month:02d}/01",
        "to": f"{this_month.year:04d}/{this_month.month:02d}/01",
        "kwh": "",
        "peak": "",
        "offpeak": "",
        "households": "1",
        "medical": "",
        "demand_kw": "",
    }


def line_unit(code: str) -> str:
    if code.startswith(("energy_", "tou_")):
        return "kwh"
    if code in ("demand_charge", "demand_excess_penalty", "demand_seasonal_charge"):
        return "kw"
    if code in ("fixed_charge", "insurance"):
        return "day"
    if code in ("levy", "vat", "power_factor_penalty"):
        return "share"
    return ""


def fa_amount(n: int) -> str:
    """Rials with Persian digits and separators; a negative amount keeps its minus on the left."""
    return f"{_LRE}{fa_number(n)}{_PDF}" if n < 0 else fa_number(n)


@dataclass(frozen=True)
class LineRow:
    line: Line
    unit: str

    @property
    def quantity(self) -> str:
        return TariffFormat.number(self.line.quantity) if self.unit else ""

    @property
    def unit_name(self) -> str:
        return _UNITS.get(self.unit, "")

    @property
    def rate(self) -> str:
        if not self.unit:
            return ""
        if self.unit == "share":
            return TariffFormat.percent(self.line.rate)
        return TariffFormat.number(self.line.rate)

    @property
    def amount(self) -> str:
        return fa_amount(self.line.amount)


@dataclass(frozen=True)
class PartView:
    """A run of days priced by one book in one season, with its lines."""

    title: str
    rows: tuple[LineRow, ...]


@dataclass(frozen=True)
class QuoteView:
    bill: RatedBill
    parts: tuple[PartView, ...]
    versions: tuple[str, ...]
    example: bool
    kwh: int

    @property
    def total(self) -> str:
        return fa_amount(self.bill.total)

    @property
    def payable(self) -> str:
        return fa_amount(self.bill.payable)

    @property
    def carry(self) -> str:
        return fa_amount(self.bill.carry)

    @property
    def versions_fa(self) -> str:
        return " و ".join(fa_digits(v) for v in self.versions)


def quote_view(library: TariffLibrary, bill: RatedBill, kwh: int) -> QuoteView:
    versions = tuple(dict.fromkeys(line.version for line in bill.lines))
    books = [library.get(v) for v in versions]
    several = len(bill.parts) > 1
    parts: list[PartView] = []
    for index, part in enumerate(bill.parts):
        rows = tuple(LineRow(ln, line_unit(ln.code)) for ln in bill.lines if ln.part == index)
        title = ""
        if several:
            title = (
                f"{format_jalali(part.start)} تا {format_jalali(part.end)} · {fa_number(part.days)} روز · "
                f"تعرفه {fa_digits(part.version)} · {SEASON_NAMES[part.season]} · {fa_number(part.kwh)} کیلووات‌ساعت"
            )
        parts.append(PartView(title=title, rows=rows))
    return QuoteView(bill=bill, parts=tuple(parts), versions=versions, example=any(b.example for b in books), kwh=kwh)


def _form_book(library: TariffLibrary, today: date) -> TariffBook:
    """The book whose groups and zones the form offers: the one in force today, else the latest."""
    return library.find(today) or library.books[-1]


def _group_value(book: TariffBook, value: str) -> str:
    """The option to mark selected: a bare group number selects the group's default sub-code."""
    text = normalize_digits(value).strip()
    if text.isdigit() and int(text) in book.groups:
        return book.groups[int(text)].default_sub_code
    return text


def run_quote(library: TariffLibrary, values: dict[str, str]) -> tuple[QuoteView | None, dict[str, str]]:
    """Parse the form's values and price them: (the quote, {}) or (None, errors by field)."""
    errors: dict[str, str] = {}
    kwh = parse_int(values["kwh"], "kwh", errors, required=True)
    peak = parse_int(values["peak"], "peak", errors)
    offpeak = parse_int(values["offpeak"], "offpeak", errors)
    households = parse_int(values["households"], "households", errors)
    demand_kw = parse_int(values["demand_kw"], "demand_kw", errors)
    if not values["group"].strip():
        errors["group"] = "تعرفه را برگزینید"
    if not values["zone"].strip():
        errors["zone"] = "منطقه اقلیمی را برگزینید"
    for name in ("from", "to"):
        if not values[name].strip():
            errors[name] = f"«{LABELS[name]}» را وارد کنید"
    if errors or kwh is None:
        return None, errors
    try:
        bill = quote(
            library,
            group=values["group"],
            zone=values["zone"].strip(),
            from_date=values["from"],
            to_date=values["to"],
            kwh=kwh,
            peak=peak,
            offpeak=offpeak,
            households=1 if households is None else households,
            medical=values["medical"] in ("1", "on", "true"),
            demand_kw=demand_kw,
        )
    except ValidationError as exc:
        return None, field_errors(exc)
    return quote_view(library, bill, kwh), {}


@router.get("/quote", response_class=HTMLResponse)
def quote_page(request: Request, db: DB) -> Response:
    library = tariff_library(request)
    today: date = request.app.state.clock.today()
    book = _form_book(library, today)
    submitted = any(name in request.query_params for name in FIELDS)
    values = default_values(today)
    result: QuoteView | None = None
    errors: dict[str, str] = {}
    if submitted:
        values = {name: request.query_params.get(name, "")[:200] for name in FIELDS}
        result, errors = run_quote(library, values)
    principal = optional_principal(request, db)
    selected = _group_value(book, values["group"])
    context: dict[str, Any] = {
        "principal": principal,
        "csrf_token": principal.csrf_token if principal is not None else "",
        "book": book,
        "values": values,
        "selected_group": selected,
        "group_known": any(selected in g.sub_codes for g in book.groups.values()),
        "errors": errors,
        "result": result,
        "example_label": EXAMPLE_LABEL,
    }
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, "public/quote.html", context, status_code=422 if errors else 200
    )
    return response
