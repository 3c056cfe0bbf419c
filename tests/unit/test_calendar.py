"""Jalali conversion and formatting, Persian digits, and the working calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from barq import calendar as cal
from barq.calendar import WorkingCalendar, default_calendar
from barq.errors import ValidationError
from barq.ids import normalize_digits

TEHRAN = ZoneInfo("Asia/Tehran")
LUNAR_TITLES = {
    "تاسوعای حسینی",
    "عاشورای حسینی",
    "اربعین حسینی",
    "رحلت رسول اکرم (ص) و شهادت امام حسن مجتبی (ع)",
    "شهادت امام رضا (ع)",
    "شهادت امام حسن عسکری (ع)",
    "میلاد رسول اکرم (ص) و امام جعفر صادق (ع)",
    "شهادت حضرت فاطمه زهرا (س)",
    "ولادت امام علی (ع) و روز پدر",
    "مبعث رسول اکرم (ص)",
    "ولادت حضرت قائم (عج) و جشن نیمه شعبان",
    "شهادت امام علی (ع)",
    "عید سعید فطر",
    "تعطیل به مناسبت عید سعید فطر",
    "شهادت امام جعفر صادق (ع)",
    "عید سعید قربان",
    "عید سعید غدیر خم",
}


def tehran(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TEHRAN)


# -------------------------------------------------------------------------------------- conversion


@pytest.mark.parametrize(
    ("gregorian", "jalali"),
    [
        (date(2024, 8, 2), (1403, 5, 12)),
        (date(2024, 3, 20), (1403, 1, 1)),
        (date(2025, 3, 20), (1403, 12, 30)),
        (date(2025, 3, 21), (1404, 1, 1)),
        (date(2021, 3, 20), (1399, 12, 30)),
        (date(2028, 3, 19), (1406, 12, 29)),
        (date(2028, 3, 20), (1407, 1, 1)),
        (date(1979, 2, 11), (1357, 11, 22)),
    ],
)
def test_known_conversions(gregorian: date, jalali: tuple[int, int, int]) -> None:
    j = cal.to_jalali(gregorian)
    assert (j.year, j.month, j.day) == jalali
    assert cal.from_jalali(*jalali) == gregorian


@pytest.mark.parametrize(
    ("year", "leap"),
    [(1399, True), (1400, False), (1402, False), (1403, True), (1404, False), (1407, False), (1408, True)],
)
def test_leap_years_give_esfand_30_days(year: int, leap: bool) -> None:
    assert cal.month_length(year, 12) == (30 if leap else 29)
    if leap:
        assert cal.from_jalali(year, 12, 30) + timedelta(days=1) == cal.from_jalali(year + 1, 1, 1)
    else:
        with pytest.raises(ValidationError) as info:
            cal.from_jalali(year, 12, 30)
        assert info.value.field == "date"
        assert "۲۹ روز دارد" in info.value.message_fa


def test_month_lengths() -> None:
    assert [cal.month_length(1403, m) for m in range(1, 13)] == [31] * 6 + [30] * 5 + [30]
    assert cal.month_length(1404, 12) == 29


@given(st.dates(min_value=date(1922, 1, 1), max_value=date(2119, 12, 31)))
def test_round_trip_through_jalali(d: date) -> None:
    j = cal.to_jalali(d)
    assert cal.from_jalali(j.year, j.month, j.day) == d
    assert cal.parse_jalali(cal.format_jalali(d)) == d


# ----------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "text",
    [
        "1403/05/12",
        "1403-5-12",
        "1403/5/12",
        "1403.05.12",
        " 1403 / 05 / 12 ",
        "۱۴۰۳/۰۵/۱۲",
        "١٤٠٣/٠٥/١٢",
        "۱۴۰۳-۵-۱۲",
    ],
)
def test_parse_jalali_accepts_common_forms(text: str) -> None:
    assert cal.parse_jalali(text) == date(2024, 8, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "تاریخ وارد نشده است"),
        ("   ", "تاریخ وارد نشده است"),
        ("1403/05", "قالب تاریخ درست نیست؛ نمونهٔ درست: ۱۴۰۳/۰۵/۱۲"),
        ("12/05/1403", "قالب تاریخ درست نیست؛ نمونهٔ درست: ۱۴۰۳/۰۵/۱۲"),
        ("۱۴۰۳/مرداد/۱۲", "قالب تاریخ درست نیست؛ نمونهٔ درست: ۱۴۰۳/۰۵/۱۲"),
        ("1403/13/01", "ماه باید بین ۱ و ۱۲ باشد"),
        ("1403/00/01", "ماه باید بین ۱ و ۱۲ باشد"),
        ("1404/12/30", "اسفند ۱۴۰۴ ۲۹ روز دارد؛ روز ۳۰ وجود ندارد"),
        ("1403/07/31", "مهر ۱۴۰۳ ۳۰ روز دارد؛ روز ۳۱ وجود ندارد"),
        ("1403/05/00", "مرداد ۱۴۰۳ ۳۱ روز دارد؛ روز ۰ وجود ندارد"),
        ("0403/05/12", "سال باید بین ۱۳۰۰ و ۱۴۹۹ باشد"),
    ],
)
def test_parse_jalali_refuses_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        cal.parse_jalali(text)
    assert info.value.message_fa == message
    assert info.value.field == "date"


def test_parse_jalali_leap_day() -> None:
    assert cal.parse_jalali("1403/12/30") == date(2025, 3, 20)
    assert cal.parse_jalali("1403/06/31") == date(2024, 9, 21)


# -------------------------------------------------------------------------------------- formatting


def test_format_jalali() -> None:
    assert cal.format_jalali(date(2024, 8, 2)) == "۱۴۰۳/۰۵/۱۲"
    assert cal.format_jalali(date(2025, 3, 21)) == "۱۴۰۴/۰۱/۰۱"
    assert cal.format_jalali(None) == ""


def test_format_jalali_datetime_in_local_time() -> None:
    assert cal.format_jalali_datetime(datetime(2024, 8, 2, 10, 0, tzinfo=UTC), TEHRAN) == "۱۴۰۳/۰۵/۱۲ ۱۳:۳۰"
    # 21:00 UTC is 00:30 the next day in Tehran
    assert cal.format_jalali_datetime(datetime(2024, 8, 1, 21, 0, tzinfo=UTC)) == "۱۴۰۳/۰۵/۱۲ ۰۰:۳۰"
    # naive values (as SQLite returns them) are read as UTC
    assert cal.format_jalali_datetime(datetime(2024, 8, 2, 10, 0)) == "۱۴۰۳/۰۵/۱۲ ۱۳:۳۰"
    assert cal.format_jalali_datetime(None) == ""


def test_format_jalali_long_and_names() -> None:
    assert cal.format_jalali_long(date(2024, 8, 2)) == "۱۲ مرداد ۱۴۰۳"
    assert cal.format_jalali_long(date(2024, 8, 2), with_weekday=True) == "جمعه ۱۲ مرداد ۱۴۰۳"
    assert cal.format_jalali_long(date(2025, 3, 20)) == "۳۰ اسفند ۱۴۰۳"
    assert cal.format_jalali_long(None) == ""
    assert cal.jalali_month_name(1) == "فروردین"
    assert cal.jalali_month_name(12) == "اسفند"
    assert cal.weekday_name(date(2024, 8, 3)) == "شنبه"
    with pytest.raises(ValueError):
        cal.jalali_month_name(13)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "۰"),
        (7, "۷"),
        (999, "۹۹۹"),
        (1000, "۱٬۰۰۰"),
        (1234567, "۱٬۲۳۴٬۵۶۷"),
        (-1500, "-۱٬۵۰۰"),
        (-999, "-۹۹۹"),
        (3_000_000_000, "۳٬۰۰۰٬۰۰۰٬۰۰۰"),
    ],
)
def test_fa_number(n: int, text: str) -> None:
    assert cal.fa_number(n) == text


def test_fa_number_uses_the_arabic_thousands_separator() -> None:
    assert "\u066c" in cal.fa_number(1000)
    assert "," not in cal.fa_number(1000)


def test_fa_digits() -> None:
    assert cal.fa_digits("1403/05/12") == "۱۴۰۳/۰۵/۱۲"
    assert cal.fa_digits(42) == "۴۲"
    assert cal.fa_digits("abc") == "abc"


@given(st.text())
def test_persian_digit_round_trip(s: str) -> None:
    assert normalize_digits(cal.fa_digits(s)) == normalize_digits(s)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_fa_number_round_trip(n: int) -> None:
    assert int(normalize_digits(cal.fa_number(n)).replace("\u066c", "")) == n


# ----------------------------------------------------------------------------------- holidays data


def test_default_calendar_is_cached_and_covers_1400_to_1406() -> None:
    c = default_calendar()
    assert default_calendar() is c
    assert (c.first_year, c.last_year) == (1400, 1406)
    assert c.covers(cal.from_jalali(1400, 1, 1))
    assert c.covers(cal.from_jalali(1406, 12, 29))
    assert not c.covers(cal.from_jalali(1407, 1, 1))
    assert not c.covers(cal.from_jalali(1399, 12, 30))


@pytest.mark.parametrize("year", range(1400, 1407))
def test_every_year_has_every_holiday(year: int) -> None:
    titles = {h.title for h in default_calendar().holidays_in_year(year)}
    assert titles >= LUNAR_TITLES
    for fixed in ("عید نوروز", "روز جمهوری اسلامی", "روز طبیعت", "رحلت امام خمینی", "قیام ۱۵ خرداد"):
        assert fixed in titles
    assert {"پیروزی انقلاب اسلامی", "روز ملی شدن صنعت نفت"} <= titles


@pytest.mark.parametrize(
    ("jalali", "title"),
    [
        ((1403, 1, 1), "عید نوروز"),
        ((1403, 1, 4), "عید نوروز"),
        ((1403, 1, 12), "روز جمهوری اسلامی"),
        ((1403, 1, 13), "روز طبیعت؛ شهادت امام علی (ع)"),
        ((1403, 3, 14), "رحلت امام خمینی"),
        ((1403, 3, 15), "قیام ۱۵ خرداد"),
        ((1403, 4, 25), "تاسوعای حسینی"),
        ((1403, 4, 26), "عاشورای حسینی"),
        ((1403, 11, 22), "پیروزی انقلاب اسلامی"),
        ((1403, 12, 29), "روز ملی شدن صنعت نفت"),
        ((1403, 12, 30), "آخرین روز سال (سال کبیسه)"),
        ((1404, 1, 2), "عید نوروز؛ شهادت امام علی (ع)"),
        ((1404, 1, 11), "عید سعید فطر"),
        ((1403, 5, 13), None),
    ],
)
def test_holiday_names(jalali: tuple[int, int, int], title: str | None) -> None:
    assert default_calendar().holiday_name(cal.from_jalali(*jalali)) == title


def test_estimated_holidays_are_marked() -> None:
    c = default_calendar()
    confirmed = c.holidays_on(cal.from_jalali(1403, 4, 26))
    assert [h.estimated for h in confirmed] == [False]
    estimated = c.holidays_on(cal.from_jalali(1406, 3, 26))
    assert [h.title for h in estimated] == ["عاشورای حسینی"]
    assert estimated[0].estimated


def test_shipped_data_file_is_well_formed() -> None:
    import tomllib

    path = Path(cal.__file__).parent / "data" / "holidays.toml"
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    seen: set[tuple[str, str]] = set()
    for entry in data["holiday"]:
        key = (entry["date"], entry["title"])
        assert key not in seen, key
        seen.add(key)
        year = int(entry["date"][:4])
        assert data["first_year"] <= year <= data["last_year"]
        assert entry["title"] in LUNAR_TITLES
    assert WorkingCalendar.from_toml(path).holiday_name(date(2024, 3, 20)) == "عید نوروز"


# ------------------------------------------------------------------------------------ working days


def test_fridays_and_holidays_are_off() -> None:
    c = default_calendar()
    assert not c.is_working_day(date(2024, 8, 2))  # Friday 1403/05/12
    assert c.is_working_day(date(2024, 8, 3))  # Saturday
    assert c.is_working_day(date(2024, 8, 8))  # Thursday is a (short) working day
    assert c.holiday_name(date(2024, 8, 2)) is None  # a Friday is a day off, not a holiday
    for day in range(1, 5):
        assert not c.is_working_day(cal.from_jalali(1403, 1, day))


def test_add_working_days_across_nowruz() -> None:
    c = default_calendar()
    # Mon 1402/12/28; then 29 Esfand (oil), 1–4 Farvardin (Nowruz, with a Friday inside) are all off
    start = cal.from_jalali(1402, 12, 28)
    assert start == date(2024, 3, 18)
    assert c.add_working_days(start, 1) == cal.from_jalali(1403, 1, 5) == date(2024, 3, 24)
    assert c.working_days_between(start, date(2024, 3, 24)) == 1
    assert c.add_working_days(date(2024, 3, 24), -1) == start


def test_add_working_days_across_a_leap_year_end() -> None:
    c = default_calendar()
    # Tue 1403/12/28 → 29 (oil), 30 (leap), 1404/01/01 Friday, 02 (Nowruz and Imam Ali), 03, 04 → Tue 01/05
    assert c.add_working_days(date(2025, 3, 18), 1) == date(2025, 3, 25)
    assert c.working_days_between(date(2025, 3, 18), date(2025, 3, 25)) == 1


def test_add_working_days_over_a_friday() -> None:
    c = default_calendar()
    saturday = date(2024, 8, 3)  # 1403/05/13, an ordinary week
    assert c.add_working_days(saturday, 0) == saturday
    assert c.add_working_days(saturday, 5) == date(2024, 8, 8)  # Thursday
    assert c.add_working_days(saturday, 6) == date(2024, 8, 10)  # skips Friday 9 August
    assert c.working_days_between(saturday, date(2024, 8, 10)) == 6
    assert c.working_days_between(date(2024, 8, 10), saturday) == -6  # 3 Aug counts, 10 Aug does not
    assert c.working_days_between(date(2024, 3, 24), date(2024, 3, 18)) == -1
    assert c.next_working_day(date(2024, 8, 9)) == date(2024, 8, 10)


@given(
    st.dates(min_value=date(2021, 3, 21), max_value=date(2028, 1, 1)),
    st.integers(min_value=-60, max_value=60),
)
def test_working_days_between_inverts_add_working_days(d: date, n: int) -> None:
    c = default_calendar()
    result = c.add_working_days(d, n)
    assert c.working_days_between(d, result) == n
    if n:
        assert c.is_working_day(result)
        assert (result > d) == (n > 0)


# ----------------------------------------------------------------------------------- working hours


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # Wed 1402/12/23 13:00: 1.5 h until 14:30, then 1.5 h of Thursday
        (tehran(2024, 3, 13, 13), 3, tehran(2024, 3, 14, 9)),
        # Thursday closes at 12:30; Friday is off
        (tehran(2024, 3, 14, 11, 30), 2, tehran(2024, 3, 16, 8, 30)),
        # before opening and after closing
        (tehran(2024, 8, 3, 6), 1, tehran(2024, 8, 3, 8, 30)),
        (tehran(2024, 8, 7, 20), 1, tehran(2024, 8, 8, 8, 30)),
        # a deadline that ends at closing time stays on that day
        (tehran(2024, 8, 3, 13, 30), 1, tehran(2024, 8, 3, 14, 30)),
        # a full week of office time: 5 × 7 h + 5 h = 40 h from Saturday opening ends Thursday 12:30
        (tehran(2024, 8, 3, 7, 30), 40, tehran(2024, 8, 8, 12, 30)),
        # across Nowruz: 0.5 h on Mon 1402/12/28, then Sun 1403/01/05
        (tehran(2024, 3, 18, 14), 1, tehran(2024, 3, 24, 8)),
        (tehran(2024, 8, 3, 10), 0, tehran(2024, 8, 3, 10)),
    ],
)
def test_add_working_hours(start: datetime, hours: float, expected: datetime) -> None:
    assert default_calendar().add_working_hours(start, hours, TEHRAN) == expected


def test_add_working_hours_keeps_the_callers_zone() -> None:
    start = datetime(2024, 3, 13, 9, 30, tzinfo=UTC)  # 13:00 in Tehran
    result = default_calendar().add_working_hours(start, timedelta(hours=3))
    assert result == datetime(2024, 3, 14, 5, 30, tzinfo=UTC)
    assert result.tzinfo is UTC


def test_add_working_hours_refuses_bad_input() -> None:
    c = default_calendar()
    with pytest.raises(ValueError):
        c.add_working_hours(datetime(2024, 8, 3, 10), 1)
    with pytest.raises(ValueError):
        c.add_working_hours(tehran(2024, 8, 3, 10), -1)


@given(
    st.datetimes(min_value=datetime(2021, 4, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)),
    st.integers(min_value=0, max_value=200 * 60),
)
def test_working_hours_between_inverts_add_working_hours(start: datetime, minutes: int) -> None:
    c = default_calendar()
    end = c.add_working_hours(start, timedelta(minutes=minutes))
    assert end >= start
    assert c.working_hours_between(start, end) == timedelta(minutes=minutes)


# ----------------------------------------------------------------------------------- configuration


def _small_calendar(**overrides: Any) -> WorkingCalendar:
    data: dict[str, Any] = {
        "time_zone": "Asia/Tehran",
        "weekend": ["thursday", "friday"],
        "office_hours": {"saturday": {"open": "08:00", "close": "16:00"}},
        "fixed": [{"month": 1, "day": 1, "title": "عید نوروز"}],
        "holiday": [{"date": "۱۴۰۳/۰۵/۱۳", "title": "تعطیل آزمایشی"}],
    }
    data.update(overrides)
    return WorkingCalendar.from_mapping(data)


def test_weekend_and_office_hours_come_from_the_file() -> None:
    c = _small_calendar()
    assert not c.is_working_day(date(2024, 8, 8))  # Thursday is off here
    assert not c.is_working_day(date(2024, 8, 3))  # the listed holiday (a Saturday)
    assert c.holiday_name(date(2024, 8, 3)) == "تعطیل آزمایشی"
    assert c.office_hours == {5: (time(8), time(16))}
    # Sunday is a working day without office hours: it adds no hours
    assert c.add_working_hours(tehran(2024, 8, 4, 9), 1) == tehran(2024, 8, 10, 9)
    assert c.holiday_name(date(2025, 3, 21)) == "عید نوروز"  # fixed holidays repeat every year
    assert not c.covers(date(2025, 3, 21))


@pytest.mark.parametrize(
    "overrides",
    [
        {"weekend": ["fri"]},
        {"office_hours": {"saturday": {"open": "16:00", "close": "08:00"}}},
        {"office_hours": {"saturday": {"open": "8", "close": "16:00"}}},
        {"holiday": [{"date": "1403/13/01", "title": "x"}]},
        {"holiday": [{"date": "1403/05/13", "title": " "}]},
        {"fixed": [{"month": 13, "day": 1, "title": "x"}]},
        {"weekend": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]},
    ],
)
def test_bad_calendar_files_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _small_calendar(**overrides)
