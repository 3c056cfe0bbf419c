"""Jalali dates, Persian digits and the company's working calendar.

Business dates are :class:`datetime.date`; events are aware UTC :class:`datetime.datetime`. This module
converts them to and from the Jalali (Solar Hijri) calendar, formats them with Persian digits, and answers
working-day questions from ``data/holidays.toml`` (weekly days off, office hours, public holidays).
Pure module: no database, no framework.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime

from barq.errors import ValidationError

__all__ = [
    "MONTH_NAMES",
    "TEHRAN",
    "WEEKDAY_NAMES",
    "Holiday",
    "WorkingCalendar",
    "default_calendar",
    "fa_digits",
    "fa_number",
    "format_jalali",
    "format_jalali_datetime",
    "format_jalali_long",
    "from_jalali",
    "jalali_month_name",
    "month_length",
    "parse_jalali",
    "to_jalali",
    "weekday_name",
]

TEHRAN = ZoneInfo("Asia/Tehran")

MONTH_NAMES: tuple[str, ...] = (
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
)
#: Persian weekday names indexed by Python's ``date.weekday()`` (Monday = 0).
WEEKDAY_NAMES: tuple[str, ...] = ("دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "جمعه", "شنبه", "یکشنبه")
_ENGLISH_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# The digit translation is repeated from barq.ids on purpose: calendar and ids are independent siblings
# in the import-linter layer contract, so neither may import the other.
_TO_LATIN = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_TO_PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_FA_THOUSANDS = "\u066c"  # ARABIC THOUSANDS SEPARATOR «٬»

# ------------------------------------------------------------------------------------------ digits


def fa_digits(s: str | int) -> str:
    """Return ``s`` with Latin digits replaced by Persian digits (۰-۹)."""
    return str(s).translate(_TO_PERSIAN)


def fa_number(n: int) -> str:
    """An integer with Persian digits and the Persian thousands separator: 1234567 → «۱٬۲۳۴٬۵۶۷»."""
    sign = "-" if n < 0 else ""
    return sign + fa_digits(f"{abs(n):,}".replace(",", _FA_THOUSANDS))


# -------------------------------------------------------------------------------------- conversion


def to_jalali(d: date) -> jdatetime.date:
    """The Jalali date of the Gregorian date ``d``."""
    return jdatetime.date.fromgregorian(year=d.year, month=d.month, day=d.day)


def month_length(year: int, month: int) -> int:
    """Number of days in a Jalali month: 31 for months 1–6, 30 for 7–11, 29 or 30 (leap year) for Esfand."""
    if not 1 <= month <= 12:
        raise ValueError(f"Jalali month must be 1..12, got {month}")
    if month <= 6:
        return 31
    if month <= 11:
        return 30
    return 30 if jdatetime.date(year, 1, 1).isleap() else 29


def from_jalali(year: int, month: int, day: int) -> date:
    """The Gregorian date of a Jalali date; ValidationError (field ``date``) if the date does not exist."""
    if not 1 <= month <= 12:
        raise ValidationError(
            "ماه باید بین ۱ و ۱۲ باشد", field="date", detail=f"Jalali month must be 1..12, got {month}"
        )
    if not 1 <= year <= 9377:
        raise ValidationError("سال نادرست است", field="date", detail=f"Jalali year out of range: {year}")
    last = month_length(year, month)
    if not 1 <= day <= last:
        raise ValidationError(
            f"{MONTH_NAMES[month - 1]} {fa_digits(year)} {fa_digits(last)} روز دارد؛ روز {fa_digits(day)} وجود ندارد",
            field="date",
            detail=f"Jalali {year}/{month:02d} has {last} days, got day {day}",
        )
    g = jdatetime.date(year, month, day).togregorian()
    return date(g.year, g.month, g.day)


_JALALI_RE = re.compile(r"(\d{4})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{1,2})")
_YEAR_MIN, _YEAR_MAX = 1300, 1499


def parse_jalali(s: str) -> date:
    """Parse a Jalali date typed by a person: ``1403/05/12``, ``1403-5-12``, Persian or Arabic digits.

    Raises ValidationError (field ``date``) with a Persian message for malformed or impossible dates and for
    years outside 1300–1499 (almost always a typing mistake).
    """
    text = s.translate(_TO_LATIN).strip()
    if not text:
        raise ValidationError("تاریخ وارد نشده است", field="date", detail="date is empty")
    m = _JALALI_RE.fullmatch(text)
    if m is None:
        raise ValidationError(
            "قالب تاریخ درست نیست؛ نمونهٔ درست: ۱۴۰۳/۰۵/۱۲",
            field="date",
            detail=f"malformed Jalali date {s!r}",
        )
    year, month, day = (int(g) for g in m.groups())
    if not _YEAR_MIN <= year <= _YEAR_MAX:
        raise ValidationError(
            f"سال باید بین {fa_digits(_YEAR_MIN)} و {fa_digits(_YEAR_MAX)} باشد",
            field="date",
            detail=f"Jalali year {year} out of {_YEAR_MIN}..{_YEAR_MAX}",
        )
    return from_jalali(year, month, day)


# -------------------------------------------------------------------------------------- formatting


def jalali_month_name(m: int) -> str:
    """Persian name of Jalali month ``m`` (1 = فروردین … 12 = اسفند)."""
    if not 1 <= m <= 12:
        raise ValueError(f"Jalali month must be 1..12, got {m}")
    return MONTH_NAMES[m - 1]


def weekday_name(d: date) -> str:
    """Persian name of the weekday of ``d`` (شنبه … جمعه)."""
    return WEEKDAY_NAMES[d.weekday()]


def format_jalali(d: date | None) -> str:
    """``date(2024, 8, 2)`` → «۱۴۰۳/۰۵/۱۲»; None → empty string. Pass a date, not an event datetime."""
    if d is None:
        return ""
    j = to_jalali(d)
    return fa_digits(f"{j.year:04d}/{j.month:02d}/{j.day:02d}")


def _as_aware_utc(dt: datetime) -> datetime:
    # SQLite gives back naive datetimes for events stored in UTC: read a naive value as UTC.
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def format_jalali_datetime(dt: datetime | None, tz: tzinfo = TEHRAN) -> str:
    """An event time in local time ``tz``: «۱۴۰۳/۰۵/۱۲ ۱۳:۳۰». A naive ``dt`` is read as UTC."""
    if dt is None:
        return ""
    local = _as_aware_utc(dt).astimezone(tz)
    return f"{format_jalali(local.date())} {fa_digits(f'{local.hour:02d}:{local.minute:02d}')}"


def format_jalali_long(d: date | None, *, with_weekday: bool = False) -> str:
    """``date(2024, 8, 2)`` → «۱۲ مرداد ۱۴۰۳» (or «جمعه ۱۲ مرداد ۱۴۰۳» with the weekday)."""
    if d is None:
        return ""
    j = to_jalali(d)
    text = f"{fa_digits(j.day)} {MONTH_NAMES[j.month - 1]} {fa_digits(j.year)}"
    return f"{weekday_name(d)} {text}" if with_weekday else text


# -------------------------------------------------------------------------------- working calendar


@dataclass(frozen=True, slots=True)
class Holiday:
    """One public holiday."""

    day: date
    title: str
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class _FixedHoliday:
    month: int
    day: int
    title: str


def _parse_hhmm(value: str, where: str) -> time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if m is None:
        raise ValueError(f"{where}: expected HH:MM, got {value!r}")
    return time(int(m.group(1)), int(m.group(2)))


def _weekday_index(name: str, where: str) -> int:
    try:
        return _ENGLISH_WEEKDAYS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"{where}: unknown weekday {name!r}") from None


class WorkingCalendar:
    """Working days and office hours of the company.

    A day is a working day unless it is a weekly day off (``weekend``) or a public holiday. Holidays are
    fixed solar dates that repeat every Jalali year, plus dated (lunar) holidays listed for
    ``first_year..last_year``; :meth:`covers` tells whether a date lies in that range.
    """

    def __init__(
        self,
        *,
        holidays: Iterable[Holiday] = (),
        fixed: Iterable[tuple[int, int, str]] = (),
        weekend: Iterable[int] = (4,),
        office_hours: Mapping[int, tuple[time, time]] | None = None,
        time_zone: tzinfo = TEHRAN,
        first_year: int | None = None,
        last_year: int | None = None,
    ) -> None:
        self._dated: dict[date, list[Holiday]] = {}
        for h in holidays:
            self._dated.setdefault(h.day, []).append(h)
        self._fixed: dict[tuple[int, int], list[str]] = {}
        for month, day, title in fixed:
            if not 1 <= month <= 12 or not 1 <= day <= 31:
                raise ValueError(f"fixed holiday {month}/{day} is not a Jalali month/day")
            self._fixed.setdefault((month, day), []).append(title)
        self.weekend: frozenset[int] = frozenset(weekend)
        if not self.weekend <= set(range(7)):
            raise ValueError("weekend must hold weekday numbers 0 (Monday) .. 6 (Sunday)")
        if len(self.weekend) == 7:
            raise ValueError("at least one day of the week must be a working day")
        hours = dict(office_hours or {})
        for wd, (opens, closes) in hours.items():
            if not opens < closes:
                raise ValueError(f"office hours of {_ENGLISH_WEEKDAYS[wd]} close before they open")
        self.office_hours: dict[int, tuple[time, time]] = hours
        self.time_zone = time_zone
        self.first_year = first_year
        self.last_year = last_year

    # -------------------------------------------------------------- loading

    @classmethod
    def from_toml(cls, path: Path | str) -> WorkingCalendar:
        """Load a calendar from a TOML file shaped like ``barq/data/holidays.toml``."""
        with open(path, "rb") as fh:
            return cls.from_mapping(tomllib.load(fh), source=str(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<calendar>") -> WorkingCalendar:
        """Build a calendar from the parsed contents of a holidays TOML file."""
        weekend = [_weekday_index(str(n), f"{source}: weekend") for n in data.get("weekend", ["friday"])]
        office_hours: dict[int, tuple[time, time]] = {}
        for name, span in dict(data.get("office_hours", {})).items():
            where = f"{source}: office_hours.{name}"
            office_hours[_weekday_index(name, where)] = (
                _parse_hhmm(str(span["open"]), where),
                _parse_hhmm(str(span["close"]), where),
            )
        fixed = [(int(f["month"]), int(f["day"]), str(f["title"])) for f in data.get("fixed", [])]
        holidays: list[Holiday] = []
        for entry in data.get("holiday", []):
            raw = str(entry["date"])
            try:
                day = parse_jalali(raw)
            except ValidationError as exc:
                raise ValueError(f"{source}: bad holiday date {raw!r}: {exc.detail}") from None
            title = str(entry.get("title", "")).strip()
            if not title:
                raise ValueError(f"{source}: holiday {raw} has no title")
            holidays.append(Holiday(day=day, title=title, estimated=bool(entry.get("estimated", False))))
        first_year = data.get("first_year")
        last_year = data.get("last_year")
        return cls(
            holidays=holidays,
            fixed=fixed,
            weekend=weekend,
            office_hours=office_hours,
            time_zone=ZoneInfo(str(data.get("time_zone", "Asia/Tehran"))),
            first_year=int(first_year) if first_year is not None else None,
            last_year=int(last_year) if last_year is not None else None,
        )

    # -------------------------------------------------------------- days

    def covers(self, d: date) -> bool:
        """Whether the dated (lunar) holidays of ``d``'s Jalali year are listed in this calendar."""
        if self.first_year is None or self.last_year is None:
            return False
        year: int = to_jalali(d).year
        return self.first_year <= year <= self.last_year

    def holidays_on(self, d: date) -> list[Holiday]:
        """Every holiday falling on ``d`` (several may coincide)."""
        j = to_jalali(d)
        found = [Holiday(day=d, title=t) for t in self._fixed.get((j.month, j.day), [])]
        found.extend(self._dated.get(d, []))
        return found

    def holiday_name(self, d: date) -> str | None:
        """Title(s) of the holiday(s) on ``d`` joined by «؛ », or None. Weekly days off are not holidays."""
        titles: list[str] = []
        for h in self.holidays_on(d):
            if h.title not in titles:
                titles.append(h.title)
        return "؛ ".join(titles) if titles else None

    def is_holiday(self, d: date) -> bool:
        return bool(self.holidays_on(d))

    def is_working_day(self, d: date) -> bool:
        """False on weekly days off and public holidays."""
        return d.weekday() not in self.weekend and not self.holidays_on(d)

    def holidays_in_year(self, jalali_year: int) -> list[Holiday]:
        """Every holiday of a Jalali year, in date order."""
        start = from_jalali(jalali_year, 1, 1)
        end = from_jalali(jalali_year + 1, 1, 1)
        result: list[Holiday] = []
        d = start
        while d < end:
            result.extend(self.holidays_on(d))
            d += timedelta(days=1)
        return result

    def add_working_days(self, d: date, n: int) -> date:
        """The date ``n`` working days after ``d`` (before it when ``n`` < 0); ``d`` itself is not counted.

        ``add_working_days(d, 0)`` is ``d``. ``working_days_between(d, add_working_days(d, n)) == n``.
        """
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        current = d
        while remaining:
            current += timedelta(days=step)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, a: date, b: date) -> int:
        """Working days passed when moving from ``a`` to ``b``, counting each day arrived at.

        For b ≥ a: the working days d with a < d ≤ b. For b < a: minus the working days d with b ≤ d < a.
        So ``working_days_between(d, add_working_days(d, n)) == n`` for every n.
        """
        if b < a:
            return -self._count_working(b, a - timedelta(days=1))
        return self._count_working(a + timedelta(days=1), b)

    def _count_working(self, first: date, last: date) -> int:
        count = 0
        d = first
        while d <= last:
            if self.is_working_day(d):
                count += 1
            d += timedelta(days=1)
        return count

    def next_working_day(self, d: date) -> date:
        """``d`` if it is a working day, else the first working day after it."""
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    # -------------------------------------------------------------- hours

    def _office_span(self, d: date, tz: tzinfo) -> tuple[datetime, datetime] | None:
        if not self.is_working_day(d):
            return None
        hours = self.office_hours.get(d.weekday())
        if hours is None:
            return None
        opens, closes = hours
        return datetime.combine(d, opens, tzinfo=tz), datetime.combine(d, closes, tzinfo=tz)

    def _spans_from(self, day: date, tz: tzinfo, *, limit_days: int = 3660) -> Iterable[tuple[datetime, datetime]]:
        for i in range(limit_days):
            span = self._office_span(day + timedelta(days=i), tz)
            if span is not None:
                yield span
        raise ValueError("no office hours within ten years: check office_hours and weekend")

    def add_working_hours(self, start: datetime, hours: float | timedelta, tz: tzinfo | None = None) -> datetime:
        """The instant at which ``hours`` of office time have passed since ``start``.

        Time outside office hours (evenings, weekly days off, holidays) does not count. A deadline that ends
        exactly at closing time is that closing time. ``start`` must be aware; the result is in ``start``'s
        time zone. ``tz`` is the office's time zone (the calendar's, Asia/Tehran, by default).
        """
        if start.tzinfo is None:
            raise ValueError("add_working_hours needs an aware datetime")
        zone = tz or self.time_zone
        remaining = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
        if remaining < timedelta(0):
            raise ValueError("hours must not be negative")
        if not remaining:
            return start
        local = start.astimezone(zone)
        for opens, closes in self._spans_from(local.date(), zone):
            if closes <= local:
                continue
            begin = max(opens, local)
            available = closes - begin
            if remaining <= available:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= available
        raise AssertionError("unreachable")  # pragma: no cover - _spans_from raises first

    def working_hours_between(self, a: datetime, b: datetime, tz: tzinfo | None = None) -> timedelta:
        """Office time between two aware instants (negative when ``b`` is before ``a``)."""
        if a.tzinfo is None or b.tzinfo is None:
            raise ValueError("working_hours_between needs aware datetimes")
        if b < a:
            return -self.working_hours_between(b, a, tz)
        zone = tz or self.time_zone
        la, lb = a.astimezone(zone), b.astimezone(zone)
        total = timedelta(0)
        d = la.date()
        while d <= lb.date():
            span = self._office_span(d, zone)
            if span is not None:
                begin, end = max(span[0], la), min(span[1], lb)
                if end > begin:
                    total += end - begin
            d += timedelta(days=1)
        return total


_DATA_FILE = "holidays.toml"


@functools.cache
def default_calendar() -> WorkingCalendar:
    """The calendar shipped in ``barq/data/holidays.toml`` (loaded once)."""
    text = resources.files("barq").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    return WorkingCalendar.from_mapping(tomllib.loads(text), source=f"barq/data/{_DATA_FILE}")
