"""Reading routes and orders, the parts without a database: cycles, windows, the accepted range, the expected
daily use from the reading state's periods, splitting routes among processes, and the text of CSV and JSON
order lines."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pytest

from barq.errors import ValidationError
from barq.metering.estimates import DEFAULT, HISTORY, expected_daily_periods
from barq.metering.validation import ValidationLimits
from barq.reading.orders import (
    CSV_COLUMNS,
    JSON_KEYS,
    KIND_CODES,
    OrderChunk,
    OrderPlan,
    OrderRoute,
    accepted_range,
    csv_header,
    csv_text,
    file_parts,
    json_text,
    split_routes,
)
from barq.reading.routes import cycle_label, cycle_text, parse_cycle, route_due, route_window

LIMITS = ValidationLimits(low_permille=250, high_permille=3000)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# ------------------------------------------------------------------------------------------ cycles


@pytest.mark.parametrize(
    ("raw", "cycle"),
    [
        ("1405/09", 140509),
        ("1405/9", 140509),
        ("140509", 140509),
        ("۱۴۰۵/۰۹", 140509),
        ("1405-12", 140512),
        (140501, 140501),
    ],
)
def test_cycles_are_read_as_people_write_them(raw: str | int, cycle: int) -> None:
    assert parse_cycle(raw) == cycle


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("آذر", "دوره باید سال و ماه شمسی باشد، مانند ۱۴۰۵/۰۹"),
        ("1405", "دوره باید سال و ماه شمسی باشد، مانند ۱۴۰۵/۰۹"),
        ("05/09", "دوره باید سال و ماه شمسی باشد، مانند ۱۴۰۵/۰۹"),
        ("1405/13", "ماه دوره باید بین ۱ و ۱۲ باشد، نه ۱۳"),
        ("140500", "ماه دوره باید بین ۱ و ۱۲ باشد، نه ۰"),
        ("2026/11", "سال دوره باید بین ۱۳۰۰ و ۱۴۹۹ باشد"),
    ],
)
def test_a_bad_cycle_is_refused_in_persian(raw: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_cycle(raw)
    assert caught.value.errors == {"cycle": message}


def test_cycle_texts() -> None:
    assert cycle_label(140509) == "آذر ۱۴۰۵"
    assert cycle_text(140509) == "1405/09"


@dataclass
class R:
    window_start: int
    window_end: int
    cycle_days: int = 30


def test_the_window_is_clamped_to_the_month() -> None:
    # Azar 1405 has 30 days: a window to day 31 ends on the 30th (2026-12-21)
    assert route_window(R(1, 31), 140509) == (date(2026, 11, 22), date(2026, 12, 21))
    assert route_window(R(5, 25), 140509) == (date(2026, 11, 26), date(2026, 12, 16))
    # Farvardin has 31 days
    assert route_window(R(31, 31), 140501) == (date(2026, 4, 20), date(2026, 4, 20))
    # Esfand 1405 has 29 days (1405 is not a leap year); 1403 was a leap year
    assert route_window(R(28, 31), 140512)[1] == date(2027, 3, 20)
    assert route_window(R(28, 31), 140312)[1] == date(2025, 3, 20)


def test_sixty_day_routes_are_read_in_even_months() -> None:
    assert route_due(R(1, 25, 30), 140509) and route_due(R(1, 25, 30), 140508)
    assert route_due(R(1, 25, 60), 140508) and route_due(R(1, 25, 60), 140512)
    assert not route_due(R(1, 25, 60), 140509) and not route_due(R(1, 25, 60), 140501)
    with pytest.raises(ValidationError):
        route_due(R(1, 25), 140513)


# ------------------------------------------------------------------------------------------ range


def test_range_by_hand() -> None:
    # last 12 000, expected 550 kWh: low = 12 000 + ⌈137.5⌉, high = 12 000 + 1 650
    low, high = accepted_range(i64(12_000), i64(550), i64(1), i64(5), LIMITS)
    assert (low.tolist(), high.tolist()) == ([12_138], [13_650])


def test_range_with_a_multiplier_is_in_register_units() -> None:
    # ×10 meter: the register moves a tenth of the kWh; low rounds up, high rounds down
    low, high = accepted_range(i64(12_000), i64(550), i64(10), i64(5), LIMITS)
    assert (low.tolist(), high.tolist()) == ([12_014], [12_165])


def test_range_wraps_past_the_last_register_value() -> None:
    low, high = accepted_range(i64(99_990, 999_000), i64(550, 550), i64(1, 1), i64(5, 6), LIMITS)
    assert low.tolist() == [128, 999_138]
    assert high.tolist() == [1_640, 650]


def test_range_of_zero_expected_is_the_last_read() -> None:
    low, high = accepted_range(i64(4_321), i64(0), i64(1), i64(4), LIMITS)
    assert (low.tolist(), high.tolist()) == ([4_321], [4_321])


def test_expected_daily_uses_only_usable_periods() -> None:
    """The reading state's periods as the orders read them: one without days or kWh or date is left out."""
    day = (date(2026, 10, 22) - date(1970, 1, 1)).days
    got = expected_daily_periods(
        np.array([[300, 300], [-1, 90], [50, -1]]),
        np.array([[30, 30], [-1, 30], [0, 30]]),  # target 2's first period has no days
        np.array([[day, day - 30], [-1, day], [day, -1]]),
        as_of=np.array(["2026-12-16"] * 3, dtype="datetime64[D]"),
        tariff_class=["1", "1", "1"],
        defaults={"1": 200},
    )
    assert got.daily_milli.tolist() == [10_000, 3_000, 6_667]
    assert got.source.tolist() == [HISTORY, HISTORY, DEFAULT]


# ------------------------------------------------------------------------------------------ routes


def _route(k: int, subs: int) -> OrderRoute:
    return OrderRoute(
        id=k,
        district_code="11",
        district_name="خرم‌آباد",
        code=f"R{k}",
        name=f"مسیر {k}",
        cycle_days=30,
        contractor_name=None,
        reader_name=None,
        read_from=date(2026, 11, 22),
        read_by=date(2026, 12, 16),
        subscriptions=subs,
    )


def test_routes_are_split_into_contiguous_even_shares() -> None:
    routes = [_route(k, s) for k, s in enumerate([3000, 3000, 3000, 3000, 100, 2900])]
    shares = split_routes(routes, 2)
    assert [[r.id for r in s] for s in shares] == [[0, 1, 2], [3, 4, 5]]
    assert [r.id for s in split_routes(routes, 4) for r in s] == list(range(6))
    assert split_routes(routes[:1], 3) == [routes[:1]]
    assert split_routes([], 2) == []


# ------------------------------------------------------------------------------------------ text


def _plan() -> OrderPlan:
    return OrderPlan(
        cycle=140509,
        generated_at=datetime(2026, 11, 28, 6, 0, tzinfo=UTC),
        routes=(_route(7, 2), _route(8, 1)),
    )


def _chunk() -> OrderChunk:
    last_on = (date(2026, 10, 22) - date(1970, 1, 1)).days
    return OrderChunk(
        route=i64(0, 0, 1),
        sequence=i64(10, 20, 10),
        subscription_number=["110000001", "110000002", "110000003"],
        address=["خرم‌آباد، کوچه ۳، پلاک ۱", 'خیابان "شریعتی", پلاک 2', "روستای\nسراب"],
        meter_serial=["T1", "T2", "T3"],
        meter_kind=i64(KIND_CODES["single"], KIND_CODES["tou"], KIND_CODES["single"]),
        digits=i64(5, 6, 5),
        multiplier=i64(1, 1, 40),
        last_read=i64(12_000, 5, 99_990),
        last_read_on=i64(last_on, last_on, last_on - 30),
        last_peak=i64(-1, 1_200, -1),
        last_offpeak=i64(-1, -1, -1),
        expected_kwh=i64(550, 0, 2_000),
        low=i64(12_138, 5, 3),
        high=i64(13_650, 5, 150),
        basis=np.array([HISTORY, DEFAULT, HISTORY], dtype=np.int8),
    )


def test_csv_lines_parse_back_to_the_columns() -> None:
    text = "".join(file_parts(_plan(), iter([_chunk()]), "csv"))
    assert (
        text.startswith(csv_header()) and text.count("\r\n") == 4
    )  # the header and 3 rows; the line end inside an address is a bare \n
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert rows[0] == {
        "cycle": "140509",
        "district": "11",
        "route": "R7",
        "sequence": "10",
        "subscription": "110000001",
        "address": "خرم‌آباد، کوچه ۳، پلاک ۱",
        "meter_serial": "T1",
        "meter_kind": "single",
        "digits": "5",
        "multiplier": "1",
        "last_read": "12000",
        "last_read_on": "2026-10-22",
        "last_read_on_jalali": "1405/07/30",
        "last_peak": "",
        "last_offpeak": "",
        "expected_kwh": "550",
        "low": "12138",
        "high": "13650",
        "read_from": "2026-11-22",
        "read_by": "2026-12-16",
        "basis": "history",
    }
    assert rows[1]["address"] == 'خیابان "شریعتی", پلاک 2'
    assert (rows[1]["meter_kind"], rows[1]["last_peak"], rows[1]["last_offpeak"], rows[1]["basis"]) == (
        "tou",
        "1200",
        "",
        "default",
    )
    assert rows[2]["address"] == "روستای\nسراب"
    assert (rows[2]["route"], rows[2]["multiplier"], rows[2]["last_read_on"]) == ("R8", "40", "2026-09-22")


def test_json_objects_parse_back_to_the_columns() -> None:
    text = "".join(file_parts(_plan(), iter([_chunk(), _chunk()]), "json"))
    doc = json.loads(text)
    assert doc["format"] == "barq.reading-orders/1"
    assert (doc["cycle"], doc["generated_at"], doc["count"]) == (140509, "2026-11-28T06:00:00+00:00", 6)
    assert [r["route"] for r in doc["routes"]] == ["R7", "R8"]
    assert doc["routes"][0]["read_by"] == "2026-12-16"
    first = doc["orders"][0]
    assert list(first) == list(JSON_KEYS)
    assert first["last_peak"] is None and first["low"] == 12_138 and first["last_read_on_jalali"] == "1405/07/30"
    assert doc["orders"][1]["address"] == 'خیابان "شریعتی", پلاک 2'
    assert doc["orders"][1]["last_peak"] == 1200 and doc["orders"][1]["meter_kind"] == "tou"
    assert doc["orders"][2]["address"] == "روستای\nسراب"
    assert len(doc["orders"]) == 6


def test_an_empty_file_is_still_a_whole_file() -> None:
    plan = OrderPlan(cycle=140509, generated_at=datetime(2026, 11, 28, tzinfo=UTC), routes=())
    assert "".join(file_parts(plan, iter([]), "csv")) == csv_header()
    assert json.loads("".join(file_parts(plan, iter([]), "json")))["orders"] == []
    with pytest.raises(ValidationError) as caught:
        list(file_parts(plan, iter([]), "xml"))
    assert caught.value.errors == {"format": "قالب پرونده باید csv یا json باشد"}


def test_line_pieces_are_shared_but_rows_are_not() -> None:
    # the text of one chunk equals the text of its rows written one by one
    chunk = _chunk()
    whole = csv_text(_plan(), chunk)
    parts = []
    for k in range(3):
        one = OrderChunk(**{f: (v[k : k + 1] if hasattr(v, "__getitem__") else v) for f, v in vars(chunk).items()})
        parts.append(csv_text(_plan(), one))
    assert whole == "".join(parts)
    assert json_text(_plan(), chunk).count("\n") == 2  # two separators; the address's line end is escaped
