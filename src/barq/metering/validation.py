"""Read validation (domain.md §4): consumption and one reason code per read, for a million reads at once.

``validate_reads(ValidationColumns(...), today=..., limits=...) -> ValidationResult`` works on columns
(numpy ``int64`` and ``datetime64[D]``); ``validate_read(...)`` checks one read in plain Python and gives the
same consumption and reason (a property test holds them equal). Arithmetic is exact integer arithmetic.

Consumption (kWh, ``int64``) is the register advance from the previous accepted read to the new one:

- ``new ≥ previous``: ``new − previous``.
- **Roll-over** (the register passed 9…9 → 0…0): ``new < previous`` and the previous value's leading digit
  is 9 and the new value's leading digit is 0, i.e. ``previous ≥ 9·10^(d−1)`` and ``new < 10^(d−1)`` for a
  ``d``-digit meter (previous in the top 10 % of the dial, new in the bottom 10 %). Consumption is
  ``10^d − previous + new``. A 5-digit meter read 99 950 then 00 030 used 80 kWh.
- Any other lower read is ``lower_without_rollover``; its consumption is ``new − previous`` (negative), so
  the exception queue shows how far back the register went.
- **Replaced meter** (``replaced``): ``(old_final − previous) + (new − new_initial)``; each segment follows
  the rules above, the old one with ``old_digits`` (default: the row's ``digits``). Either segment going
  back without roll-over makes the row ``lower_without_rollover``.

Register values must satisfy ``0 ≤ value < 10^digits`` and digits are 4–9 (the ``meter`` table's check);
anything else is not a read but bad input, and raises ``ValidationError`` naming the first bad row
(``rows[i].field``), as the rating engine does.

Reason (one per row, the first that applies, in this order):

1. ``future_date``: new date after ``today``.
2. ``before_last_read``: new date before the previous accepted read's date.
3. ``same_day``: new date equal to it (no days to divide by).
4. ``lower_without_rollover``: see above.
5. ``zero_on_active``: consumption 0 on an active subscription (0 on an inactive one is normal).
6. ``above_high`` / ``below_low``: only when an expected daily consumption is given
   (``expected_daily_milli ≥ 0``; -1 means none). Expected kWh = expected daily × days, rounded half up to
   whole kWh (the number an estimate would bill for the same days, see ``estimates.estimate``). Then
   ``consumption·1000 > high_permille·expected`` is ``above_high`` and ``consumption·1000 <
   low_permille·expected`` is ``below_low``; a consumption equal to a limit is within it. Defaults
   (domain.md §4): low 0.25×, high 3×.
7. ``ok``.

Every row gets its consumption, whatever its reason: accepting an exception from the queue uses it.

Pure module: no database, no web framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final

import numpy as np
from numpy.typing import NDArray

from barq.errors import ValidationError

I64 = NDArray[np.int64]
I8 = NDArray[np.int8]
Bools = NDArray[np.bool_]
Dates = NDArray[np.datetime64]

REASONS: Final = (
    "ok",
    "lower_without_rollover",
    "above_high",
    "below_low",
    "zero_on_active",
    "future_date",
    "before_last_read",
    "same_day",
)
"""Reason codes; ``ValidationResult.reason`` holds indexes into this tuple."""
REASON_INDEX: Final = {name: k for k, name in enumerate(REASONS)}
OK: Final = 0
LOWER_WITHOUT_ROLLOVER: Final = 1
ABOVE_HIGH: Final = 2
BELOW_LOW: Final = 3
ZERO_ON_ACTIVE: Final = 4
FUTURE_DATE: Final = 5
BEFORE_LAST_READ: Final = 6
SAME_DAY: Final = 7

REASON_TITLES_FA: Final = {
    "ok": "قرائت معتبر",
    "lower_without_rollover": "قرائت کمتر از قرائت قبلی بدون دور زدن کنتور",
    "above_high": "مصرف بیش از حد بالای مجاز",
    "below_low": "مصرف کمتر از حد پایین مجاز",
    "zero_on_active": "مصرف صفر برای اشتراک فعال",
    "future_date": "تاریخ قرائت در آینده",
    "before_last_read": "تاریخ قرائت پیش از آخرین قرائت",
    "same_day": "تاریخ قرائت برابر با آخرین قرائت",
}

MIN_DIGITS: Final = 4
MAX_DIGITS: Final = 9
MAX_DAILY_MILLI: Final = 10**10
"""Largest expected daily consumption accepted, in thousandths of a kWh (10 million kWh a day)."""
MAX_PERMILLE: Final = 100_000
"""Largest limit factor, in thousandths (100×). Keeps every product inside int64."""
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class ValidationLimits:
    """High and low limits as thousandths of the expected consumption (domain.md §4: 0.25× and 3×)."""

    low_permille: int = 250
    high_permille: int = 3000

    def __post_init__(self) -> None:
        if not 0 <= self.low_permille <= self.high_permille <= MAX_PERMILLE:
            raise ValidationError(
                "حدود مصرف نادرست است: باید ۰ ≤ حد پایین ≤ حد بالا باشد",
                field="limits",
                detail=f"need 0 <= low_permille <= high_permille <= {MAX_PERMILLE}",
            )


def _zeros() -> I64:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ValidationColumns:
    """N reads as columns, one row per read.

    ``prev_value``/``prev_date``: the previous accepted read; ``new_value``/``new_date``: this read;
    ``digits``: the (new) meter's digit count; ``expected_daily_milli``: expected consumption per day in
    thousandths of a kWh, -1 if none; ``active``: the subscription is active. For a replaced meter
    ``replaced`` is set and ``old_final`` (old meter's final read) and ``new_initial`` (new meter's initial
    read) are given; ``old_digits`` is the old meter's digit count (default: ``digits``). Optional columns
    may be left empty (length 0) when no row needs them.
    """

    prev_value: I64
    prev_date: Dates
    new_value: I64
    new_date: Dates
    digits: I64
    expected_daily_milli: I64
    active: Bools
    replaced: Bools = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    old_final: I64 = field(default_factory=_zeros)
    new_initial: I64 = field(default_factory=_zeros)
    old_digits: I64 = field(default_factory=_zeros)

    def __len__(self) -> int:
        return int(self.new_value.shape[0])


@dataclass(frozen=True)
class ValidationResult:
    """Consumption (kWh) and reason (index into ``REASONS``) per row."""

    kwh: I64
    reason: I8

    def __len__(self) -> int:
        return int(self.kwh.shape[0])

    def reason_names(self) -> list[str]:
        return [REASONS[int(r)] for r in self.reason]


@dataclass(frozen=True)
class ReadCheck:
    """One read's consumption and reason code (a name from ``REASONS``)."""

    kwh: int
    reason: str

    @property
    def title_fa(self) -> str:
        return REASON_TITLES_FA[self.reason]


# --------------------------------------------------------------------------------------------- shared


def expected_kwh(daily_milli: int, days: int) -> int:
    """Expected daily consumption (thousandths) × days, rounded half up to whole kWh (both ≥ 0)."""
    return (2 * daily_milli * days + 1000) // 2000


def expected_kwh_columns(daily_milli: I64, days: I64) -> I64:
    """``expected_kwh`` on columns."""
    return (2 * daily_milli * days + 1000) // 2000


def _bad(row: int, name: str, message_fa: str) -> ValidationError:
    return ValidationError(message_fa, field=f"rows[{row}].{name}", detail=f"rows[{row}].{name}: {message_fa}")


# --------------------------------------------------------------------------------------------- scalar


def _advance(prev: int, new: int, digits: int) -> tuple[int, bool]:
    """Register advance and whether it went back without roll-over."""
    if new >= prev:
        return new - prev, False
    cap = 10**digits
    if prev >= 9 * 10 ** (digits - 1) and new < 10 ** (digits - 1):
        return cap - prev + new, False
    return new - prev, True


def _check_value(row: int, name: str, value: int, digits: int) -> None:
    if not 0 <= value < 10**digits:
        raise _bad(row, name, f"مقدار شمارنده باید بین ۰ و {10**digits - 1} باشد")


def _check_digits(row: int, name: str, digits: int) -> None:
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise _bad(row, name, f"تعداد ارقام کنتور باید بین {MIN_DIGITS} و {MAX_DIGITS} باشد")


def validate_read(
    *,
    prev_value: int,
    prev_date: date,
    new_value: int,
    new_date: date,
    digits: int,
    expected_daily_milli: int,
    active: bool,
    today: date,
    replaced: bool = False,
    old_final: int = 0,
    new_initial: int = 0,
    old_digits: int | None = None,
    limits: ValidationLimits | None = None,
    row: int = 0,
) -> ReadCheck:
    """One read: the same consumption and reason ``validate_reads`` gives its row (see the module doc)."""
    lim = limits or ValidationLimits()
    od = digits if old_digits is None else old_digits
    _check_digits(row, "digits", digits)
    if replaced:
        _check_digits(row, "old_digits", od)
        _check_value(row, "prev_value", prev_value, od)
        _check_value(row, "old_final", old_final, od)
        _check_value(row, "new_initial", new_initial, digits)
    else:
        _check_value(row, "prev_value", prev_value, digits)
    _check_value(row, "new_value", new_value, digits)
    if not -1 <= expected_daily_milli <= MAX_DAILY_MILLI:
        raise _bad(row, "expected_daily_milli", "مصرف روزانهٔ مورد انتظار نادرست است")

    if replaced:
        old_kwh, old_back = _advance(prev_value, old_final, od)
        new_kwh, new_back = _advance(new_initial, new_value, digits)
        kwh, back = old_kwh + new_kwh, old_back or new_back
    else:
        kwh, back = _advance(prev_value, new_value, digits)

    days = (new_date - prev_date).days
    if new_date > today:
        reason = "future_date"
    elif days < 0:
        reason = "before_last_read"
    elif days == 0:
        reason = "same_day"
    elif back:
        reason = "lower_without_rollover"
    elif kwh == 0 and active:
        reason = "zero_on_active"
    elif expected_daily_milli >= 0 and kwh * 1000 > lim.high_permille * expected_kwh(expected_daily_milli, days):
        reason = "above_high"
    elif expected_daily_milli >= 0 and kwh * 1000 < lim.low_permille * expected_kwh(expected_daily_milli, days):
        reason = "below_low"
    else:
        reason = "ok"
    return ReadCheck(kwh=kwh, reason=reason)


# --------------------------------------------------------------------------------------------- vector


def _advance_columns(prev: I64, new: I64, digits: I64) -> tuple[I64, Bools]:
    tenth = 10 ** (digits - 1)
    lower = new < prev
    wrapped = lower & (prev >= 9 * tenth) & (new < tenth)
    kwh = np.where(wrapped, 10 * tenth - prev + new, new - prev)
    return kwh, lower & ~wrapped


def _first_bad(mask: Bools) -> int | None:
    if not mask.any():
        return None
    return int(np.argmax(mask))


def _column(values: I64, n: int, name: str, default: I64 | int) -> I64:
    if values.shape[0] == 0:
        return np.broadcast_to(np.asarray(default, dtype=np.int64), (n,)).astype(np.int64)
    if values.shape != (n,):
        raise ValidationError("طول ستون‌ها برابر نیست", field=name, detail=f"{name}: need shape ({n},)")
    return values.astype(np.int64, copy=False)


def validate_reads(cols: ValidationColumns, *, today: date, limits: ValidationLimits | None = None) -> ValidationResult:
    """All rows at once, set-based (architecture rule 8). Same results as ``validate_read`` row by row."""
    lim = limits or ValidationLimits()
    n = len(cols)
    prev = _column(cols.prev_value, n, "prev_value", 0)
    new = _column(cols.new_value, n, "new_value", 0)
    digits = _column(cols.digits, n, "digits", 0)
    expected = _column(cols.expected_daily_milli, n, "expected_daily_milli", -1)
    for name, arr in (("prev_date", cols.prev_date), ("new_date", cols.new_date), ("active", cols.active)):
        if arr.shape != (n,):
            raise ValidationError("طول ستون‌ها برابر نیست", field=name, detail=f"{name}: need shape ({n},)")
    if cols.replaced.shape[0] == 0:
        replaced = np.zeros(n, dtype=np.bool_)
    elif cols.replaced.shape == (n,):
        replaced = cols.replaced.astype(np.bool_, copy=False)
    else:
        raise ValidationError("طول ستون‌ها برابر نیست", field="replaced", detail=f"replaced: need shape ({n},)")
    old_final = _column(cols.old_final, n, "old_final", 0)
    new_initial = _column(cols.new_initial, n, "new_initial", 0)
    old_digits = _column(cols.old_digits, n, "old_digits", 0) if cols.old_digits.shape[0] else digits

    # bad input: raise for the first offending row, in the scalar helper's order of checks
    bad_digits = (digits < MIN_DIGITS) | (digits > MAX_DIGITS)
    bad_od = replaced & ((old_digits < MIN_DIGITS) | (old_digits > MAX_DIGITS))
    safe_d = np.where(bad_digits, MIN_DIGITS, digits)
    safe_od = np.where(replaced & ~bad_od, old_digits, safe_d)
    cap, ocap = 10**safe_d, 10**safe_od
    checks: list[tuple[str, Bools, str]] = [
        ("digits", bad_digits, f"تعداد ارقام کنتور باید بین {MIN_DIGITS} و {MAX_DIGITS} باشد"),
        ("old_digits", bad_od, f"تعداد ارقام کنتور باید بین {MIN_DIGITS} و {MAX_DIGITS} باشد"),
        ("prev_value", (prev < 0) | (prev >= ocap), "مقدار شمارنده خارج از محدودهٔ ارقام کنتور است"),
        ("old_final", replaced & ((old_final < 0) | (old_final >= ocap)), "مقدار شمارنده خارج از محدوده است"),
        ("new_initial", replaced & ((new_initial < 0) | (new_initial >= cap)), "مقدار شمارنده خارج از محدوده است"),
        ("new_value", (new < 0) | (new >= cap), "مقدار شمارنده خارج از محدودهٔ ارقام کنتور است"),
        ("expected_daily_milli", (expected < -1) | (expected > MAX_DAILY_MILLI), "مصرف مورد انتظار نادرست است"),
    ]
    first: tuple[int, int, str, str] | None = None
    for order, (name, mask, message) in enumerate(checks):
        row = _first_bad(mask)
        if row is not None and (first is None or (row, order) < (first[0], first[1])):
            first = (row, order, name, message)
    if first is not None:
        raise _bad(first[0], first[2], first[3])

    plain_kwh, plain_back = _advance_columns(prev, new, safe_d)
    old_kwh, old_back = _advance_columns(prev, old_final, safe_od)
    new_kwh, new_back = _advance_columns(new_initial, new, safe_d)
    kwh = np.where(replaced, old_kwh + new_kwh, plain_kwh).astype(np.int64)
    back = np.where(replaced, old_back | new_back, plain_back)

    prev_day = cols.prev_date.astype("datetime64[D]").astype(np.int64)
    new_day = cols.new_date.astype("datetime64[D]").astype(np.int64)
    days = new_day - prev_day
    today_day = today.toordinal() - _EPOCH_ORDINAL
    has_expected = expected >= 0
    exp_kwh = expected_kwh_columns(np.where(has_expected, expected, 0), np.maximum(days, 0))
    scaled = kwh * 1000

    reason = np.full(n, OK, dtype=np.int8)
    # assign from the last rule to the first, so the first that applies wins
    reason[has_expected & (scaled < lim.low_permille * exp_kwh)] = BELOW_LOW
    reason[has_expected & (scaled > lim.high_permille * exp_kwh)] = ABOVE_HIGH
    reason[(kwh == 0) & cols.active] = ZERO_ON_ACTIVE
    reason[back] = LOWER_WITHOUT_ROLLOVER
    reason[days == 0] = SAME_DAY
    reason[days < 0] = BEFORE_LAST_READ
    reason[new_day > today_day] = FUTURE_DATE
    return ValidationResult(kwh=kwh, reason=reason)
