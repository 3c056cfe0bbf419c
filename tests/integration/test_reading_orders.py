"""Reading orders on a real database: which subscriptions get an order, the last read and the accepted range
computed by hand, the scopes and the Persian refusals, and the files (one process or several, same bytes)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from sqlalchemy import Engine

from barq.auth.service import SYSTEM
from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.errors import PermissionDenied, ValidationError
from barq.metering.models import Meter, MeterInstallation, ReadingState
from barq.network.models import Route
from barq.reading.orders import OrderPlan, OrderRow, order_rows, plan_orders, write_orders
from tests.factories import build_world
from tests.reading_factories import INSTALLED_ON, LAST_ON, LAST_VALUE, Reading, build_reading

CYCLE = 140509  # Azar 1405: 2026-11-22 .. 2026-12-21; every route's window 1..25 ends on 2026-12-16
READ_BY = date(2026, 12, 16)
# three 30-day periods of 300 kWh: 10 kWh a day; 55 days from 2026-10-22 to 2026-12-16: 550 kWh expected
EXPECTED = 550
LOW, HIGH = LAST_VALUE + 138, LAST_VALUE + 1650  # ⌈0.25 × 550⌉, ⌊3 × 550⌋


@pytest.fixture
def rd(engine: Engine, clock: FixedClock) -> Reading:
    return build_reading(build_world(engine, clock, customers=6))


def _plan(rd: Reading, username: str = "admin", **kw: object) -> OrderPlan:
    with rd.world.session() as s:
        principal = SYSTEM if username == "system" else rd.world.principal(username)
        return plan_orders(s, principal=principal, clock=rd.world.clock, cycle=kw.pop("cycle", CYCLE), **kw)  # type: ignore[arg-type]


def _rows(rd: Reading, plan: OrderPlan) -> list[OrderRow]:
    with rd.world.session() as s:
        return order_rows(s, plan)


def _by_number(rows: list[OrderRow]) -> dict[str, OrderRow]:
    return {r.subscription_number: r for r in rows}


def test_every_due_subscription_gets_its_order(rd: Reading) -> None:
    plan = _plan(rd)
    assert [(r.district_code, r.code, r.read_from, r.read_by, r.subscriptions) for r in plan.routes] == [
        ("11", "R11A", date(2026, 11, 22), READ_BY, 2),
        ("11", "R11B", date(2026, 11, 22), READ_BY, 1),
        ("12", "R12", date(2026, 11, 22), READ_BY, 3),
    ]
    assert plan.subscriptions == 6
    rows = _rows(rd, plan)
    assert [(r.route.code, r.sequence) for r in rows] == [
        ("R11A", 10),
        ("R11A", 20),
        ("R11B", 10),
        ("R12", 10),
        ("R12", 20),
        ("R12", 30),
    ]
    first = rows[0]
    assert first.subscription_number == rd.numbers[rd.world.subscription_ids[0]]
    assert first.address == "خرم‌آباد، خیابان شریعتی، پلاک 1"
    assert (first.meter_serial, first.meter_kind, first.digits, first.multiplier) == (
        f"T{rd.world.subscription_ids[0]:08d}",
        "single",
        5,
        1,
    )
    assert (first.last_read, first.last_read_on, first.last_peak, first.last_offpeak) == (
        LAST_VALUE,
        LAST_ON,
        None,
        None,
    )
    assert (first.expected_kwh, first.low, first.high, first.basis) == (EXPECTED, LOW, HIGH, "history")


def test_no_state_a_replaced_meter_and_a_multiplier(rd: Reading) -> None:
    ids = rd.world.subscription_ids
    with rd.world.session() as s:
        # no reading state: the installation's initial read 1000 on 2026-03-21, and the group-1 default
        s.delete(s.get_one(ReadingState, ids[0]))
        # the meter was replaced after the last read: the new meter's initial read counts
        inst = s.query(MeterInstallation).filter_by(subscription_id=ids[1]).one()
        inst.removed_on = date(2026, 11, 1)
        new = Meter(
            serial="NEW1",
            kind="tou",
            registers="peak,mid,offpeak",
            digits=6,
            multiplier=1,
            phase=1,
            accuracy_class="1",
            manufacture_year=2025,
            state="installed",
        )
        s.add(new)
        s.flush()
        s.add(
            MeterInstallation(subscription_id=ids[1], meter_id=new.id, installed_on=date(2026, 11, 1), initial_read=7)
        )
        # a ×10 meter near the end of its dial, with TOU registers
        meter = s.get_one(Meter, rd.meter_ids[ids[2]])
        meter.multiplier = 10
        state = s.get_one(ReadingState, ids[2])
        state.last_value, state.last_peak, state.last_offpeak = 99_990, 30_000, 50_000
        s.commit()
    rows = _by_number(_rows(rd, _plan(rd)))
    no_state = rows[rd.numbers[ids[0]]]
    # 200 kWh / 30 days = 6.667 kWh a day; 270 days from 2026-03-21: 1 800 kWh
    assert (no_state.last_read, no_state.last_read_on, no_state.basis) == (1000, INSTALLED_ON, "default")
    assert (no_state.expected_kwh, no_state.low, no_state.high) == (1800, 1450, 6400)
    replaced = rows[rd.numbers[ids[1]]]
    # history still gives 10 kWh a day; 45 days since the new meter: 450 kWh
    assert (replaced.meter_serial, replaced.meter_kind, replaced.digits) == ("NEW1", "tou", 6)
    assert (replaced.last_read, replaced.last_read_on, replaced.last_peak) == (7, date(2026, 11, 1), None)
    assert (replaced.expected_kwh, replaced.low, replaced.high) == (450, 7 + 113, 7 + 1350)
    wrapped = rows[rd.numbers[ids[2]]]
    # register units: ⌈137.5 / 10⌉ = 14 and ⌊1650 / 10⌋ = 165 past 99 990, modulo 100 000
    assert (wrapped.multiplier, wrapped.last_peak, wrapped.last_offpeak) == (10, 30_000, 50_000)
    assert (wrapped.expected_kwh, wrapped.low, wrapped.high) == (EXPECTED, 4, 155)


def test_only_active_and_disconnected_subscriptions_with_a_meter_are_ordered(rd: Reading) -> None:
    ids = rd.world.subscription_ids
    with rd.world.session() as s:
        s.get_one(Subscription, ids[0]).supply_state = "removed"
        s.get_one(Subscription, ids[4]).supply_state = "disconnected"
        s.get_one(Subscription, ids[1]).supply_state = "pending"
        s.query(MeterInstallation).filter_by(subscription_id=ids[3]).one().removed_on = date(2026, 11, 1)
        s.commit()
    plan = _plan(rd)
    assert {r.code: r.subscriptions for r in plan.routes} == {"R11A": 1, "R11B": 1, "R12": 2}
    numbers = [r.subscription_number for r in _rows(rd, plan)]
    assert numbers == [rd.numbers[ids[k]] for k in (4, 2, 5)]  # R12's 3 has no meter installed


def test_sixty_day_routes_are_left_out_of_odd_months(rd: Reading) -> None:
    with rd.world.session() as s:
        s.get_one(Route, rd.route_ids["R12"]).cycle_days = 60
        s.commit()
    assert [r.code for r in _plan(rd).routes] == ["R11A", "R11B"]
    assert [r.code for r in _plan(rd, cycle="1405/10").routes] == ["R11A", "R11B", "R12"]
    with pytest.raises(ValidationError) as caught:
        _plan(rd, route="R12")
    assert caught.value.errors == {"cycle": "مسیر «R12» دوماهه است و در آذر ۱۴۰۵ قرائت نمی‌شود (فقط ماه‌های زوج)"}


def test_the_window_end_is_clamped_and_is_the_planned_day(rd: Reading) -> None:
    with rd.world.session() as s:
        s.get_one(Route, rd.route_ids["R11B"]).window_end = 31
        s.commit()
    plan = _plan(rd, route="r11b")
    assert [(r.code, r.read_by) for r in plan.routes] == [("R11B", date(2026, 12, 21))]
    (row,) = _rows(rd, plan)
    assert row.expected_kwh == 600  # 60 days from 2026-10-22


@pytest.mark.parametrize(
    ("username", "codes"),
    [("clerk11", ["R11A", "R11B"]), ("manager12", ["R12"]), ("contrb", ["R11B"]), ("reader_c", ["R12"])],
)
def test_the_orders_keep_the_principals_scope(rd: Reading, username: str, codes: list[str]) -> None:
    assert [r.code for r in _plan(rd, username).routes] == codes


@pytest.mark.parametrize(
    ("username", "kw", "field", "message"),
    [
        ("admin", {"cycle": "1405-13"}, "cycle", "ماه دوره باید بین ۱ و ۱۲ باشد، نه ۱۳"),
        ("admin", {"cycle": "azar"}, "cycle", "دوره باید سال و ماه شمسی باشد، مانند ۱۴۰۵/۰۹"),
        ("admin", {"district": "99"}, "district", "امور با کد «۹۹» وجود ندارد"),
        ("clerk11", {"district": "12"}, "district", "امور «بروجرد» در حوزهٔ دسترسی شما نیست"),
        ("admin", {"district": "11", "route": "R12"}, "route", "مسیر «R12» از امور «۱۱» نیست"),
        ("clerk11", {"route": "R12"}, "route", "مسیر «R12» در حوزهٔ دسترسی شما پیدا نشد"),
        ("admin", {"route": "R99"}, "route", "مسیر «R99» در حوزهٔ دسترسی شما پیدا نشد"),
    ],
)
def test_bad_requests_are_refused_in_persian(
    rd: Reading, username: str, kw: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _plan(rd, username, **kw)
    assert caught.value.errors == {field: message}


def test_orders_need_a_reading_permission(rd: Reading) -> None:
    with pytest.raises(PermissionDenied):
        _plan(rd, "field")


def test_a_route_code_in_two_districts_needs_the_district(rd: Reading) -> None:
    with rd.world.session() as s:
        s.add(Route(district_id=rd.world.district_ids["12"], code="R11A", name="همنام", cycle_days=30))
        s.commit()
    with pytest.raises(ValidationError) as caught:
        _plan(rd, route="R11A")
    assert caught.value.errors == {"district": "مسیر «R11A» در چند امور هست؛ امور را هم انتخاب کنید"}
    assert [(r.district_code, r.code) for r in _plan(rd, route="R11A", district="۱۱").routes] == [("11", "R11A")]


def _file(rd: Reading, plan: OrderPlan, fmt: str, workers: int, chunk_size: int = 4000) -> bytes:
    buf = io.BytesIO()
    seen: list[tuple[int, int]] = []
    with rd.world.session() as s:
        rows = write_orders(
            s,
            plan,
            buf,
            fmt=fmt,
            workers=workers,
            chunk_size=chunk_size,
            progress=lambda done, total: seen.append((done, total)),
        )
    assert rows == 6 and seen[-1] == (6, 6)
    return buf.getvalue()


def test_the_csv_file(rd: Reading) -> None:
    data = _file(rd, _plan(rd), "csv", 1, chunk_size=4)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == 6
    first = rows[0]
    assert (first["cycle"], first["district"], first["route"], first["sequence"]) == ("140509", "11", "R11A", "10")
    assert (first["last_read"], first["last_read_on"], first["last_read_on_jalali"]) == (
        "12000",
        "2026-10-22",
        "1405/07/30",
    )
    assert (first["expected_kwh"], first["low"], first["high"], first["read_by"]) == (
        "550",
        str(LOW),
        str(HIGH),
        "2026-12-16",
    )


def test_the_json_file(rd: Reading) -> None:
    doc = json.loads(_file(rd, _plan(rd), "json", 1, chunk_size=4))
    assert (doc["cycle"], doc["count"], len(doc["orders"])) == (140509, 6, 6)
    assert doc["generated_at"] == "2026-11-28T06:00:00+00:00"
    assert [r["route"] for r in doc["routes"]] == ["R11A", "R11B", "R12"]
    assert doc["orders"][5]["route"] == "R12" and doc["orders"][5]["low"] == LOW


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_several_processes_write_the_same_bytes(rd: Reading, fmt: str) -> None:
    plan = _plan(rd)
    one = _file(rd, plan, fmt, 1)
    assert _file(rd, plan, fmt, 2, chunk_size=2) == one
    assert _file(rd, plan, fmt, 3) == one


def test_a_worker_failure_is_raised_in_the_parent(rd: Reading) -> None:
    from dataclasses import replace

    from barq.reading.config import reading_config

    broken = replace(reading_config(), default_kwh_per_30_days={})  # no default for group 1
    with rd.world.session() as s:
        s.delete(s.get_one(ReadingState, rd.world.subscription_ids[5]))
        s.commit()
    with rd.world.session() as s, pytest.raises(ValidationError) as caught:
        write_orders(s, _plan(rd), io.BytesIO(), workers=2, config=broken)
    assert caught.value.message_fa == "مصرف پیش‌فرض گروه تعرفهٔ «1» تعریف نشده است"
