"""Twelve months of reads and bills for the demo province.

Reads are generated set-based (numpy, deterministic seed) into ``meter_read``: one a cycle per
subscription (every other month on 60-day routes), with door-closed estimates and a seasonal shape.
The bills are then made by the real bill runs, one a cycle, approved as an office would, and each run's
bills are paid (``demo.payments``) before the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

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
from barq.db import Nullable, insert_columns, make_sessionmaker, raw_connection
from barq.demo.payments import DemoPayments
from barq.rating.book import load_default_library
from barq.reading.pipeline import mark_door_closed
from barq.reading.state import rebuild_state

DOOR_CLOSED_SHARE = 0.03
CHRONIC_SHARE = 0.004
# consumption shape by Jalali month (1 = Farvardin): higher in the warm months and mid-winter
SEASON = np.array([0.0, 0.85, 0.9, 1.15, 1.45, 1.5, 1.3, 0.95, 0.9, 1.0, 1.15, 1.1, 0.95])
MEAN_KWH = {1: 190.0, 2: 900.0, 3: 2500.0, 4: 6000.0, 5: 650.0}


def _load(engine: Engine) -> dict[str, np.ndarray]:
    with make_sessionmaker(engine)() as s:
        cur = raw_connection(s).cursor()
        cur.execute(
            "SELECT s.id, s.tariff_group, s.households, COALESCE(r.cycle_days, 30), COALESCE(s.route_sequence, 1), "
            "COALESCE(m.kind, 'single'), COALESCE(m.id, 0), COALESCE(m.multiplier, 1), COALESCE(m.digits, 6), "
            "COALESCE(mi.initial_read, 0), COALESCE(r.window_start, 5), COALESCE(r.reader_id, 0), "
            "s.subscription_number "
            "FROM subscription s LEFT JOIN route r ON r.id = s.route_id "
            "LEFT JOIN meter_installation mi ON mi.subscription_id = s.id AND mi.removed_on IS NULL "
            "LEFT JOIN meter m ON m.id = mi.meter_id "
            "WHERE s.supply_state IN ('active', 'disconnected') ORDER BY s.id"
        )
        rows = cur.fetchall()
        cur.close()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 13
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
        "multiplier": np.array(cols[7], dtype=np.int64)[keep],
        "digits": np.array(cols[8], dtype=np.int64)[keep],
        "initial": np.array(cols[9], dtype=np.int64)[keep],
        "window_start": np.array(cols[10], dtype=np.int64)[keep],
        "reader": np.array(cols[11], dtype=np.int64)[keep],
        "number": np.array(cols[12], dtype=object)[keep],
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
    last_actual = last_read.copy()
    mult = np.maximum(subs["multiplier"], 1)
    cap = 10 ** subs["digits"]
    register = subs["initial"] % cap  # the meter's register as it turns
    last_register = register.copy()  # at the last actual read
    peak_reg = np.zeros(n, dtype=np.int64)  # time-of-use registers
    off_reg = np.zeros(n, dtype=np.int64)
    carry = np.zeros(n, dtype=np.int64)  # kWh estimates billed ahead of the register
    daily_milli = np.zeros(n, dtype=np.int64)  # last actual period's kWh a day, for estimates
    photo_id = _demo_photo(engine, clock)
    chronic = rng.random(n) < CHRONIC_SHARE  # nobody home, month after month
    next_id = 1
    with factory() as s:
        cur = raw_connection(s).cursor()
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM meter_read")
        next_id = int(cur.fetchone()[0]) + 1
        cur.close()
    issued = 0
    payments = DemoPayments(engine, seed=seed)
    for step, cycle in enumerate(cycles):
        month = cycle % 100
        start, end = cycle_window(cycle)
        due = (subs["cycle_days"] != 60) | (month % 2 == 0)
        late = rng.random(n) < 0.06  # read after the route's window closed
        day = np.minimum(subs["window_start"] - 1 + subs["sequence"] % 8 + np.where(late, 12, 0), (end - start).days)
        read_on = np.datetime64(start, "D") + day
        first = np.isnat(last_read)
        span = np.where(subs["cycle_days"] == 60, 60, 30)
        prev = np.where(first, read_on - span, last_read)
        prev_actual = np.where(np.isnat(last_actual), prev, last_actual)
        days = (read_on - prev).astype(np.int64)
        kwh = np.round(base * SEASON[month] * days / 30.0 * rng.lognormal(0.0, 0.12, n)).astype(np.int64)
        odd = rng.random(n)  # a few reads a bill run should question: far above, far below, zero
        kwh = np.where(odd < 0.004, kwh * 5, np.where(odd < 0.008, kwh // 10, np.where(odd < 0.011, 0, kwh)))
        kwh = kwh // mult * mult  # the register counts in steps of the multiplier
        register = (register + kwh // mult) % cap
        peak_reg = (peak_reg + kwh // mult * rng.integers(15, 25, n) // 100) % cap
        off_reg = (off_reg + kwh // mult * rng.integers(25, 40, n) // 100) % cap
        visit = rng.random(n)
        code = np.where(
            visit < np.where(chronic, 0.85, DOOR_CLOSED_SHARE),
            "door_closed",
            np.where(visit < DOOR_CLOSED_SHARE + 0.005, "broken", "read"),
        )
        code = np.where(first, "read", code)
        estimated = code != "read"
        estimate = (2 * daily_milli * days + 1000) // 2000
        advance = np.where(estimated, 0, ((register - last_register) % cap) * mult)
        billed = np.where(estimated, estimate, np.maximum(advance - carry, 0))
        new_carry = np.where(estimated, carry + estimate, np.maximum(carry - advance, 0))
        actual_days = (read_on - prev_actual).astype(np.int64)
        peak = np.where(subs["tou"] & ~estimated, billed * rng.integers(15, 25, n) // 100, -1)
        off = np.where(subs["tou"] & ~estimated, billed * rng.integers(25, 40, n) // 100, -1)
        reason = np.where(
            odd < 0.004, "above_high", np.where(odd < 0.008, "below_low", np.where(odd < 0.011, "zero_on_active", "ok"))
        )
        with_photo = rng.random(n) < 0.35
        sel = np.flatnonzero(due)
        est, m = estimated[sel], len(sel)
        tou = subs["tou"][sel] & ~est
        meter, reader, seq = subs["meter"][sel], subs["reader"][sel], subs["sequence"][sel]
        hour, minute = (6 + seq % 8).astype("timedelta64[h]"), (seq * 7 % 60).astype("timedelta64[m]")
        read_at = np.char.replace(np.datetime_as_string(read_on[sel] + hour + minute, unit="s"), "T", " ")
        prev_actual_on = prev_actual[sel].astype(str).astype(object)
        prev_actual_on[est] = None
        resolution = np.full(m, "accept", dtype=object)
        resolution[(reason[sel] == "ok") | est] = None
        columns = {
            "id": next_id + np.arange(m, dtype=np.int64),
            "subscription_id": subs["id"][sel],
            "meter_id": Nullable(meter, meter == 0),
            "read_on": read_on[sel].astype(str).tolist(),
            "code": code[sel].tolist(),
            "source": "handheld",
            "active": Nullable(register[sel], est),
            "peak": Nullable(peak_reg[sel], ~tou),
            "offpeak": Nullable(off_reg[sel], ~tou),
            "prev_read_on": prev[sel].astype(str).tolist(),
            "kwh": billed[sel],
            "peak_kwh": Nullable(peak[sel], peak[sel] < 0),
            "offpeak_kwh": Nullable(off[sel], off[sel] < 0),
            "estimated": est,
            "status": "valid",
            "reason": np.where(est, "ok", reason[sel]).tolist(),
            "actual_kwh": Nullable(advance[sel], est),
            "prev_actual_on": prev_actual_on.tolist(),
            "reader_id": Nullable(reader, reader == 0),
            "read_at": read_at.tolist(),
            "photo_id": Nullable(np.full(m, photo_id, dtype=np.int64), ~(with_photo[sel] & ~est)),
            "resolution": resolution.tolist(),
        }
        next_id += m
        last_read[sel] = read_on[sel]
        actual_sel = sel[~estimated[sel]]
        daily_milli[actual_sel] = (2000 * advance[actual_sel] + actual_days[actual_sel]) // np.maximum(
            2 * actual_days[actual_sel], 1
        )
        last_actual[actual_sel] = read_on[actual_sel]
        last_register[actual_sel] = register[actual_sel]
        carry[sel] = new_carry[sel]
        if cycle == cycles[-1]:
            # the last month arrives as a handheld file through the read pipeline: its exceptions stay open
            with factory() as s, s.begin():
                rebuild_state(s)
                chronic_ids = s.scalars(text("SELECT subscription_id FROM reading_state WHERE door_closed_run >= 3"))
                mark_door_closed(s, clock, np.array(list(chronic_ids), dtype=np.int64))
            _pipeline_month(engine, clock, subs, sel, read_on, (register, peak_reg, off_reg), code, rng)
            break
        _insert_reads(engine, columns, m)
        # the office bills a month a few days after its last read
        office = FixedClock(moment=datetime.combine(end + timedelta(days=3), time(6, 0), tzinfo=UTC))
        with factory() as s, s.begin():
            run_id = start_bill_run(s, principal=SYSTEM, clock=office, cycle=cycle).id
        rate_bill_run(factory, run_id=run_id, library=library, clock=office)
        with factory() as s, s.begin():
            issued += approve_bill_run(s, principal=SYSTEM, clock=office, run_id=run_id).issued_count
        payments.pay_run(run_id, today=clock.today())  # the month's payments, through the banks and the counter
        if progress:
            progress(step + 1, len(cycles) - 1)
    return issued


def _demo_photo(engine: Engine, clock: Clock) -> int:
    """One small meter photo that a share of the demo's reads point at (scorecards count photos)."""
    from barq.reading.photos import store_photo

    with make_sessionmaker(engine)() as s, s.begin():
        return store_photo(s, _PNG, clock=clock).id


# a 1×1 grey PNG
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
    "0000000a49444154789c63b8070000820081a4c5b3c40000000049454e44ae426082"
)


def _pipeline_month(
    engine: Engine,
    clock: Clock,
    subs: dict[str, np.ndarray],
    sel: np.ndarray,
    read_on: np.ndarray,
    registers: tuple[np.ndarray, np.ndarray, np.ndarray],
    code: np.ndarray,
    rng: np.random.Generator,
) -> int:
    """The last month's reads as a handheld file would bring them, through ``import_reads``, with a few
    reads mistyped (a digit dropped or a register read backwards) so the exception queue has work."""
    from barq.reading.incoming import parse_records
    from barq.reading.pipeline import import_reads

    register, peak, off = registers
    typo = rng.random(len(sel)) < 0.01
    records: list[dict[str, object]] = []
    for k, i in enumerate(sel.tolist()):
        c = str(code[i])
        record: dict[str, object] = {
            "subscription": str(subs["number"][i]),
            "read_at": f"{read_on[i]}T{6 + int(subs['sequence'][i]) % 8:02d}:{int(subs['sequence'][i]) * 7 % 60:02d}",
            "code": c,
        }
        if c == "read":
            record["active"] = int(register[i]) // 10 if typo[k] else int(register[i])
            if subs["tou"][i]:
                record["peak"], record["offpeak"] = int(peak[i]), int(off[i])
        records.append(record)
    with make_sessionmaker(engine)() as s, s.begin():
        incoming = parse_records(records, tz=clock.tz)
        result = import_reads(
            s, principal=SYSTEM, clock=clock, incoming=incoming, source="handheld", filename="demo-1405-08.csv"
        )
        return result.batch.rows_stored


def _insert_reads(engine: Engine, columns: dict[str, Any], n: int) -> None:
    with make_sessionmaker(engine)() as s, s.begin():
        insert_columns(s, "meter_read", columns, n)
        if engine.dialect.name == "postgresql":
            s.execute(
                text("SELECT setval(pg_get_serial_sequence('meter_read', 'id'), (SELECT max(id) FROM meter_read))")
            )
