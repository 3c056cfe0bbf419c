"""Twelve months of reads and bills for the demo province.

Reads are generated set-based (numpy, deterministic seed) into ``meter_read``: one a cycle per
subscription (every other month on 60-day routes), with door-closed estimates and a seasonal shape.
The bills are then made by the real bill runs, one a cycle, approved as an office would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta

import numpy as np
from sqlalchemy import Engine, text

from barq.auth.service import SYSTEM
from barq.billing.service import (
    approve_bill_run,
    cycle_of,
    cycle_window,
    previous_cycle,
    rate_bill_run,
    start_bill_run,
)
from barq.clock import Clock, FixedClock
from barq.db import make_sessionmaker, raw_connection
from barq.rating.book import load_default_library

DOOR_CLOSED_SHARE = 0.03
# consumption shape by Jalali month (1 = Farvardin): higher in the warm months and mid-winter
SEASON = np.array([0.0, 0.85, 0.9, 1.15, 1.45, 1.5, 1.3, 0.95, 0.9, 1.0, 1.15, 1.1, 0.95])
MEAN_KWH = {1: 190.0, 2: 900.0, 3: 2500.0, 4: 6000.0, 5: 650.0}


def _load(engine: Engine) -> dict[str, np.ndarray]:
    with make_sessionmaker(engine)() as s:
        cur = raw_connection(s).cursor()
        cur.execute(
            "SELECT s.id, s.tariff_group, s.households, COALESCE(r.cycle_days, 30), COALESCE(s.route_sequence, 1), "
            "COALESCE(m.kind, 'single'), COALESCE(m.id, 0) "
            "FROM subscription s LEFT JOIN route r ON r.id = s.route_id "
            "LEFT JOIN meter_installation mi ON mi.subscription_id = s.id AND mi.removed_on IS NULL "
            "LEFT JOIN meter m ON m.id = mi.meter_id "
            "WHERE s.supply_state IN ('active', 'disconnected') ORDER BY s.id"
        )
        rows = cur.fetchall()
        cur.close()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    ids = np.array(cols[0], dtype=np.int64)
    keep = np.ones(len(ids), dtype=bool)
    keep[1:] = ids[1:] != ids[:-1]
    return {
        "id": ids[keep],
        "group": np.array(cols[1], dtype=np.int64)[keep],
        "households": np.array(cols[2], dtype=np.int64)[keep],
        "cycle_days": np.array(cols[3], dtype=np.int64)[keep],
        "sequence": np.array(cols[4], dtype=np.int64)[keep],
        "tou": np.array([k != "single" for k in cols[5]], dtype=bool)[keep],
        "meter": np.array(cols[6], dtype=np.int64)[keep],
    }


def build_history(
    engine: Engine,
    *,
    clock: Clock,
    months: int = 12,
    seed: int = 1405,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Reads for the ``months`` cycles before the current one, and approved bill runs for all of them but the
    last, whose run is left for the office to start, review and approve. Returns the bills issued."""
    subs = _load(engine)
    n = len(subs["id"])
    if n == 0:
        return 0
    rng = np.random.default_rng(seed)
    mean = np.array([MEAN_KWH[int(g)] for g in subs["group"]]) * np.maximum(subs["households"], 1) ** 0.7
    base = rng.gamma(3.0, mean / 3.0)  # each subscription's own level
    current = cycle_of(clock.today())
    cycles = [previous_cycle(current, k) for k in range(months, 0, -1)]
    factory = make_sessionmaker(engine)
    library = load_default_library()
    last_read: np.ndarray = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    next_id = 1
    with factory() as s:
        cur = raw_connection(s).cursor()
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM meter_read")
        next_id = int(cur.fetchone()[0]) + 1
        cur.close()
    issued = 0
    for step, cycle in enumerate(cycles):
        month = cycle % 100
        start, end = cycle_window(cycle)
        due = (subs["cycle_days"] != 60) | (month % 2 == 0)
        day = np.minimum(5 + subs["sequence"] % 20, (end - start).days)
        read_on = np.datetime64(start, "D") + day
        first = np.isnat(last_read)
        span = np.where(subs["cycle_days"] == 60, 60, 30)
        prev = np.where(first, read_on - span, last_read)
        days = (read_on - prev).astype(np.int64)
        kwh = np.round(base * SEASON[month] * days / 30.0 * rng.lognormal(0.0, 0.12, n)).astype(np.int64)
        odd = rng.random(n)  # a few reads a bill run should question: far above, far below, zero
        kwh = np.where(odd < 0.004, kwh * 5, np.where(odd < 0.008, kwh // 10, np.where(odd < 0.011, 0, kwh)))
        door_closed = rng.random(n) < DOOR_CLOSED_SHARE
        peak = np.where(subs["tou"], kwh * rng.integers(15, 25, n) // 100, -1)
        off = np.where(subs["tou"], kwh * rng.integers(25, 40, n) // 100, -1)
        sel = np.flatnonzero(due)
        rows = [
            (
                next_id + k,
                int(subs["id"][i]),
                int(subs["meter"][i]) or None,
                str(read_on[i]),
                "door_closed" if door_closed[i] else "read",
                "estimate" if door_closed[i] else "demo",
                str(prev[i]),
                int(kwh[i]),
                None if peak[i] < 0 else int(peak[i]),
                None if off[i] < 0 else int(off[i]),
                bool(door_closed[i]),
                "valid",
            )
            for k, i in enumerate(sel.tolist())
        ]
        next_id += len(rows)
        _insert_reads(engine, rows)
        last_read[sel] = read_on[sel]
        if cycle == cycles[-1]:
            break  # the last month is read but not billed: its bill run is left for the office
        # the office bills a month a few days after its last read
        office = FixedClock(moment=datetime.combine(end + timedelta(days=3), time(6, 0), tzinfo=UTC))
        with factory() as s, s.begin():
            run_id = start_bill_run(s, principal=SYSTEM, clock=office, cycle=cycle).id
        rate_bill_run(factory, run_id=run_id, library=library, clock=office)
        with factory() as s, s.begin():
            issued += approve_bill_run(s, principal=SYSTEM, clock=office, run_id=run_id).issued_count
        if progress:
            progress(step + 1, len(cycles) - 1)
    return issued


_READ_COLUMNS = (
    "id",
    "subscription_id",
    "meter_id",
    "read_on",
    "code",
    "source",
    "prev_read_on",
    "kwh",
    "peak_kwh",
    "offpeak_kwh",
    "estimated",
    "status",
)


def _insert_reads(engine: Engine, rows: Sequence[tuple[object, ...]]) -> None:
    with make_sessionmaker(engine)() as s, s.begin():
        conn = raw_connection(s)
        cols = ", ".join(_READ_COLUMNS)
        if engine.dialect.name == "sqlite":
            conn.executemany(f"INSERT INTO meter_read ({cols}) VALUES ({', '.join('?' for _ in _READ_COLUMNS)})", rows)
        else:
            with conn.cursor() as cur, cur.copy(f"COPY meter_read ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            s.execute(
                text("SELECT setval(pg_get_serial_sequence('meter_read', 'id'), (SELECT max(id) FROM meter_read))")
            )
