"""The read pipeline's context: each table read alone and joined by key equals the LEFT JOIN it replaced, and
a large file's context read beside its parse (``ContextAhead``) gives the same outcome as one read after it.
World: tests/reading_factories.py."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine, select, text

from barq.auth.service import SYSTEM
from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.metering.models import MeterRead, ReadingState
from barq.reading import pipeline
from barq.reading.incoming import parse_file, rows_in
from barq.reading.pipeline import CONTEXT_FIELDS, ContextAhead, import_reads, load_context, read_context
from tests.factories import build_world
from tests.reading_factories import Reading, build_reading, replace_meter


@pytest.fixture
def rd(engine: Engine, clock: FixedClock) -> Reading:
    return build_reading(build_world(engine, clock, customers=6))


def _joined(engine: Engine) -> dict[str, dict[str, int]]:
    """The context by the one SQL join the pipeline used before (the oracle)."""
    sqlite = engine.dialect.name == "sqlite"

    def day(c: str) -> str:
        return f"CAST(julianday({c}) - 2440587.5 AS INTEGER)" if sqlite else f"({c} - DATE '1970-01-01')"

    fields = {
        "sub_id": "s.id",
        "district_id": "s.district_id",
        "route_reader": "COALESCE(r.reader_id, -1)",
        "route_contractor": "COALESCE(r.contractor_id, -1)",
        "supply_active": "CASE WHEN s.supply_state = 'active' THEN 1 ELSE 0 END",
        "tariff_group": "s.tariff_group",
        "meter_id": "COALESCE(mi.meter_id, -1)",
        "digits": "COALESCE(m.digits, 0)",
        "multiplier": "COALESCE(m.multiplier, 1)",
        "tou": "CASE WHEN m.kind IN ('tou', 'demand') THEN 1 ELSE 0 END",
        "inst_initial": "COALESCE(mi.initial_read, 0)",
        "inst_on": f"COALESCE({day('mi.installed_on')}, -1)",
        "st_meter": "COALESCE(st.meter_id, -1)",
        "last_value": "COALESCE(st.last_value, -1)",
        "last_peak": "COALESCE(st.last_peak, -1)",
        "last_offpeak": "COALESCE(st.last_offpeak, -1)",
        "last_actual_on": f"COALESCE({day('st.last_actual_on')}, -1)",
        "last_on": f"COALESCE({day('st.last_on')}, -1)",
        "est_kwh": "COALESCE(st.estimated_kwh, -1)",
        "door_run": "COALESCE(st.door_closed_run, 0)",
    }
    for j in (1, 2, 3):
        fields |= {
            f"h{j}_kwh": f"COALESCE(st.h{j}_kwh, -1)",
            f"h{j}_days": f"COALESCE(st.h{j}_days, -1)",
            f"h{j}_on": f"COALESCE({day(f'st.h{j}_on')}, -1)",
        }
    assert sorted(fields) == sorted(CONTEXT_FIELDS[1:])
    sql = (
        f"SELECT s.subscription_number, {', '.join(fields.values())} FROM subscription s "
        "LEFT JOIN route r ON r.id = s.route_id "
        "LEFT JOIN meter_installation mi ON mi.subscription_id = s.id AND mi.removed_on IS NULL "
        "LEFT JOIN meter m ON m.id = mi.meter_id LEFT JOIN reading_state st ON st.subscription_id = s.id"
    )
    with engine.connect() as conn:
        rows = conn.execute(text(sql)).all()
    return {row[0]: dict(zip(fields, map(int, row[1:]), strict=True)) for row in rows}


def _odd_world(rd: Reading) -> None:
    """Subscription 1 off its route, 2 without a meter, 3 without a reading state, 4 with a state of NULLs
    and 5 with its meter replaced (the old installation removed)."""
    ids = rd.world.subscription_ids
    with rd.world.session() as s:
        s.get_one(Subscription, ids[1]).route_id = None
        s.execute(text("DELETE FROM meter_installation WHERE subscription_id = :s"), {"s": ids[2]})
        s.execute(text("DELETE FROM reading_state WHERE subscription_id = :s"), {"s": ids[3]})
        state = s.get_one(ReadingState, ids[4])
        state.last_value = state.last_on = state.h2_kwh = state.meter_id = None
        s.commit()
    replace_meter(rd, ids[5], "NEW0005", kind="tou", multiplier=30)


def test_context_equals_the_join(rd: Reading) -> None:
    _odd_world(rd)
    oracle = _joined(rd.world.engine)
    numbers = sorted(oracle)
    with rd.world.session() as s:
        for wanted in (None, numbers, numbers[2:5]):
            known, cols = read_context(s, wanted)
            got = {n: {f: int(cols[f][k]) for f in CONTEXT_FIELDS[1:]} for k, n in enumerate(known)}
            assert got == {n: oracle[n] for n in (wanted or numbers)}
        ctx = load_context(s, [numbers[4], "999999", numbers[0]])
    assert ctx.found.tolist() == [True, False, True]
    assert int(ctx["sub_id"][1]) == -1 and int(ctx["est_kwh"][1]) == -1
    assert {f: int(ctx[f][0]) for f in CONTEXT_FIELDS[1:]} == oracle[numbers[4]]
    assert oracle[rd.numbers[rd.world.subscription_ids[3]]]["est_kwh"] == -1  # no state: the sentinel


def test_a_large_file_read_beside_its_parse_gives_the_same_reads(
    rd: Reading, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "_FULL_LOAD", 2)  # four rows are "large": every subscription is read
    _odd_world(rd)
    ids = rd.world.subscription_ids
    body = "".join(f"{rd.numbers[ids[k]]},2026-11-21T10:00,{c}\n" for k, c in ((0, "read,12350"), (1, "read,12400")))
    body += "".join(f"{rd.numbers[ids[k]]},2026-11-21T10:00,door_closed,\n" for k in (3, 4, 5))
    data = ("subscription,read_at,code,active\n" + body).encode()
    assert rows_in(data) == 6 and rows_in(b' [{"subscription": 1}, {}]') == 2

    outcomes = []
    for ahead in (True, False):
        with rd.world.session() as s:
            s.execute(text("DELETE FROM meter_read"))
            s.execute(text("DELETE FROM read_batch"))
            s.commit()
        clock = rd.world.clock
        assert isinstance(clock, FixedClock)
        with rd.world.session() as s, ContextAhead(s, rows_in(data) if ahead else 0) as side:
            incoming = parse_file(data, tz=clock.tz)
            result = import_reads(
                s,
                principal=SYSTEM,
                clock=clock,
                incoming=incoming,
                source="handheld",
                digest=hashlib.sha256(data).hexdigest(),
                ahead=side,
            )
            assert (side.everything() is not None) is ahead
            s.rollback()  # each run starts from the same state
        outcomes.append([(o.line, o.status, o.reason, o.kwh, o.estimated) for o in result.outcomes])
    assert outcomes[0] == outcomes[1]
    assert [o[1] for o in outcomes[0]] == ["valid", "valid", "valid", "valid", "valid"]


def test_a_first_read_gives_the_subscription_its_reading_state(rd: Reading) -> None:
    _odd_world(rd)
    sid = rd.world.subscription_ids[3]  # its meter read 1 000 when installed on 2026-03-21, 245 days before
    data = f"subscription,read_at,code,active\n{rd.numbers[sid]},2026-11-21T10:00,read,3450\n".encode()
    clock = rd.world.clock
    assert isinstance(clock, FixedClock)
    with rd.world.session() as s:
        import_reads(s, principal=SYSTEM, clock=clock, incoming=parse_file(data, tz=clock.tz), source="handheld")
        s.commit()
        (read,) = s.scalars(select(MeterRead).where(MeterRead.subscription_id == sid))
        state = s.get_one(ReadingState, sid)
    assert (read.status, read.kwh) == ("valid", 2_450)
    assert (state.last_value, state.last_actual_on, state.estimated_kwh, state.h1_kwh) == (
        3_450,
        read.read_on,
        0,
        2_450,
    )


def test_days_since_1970_on_either_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """``unixepoch`` where SQLite has it, ``julianday`` before 3.38: the same days, NULL kept."""
    import sqlite3

    conn = sqlite3.connect(":memory:")
    dates = ["1970-01-01", "2026-11-28", "2026-03-21", "2100-02-28", None]
    got = []
    for version in ((3, 38, 0), (3, 37, 2)):
        monkeypatch.setattr(sqlite3, "sqlite_version_info", version)
        expr = pipeline._epoch("d", sqlite=True)
        got.append([conn.execute(f"SELECT {expr} FROM (SELECT ? AS d)", (d,)).fetchone()[0] for d in dates])
    assert got[0] == got[1] == [0, 20_785, 20_533, 47_540, None]
