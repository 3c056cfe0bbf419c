"""The read pipeline with exact numbers: validation rules, estimates, settlement, three door-closed visits,
idempotent arrivals, mixed files and scope. World: see tests/reading_factories.py (last actual read 12 000 on
2026-10-22, expected 10 kWh a day, so 30 days expect 300 kWh: limits 75 and 900)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from barq.auth.service import SYSTEM
from barq.clock import FixedClock
from barq.connections.models import Notice, Subscription
from barq.errors import ValidationError
from barq.metering.models import MeterRead, ReadingState
from barq.reading.incoming import parse_file
from barq.reading.pipeline import ImportResult, import_reads
from tests.factories import build_world
from tests.reading_factories import Reading, build_reading, replace_meter

HEADER = "subscription,read_at,code,active\n"


@pytest.fixture
def rd(engine: Engine, clock: FixedClock) -> Reading:
    return build_reading(build_world(engine, clock, customers=6))


def _send(
    rd: Reading, body: str, *, who: str = "admin", clock: FixedClock | None = None, name: str = "r.csv"
) -> ImportResult:
    data = (HEADER + body).encode()
    ck = clock or rd.world.clock
    assert isinstance(ck, FixedClock)
    principal = SYSTEM if who == "system" else rd.world.principal(who)
    with rd.world.session() as s:
        result = import_reads(
            s,
            principal=principal,
            clock=ck,
            incoming=parse_file(data, tz=ck.tz, filename=name),
            source="handheld",
            filename=name,
            digest=hashlib.sha256(data).hexdigest(),
        )
        s.commit()
        s.refresh(result.batch)
        return result


def _sub(rd: Reading, k: int) -> tuple[int, str]:
    sid = rd.world.subscription_ids[k]
    return sid, rd.numbers[sid]


def _reads(rd: Reading, sid: int) -> list[MeterRead]:
    with rd.world.session() as s:
        return list(s.scalars(select(MeterRead).where(MeterRead.subscription_id == sid).order_by(MeterRead.id)))


def _state(rd: Reading, sid: int) -> ReadingState:
    with rd.world.session() as s:
        return s.get_one(ReadingState, sid)


@pytest.mark.parametrize(
    ("value", "day", "status", "reason", "kwh"),
    [
        (12_350, "2026-11-21", "valid", "ok", 350),
        (12_900, "2026-11-21", "valid", "ok", 900),  # exactly 3× expected is within the limit
        (12_901, "2026-11-21", "exception", "above_high", None),
        (12_075, "2026-11-21", "valid", "ok", 75),  # exactly 0.25× expected
        (12_074, "2026-11-21", "exception", "below_low", None),
        (12_000, "2026-11-21", "exception", "zero_on_active", None),
        (11_999, "2026-11-21", "exception", "lower_without_rollover", None),
        (12_350, "2026-11-29", "exception", "future_date", None),
        (12_350, "2026-10-20", "exception", "before_last_read", None),
        (12_350, "2026-10-22", "exception", "same_day", None),
    ],
)
def test_validation_rules(rd: Reading, value: int, day: str, status: str, reason: str, kwh: int | None) -> None:
    sid, number = _sub(rd, 0)
    result = _send(rd, f"{number},{day}T10:00,read,{value}\n")
    assert result.errors == []
    (read,) = _reads(rd, sid)
    assert (read.status, read.reason, read.kwh) == (status, reason, kwh)
    assert read.actual_kwh == value - 12_000
    state = _state(rd, sid)
    if status == "valid":
        assert (state.last_value, state.last_actual_on, state.h1_kwh, state.h1_days) == (
            value,
            date.fromisoformat(day),
            value - 12_000,
            30,
        )
        assert (state.h2_kwh, state.h3_kwh, state.h3_on) == (300, 300, date(2026, 9, 22))
    else:
        assert state.last_value == 12_000  # an exception does not move the reading state


def test_roll_over(rd: Reading) -> None:
    sid, number = _sub(rd, 0)
    with rd.world.session() as s:
        s.get_one(ReadingState, sid).last_value = 99_950
        s.commit()
    _send(rd, f"{number},2026-11-21T10:00,read,230\n")
    (read,) = _reads(rd, sid)
    assert (read.status, read.kwh) == ("valid", 280)  # 100 000 − 99 950 + 230


def test_door_closed_estimate_then_settlement(rd: Reading) -> None:
    sid, number = _sub(rd, 0)
    result = _send(rd, f"{number},2026-11-21T10:00,door_closed,\n")
    assert result.batch.rows_estimated == 1
    (est,) = _reads(rd, sid)
    assert (est.status, est.estimated, est.kwh, est.prev_read_on) == ("valid", True, 300, date(2026, 10, 22))
    state = _state(rd, sid)
    assert (state.estimated_kwh, state.door_closed_run, state.last_value, state.last_on) == (
        300,
        1,
        12_000,
        date(2026, 11, 21),
    )
    # a month later the register has advanced 650 since the last actual read: 650 − 300 estimated = 350
    later = FixedClock(moment=datetime(2026, 12, 28, 6, 0, tzinfo=UTC))
    _send(rd, f"{number},2026-12-21T10:00,read,12650\n", clock=later)
    reads = _reads(rd, sid)
    actual = reads[-1]
    assert (actual.status, actual.kwh, actual.actual_kwh, actual.prev_read_on, actual.prev_actual_on) == (
        "valid",
        350,
        650,
        date(2026, 11, 21),
        date(2026, 10, 22),
    )
    assert sum(r.kwh or 0 for r in reads) == 650  # every kWh of the register advance billed once
    state = _state(rd, sid)
    assert (state.estimated_kwh, state.door_closed_run, state.h1_kwh, state.h1_days) == (0, 0, 650, 60)


def test_estimates_above_use_carry_to_next_read(rd: Reading) -> None:
    sid, number = _sub(rd, 0)
    _send(rd, f"{number},2026-11-21T10:00,broken,\n")  # estimate 300
    later = FixedClock(moment=datetime(2026, 12, 28, 6, 0, tzinfo=UTC))
    _send(rd, f"{number},2026-12-21T10:00,read,12200\n", clock=later)  # only 200 used since the last actual
    assert _reads(rd, sid)[-1].kwh == 0
    assert _state(rd, sid).estimated_kwh == 100
    much_later = FixedClock(moment=datetime(2027, 1, 28, 6, 0, tzinfo=UTC))
    _send(rd, f"{number},2027-01-20T10:00,read,12500\n", clock=much_later)
    reads = _reads(rd, sid)
    assert [r.kwh for r in reads] == [300, 0, 200]
    assert sum(r.kwh or 0 for r in reads) == 12_500 - 12_000
    assert _state(rd, sid).estimated_kwh == 0


def test_three_door_closed_make_a_candidate_with_a_notice(rd: Reading) -> None:
    sid, number = _sub(rd, 0)
    days = [date(2026, 11, 21), date(2026, 12, 21), date(2027, 1, 20)]
    for k, day in enumerate(days):
        ck = FixedClock(moment=datetime.combine(day + timedelta(days=2), datetime.min.time(), tzinfo=UTC))
        result = _send(rd, f"{number},{day.isoformat()}T09:00,door_closed,\n", clock=ck)
        assert result.candidates == (1 if k == 2 else 0)
        with rd.world.session() as s:
            sub = s.get_one(Subscription, sid)
            assert (sub.disconnect_candidate_on is not None) == (k == 2)
    with rd.world.session() as s:
        (notice,) = s.scalars(select(Notice).where(Notice.subscription_id == sid))
        assert notice.kind == "door_closed_three" and notice.status == "queued" and number in notice.text
    # the next actual read ends the candidacy
    ck = FixedClock(moment=datetime(2027, 2, 25, 6, 0, tzinfo=UTC))
    _send(rd, f"{number},2027-02-19T09:00,read,13200\n", clock=ck)
    with rd.world.session() as s:
        assert s.get_one(Subscription, sid).disconnect_candidate_on is None


def test_same_file_twice_changes_nothing(rd: Reading) -> None:
    sid, number = _sub(rd, 0)
    sid2, number2 = _sub(rd, 2)
    body = f"{number},2026-11-21T10:00,read,12350\n{number2},2026-11-21T10:05,door_closed,\n"
    first = _send(rd, body)
    second = _send(rd, body)
    assert second.already and second.batch.id == first.batch.id
    # the same reads inside another file are duplicates, not new reads
    third = _send(rd, body + f"{number2},2026-11-22T10:05,door_closed,\n", name="again.csv")
    assert third.batch.rows_duplicate == 2
    assert len(third.errors) == 1  # the extra row repeats a subscription of this arrival
    with rd.world.session() as s:
        assert s.scalar(select(func.count()).select_from(MeterRead)) == 2
    assert _state(rd, sid).last_value == 12_350
    assert _state(rd, sid2).estimated_kwh == 300


def test_mixed_file_stores_good_rows_and_reports_bad_ones(rd: Reading) -> None:
    sid0, n0 = _sub(rd, 0)
    _, n1 = _sub(rd, 1)
    _, n2 = _sub(rd, 2)
    body = (
        f"{n0},2026-11-21T10:00,read,12350\n"  # line 2: good
        "99999999999999,2026-11-21T10:00,read,100\n"  # line 3: unknown subscription
        f"{n1},2026-11-21T10:00,read,-5\n"  # line 4: negative
        f"{n2},2026-11-21T10:00,read,abc\n"  # line 5: not a number
        f"{n1},2026-11-21T10:00,sleeping,\n"  # line 6: unknown code
        f"{n2},yesterday,read,100\n"  # line 7: unreadable time
        f"{n1},2026-11-21T10:00,read,1234567\n"  # line 8: more digits than the meter
    )
    result = _send(rd, body)
    assert result.batch.rows_stored == 1 and result.batch.rows_refused == 6
    by_line = {e.line: (e.field, e.message) for e in result.errors}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8]
    assert by_line[3] == ("subscription", "اشتراکی با این شماره نیست")
    assert "منفی" in by_line[4][1]
    assert by_line[5][0] == "active" and "abc" in by_line[5][1]
    assert by_line[6][0] == "code"
    assert by_line[7][0] == "read_at"
    assert by_line[8][0] == "active" and "۵" not in by_line[8][1] and "5" in by_line[8][1]
    report = result.batch.errors_csv or ""
    assert report.splitlines()[0] == "line,subscription,field,reason" and len(report.splitlines()) == 7
    assert [r.kwh for r in _reads(rd, sid0)] == [350]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"subscription,read_at\n1,2\n", "ستون‌های لازم نیست: code"),
        (b"subscription,read_at,code,colour\n", "ستون ناشناخته: colour"),
        ("subscription,read_at,code\nقرائت,1,2\n".encode("utf-16"), "UTF-8"),
        (b'[{"subscription": 1,', "JSON"),
    ],
)
def test_wrong_files_are_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_file(data, tz=FixedClock().tz)
    assert message in exc.value.message_fa


def test_reader_scope(rd: Reading) -> None:
    _, n0 = _sub(rd, 0)  # on R11A, reader_a's route
    _, n1 = _sub(rd, 1)  # on R12
    result = _send(rd, f"{n0},2026-11-21T10:00,read,12350\n{n1},2026-11-21T10:00,read,12350\n", who="reader_a")
    assert result.batch.rows_stored == 1
    (error,) = result.errors
    assert (error.line, error.message) == (3, "این اشتراک در حوزهٔ شما نیست")
    sid0 = rd.world.subscription_ids[0]
    assert _reads(rd, sid0)[0].reader_id == rd.world.users["reader_a"]
    # a district manager of 12 may not record for district 11 either
    result = _send(rd, f"{n0},2026-11-22T10:00,read,12360\n", who="manager12")
    assert result.errors[0].message == "این اشتراک در حوزهٔ شما نیست"


def test_meter_replaced_since_the_last_read(rd: Reading) -> None:
    sid, number = _sub(rd, 0)
    replace_meter(rd, sid, "NEW0001")
    _send(rd, f"{number},2026-11-21T10:00,read,105\n")
    (read,) = _reads(rd, sid)
    assert (read.status, read.kwh) == ("valid", 200)  # (12 100 − 12 000) on the old meter + (105 − 5) on the new
    state = _state(rd, sid)
    assert state.last_value == 105 and state.meter_id == read.meter_id


def test_rebuilt_state_equals_the_state_kept_by_the_pipeline(rd: Reading) -> None:
    from barq.reading.state import rebuild_state

    with rd.world.session() as s:
        s.query(ReadingState).delete()
        s.commit()
    _, n0 = _sub(rd, 0)
    _, n2 = _sub(rd, 2)
    _, n4 = _sub(rd, 4)
    steps = [
        (
            "2026-04-20",
            f"{n0},2026-04-20T09:00,read,1300\n{n2},2026-04-20T09:00,read,1250\n{n4},2026-04-20T09:00,door_closed,\n",
        ),
        (
            "2026-05-20",
            f"{n0},2026-05-20T09:00,door_closed,\n{n2},2026-05-20T09:00,read,1500\n{n4},2026-05-20T09:00,door_closed,\n",
        ),
        (
            "2026-06-20",
            f"{n0},2026-06-20T09:00,read,1800\n{n2},2026-06-20T09:00,broken,\n{n4},2026-06-20T09:00,door_closed,\n",
        ),
        (
            "2026-07-20",
            f"{n0},2026-07-20T09:00,read,2150\n{n2},2026-07-20T09:00,read,1700\n{n4},2026-07-20T09:00,read,2400\n",
        ),
        (
            "2026-08-20",
            f"{n0},2026-08-20T09:00,door_closed,\n{n2},2026-08-20T09:00,read,2000\n{n4},2026-08-20T09:00,read,2700\n",
        ),
    ]
    for day, body in steps:
        ck = FixedClock(
            moment=datetime.combine(date.fromisoformat(day) + timedelta(days=3), datetime.min.time(), tzinfo=UTC)
        )
        result = _send(rd, body, clock=ck, name=f"{day}.csv")
        assert result.errors == []
    columns = [c.key for c in ReadingState.__table__.columns]
    with rd.world.session() as s:
        kept = {st.subscription_id: [getattr(st, c) for c in columns] for st in s.scalars(select(ReadingState))}
        assert rebuild_state(s) == 3
        s.commit()
    with rd.world.session() as s:
        rebuilt = {st.subscription_id: [getattr(st, c) for c in columns] for st in s.scalars(select(ReadingState))}
    for sid in kept:
        assert dict(zip(columns, rebuilt[sid], strict=True)) == dict(zip(columns, kept[sid], strict=True))
    sid4 = rd.world.subscription_ids[4]
    assert kept[sid4][columns.index("door_closed_run")] == 0


def test_bill_run_bills_an_estimate_and_its_settling_read_together(rd: Reading) -> None:
    from barq.billing.models import Bill
    from barq.billing.service import rate_bill_run, start_bill_run
    from barq.db import make_sessionmaker
    from barq.rating.book import load_default_library

    sid, number = _sub(rd, 0)
    _send(rd, f"{number},2026-11-22T09:00,door_closed,\n")  # 31 days × 10 kWh = 310 estimated
    _send(rd, f"{number},2026-11-27T09:00,read,12650\n", name="second.csv")  # 650 since the last actual − 310
    assert [r.kwh for r in _reads(rd, sid)] == [310, 340]
    with rd.world.session() as s:
        run_id = start_bill_run(s, principal=SYSTEM, clock=rd.world.clock, cycle=140509).id
        s.commit()
    rate_bill_run(
        make_sessionmaker(rd.world.engine), run_id=run_id, library=load_default_library(), clock=rd.world.clock
    )
    with rd.world.session() as s:
        bill = s.scalars(select(Bill).where(Bill.subscription_id == sid)).one()
        assert (bill.kwh, bill.prev_read_on, bill.cur_read_on, bill.estimated) == (
            650,
            date(2026, 10, 22),
            date(2026, 11, 27),
            False,
        )


def test_a_completed_reread_order_records_its_read(rd: Reading) -> None:
    from barq.reading.exceptions import resolve
    from barq.reading.rereads import record_reread
    from barq.workorders.service import transition

    sid, number = _sub(rd, 0)
    _send(rd, f"{number},2026-11-21T10:00,read,11000\n")  # lower without roll-over: an exception
    (bad,) = _reads(rd, sid)
    head = rd.world.principal("head")
    with rd.world.session() as s:
        assert resolve(s, principal=head, clock=rd.world.clock, read_ids=[bad.id], action="reread").done == 1
        s.commit()
        wo_id = s.get_one(MeterRead, bad.id).work_order_id
        assert wo_id is not None
        transition(
            s,
            principal=head,
            clock=rd.world.clock,
            work_order_id=wo_id,
            verb="assign",
            contractor_id=rd.world.contractor_ids["a"],
        )
        s.commit()
    worker = rd.world.principal("contra")
    with rd.world.session() as s:
        transition(s, principal=worker, clock=rd.world.clock, work_order_id=wo_id, verb="start")
        wo = transition(
            s, principal=worker, clock=rd.world.clock, work_order_id=wo_id, verb="complete", result={"read": "12360"}
        )
        result = record_reread(s, principal=worker, clock=rd.world.clock, wo=wo)
        s.commit()
    assert result is not None and result.errors == []
    reread = _reads(rd, sid)[-1]
    assert (reread.source, reread.status, reread.kwh, reread.read_on, reread.reader_id) == (
        "reread",
        "valid",
        360,
        date(2026, 11, 28),
        rd.world.users["contra"],
    )
