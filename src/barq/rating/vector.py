"""The vector rating engine: many bills at once, the same lines as ``engine.rate_bill`` to the rial.

``rate_bills(library, RatingColumns(...)) -> VectorResult``.

Arithmetic is exact integer arithmetic in numpy ``int64``; no float is used. The scalar engine's
fractions become integer ratios with a per-row denominator, and every rounding half up is
``(2·N + D) // (2·D)`` for N/D ≥ 0, which is what ``engine.round_half_up`` does.

Residential step j of a row, with f = F/fd (fd the common denominator of the books' household
factors), 30-day average a = 30·q·fd / (d·F):

    X_j = clamp(30·q·fd − lo_j·d·F, 0, (hi_j − lo_j)·d·F)   (= x_j · d·F, an integer)
    kWh_j = X_j / (30·fd)          amount_j = round(X_j · rate_j / (30·fd))

so days and the household factor cancel out of the amount and everything stays an integer. The
pattern test a > pattern is 30·q·fd > pattern·d·F.

Split periods (``engine.split_period``: cut at book changes and at the zone's warm-month edges) are
priced the same way, part by part. A per-zone day calendar of states (book version, season) gives each
row its parts: their count is one plus the state changes within the period, their bounds are the days of
those changes. Rows are grouped by their number of parts; within a group, each register (peak, off-peak,
mid) is shared by the cumulative floor rule, ⌊R·Dᵢ/D⌋ − ⌊R·Dᵢ₋₁/D⌋, each part is priced with its own
context (book, season) as above, and the add-ons are made after the last part of each book version, over
that version's days and energy amount, exactly as ``rate_bill`` does.

What is vectorised: every bill of at most ``MAX_PARTS`` parts, without demand readings, residential or
groups 2–5, with or without TOU registers, households, medical exemption and carried remainders. What
falls back to the scalar engine, row by row (listed in ``VectorResult.fallback``): periods of more than
``MAX_PARTS`` parts, rows with demand readings (demand customers, meter multipliers), rows outside the
integer-safety limits (``MAX_DAYS``, ``MAX_KWH``, ``MAX_HOUSEHOLDS``, ``MAX_CARRY``; and every row if a
book's numbers could overflow int64), and rows the scalar engine will refuse (its ``ValidationError`` is
re-raised with ``rows[i].`` before the field; a day without a book or a zone missing from a book). The
result is the same either way; the fallback is only slower.

Lines are columns: ``line_bill``, ``line_seq`` (position on the bill), ``line_code`` (index into
``engine.LINE_CODES``), ``line_part``, ``line_version`` (index into ``VectorResult.versions``),
``line_quantity_milli`` and ``line_rate_milli`` (thousandths, rounded half up, as ``Line.quantity`` and
``Line.rate`` show them) and ``line_amount`` (rials). They are stored group by group (rows with one part,
then two, …) and slot by slot (all first steps, then all second steps, …), the layout numpy writes
fastest; ``bill_order()`` sorts them by bill and position, ``lines_of(i)`` rebuilds bill i's ``Line``
objects exactly as ``rate_bill`` makes them.

Pure module: no database, no web framework.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Final

import jdatetime
import numpy as np
from numpy.typing import NDArray

from barq.errors import ValidationError
from barq.rating.book import SEASONS, TariffLibrary
from barq.rating.engine import (
    CODE_INDEX,
    LINE_CODES,
    TITLES_FA,
    DemandInput,
    Line,
    RatedBill,
    RatingInput,
    milli_to_decimal,
    rate_bill,
    round_half_up,
)

I64 = NDArray[np.int64]
I16 = NDArray[np.int16]
Bools = NDArray[np.bool_]

MAX_DAYS: Final = 3660
"""Longer periods are rated by the scalar engine."""
MAX_KWH: Final = 10**9
"""Larger consumptions are rated by the scalar engine."""
MAX_HOUSEHOLDS: Final = 10**6
MAX_CARRY: Final = 10**15
MAX_PARTS: Final = 4
"""Periods cut into more parts are rated by the scalar engine."""
_MAX_GROUP: Final = 9
_LIMIT: Final = 2**62
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


# --------------------------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class RatingColumns:
    """``RatingInput`` as columns. Categorical columns hold indexes into the name tuples.

    ``sub_code[i] == -1`` means the group's default sub-code; ``peak_kwh[i] == -1`` (or
    ``offpeak_kwh``) means the meter has no such register (``None`` in ``RatingInput``). Optional
    columns default to: no registers, one household, not medical, no carry, not estimated.
    ``demand`` maps a row to its demand readings (demand customers are few, so it is sparse).
    """

    group: I64
    sub_code: I64
    zone: I64
    prev_date: NDArray[np.datetime64]
    cur_date: NDArray[np.datetime64]
    kwh: I64
    sub_codes: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    peak_kwh: I64 | None = None
    offpeak_kwh: I64 | None = None
    households: I64 | None = None
    medical: Bools | None = None
    carry_in: I64 | None = None
    estimated: Bools | None = None
    demand: Mapping[int, DemandInput] | None = None

    def __len__(self) -> int:
        return int(self.kwh.shape[0])

    @classmethod
    def from_inputs(cls, inputs: Sequence[RatingInput]) -> RatingColumns:
        sub_names = tuple(sorted({i.sub_code for i in inputs if i.sub_code is not None}))
        zone_names = tuple(sorted({i.zone for i in inputs}))
        sub_idx = {s: k for k, s in enumerate(sub_names)}
        zone_idx = {z: k for k, z in enumerate(zone_names)}

        def ints(values: Sequence[int]) -> I64:
            return np.asarray(values, dtype=np.int64).reshape(len(values))

        return cls(
            group=ints([i.group for i in inputs]),
            sub_code=ints([-1 if i.sub_code is None else sub_idx[i.sub_code] for i in inputs]),
            zone=ints([zone_idx[i.zone] for i in inputs]),
            prev_date=np.asarray([i.prev_date for i in inputs], dtype="datetime64[D]").reshape(len(inputs)),
            cur_date=np.asarray([i.cur_date for i in inputs], dtype="datetime64[D]").reshape(len(inputs)),
            kwh=ints([i.kwh for i in inputs]),
            sub_codes=sub_names,
            zones=zone_names,
            peak_kwh=ints([-1 if i.peak_kwh is None else i.peak_kwh for i in inputs]),
            offpeak_kwh=ints([-1 if i.offpeak_kwh is None else i.offpeak_kwh for i in inputs]),
            households=ints([i.households for i in inputs]),
            medical=np.asarray([i.medical for i in inputs], dtype=np.bool_).reshape(len(inputs)),
            carry_in=ints([i.carry_in for i in inputs]),
            estimated=np.asarray([i.estimated for i in inputs], dtype=np.bool_).reshape(len(inputs)),
            demand={k: i.demand for k, i in enumerate(inputs) if i.demand is not None},
        )

    def row(self, i: int) -> RatingInput:
        """Row ``i`` as a ``RatingInput`` (what the scalar fallback prices)."""

        def opt(col: I64 | None) -> int | None:
            if col is None or int(col[i]) == -1:
                return None
            return int(col[i])

        sc = int(self.sub_code[i])
        return RatingInput(
            group=int(self.group[i]),
            sub_code=None if sc < 0 else self.sub_codes[sc],
            zone=self.zones[int(self.zone[i])],
            prev_date=_to_date(self.prev_date[i]),
            cur_date=_to_date(self.cur_date[i]),
            kwh=int(self.kwh[i]),
            peak_kwh=opt(self.peak_kwh),
            offpeak_kwh=opt(self.offpeak_kwh),
            households=1 if self.households is None else int(self.households[i]),
            medical=False if self.medical is None else bool(self.medical[i]),
            demand=None if self.demand is None else self.demand.get(i),
            carry_in=0 if self.carry_in is None else int(self.carry_in[i]),
            estimated=False if self.estimated is None else bool(self.estimated[i]),
        )


def _to_date(value: np.datetime64) -> date:
    return date.fromordinal(int(value.astype("datetime64[D]").astype(np.int64)) + _EPOCH_ORDINAL)


def _ordinals(values: NDArray[np.datetime64]) -> I64:
    return values.astype("datetime64[D]").astype(np.int64) + _EPOCH_ORDINAL


# --------------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class VectorResult:
    """Totals per bill, and every line as columns.

    Lines are stored group by group (rows with one part, two parts, …) and slot by slot (all first
    steps, then all second steps, …), then the scalar fallback's lines, which is what numpy writes
    fastest; ``line_seq`` is a line's position within its bill, so ordering by (``line_bill``,
    ``line_seq``) gives each bill's lines in the scalar engine's order (``bill_order()`` returns that
    permutation; ``lines_of(i)`` rebuilds one bill).
    """

    versions: tuple[str, ...]
    total: I64
    payable: I64
    carry: I64
    line_bill: I64
    line_seq: I16
    line_code: I16
    line_part: I16
    line_version: I16
    line_quantity_milli: I64
    line_rate_milli: I64
    line_amount: I64
    fallback: I64

    def bill_order(self) -> I64:
        """The permutation that sorts the lines by bill, then by their order on the bill."""
        return np.lexsort((self.line_seq, self.line_bill)).astype(np.int64)

    def lines_of(self, i: int) -> list[Line]:
        sel = np.flatnonzero(self.line_bill == i)
        sel = sel[np.argsort(self.line_seq[sel], kind="stable")]
        out: list[Line] = []
        for k in sel.tolist():
            code = LINE_CODES[int(self.line_code[k])]
            out.append(
                Line(
                    code=code,
                    title_fa=TITLES_FA[code],
                    quantity=milli_to_decimal(int(self.line_quantity_milli[k])),
                    rate=milli_to_decimal(int(self.line_rate_milli[k])),
                    amount=int(self.line_amount[k]),
                    version=self.versions[int(self.line_version[k])],
                    part=int(self.line_part[k]),
                )
            )
        return out


# --------------------------------------------------------------------------------------------- helpers


def _milli(x: Fraction) -> int:
    return round_half_up(x * 1000)


def _to_milli(value: Decimal) -> int:
    return int(value * 1000)


@dataclass
class _Calendar:
    """Per zone and day in [lo, hi]: the state ``version·2 + season`` (−1: no book or no zone), the
    running count of state changes, and the day of each change (``starts[z, k]`` is the day index where
    zone z's state changes for the (k+1)-th time; padded with the number of days)."""

    lo: int
    state: I64  # (zones, days)
    changes: I64  # (zones, days)
    starts: I64  # (zones, most changes + 1)


def _calendar(library: TariffLibrary, zones: tuple[str, ...], lo: int, hi: int) -> _Calendar:
    n_days = hi - lo + 1
    month = np.zeros(n_days, dtype=np.int64)
    start = date.fromordinal(lo)
    j = jdatetime.date.fromgregorian(date=start)
    year, m = int(j.year), int(j.month)
    pos = 0
    while pos < n_days:
        nm_year, nm = (year + 1, 1) if m == 12 else (year, m + 1)
        g = jdatetime.date(nm_year, nm, 1).togregorian()
        nxt = min(date(g.year, g.month, g.day).toordinal() - lo, n_days)
        month[pos:nxt] = m
        pos, year, m = nxt, nm_year, nm

    version = np.full(n_days, -1, dtype=np.int64)
    for v, book in enumerate(library.books):
        first, last = library.effective_range(book)
        a = max(first.toordinal() - lo, 0)
        b = n_days if last is None else min(last.toordinal() - lo + 1, n_days)
        if a < b:
            version[a:b] = v

    warm = np.full((len(library.books) + 1, len(zones), 13), -1, dtype=np.int64)  # row −1: no book
    for v, book in enumerate(library.books):
        for z, name in enumerate(zones):
            zone = book.zones.get(name)
            if zone is not None:
                for mm in range(1, 13):
                    warm[v, z, mm] = 1 if mm in zone.warm_months else 0
    season = warm[version[None, :], np.arange(len(zones))[:, None], month[None, :]]
    state = np.where(season >= 0, version[None, :] * 2 + season, -1)
    changes = np.zeros_like(state)
    if n_days > 1:
        changes[:, 1:] = np.cumsum(state[:, 1:] != state[:, :-1], axis=1)
    starts = np.full((len(zones), int(changes[:, -1].max(initial=0)) + 1), n_days, dtype=np.int64)
    for z in range(len(zones)):
        at = np.flatnonzero(state[z, 1:] != state[z, :-1]) + 1
        starts[z, : at.size] = at
    return _Calendar(lo=lo, state=state, changes=changes, starts=starts)


Num = I64 | int


@dataclass
class _Rates:
    """Exact rates per context (or per residential table), as numerator, denominator and the
    thousandths shown on a line. ``at(idx)`` gathers them per row, or gives plain integers when
    every context has the same rate (the common case: one book, so integer arithmetic on scalars)."""

    num: I64
    den: I64
    milli: I64

    @classmethod
    def of(cls, values: Sequence[Fraction]) -> _Rates:
        return cls(
            num=np.asarray([x.numerator for x in values], dtype=np.int64),
            den=np.asarray([x.denominator for x in values], dtype=np.int64),
            milli=np.asarray([_milli(x) for x in values], dtype=np.int64),
        )

    def at(self, idx: I64, used: Bools) -> tuple[Num, Num, Num]:
        """The rates of rows ``idx``; scalars when the used entries (``used``) are all equal."""
        if used.any():
            first = int(np.argmax(used))
            n, d, m = int(self.num[first]), int(self.den[first]), int(self.milli[first])
            if bool(np.all((self.num[used] == n) & (self.den[used] == d))):
                return n, d, m
        return self.num[idx], self.den[idx], self.milli[idx]


def _rhu_any(num: I64, den: Num) -> I64:
    """round(num / den) half up, for num ≥ 0 and den > 0 (integer arithmetic only)."""
    return (2 * num + den) // (2 * den)


@dataclass
class _Band:
    """Band k of every residential table: limits and rate, indexed by table id (context·3 + class).
    Absent bands have lo = hi = 0; the open last band has hi = ``open_hi`` (above any average)."""

    lo: I64
    hi: I64
    rate: _Rates


@dataclass
class _Contexts:
    """Parameters per context (book version, group, sub-code, zone, season); index 0 is a dummy."""

    used: Bools
    tables_used: Bools
    invalid: Bools
    residential: Bools
    pattern: I64
    cap_n: I64
    k_n: I64
    medical_ok: Bools
    bands: list[_Band]
    surcharge: _Rates
    discount: _Rates
    base: _Rates
    peak: _Rates
    offpeak: _Rates
    fixed: _Rates
    levy: _Rates
    vat: _Rates
    insurance: _Rates
    unit: I64
    safe: bool


def _build_contexts(library: TariffLibrary, cols: RatingColumns, keys: list[int], n_sub: int, fd: int) -> _Contexts:
    n_ctx = len(keys) + 1
    n_zone = len(cols.zones)
    n_tables = 3 * n_ctx
    zero = Fraction(0)
    invalid = np.zeros(n_ctx, dtype=np.bool_)
    invalid[0] = True
    residential = np.zeros(n_ctx, dtype=np.bool_)
    medical_ok = np.zeros(n_ctx, dtype=np.bool_)
    pattern = np.zeros(n_ctx, dtype=np.int64)
    cap_n = np.ones(n_ctx, dtype=np.int64)
    k_n = np.zeros(n_ctx, dtype=np.int64)
    unit = np.ones(n_ctx, dtype=np.int64)
    band_tables: list[list[tuple[int, int | None, Fraction]]] = [[] for _ in range(n_tables)]
    sur, disc = [zero] * n_tables, [zero] * n_tables
    base, peak, off = [zero] * n_ctx, [zero] * n_ctx, [zero] * n_ctx
    fixed, levy, vat, ins = [zero] * n_ctx, [zero] * n_ctx, [zero] * n_ctx, [zero] * n_ctx

    for c, key in enumerate(keys, start=1):
        key, s = divmod(key, 2)
        key, z = divmod(key, n_zone)
        key, sc = divmod(key, n_sub + 1)
        v, g = divmod(key, _MAX_GROUP + 1)
        book = library.books[v]
        season = SEASONS[s]
        try:
            group = book.group(g)
            sub = book.sub_code(g, None if sc == n_sub else cols.sub_codes[sc])
            zone = book.zone(cols.zones[z])
        except ValidationError:
            invalid[c] = True
            continue
        if sub.demand:
            invalid[c] = True
            continue
        ch = book.charges
        fixed[c], levy[c], vat[c], ins[c] = (
            ch.fixed_charge_per_day,
            ch.levy_rate,
            ch.vat_rate,
            ch.insurance_per_day,
        )
        unit[c] = book.rounding.payable_unit
        if group.kind == "residential":
            residential[c] = True
            medical_ok[c] = book.medical.never_high_user
            pattern[c] = zone.pattern(season)
            cap_n[c] = int(book.household.cap * fd)
            k_n[c] = int(book.household.k * fd)
            within = group.table(sub.code, zone.code, season, "within_pattern")
            high = group.table(sub.code, zone.code, season, "high_user")
            scale = zone.tou_scale(season)
            for cls, table_bands, table in (
                (0, within.bands, within),
                (1, high.bands, high),
                (2, group.medical_bands(sub.code, zone.code, season), within),
            ):
                t = 3 * c + cls
                band_tables[t] = [(b.lo, b.hi, b.rate) for b in table_bands]
                sur[t] = table.first_rate * book.tou.residential_peak_surcharge * scale
                disc[t] = table.first_rate * book.tou.residential_offpeak_discount * scale
        else:
            rate = group.table(sub.code, zone.code, season, "base").first_rate
            base[c] = rate
            peak[c] = rate * book.tou.general_peak_factor
            off[c] = rate * book.tou.general_offpeak_factor

    open_hi = 30 * MAX_KWH * fd
    bands: list[_Band] = []
    for k in range(max((len(b) for b in band_tables), default=0)):
        lo = np.zeros(n_tables, dtype=np.int64)
        hi = np.zeros(n_tables, dtype=np.int64)
        rates = [zero] * n_tables
        for t, spec in enumerate(band_tables):
            if k < len(spec):
                b_lo, b_hi, rates[t] = spec[k]
                lo[t] = b_lo
                hi[t] = open_hi if b_hi is None else b_hi
        bands.append(_Band(lo=lo, hi=hi, rate=_Rates.of(rates)))

    energy_rates = [r for tb in band_tables for (_, _, r) in tb] + sur + disc + base + peak + off
    limits = [x for tb in band_tables for (lo_, hi_, _) in tb for x in (lo_, hi_ or 0)]
    safe = _safe(energy_rates, fixed + levy + vat + ins, [*limits, int(pattern.max(initial=0))], cap_n, k_n, fd)
    used = ~invalid
    return _Contexts(
        used=used,
        tables_used=np.repeat(used & residential, 3),
        invalid=invalid,
        residential=residential,
        pattern=pattern,
        cap_n=cap_n,
        k_n=k_n,
        medical_ok=medical_ok,
        bands=bands,
        surcharge=_Rates.of(sur),
        discount=_Rates.of(disc),
        base=_Rates.of(base),
        peak=_Rates.of(peak),
        offpeak=_Rates.of(off),
        fixed=_Rates.of(fixed),
        levy=_Rates.of(levy),
        vat=_Rates.of(vat),
        insurance=_Rates.of(ins),
        unit=unit,
        safe=safe,
    )


def _safe(
    energy_rates: Sequence[Fraction],
    addon_rates: Sequence[Fraction],
    limits: Sequence[int],
    cap_n: I64,
    k_n: I64,
    fd: int,
) -> bool:
    """Whether every int64 product of the vector path stays below 2**62 within the row limits."""
    rn = max([1, *(r.numerator for r in energy_rates)])
    rd = max([1, *(r.denominator for r in energy_rates)])
    value = max([1, *(math.ceil(r) for r in energy_rates)])
    small = max([1, *(r.numerator for r in addon_rates)])
    small_d = max([1, *(r.denominator for r in addon_rates)])
    f_max = int(cap_n.max(initial=1))
    big_s = 30 * MAX_KWH * fd
    energy = 3 * MAX_KWH * value  # steps + surcharge ≤ kWh × (highest rate + surcharge)
    checks = (
        2 * big_s * rn + 2 * 30 * fd * rd,  # step amounts
        2 * big_s * 1000,  # step quantities
        max([big_s, *limits]) * MAX_DAYS * f_max,  # lo·d·F, hi·d·F (open_hi = big_s), pattern·d·F
        fd + MAX_HOUSEHOLDS * int(k_n.max(initial=0)),  # the household factor before the cap
        2 * MAX_KWH * rn + 2 * rd,  # TOU and base-rate amounts
        2 * (energy + MAX_DAYS * small) * small + 2 * small_d,  # fixed, levy, VAT, insurance
        (energy + MAX_DAYS * small) * 1000 + MAX_CARRY,
    )
    return all(c < _LIMIT for c in checks)


@dataclass
class _Slot:
    """One line position of the bill layout, as columns over a group's rows (only ``present`` rows
    count): the line's code, part and book version (per row), shown quantity and rate, and amount."""

    code: int
    present: Bools
    quantity_milli: I64 | int
    rate_milli: I64 | int
    amount: I64
    part: int
    version: I16


@dataclass
class _Batch:
    """The inputs of the rows priced together: every row of the batch (``rows is None``) or the rows
    ``rows`` (those with one number of parts). ``bounds[p]`` is the calendar day index where part p
    starts (``bounds[parts]``: the period's end); ``ctx[p]`` and ``version[p]`` are part p's context
    and book version."""

    rows: I64 | None
    days: I64
    kwh: I64
    tou: Bools
    peak: I64
    off: I64
    households: I64
    medical: Bools
    carry_in: I64
    bounds: I64  # (parts + 1, rows)
    ctx: I64  # (parts, rows)
    version: I16  # (parts, rows)

    def select(self, rows: I64 | None, parts: int) -> _Batch:
        """The rows ``rows`` (``None``: all) of this whole batch, with their first ``parts`` parts."""
        if rows is None:
            return _Batch(
                None,
                self.days,
                self.kwh,
                self.tou,
                self.peak,
                self.off,
                self.households,
                self.medical,
                self.carry_in,
                self.bounds[: parts + 1],
                self.ctx[:parts],
                self.version[:parts],
            )
        return _Batch(
            rows,
            self.days[rows],
            self.kwh[rows],
            self.tou[rows],
            self.peak[rows],
            self.off[rows],
            self.households[rows],
            self.medical[rows],
            self.carry_in[rows],
            self.bounds[: parts + 1, rows],
            self.ctx[:parts, rows],
            self.version[:parts, rows],
        )


@dataclass
class _Priced:
    """A group's lines (slot by slot, in bill order) and totals."""

    rows: I64 | None
    slots: list[_Slot]
    total: I64
    payable: I64
    carry: I64


# --------------------------------------------------------------------------------------------- engine


def rate_bills(library: TariffLibrary, cols: RatingColumns) -> VectorResult:
    """Price every row of ``cols``; the same totals and lines as ``rate_bill`` row by row."""
    n = len(cols)
    n_sub = len(cols.sub_codes)
    n_zone = len(cols.zones)
    versions = tuple(b.version for b in library.books)
    if n and (
        int(cols.sub_code.min()) < -1
        or int(cols.sub_code.max()) >= n_sub
        or int(cols.zone.min()) < 0
        or int(cols.zone.max()) >= n_zone
    ):
        raise ValidationError("ستون زیرگروه یا منطقه خارج از محدوده است", field="columns")

    zeros = np.zeros(n, dtype=np.int64)
    prev = _ordinals(cols.prev_date)
    cur = _ordinals(cols.cur_date)
    days = cur - prev
    kwh = cols.kwh.astype(np.int64)
    no_register = np.full(n, -1, dtype=np.int64)
    peak_col = no_register if cols.peak_kwh is None else cols.peak_kwh.astype(np.int64)
    off_col = no_register if cols.offpeak_kwh is None else cols.offpeak_kwh.astype(np.int64)
    tou = (peak_col != -1) | (off_col != -1)
    peak = np.maximum(peak_col, 0)
    off = np.maximum(off_col, 0)
    households = np.ones(n, dtype=np.int64) if cols.households is None else cols.households.astype(np.int64)
    medical = np.zeros(n, dtype=np.bool_) if cols.medical is None else cols.medical.astype(np.bool_)
    carry_in = zeros if cols.carry_in is None else cols.carry_in.astype(np.int64)
    group = cols.group.astype(np.int64)

    vec = (
        (days >= 1)
        & (days <= MAX_DAYS)
        & (kwh >= 0)
        & (kwh <= MAX_KWH)
        & (peak_col >= -1)
        & (off_col >= -1)
        & (peak + off <= kwh)
        & (households >= 1)
        & (households <= MAX_HOUSEHOLDS)
        & (group >= 1)
        & (group <= _MAX_GROUP)
        & (np.abs(carry_in) <= MAX_CARRY)
    )
    if cols.demand:
        vec[np.fromiter(cols.demand.keys(), dtype=np.int64)] = False

    # Parts: runs of days with one book and one season of the row's zone; each part has its context.
    priced: list[_Priced] = []
    total, payable, carry = zeros.copy(), zeros.copy(), zeros.copy()
    if vec.any():
        lo = int(prev[vec].min())
        hi = int(cur[vec].max())
        cal = _calendar(library, cols.zones, lo, hi)
        zone = cols.zone.astype(np.int64)
        start = np.where(vec, prev - lo, 0)
        end = np.where(vec, cur - lo, 1)
        first = cal.changes[zone, start]
        n_parts = np.where(vec, cal.changes[zone, end - 1] - first + 1, 1)
        vec &= n_parts <= MAX_PARTS
        n_parts = np.where(vec, n_parts, 1)
        most = int(n_parts.max(initial=1))
        width = cal.starts.shape[1]
        bounds = np.empty((most + 1, n), dtype=np.int64)
        bounds[0] = start
        for p in range(1, most + 1):
            bounds[p] = np.where(p < n_parts, cal.starts[zone, np.minimum(first + p - 1, width - 1)], end)
        exists = (np.arange(most)[:, None] < n_parts[None, :]) & vec[None, :]
        state = cal.state[zone[None, :], np.minimum(bounds[:-1], (end - 1)[None, :])]
        vec &= ~np.any(exists & (state < 0), axis=0)
        exists &= vec[None, :]
        version_of, season = np.divmod(np.maximum(state, 0), 2)
        scs = np.where(cols.sub_code < 0, n_sub, cols.sub_code).astype(np.int64)
        grp = np.where(vec, group, 0)
        row_key = ((grp * (n_sub + 1) + scs) * n_zone + zone) * 2
        raw = version_of * ((_MAX_GROUP + 1) * (n_sub + 1) * n_zone * 2) + row_key[None, :] + season
        space = len(library.books) * (_MAX_GROUP + 1) * (n_sub + 1) * n_zone * 2
        present_keys = np.flatnonzero(np.bincount(raw[exists], minlength=space))
        compact = np.zeros(space, dtype=np.int64)
        compact[present_keys] = np.arange(1, len(present_keys) + 1)
        fd = 1
        for book in library.books:
            fd = math.lcm(fd, book.household.k.denominator, book.household.cap.denominator)
        contexts = _build_contexts(library, cols, [int(k) for k in present_keys], n_sub, fd)
        ctx = np.where(exists, compact[raw], 0)
        vec &= ~np.any(contexts.invalid[ctx] & exists, axis=0)
        if not contexts.safe:
            vec[:] = False
        batch = _Batch(
            None, days, kwh, tou, peak, off, households, medical, carry_in, bounds, ctx, version_of.astype(np.int16)
        )
        for parts in range(1, most + 1):
            sel = vec & (n_parts == parts)
            count = int(np.count_nonzero(sel))
            if count == 0:
                continue
            rows = None if count == n else np.flatnonzero(sel)
            group_priced = _price(contexts, batch.select(rows, parts), parts, fd)
            if rows is None:
                total, payable, carry = group_priced.total, group_priced.payable, group_priced.carry
            else:
                total[rows], payable[rows], carry[rows] = group_priced.total, group_priced.payable, group_priced.carry
            priced.append(group_priced)

    # The scalar engine for every other row.
    fallback = np.flatnonzero(~vec)
    fb_bills: list[RatedBill] = []
    for i in fallback.tolist():
        try:
            fb_bills.append(rate_bill(library, cols.row(i)))
        except ValidationError as exc:
            raise ValidationError(
                exc.message_fa, field=f"rows[{i}].{exc.field}", detail=f"row {i}: {exc.detail}"
            ) from exc
    for i, bill in zip(fallback.tolist(), fb_bills, strict=True):
        total[i], payable[i], carry[i] = bill.total, bill.payable, bill.carry

    # Lay the lines out, group by group and slot by slot, then the fallback's lines.
    sizes = [[int(np.count_nonzero(slot.present)) for slot in g.slots] for g in priced]
    n_lines = sum(sum(s) for s in sizes) + sum(len(b.lines) for b in fb_bills)
    out = _Lines(
        bill=np.empty(n_lines, dtype=np.int64),
        seq=np.empty(n_lines, dtype=np.int16),
        code=np.empty(n_lines, dtype=np.int16),
        part=np.empty(n_lines, dtype=np.int16),
        version=np.empty(n_lines, dtype=np.int16),
        quantity=np.empty(n_lines, dtype=np.int64),
        rate=np.empty(n_lines, dtype=np.int64),
        amount=np.empty(n_lines, dtype=np.int64),
    )
    k = 0
    for g, g_sizes in zip(priced, sizes, strict=True):
        k = _assemble(g, g_sizes, out, k)
    version_index = {v: j for j, v in enumerate(versions)}
    for i, bill in zip(fallback.tolist(), fb_bills, strict=True):
        for seq, line in enumerate(bill.lines):
            out.bill[k] = i
            out.seq[k] = seq
            out.code[k] = CODE_INDEX[line.code]
            out.part[k] = line.part
            out.version[k] = version_index[line.version]
            out.quantity[k] = _to_milli(line.quantity)
            out.rate[k] = _to_milli(line.rate)
            out.amount[k] = line.amount
            k += 1

    return VectorResult(
        versions=versions,
        total=total,
        payable=payable,
        carry=carry,
        line_bill=out.bill,
        line_seq=out.seq,
        line_code=out.code,
        line_part=out.part,
        line_version=out.version,
        line_quantity_milli=out.quantity,
        line_rate_milli=out.rate,
        line_amount=out.amount,
        fallback=fallback,
    )


def _price(c: _Contexts, b: _Batch, parts: int, fd: int) -> _Priced:
    """Price rows that all have ``parts`` parts, as ``rate_bill`` does: registers shared by the
    cumulative floor rule, each part's energy lines, add-ons after the last part of each book version
    (over that version's days and energy), then the carried remainders."""
    m = b.kwh.shape[0]
    every = np.ones(m, dtype=np.bool_)
    mid = b.kwh - b.peak - b.off
    slots: list[_Slot] = []
    total = np.zeros(m, dtype=np.int64)
    energy = np.zeros(m, dtype=np.int64)  # energy of the current version so far
    version_start = b.bounds[0]
    given: tuple[Num, Num, Num] = (0, 0, 0)  # peak, off-peak and mid kWh given to earlier parts
    for p in range(parts):
        last = p + 1 == parts
        if last:
            upto: tuple[Num, Num, Num] = (b.peak, b.off, mid)
        else:
            cum = b.bounds[p + 1] - b.bounds[0]
            upto = (b.peak * cum // b.days, b.off * cum // b.days, mid * cum // b.days)
        pk, of, md = (u - g for u, g in zip(upto, given, strict=True))
        given = upto
        ctx = b.ctx[p]
        version = b.version[p]
        part_days = b.days if parts == 1 else b.bounds[p + 1] - b.bounds[p]
        part_kwh = b.kwh if parts == 1 else np.asarray(pk + of + md, dtype=np.int64)
        part_slots = _energy_slots(
            c,
            ctx,
            every,
            part_days,
            part_kwh,
            b.tou,
            np.asarray(pk),
            np.asarray(of),
            b.households,
            b.medical,
            fd,
            p,
            version,
        )
        for slot in part_slots:
            energy += np.where(slot.present, slot.amount, 0)
        slots += part_slots

        # Add-ons once per book version, after its last part.
        emit = every if last else b.version[p + 1] != version
        version_days = b.bounds[p + 1] - version_start
        fixed_n, fixed_d, fixed_m = c.fixed.at(ctx, c.used)
        levy_n, levy_d, levy_m = c.levy.at(ctx, c.used)
        vat_n, vat_d, vat_m = c.vat.at(ctx, c.used)
        ins_n, ins_d, ins_m = c.insurance.at(ctx, c.used)
        fixed = _rhu_any(version_days * fixed_n, fixed_d)
        levy = _rhu_any(energy * levy_n, levy_d)
        vat_base = energy + fixed
        vat = _rhu_any(vat_base * vat_n, vat_d)
        ins = _rhu_any(version_days * ins_n, ins_d)
        days_milli = version_days * 1000
        slots += [
            _Slot(CODE_INDEX["fixed_charge"], emit, days_milli, fixed_m, fixed, p, version),
            _Slot(CODE_INDEX["levy"], emit, energy * 1000, levy_m, levy, p, version),
            _Slot(CODE_INDEX["vat"], emit, vat_base * 1000, vat_m, vat, p, version),
            _Slot(CODE_INDEX["insurance"], emit, days_milli, ins_m, ins, p, version),
        ]
        if last:
            total += vat_base + levy + vat + ins
        else:
            total += np.where(emit, vat_base + levy + vat + ins, 0)
            energy = np.where(emit, 0, energy)
            version_start = np.where(emit, b.bounds[p + 1], version_start)

    x = total + b.carry_in
    units = c.unit[c.used]
    unit: Num = int(units[0]) if bool(np.all(units == units[0])) else c.unit[b.ctx[parts - 1]]
    pay = np.maximum(x, 0) // unit * unit
    left = x - pay
    p_last = parts - 1
    v_last = b.version[p_last]
    slots += [
        _Slot(CODE_INDEX["carry_in"], b.carry_in != 0, 1000, b.carry_in * 1000, b.carry_in, p_last, v_last),
        _Slot(CODE_INDEX["carry_out"], left != 0, 1000, -left * 1000, -left, p_last, v_last),
    ]
    return _Priced(rows=b.rows, slots=slots, total=total, payable=pay, carry=left)


@dataclass
class _Lines:
    bill: I64
    seq: I16
    code: I16
    part: I16
    version: I16
    quantity: I64
    rate: I64
    amount: I64


def _put(target: I64, lo: int, hi: int, present: Bools, value: I64 | int) -> None:
    if isinstance(value, int):
        target[lo:hi] = value
    else:
        np.compress(present, value, out=target[lo:hi])


def _assemble(g: _Priced, sizes: list[int], out: _Lines, lo: int) -> int:
    """Write a group's lines slot by slot from position ``lo``; returns the position after them."""
    if not g.slots:
        return lo
    seq = np.zeros(g.slots[0].present.shape[0], dtype=np.int16)
    for slot, size in zip(g.slots, sizes, strict=True):
        hi = lo + size
        present = slot.present
        if g.rows is None:
            out.bill[lo:hi] = np.flatnonzero(present)
        else:
            np.compress(present, g.rows, out=out.bill[lo:hi])
        np.compress(present, seq, out=out.seq[lo:hi])
        seq += present
        out.code[lo:hi] = slot.code
        out.part[lo:hi] = slot.part
        np.compress(present, slot.version, out=out.version[lo:hi])
        _put(out.quantity, lo, hi, present, slot.quantity_milli)
        _put(out.rate, lo, hi, present, slot.rate_milli)
        _put(out.amount, lo, hi, present, slot.amount)
        lo = hi
    return lo


def _energy_slots(
    c: _Contexts,
    ctx: I64,
    vec: Bools,
    days: I64,
    kwh: I64,
    tou: Bools,
    peak: I64,
    off: I64,
    households: I64,
    medical: Bools,
    fd: int,
    part: int,
    version: I16,
) -> list[_Slot]:
    """The energy slots (steps, TOU, base registers) of part ``part`` of the rows ``vec``."""
    slots: list[_Slot] = []
    res = vec & c.residential[ctx]
    gen = vec & ~c.residential[ctx]

    if res.any():
        # Household factor F/fd, pattern test (a > pattern ⇔ S > pattern·T), then the steps.
        f_n = np.where(res, np.minimum(c.cap_n[ctx], fd + (households - 1) * c.k_n[ctx]), 1)
        big_s = 30 * kwh * fd
        big_t = days * f_n
        high = big_s > c.pattern[ctx] * big_t
        tid = ctx * 3 + np.where(medical & c.medical_ok[ctx], 2, high.astype(np.int64))
        step_den = 30 * fd
        for k, band in enumerate(c.bands):
            lo_t = band.lo[tid] * big_t
            x = np.minimum(np.maximum(big_s, lo_t), band.hi[tid] * big_t) - lo_t
            present = res & (x > 0)
            rn, rd, rm = band.rate.at(tid, c.tables_used & (band.hi > 0))
            slots.append(
                _Slot(
                    code=CODE_INDEX[f"energy_step_{k + 1}"],
                    present=present,
                    quantity_milli=_rhu_any(x * 1000, step_den),
                    rate_milli=rm,
                    amount=_rhu_any(x * rn, step_den * rd),
                    part=part,
                    version=version,
                )
            )
        if (res & tou).any():
            sn, sd, sm = c.surcharge.at(tid, c.tables_used)
            dn, dd, dm = c.discount.at(tid, c.tables_used)
            slots.append(
                _Slot(
                    CODE_INDEX["tou_peak_surcharge"],
                    res & tou & (peak > 0),
                    peak * 1000,
                    sm,
                    _rhu_any(peak * sn, sd),
                    part,
                    version,
                )
            )
            slots.append(
                _Slot(
                    CODE_INDEX["tou_offpeak_discount"],
                    res & tou & (off > 0),
                    off * 1000,
                    -dm,
                    -_rhu_any(off * dn, dd),
                    part,
                    version,
                )
            )

    if gen.any():
        # Groups 2–5: energy_base on a single-rate meter, mid/peak/off-peak registers on a TOU meter.
        used = c.used & ~c.residential
        mid = kwh - peak - off
        single = gen & ~tou
        multi = gen & tou
        for code, mask, qty, rates in (
            ("energy_base", single, kwh, c.base),
            ("energy_mid", multi, mid, c.base),
            ("energy_peak", multi, peak, c.peak),
            ("energy_offpeak", multi, off, c.offpeak),
        ):
            rn, rd, rm = rates.at(ctx, used)
            amount = _rhu_any(qty * rn, rd)
            slots.append(_Slot(CODE_INDEX[code], mask & (qty > 0), qty * 1000, rm, amount, part, version))
    return slots


def lines_equal(result: VectorResult, i: int, bill: RatedBill) -> bool:
    """Whether bill ``i`` of ``result`` has exactly the lines and totals of ``bill``."""
    return (
        result.lines_of(i) == bill.lines
        and int(result.total[i]) == bill.total
        and int(result.payable[i]) == bill.payable
        and int(result.carry[i]) == bill.carry
    )
