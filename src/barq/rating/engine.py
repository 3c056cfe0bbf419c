"""The scalar rating engine: one bill, every line explained (domain.md §3).

``rate_bill(library, RatingInput(...)) -> RatedBill``. All arithmetic is exact (``Fraction``); each
line is rounded to whole rials, half up, once, when it is made. No float touches an amount.

Order of computation
--------------------

1. **Days** = ``cur_date − prev_date`` (≥ 1). The period is the days ``prev_date … cur_date − 1``.
2. **Parts.** The period is cut at every change of tariff book (``library.version_for``) and at every
   edge of the zone's warm months (Jalali months, from the book in force); adjacent days with the same
   book and season form one part. Most bills have one part.
3. **Registers.** With a TOU meter (``peak_kwh`` or ``offpeak_kwh`` given; a missing one is 0),
   mid = kwh − peak − off-peak. With demand readings (``DemandInput``) every register, reactive
   included, is × ``multiplier`` first; demand charges apply only to sub-codes marked ``demand``.
4. **Sharing by days** (only when there are several parts). Each register is shared on its own by the
   *cumulative floor* rule: after parts 1..i, whose days sum to Dᵢ of D, ⌊R·Dᵢ/D⌋ kWh have been given
   out; part i gets ⌊R·Dᵢ/D⌋ − ⌊R·Dᵢ₋₁/D⌋. Parts are whole kWh, never negative, sum exactly to R,
   and each is its proportional share rounded down or up. A part's kWh = its peak + mid + off-peak.
5. **Energy of a part**, residential (group kind ``residential``):
   - f = min(cap, 1 + (N − 1)·k) for N households; a = (kWh · 30 / days) / f, the per-household
     30-day average;
   - table: medical exemption (book ``medical.never_high_user``) → the within-pattern steps followed
     by the high-user rates for the kWh beyond the within-pattern table's last step; otherwise
     a > pattern(zone, season) → the high-user table *entirely*; else the within-pattern table;
   - step j with limits [lo, hi): x = min(max(a − lo, 0), hi − lo); its kWh = x · f · days / 30;
     ``energy_step_j`` = round(kWh × rate);
   - TOU: ``tou_peak_surcharge`` = peak kWh × (step-1 price × surcharge × s), and
     ``tou_offpeak_discount`` = −off-peak kWh × (step-1 price × discount × s), where step 1 is the
     table used and s is the zone's ``tou_warm_scale`` in warm months, else 1.
   Groups 2–5 (kind ``general``): base rate r of the matching table; single-rate meter →
   ``energy_base`` = kWh × r; TOU meter → ``energy_mid`` = mid × r, ``energy_peak`` = peak × r × 2,
   ``energy_offpeak`` = off-peak × r × ½ (factors from the book). Demand sub-codes add, prorated by
   days/30: ``demand_charge`` = max(contract × minimum share, maximeter) × rate per kW;
   ``demand_excess_penalty`` = (maximeter − contract)⁺ × rate per kW × excess factor;
   ``demand_seasonal_charge`` (warm parts) = billed kW × seasonal peak rate;
   ``power_factor_penalty`` = (sum of the part's energy register lines) × (kvarh/kWh − free ratio)
   × slope, when kvarh/kWh exceeds the free ratio.
6. **Add-ons, once per book version** (after the last part of that version), over the version's days
   and energy amount E (the sum of its energy, TOU and demand lines, each already rounded):
   ``fixed_charge`` = days × fixed/30; ``levy`` = levy rate × E; ``vat`` = VAT rate × (E + fixed);
   ``insurance`` = days × insurance per day.
7. **Total** = the sum of the lines above. With ``carry_in`` (the previous bill's remainder, a
   ``carry_in`` line), x = total + carry_in; **payable** = x truncated to the book's payable unit
   (1,000 rials), or 0 when x ≤ 0; **carry** = x − payable, shown as a ``carry_out`` line of −carry
   (کسر هزار ریال). So the lines always sum to ``payable``.

Worked example (book 1400, normal zone, Aban: 30 days, 180 kWh, one household, single-rate):
a = 180 ≤ pattern 200 → within pattern; step 1: 100 × 600 = 60,000; step 2: 80 × 700 = 56,000;
E = 116,000; fixed 30 × 11,770/30 = 11,770; levy 11,600; VAT 9 % × 127,770 = 11,499.3 → 11,499;
insurance 30 × 100/3 = 1,000; total 151,869; payable 151,000; carry 869.

Every line records the book version that priced it, and ``part`` (its index in ``RatedBill.parts``).
Line ``quantity`` and ``rate`` are shown rounded half up to 0.001; the amount is computed from the
exact values, so quantity × rate may differ from the amount in the last shown digit.

Pure module: no database, no web framework.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Final

import jdatetime

from barq.errors import ValidationError
from barq.money import Rial
from barq.rating.book import Band, Group, RateTable, Season, SubCode, TariffBook, TariffLibrary, Zone

DAYS_PER_MONTH: Final = 30
"""Steps apply to the 30-day average; fixed and demand charges are per 30 days."""

MAX_STEP_LINES: Final = 20
_FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")

LINE_CODES: Final[tuple[str, ...]] = (
    *(f"energy_step_{i}" for i in range(1, MAX_STEP_LINES + 1)),
    "tou_peak_surcharge",
    "tou_offpeak_discount",
    "energy_base",
    "energy_mid",
    "energy_peak",
    "energy_offpeak",
    "demand_charge",
    "demand_excess_penalty",
    "demand_seasonal_charge",
    "power_factor_penalty",
    "fixed_charge",
    "levy",
    "vat",
    "insurance",
    "carry_in",
    "carry_out",
)
"""Every line code, in the order lines appear within a part and a bill."""

CODE_INDEX: Final[dict[str, int]] = {c: i for i, c in enumerate(LINE_CODES)}

TITLES_FA: Final[dict[str, str]] = {
    **{f"energy_step_{i}": f"بهای انرژی پله {str(i).translate(_FA_DIGITS)}" for i in range(1, MAX_STEP_LINES + 1)},
    "tou_peak_surcharge": "افزایش بهای اوج بار",
    "tou_offpeak_discount": "کاهش بهای کم باری",
    "energy_base": "بهای انرژی",
    "energy_mid": "بهای انرژی میان باری",
    "energy_peak": "بهای انرژی اوج بار",
    "energy_offpeak": "بهای انرژی کم باری",
    "demand_charge": "بهای قدرت",
    "demand_excess_penalty": "تجاوز از قدرت قراردادی",
    "demand_seasonal_charge": "بهای فصل (پیک فصل)",
    "power_factor_penalty": "جریمه ضریب قدرت (ضریب زیان)",
    "fixed_charge": "آبونمان",
    "levy": "عوارض برق",
    "vat": "مالیات بر ارزش افزوده",
    "insurance": "بیمه مشترکین",
    "carry_in": "کسر هزار ریال دوره قبل",
    "carry_out": "کسر هزار ریال",
}


# --------------------------------------------------------------------------------------------- types


@dataclass(frozen=True)
class DemandInput:
    """Demand-customer readings. ``multiplier`` (ضریب کنتور) scales the energy registers (kwh,
    peak, off-peak) and ``reactive_kvarh``; ``maximeter_kw`` is already in kW."""

    contract_kw: int
    maximeter_kw: Decimal
    reactive_kvarh: int = 0
    multiplier: int = 1


@dataclass(frozen=True)
class RatingInput:
    group: int
    sub_code: str | None  # None = the group's default sub-code
    zone: str
    prev_date: date  # Gregorian
    cur_date: date  # Gregorian
    kwh: int
    peak_kwh: int | None = None
    offpeak_kwh: int | None = None  # mid = kwh − peak − off-peak
    households: int = 1
    medical: bool = False
    demand: DemandInput | None = None
    carry_in: Rial = 0
    estimated: bool = False

    @property
    def days(self) -> int:
        return (self.cur_date - self.prev_date).days

    @property
    def tou(self) -> bool:
        return self.peak_kwh is not None or self.offpeak_kwh is not None


@dataclass(frozen=True)
class Line:
    code: str
    title_fa: str
    quantity: Decimal
    rate: Decimal
    amount: Rial
    version: str
    part: int = 0


@dataclass(frozen=True)
class Part:
    """A run of days priced by one book in one season: days ``start`` … ``end − 1``."""

    start: date
    end: date
    version: str
    season: Season
    kwh: int
    peak_kwh: int
    offpeak_kwh: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class RatedBill:
    lines: list[Line]
    total: Rial
    payable: Rial
    carry: Rial
    days: int = 0
    parts: tuple[Part, ...] = field(default=())
    estimated: bool = False

    def amount_of(self, code: str) -> Rial:
        """The sum of the lines with ``code``."""
        return sum(line.amount for line in self.lines if line.code == code)


# --------------------------------------------------------------------------------------------- helpers


def round_half_up(value: Fraction) -> int:
    """Round to an integer, half away from zero (half up for positive amounts), like ``round_rial``."""
    if value >= 0:
        return int((value.numerator * 2 + value.denominator) // (value.denominator * 2))
    return -round_half_up(-value)


def milli_to_decimal(milli: int) -> Decimal:
    """An integer number of thousandths as a Decimal without trailing zeros (``150500`` → ``150.5``)."""
    sign = "-" if milli < 0 else ""
    whole, frac = divmod(abs(milli), 1000)
    if frac == 0:
        return Decimal(f"{sign}{whole}")
    return Decimal(f"{sign}{whole}.{frac:03d}".rstrip("0"))


def display(value: Fraction) -> Decimal:
    """An exact quantity or rate as shown on a line: rounded half up to 0.001."""
    return milli_to_decimal(round_half_up(value * 1000))


def make_line(code: str, quantity: Fraction, rate: Fraction, amount: Rial, version: str, part: int) -> Line:
    return Line(
        code=code,
        title_fa=TITLES_FA[code],
        quantity=display(quantity),
        rate=display(rate),
        amount=amount,
        version=version,
        part=part,
    )


def share_by_days(total: int, days: Sequence[int]) -> list[int]:
    """Share ``total`` whole units over parts of ``days`` by the cumulative floor rule (step 4)."""
    whole = sum(days)
    out: list[int] = []
    given = 0
    cum = 0
    for d in days:
        cum += d
        upto = total * cum // whole
        out.append(upto - given)
        given = upto
    return out


def jalali_month_starts(start: date, end: date) -> list[date]:
    """The first days of Jalali months strictly after ``start`` and strictly before ``end``."""
    out: list[date] = []
    j = jdatetime.date.fromgregorian(date=start)
    year, month = int(j.year), int(j.month)
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        g = jdatetime.date(year, month, 1).togregorian()
        day = date(g.year, g.month, g.day)
        if day >= end:
            return out
        out.append(day)


def jalali_month(day: date) -> int:
    return int(jdatetime.date.fromgregorian(date=day).month)


@dataclass(frozen=True)
class Span:
    start: date
    end: date
    book: TariffBook
    season: Season

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def split_period(library: TariffLibrary, zone: str, prev: date, cur: date) -> list[Span]:
    """Cut [prev, cur) at book changes and at the zone's warm-month edges (step 2)."""
    cuts = set(jalali_month_starts(prev, cur))
    for book in library:
        first, last = library.effective_range(book)
        for day in (first, None if last is None else last + timedelta(days=1)):
            if day is not None and prev < day < cur:
                cuts.add(day)
    bounds = [prev, *sorted(cuts), cur]
    spans: list[Span] = []
    for a, b in itertools.pairwise(bounds):
        book = library.version_for(a)
        season = book.zone(zone).season_of_month(jalali_month(a))
        if spans and spans[-1].book is book and spans[-1].season == season:
            spans[-1] = Span(spans[-1].start, b, book, season)
        else:
            spans.append(Span(a, b, book, season))
    return spans


def _invalid(field_name: str, message_fa: str) -> ValidationError:
    return ValidationError(message_fa, field=field_name, detail=f"{field_name}: {message_fa}")


def validate_input(inp: RatingInput) -> None:
    """Refuse readings that cannot be priced (the book-dependent checks come while rating)."""
    if inp.days < 1:
        raise _invalid("cur_date", "تاریخ قرائت فعلی باید بعد از تاریخ قرائت قبلی باشد")
    if inp.kwh < 0:
        raise _invalid("kwh", "مصرف نمی‌تواند منفی باشد")
    for name, value in (("peak_kwh", inp.peak_kwh), ("offpeak_kwh", inp.offpeak_kwh)):
        if value is not None and value < 0:
            raise _invalid(name, "مصرف نمی‌تواند منفی باشد")
    if (inp.peak_kwh or 0) + (inp.offpeak_kwh or 0) > inp.kwh:
        raise _invalid("peak_kwh", "مصرف اوج بار و کم باری از کل مصرف بیشتر است")
    if inp.households < 1:
        raise _invalid("households", "تعداد خانوار باید دست‌کم ۱ باشد")
    d = inp.demand
    if d is not None:
        if d.contract_kw < 0:
            raise _invalid("demand.contract_kw", "قدرت قراردادی نمی‌تواند منفی باشد")
        if d.maximeter_kw < 0:
            raise _invalid("demand.maximeter_kw", "عدد ماکسیمتر نمی‌تواند منفی باشد")
        if d.reactive_kvarh < 0:
            raise _invalid("demand.reactive_kvarh", "مصرف راکتیو نمی‌تواند منفی باشد")
        if d.multiplier < 1:
            raise _invalid("demand.multiplier", "ضریب کنتور باید دست‌کم ۱ باشد")


# --------------------------------------------------------------------------------------------- pricing


def residential_bands(
    book: TariffBook, group: Group, sub: SubCode, zone: Zone, season: Season, avg: Fraction, medical: bool
) -> tuple[tuple[Band, ...], RateTable]:
    """The bands to price and the table whose first step sets the TOU surcharge (step 5)."""
    within = group.table(sub.code, zone.code, season, "within_pattern")
    if medical and book.medical.never_high_user:
        return group.medical_bands(sub.code, zone.code, season), within
    if avg > zone.pattern(season):
        high = group.table(sub.code, zone.code, season, "high_user")
        return high.bands, high
    return within.bands, within


def _residential_lines(
    book: TariffBook,
    group: Group,
    sub: SubCode,
    zone: Zone,
    part: Part,
    index: int,
    inp: RatingInput,
) -> list[Line]:
    v = book.version
    f = book.household.factor(inp.households)
    days = part.days
    avg = Fraction(part.kwh * DAYS_PER_MONTH, days) / f
    bands, table = residential_bands(book, group, sub, zone, part.season, avg, inp.medical)
    lines: list[Line] = []
    for band in bands:
        x = avg - band.lo
        if band.hi is not None:
            x = min(x, Fraction(band.hi - band.lo))
        if x <= 0:
            continue
        qty = x * f * days / DAYS_PER_MONTH
        lines.append(make_line(f"energy_step_{band.number}", qty, band.rate, round_half_up(qty * band.rate), v, index))
    if inp.tou:
        scale = zone.tou_scale(part.season)
        if part.peak_kwh > 0:
            rate = table.first_rate * book.tou.residential_peak_surcharge * scale
            amount = round_half_up(part.peak_kwh * rate)
            lines.append(make_line("tou_peak_surcharge", Fraction(part.peak_kwh), rate, amount, v, index))
        if part.offpeak_kwh > 0:
            rate = table.first_rate * book.tou.residential_offpeak_discount * scale
            amount = -round_half_up(part.offpeak_kwh * rate)
            lines.append(make_line("tou_offpeak_discount", Fraction(part.offpeak_kwh), -rate, amount, v, index))
    return lines


def _general_lines(
    book: TariffBook,
    group: Group,
    sub: SubCode,
    zone: Zone,
    part: Part,
    index: int,
    inp: RatingInput,
    ratio: Fraction | None,
) -> list[Line]:
    v = book.version
    base = group.table(sub.code, zone.code, part.season, "base").first_rate
    lines: list[Line] = []
    registers: tuple[tuple[str, int, Fraction], ...]
    if inp.tou:
        mid = part.kwh - part.peak_kwh - part.offpeak_kwh
        registers = (
            ("energy_mid", mid, base),
            ("energy_peak", part.peak_kwh, base * book.tou.general_peak_factor),
            ("energy_offpeak", part.offpeak_kwh, base * book.tou.general_offpeak_factor),
        )
    else:
        registers = (("energy_base", part.kwh, base),)
    for code, qty, rate in registers:
        if qty > 0:
            lines.append(make_line(code, Fraction(qty), rate, round_half_up(qty * rate), v, index))
    if not sub.demand:
        return lines

    rules = group.demand
    d = inp.demand
    if rules is None:  # the book's validation makes this unreachable
        raise _invalid("sub_code", "قواعد قدرت برای این گروه تعریف نشده است")
    if d is None:
        raise _invalid("demand", f"زیرگروه {sub.code} دیماندی است: قدرت قراردادی و ماکسیمتر لازم است")
    register_total = sum(line.amount for line in lines)
    prorate = Fraction(part.days, DAYS_PER_MONTH)
    contract = Fraction(d.contract_kw)
    maximeter = Fraction(d.maximeter_kw)
    billed = max(contract * rules.minimum_share, maximeter)
    rate = rules.rate_per_kw * prorate
    lines.append(make_line("demand_charge", billed, rate, round_half_up(billed * rate), v, index))
    excess = maximeter - contract
    if excess > 0:
        rate = rules.rate_per_kw * rules.excess_penalty_factor * prorate
        lines.append(make_line("demand_excess_penalty", excess, rate, round_half_up(excess * rate), v, index))
    if part.season == "warm" and rules.seasonal_peak_rate > 0:
        rate = rules.seasonal_peak_rate * prorate
        lines.append(make_line("demand_seasonal_charge", billed, rate, round_half_up(billed * rate), v, index))
    if ratio is not None and ratio > rules.pf_free_ratio and register_total > 0:
        share = (ratio - rules.pf_free_ratio) * rules.pf_penalty_slope
        base_amount = Fraction(register_total)
        lines.append(
            make_line("power_factor_penalty", base_amount, share, round_half_up(base_amount * share), v, index)
        )
    return lines


def addon_lines(book: TariffBook, days: int, energy: Rial, index: int) -> list[Line]:
    """Fixed charge, levy, VAT and insurance of ``days`` and ``energy`` priced by one book version."""
    v = book.version
    c = book.charges
    fixed_rate = c.fixed_charge_per_day
    fixed = round_half_up(days * fixed_rate)
    levy = round_half_up(energy * c.levy_rate)
    vat_base = energy + fixed
    vat = round_half_up(vat_base * c.vat_rate)
    insurance = round_half_up(days * c.insurance_per_day)
    return [
        make_line("fixed_charge", Fraction(days), fixed_rate, fixed, v, index),
        make_line("levy", Fraction(energy), c.levy_rate, levy, v, index),
        make_line("vat", Fraction(vat_base), c.vat_rate, vat, v, index),
        make_line("insurance", Fraction(days), c.insurance_per_day, insurance, v, index),
    ]


def settle(total: Rial, carry_in: Rial, unit: int) -> tuple[Rial, Rial]:
    """(payable, carry): total + carry_in truncated to ``unit``; nothing payable on a credit."""
    x = total + carry_in
    if x <= 0:
        return 0, x
    payable = x // unit * unit
    return payable, x - payable


def rate_bill(library: TariffLibrary, inp: RatingInput) -> RatedBill:
    """Price one bill (see the module docstring for the order of computation)."""
    validate_input(inp)
    spans = split_period(library, inp.zone, inp.prev_date, inp.cur_date)

    multiplier = inp.demand.multiplier if inp.demand is not None else 1
    peak = (inp.peak_kwh or 0) * multiplier
    off = (inp.offpeak_kwh or 0) * multiplier
    kwh = inp.kwh * multiplier
    mid = kwh - peak - off
    span_days = [s.days for s in spans]
    peaks, offs, mids = (share_by_days(r, span_days) for r in (peak, off, mid))
    parts = tuple(
        Part(s.start, s.end, s.book.version, s.season, peaks[i] + offs[i] + mids[i], peaks[i], offs[i])
        for i, s in enumerate(spans)
    )
    ratio: Fraction | None = None
    if inp.demand is not None and kwh > 0:
        ratio = Fraction(inp.demand.reactive_kvarh * multiplier, kwh)

    lines: list[Line] = []
    version_days = 0
    version_energy = 0
    for i, (span, part) in enumerate(zip(spans, parts, strict=True)):
        book = span.book
        group = book.group(inp.group)
        sub = book.sub_code(inp.group, inp.sub_code)
        zone = book.zone(inp.zone)
        if group.kind == "residential":
            part_lines = _residential_lines(book, group, sub, zone, part, i, inp)
        else:
            part_lines = _general_lines(book, group, sub, zone, part, i, inp, ratio if sub.demand else None)
        lines.extend(part_lines)
        version_days += part.days
        version_energy += sum(line.amount for line in part_lines)
        if i + 1 == len(spans) or spans[i + 1].book is not book:
            lines.extend(addon_lines(book, version_days, version_energy, i))
            version_days = 0
            version_energy = 0

    total = sum(line.amount for line in lines)
    last_book = spans[-1].book
    last = len(spans) - 1
    payable, carry = settle(total, inp.carry_in, last_book.rounding.payable_unit)
    if inp.carry_in:
        c = Fraction(inp.carry_in)
        lines.append(make_line("carry_in", Fraction(1), c, inp.carry_in, last_book.version, last))
    if carry:
        lines.append(make_line("carry_out", Fraction(1), Fraction(-carry), -carry, last_book.version, last))
    return RatedBill(
        lines=lines,
        total=total,
        payable=payable,
        carry=carry,
        days=inp.days,
        parts=parts,
        estimated=inp.estimated,
    )
