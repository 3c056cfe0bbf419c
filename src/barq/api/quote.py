"""``POST /api/v1/quote``: the public bill calculator as JSON (domain.md §3, «Quote»).

Public: no API key, because it reads only the tariff books and stores nothing (the same calculation as
the public page ``/quote``). Input is checked by :func:`barq.rating.quote.quote`; a bad value is a 422
``application/problem+json`` (``validation_error``) whose ``errors`` name the field as the client wrote
it (``from``, ``to``, ``kwh``, ``peak``, …) with a Persian message.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from barq.api.errors import PROBLEM
from barq.api.schemas import PROBLEM_SCHEMA
from barq.errors import ValidationError
from barq.rating.book import TariffLibrary, load_default_library
from barq.rating.engine import RatedBill
from barq.rating.quote import quote

MAX_KWH: Final = 9_999_999_999
"""Registers and demand above this are refused by the schema (a typing slip, not a consumption)."""

# quote() and the engine name some fields after their arguments; the API names them as the body does.
_FIELD_NAMES: Final = {
    "from_date": "from",
    "to_date": "to",
    "date": "to",
    "cur_date": "to",
    "sub_code": "group",
    "peak_kwh": "peak",
    "offpeak_kwh": "offpeak",
}

_EXAMPLE_IN: Final[dict[str, Any]] = {
    "group": "1",
    "zone": "normal",
    "from": "1400/08/01",
    "to": "1400/09/01",
    "kwh": 180,
}
_EXAMPLE_OUT: Final[dict[str, Any]] = {
    "lines": [
        {
            "code": "energy_step_1",
            "title": "بهای انرژی پله ۱",
            "quantity": "100",
            "rate": "600",
            "amount": 60000,
            "version": "1400",
        },
        {
            "code": "energy_step_2",
            "title": "بهای انرژی پله ۲",
            "quantity": "80",
            "rate": "700",
            "amount": 56000,
            "version": "1400",
        },
        {
            "code": "fixed_charge",
            "title": "آبونمان",
            "quantity": "30",
            "rate": "392.333",
            "amount": 11770,
            "version": "1400",
        },
        {"code": "levy", "title": "عوارض برق", "quantity": "116000", "rate": "0.1", "amount": 11600, "version": "1400"},
        {
            "code": "vat",
            "title": "مالیات بر ارزش افزوده",
            "quantity": "127770",
            "rate": "0.09",
            "amount": 11499,
            "version": "1400",
        },
        {
            "code": "insurance",
            "title": "بیمه مشترکین",
            "quantity": "30",
            "rate": "33.333",
            "amount": 1000,
            "version": "1400",
        },
        {
            "code": "carry_out",
            "title": "کسر هزار ریال",
            "quantity": "1",
            "rate": "-869",
            "amount": -869,
            "version": "1400",
        },
    ],
    "total": 151869,
    "payable": 151000,
    "carry": 869,
    "version": "1400",
    "days": 30,
    "example": True,
}


class QuoteIn(BaseModel):
    """A hypothetical consumption to price. Dates are Jalali (``1400/08/01``; Persian digits accepted)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        coerce_numbers_to_str=True,
        json_schema_extra={
            "examples": [
                _EXAMPLE_IN,
                {
                    "group": "4-الف-2",
                    "zone": "tropical1",
                    "from": "1401/04/01",
                    "to": "1401/05/01",
                    "kwh": 52000,
                    "peak": 9000,
                    "offpeak": 15000,
                    "demand_kw": 150,
                },
            ]
        },
    )

    group: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[^\x00]*$",
        description="Tariff group number (1–5, its default sub-code) or a sub-code such as `2-الف-1` or `5-ب`",
        examples=["1", "5-ب"],
    )
    zone: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[^\x00]*$",
        description="Climate zone code of the tariff book: normal, tropical1 … tropical4",
        examples=["normal"],
    )
    from_: str = Field(
        alias="from",
        min_length=1,
        max_length=40,
        pattern=r"^[^\x00]*$",
        description="Previous read date, Jalali `YYYY/MM/DD`",
        examples=["1400/08/01"],
    )
    to: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[^\x00]*$",
        description="Current read date, Jalali `YYYY/MM/DD`, after `from` (at most 366 days)",
        examples=["1400/09/01"],
    )
    kwh: int = Field(le=MAX_KWH, description="Total consumption of the period, kWh", examples=[180])
    peak: int | None = Field(
        default=None, le=MAX_KWH, description="Peak-register kWh (TOU meter); mid = kwh − peak − offpeak"
    )
    offpeak: int | None = Field(default=None, le=MAX_KWH, description="Off-peak-register kWh (TOU meter)")
    households: int = Field(default=1, le=MAX_KWH, description="Households behind the meter (1–100, residential)")
    medical: bool = Field(default=False, description="A valid medical certificate (residential only)")
    demand_kw: int | None = Field(
        default=None, le=MAX_KWH, description="Demand, kW: required for a demand sub-code, refused otherwise"
    )


class QuoteLine(BaseModel):
    code: str = Field(description="Stable line code: energy_step_1, tou_peak_surcharge, fixed_charge, vat, …")
    title: str = Field(description="The line's Persian title as printed on a bill", examples=["بهای انرژی پله ۱"])
    quantity: str = Field(description="kWh, kW, days, or the rial base of a share; a decimal string", examples=["100"])
    rate: str = Field(description="Rial per unit, or the share (0.09); a decimal string (≤ 3 places)", examples=["600"])
    amount: int = Field(description="Rials, rounded half up", examples=[60000])
    version: str = Field(description="The tariff book version that priced the line", examples=["1400"])


class QuoteOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_OUT]})

    lines: list[QuoteLine]
    total: int = Field(description="Sum of the priced lines, rials", examples=[151869])
    payable: int = Field(description="Total truncated to the payable unit (1,000 rials)", examples=[151000])
    carry: int = Field(description="The remainder carried to the next bill (its `carry_out` line is −carry)")
    version: str = Field(description="The tariff version in force at the end of the period", examples=["1400"])
    days: int = Field(description="Days of the period (to − from)", examples=[30])
    example: bool = Field(description="True when an example book (not the company's circular) priced a line")


_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    422: {
        "description": "Invalid input (`validation_error`), with `errors: [{field, message_fa}]` naming "
        "`group`, `zone`, `from`, `to`, `kwh`, `peak`, `offpeak`, `households`, `medical` or `demand_kw`",
        "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}},
    }
}

router = APIRouter(prefix="/api/v1", tags=["quote"])


def _library(request: Request) -> TariffLibrary:
    library: TariffLibrary | None = getattr(request.app.state, "tariff_library", None)
    if library is None:
        library = load_default_library()
        request.app.state.tariff_library = library
    return library


def _renamed(exc: ValidationError) -> ValidationError:
    """The error with its fields named as the request body names them."""
    field = _FIELD_NAMES.get(exc.field or "", exc.field)
    errors = {_FIELD_NAMES.get(f, f): m for f, m in exc.errors.items()}
    return ValidationError(exc.message_fa, field=field, errors=errors, detail=exc.detail)


def quote_out(library: TariffLibrary, bill: RatedBill) -> QuoteOut:
    """A rated quote as the API returns it: amounts in rials, quantity and rate as decimal strings."""
    versions = list(dict.fromkeys(line.version for line in bill.lines))
    return QuoteOut(
        lines=[
            QuoteLine(
                code=line.code,
                title=line.title_fa,
                quantity=str(line.quantity),
                rate=str(line.rate),
                amount=line.amount,
                version=line.version,
            )
            for line in bill.lines
        ],
        total=bill.total,
        payable=bill.payable,
        carry=bill.carry,
        version=bill.parts[-1].version if bill.parts else versions[-1],
        days=bill.days,
        example=any(library.get(v).example for v in versions),
    )


@router.post(
    "/quote",
    response_model=QuoteOut,
    summary="Quote a bill (public, no API key)",
    description="The public bill calculator: prices a hypothetical consumption with the tariff books in force "
    "over the period and returns the bill's lines, total, payable amount and carried remainder. **Public: no "
    "API key is needed** (nothing is read from or written to customer data). A period that crosses a tariff "
    "version or the zone's warm months is split by days; each line says which version priced it.",
    responses=_RESPONSES,
    openapi_extra={"security": []},
)
def post_quote(body: QuoteIn, request: Request) -> QuoteOut:
    library = _library(request)
    try:
        bill = quote(
            library,
            group=body.group,
            zone=body.zone,
            from_date=body.from_,
            to_date=body.to,
            kwh=body.kwh,
            peak=body.peak,
            offpeak=body.offpeak,
            households=body.households,
            medical=body.medical,
            demand_kw=body.demand_kw,
        )
    except ValidationError as exc:
        raise _renamed(exc) from exc
    return quote_out(library, bill)
