"""Benchmark: meter reading over N subscriptions: reading orders out, and reads coming back.

    python bench/reads.py --accounts 1000000 --db sqlite            # or --db pg, --db both
    python bench/reads.py --accounts 100000 --db both --only orders-csv
    python bench/reads.py --accounts 1000000 --db pg --reuse         # measure again, without building

``build(url, n)`` makes a fresh database with N subscriptions on reading routes (about 3,000 a route, each
route with its reader user, routes shared among a few contractors), premises, a current meter installation
for each (mostly 5- and 6-digit single-register meters, some TOU, a few with a multiplier) and a
``reading_state`` row for each: the last actual read in cycle 1405/08 and three 30-day history periods
before it. Every route is a 30-day route, so all N are due in 1405/09.

Each measurement runs in a separate process so that its peak memory is its own, and prints one JSON line
per database. Measurements are registered in ``MEASUREMENTS`` (name → function of the database URL and a
work folder returning a dict of figures); ``--only`` picks some. The figures go in docs/performance.md.

``import`` writes a handheld file of one read per subscription for 1405/09 (3 % door closed, the rest
registers a month on, TOU registers where the meter has them), then times parsing it, validating, storing
and moving the reading state (``barq import-reads``'s work) and the commit. It stores reads, so it runs
last and needs a freshly built database (not ``--reuse`` after an import).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from barq.clock import FixedClock  # noqa: E402
from barq.db import bulk_insert, make_engine, make_sessionmaker  # noqa: E402
from barq.reading.state import STATE_COLUMNS  # noqa: E402
from barq.tables import metadata  # noqa: E402

LAST_CYCLE = 140508  # the last actual read of every subscription is in this cycle
ORDER_CYCLE = 140509  # the cycle the orders are made for
ROUTE_SIZE = 3_000
DISTRICTS = 11
CONTRACTORS = 4
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/barq_bench"
OUT = ROOT / "bench" / "out"
STREETS = ("شریعتی", "انقلاب", "امام خمینی", "کیو", "ولیعصر", "مطهری", "شهدا", "آزادی", "بهار", "سعدی")


# ------------------------------------------------------------------------------------------ build


def _insert(engine, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    with make_sessionmaker(engine)() as s, s.begin():
        bulk_insert(s, table, columns, rows)


def _iso(days: np.ndarray) -> list[str]:
    """Days since 1970 → ISO dates, converting each distinct day once."""
    values, inverse = np.unique(days, return_inverse=True)
    table = np.asarray([(date(1970, 1, 1) + timedelta(days=int(v))).isoformat() for v in values], dtype=object)
    return table[inverse.reshape(-1)].tolist()


def build(url: str, n: int, seed: int = 1405) -> dict[str, int]:
    """A fresh database at ``url`` with ``n`` subscriptions on routes (see the module doc). Returns the
    counts of what it made."""
    from barq.auth.service import ensure_roles
    from barq.billing.service import cycle_window
    from barq.calendar import from_jalali
    from barq.ids import build_bill_id
    from barq.network.models import District
    from barq.network.service import seed_reference_data

    engine = make_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    rng = np.random.default_rng(seed)
    with make_sessionmaker(engine)() as s, s.begin():
        seed_reference_data(s, company_code="123", company_name="bench")
        ensure_roles(s)
        district_ids = [d.id for d in s.query(District).order_by(District.code)][:DISTRICTS]
    now = "2026-01-01 00:00:00+00:00"
    epoch = date(1970, 1, 1)

    n_routes = max(1, -(-n // ROUTE_SIZE))
    _insert(
        engine,
        "contractor",
        ("id", "name", "legal_id", "active"),
        [(c, f"پیمانکار قرائت {c}", f"{10_000_000_000 + c}", True) for c in range(1, CONTRACTORS + 1)],
    )
    _insert(
        engine,
        "contract",
        ("id", "number", "contractor_id", "district_id", "work_type", "valid_from", "valid_to"),
        [
            (k * CONTRACTORS + c, f"R-{c}-{d}", c, d, "reading", "2020-01-01", "2030-12-31")
            for k, d in enumerate(district_ids)
            for c in range(1, CONTRACTORS + 1)
        ],
    )
    route_district = np.array([district_ids[r % len(district_ids)] for r in range(n_routes)], dtype=np.int64)
    route_contractor = 1 + np.arange(n_routes) % CONTRACTORS
    window_end = rng.integers(20, 29, n_routes)
    _insert(
        engine,
        "user_account",
        ("id", "username", "full_name", "password_hash", "is_active", "contractor_id", "failed_logins", "created_at"),
        [
            (r + 1, f"reader{r + 1:04d}", f"مامور قرائت {r + 1}", "!bench", True, int(route_contractor[r]), 0, now)
            for r in range(n_routes)
        ],
    )
    _insert(engine, "user_role", ("user_id", "role_code"), [(r + 1, "reader") for r in range(n_routes)])
    _insert(
        engine,
        "route",
        ("id", "district_id", "code", "name", "cycle_days", "contractor_id", "reader_id", "window_start", "window_end"),
        [
            (
                r + 1,
                int(route_district[r]),
                f"R{r + 1:04d}",
                f"مسیر {STREETS[r % len(STREETS)]} {r + 1}",
                30,
                int(route_contractor[r]),
                r + 1,
                1,
                int(window_end[r]),
            )
            for r in range(n_routes)
        ],
    )

    ids = np.arange(1, n + 1, dtype=np.int64)
    route = (ids - 1) // ROUTE_SIZE  # index
    sequence = ((ids - 1) % ROUTE_SIZE + 1) * 10
    district = route_district[route]
    kind_tou = rng.random(n) < 0.12
    digits = np.where(kind_tou, 6, np.where(rng.random(n) < 0.55, 5, 6))
    multiplier = np.where(rng.random(n) < 0.01, 40, 1)
    group = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.86, 0.03, 0.03, 0.01, 0.07])
    supply = np.where(rng.random(n) < 0.03, "disconnected", "active")
    # last actual read: a day of the route's window in 1405/08, then three 30-day periods before it
    aban_start, _ = cycle_window(LAST_CYCLE)
    read_day = rng.integers(1, 21, n)
    last_on = np.array([(aban_start - epoch).days], dtype=np.int64) + read_day - 1
    daily = rng.gamma(2.0, 3.0, n)
    h = [np.maximum(0, np.round(daily * 30 * rng.uniform(0.8, 1.2, n))).astype(np.int64) for _ in range(3)]
    last_value = (rng.random(n) * (10.0**digits)).astype(np.int64)
    peak = np.where(kind_tou, last_value // 5, -1)
    offpeak = np.where(kind_tou, last_value // 3, -1)
    last_on_iso = _iso(last_on)
    h2_iso, h3_iso = _iso(last_on - 30), _iso(last_on - 60)
    installed_on = from_jalali(1399, 1, 15).isoformat()

    chunk = 200_000
    for lo in range(0, n, chunk):
        part = range(lo, min(lo + chunk, n))
        _insert(
            engine,
            "customer",
            ("id", "kind", "first_name", "last_name", "national_code", "is_government", "created_at"),
            [(k + 1, "person", "نام", "خانوادگی", f"{k + 1:010d}", False, now) for k in part],
        )
        _insert(
            engine,
            "premises",
            ("id", "district_id", "zone", "address", "postal_code", "is_rural"),
            [
                (
                    k + 1,
                    int(district[k]),
                    "normal",
                    f"خرم‌آباد، خیابان {STREETS[(k // 300) % len(STREETS)]}، کوچه {k % 37 + 1}، پلاک {k % 211 + 1}",
                    f"{1_000_000_000 + k}",
                    False,
                )
                for k in part
            ],
        )
        _insert(
            engine,
            "subscription",
            (
                "id",
                "subscription_number",
                "file_number",
                "bill_id",
                "customer_id",
                "premises_id",
                "district_id",
                "route_id",
                "route_sequence",
                "tariff_group",
                "tariff_sub_code",
                "phase",
                "amperage",
                "contract_kw",
                "households",
                "supply_state",
                "created_at",
            ),
            [
                (
                    k + 1,
                    f"{k + 1:012d}",
                    f"{k + 1:08d}",
                    build_bill_id(str(k + 1), "123"),
                    k + 1,
                    k + 1,
                    int(district[k]),
                    int(route[k]) + 1,
                    int(sequence[k]),
                    int(group[k]),
                    "1",
                    1,
                    25,
                    5,
                    1,
                    str(supply[k]),
                    now,
                )
                for k in part
            ],
        )
        _insert(
            engine,
            "meter",
            (
                "id",
                "serial",
                "kind",
                "registers",
                "digits",
                "multiplier",
                "phase",
                "accuracy_class",
                "manufacture_year",
                "state",
            ),
            [
                (
                    k + 1,
                    f"B{k + 1:09d}",
                    "tou" if kind_tou[k] else "single",
                    "peak,mid,offpeak" if kind_tou[k] else "active",
                    int(digits[k]),
                    int(multiplier[k]),
                    1,
                    "1",
                    2019,
                    "installed",
                )
                for k in part
            ],
        )
        _insert(
            engine,
            "meter_installation",
            ("id", "subscription_id", "meter_id", "installed_on", "initial_read"),
            [(k + 1, k + 1, k + 1, installed_on, 0) for k in part],
        )
        _insert(
            engine,
            "route_membership",
            ("id", "subscription_id", "route_id", "sequence", "from_on"),
            [(k + 1, k + 1, int(route[k]) + 1, int(sequence[k]), installed_on) for k in part],
        )
        _insert(
            engine,
            "reading_state",
            STATE_COLUMNS,
            [
                (
                    k + 1,
                    k + 1,
                    int(last_value[k]),
                    None if peak[k] < 0 else int(peak[k]),
                    None if offpeak[k] < 0 else int(offpeak[k]),
                    last_on_iso[k],
                    last_on_iso[k],
                    0,
                    0,
                    int(h[0][k]),
                    30,
                    last_on_iso[k],
                    int(h[1][k]),
                    30,
                    h2_iso[k],
                    int(h[2][k]),
                    30,
                    h3_iso[k],
                )
                for k in part
            ],
        )
    if engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with engine.begin() as conn:
            for t in (
                "contractor",
                "contract",
                "user_account",
                "route",
                "customer",
                "premises",
                "subscription",
                "meter",
                "meter_installation",
                "route_membership",
            ):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"))
            conn.execute(text("ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return {"subscriptions": n, "routes": n_routes}


# ------------------------------------------------------------------------------------------ measurements


def machine_speed() -> float:
    """Seconds for ten million additions in a Python loop: the same code's figures from two sessions compare
    only beside this (this VM's speed has varied twofold between sessions)."""
    t = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - t, 2)


def _peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _quiet(engine) -> None:  # type: ignore[no-untyped-def]
    """The build's writes flushed before a measurement, so that none of them is written during it; on
    PostgreSQL a checkpoint, after which the first change to each page logs the whole page, as an import a
    month after the last one does (docs/performance.md)."""
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
    os.sync()


def _orders(url: str, work: Path, fmt: str, workers: int) -> dict[str, Any]:
    """Reading orders of ORDER_CYCLE for every route, to a file, as ``barq reading-orders`` makes them."""
    from barq.auth.service import SYSTEM
    from barq.reading.orders import plan_orders, write_orders

    engine = make_engine(url)
    _quiet(engine)
    factory = make_sessionmaker(engine)
    path = work / f"orders.{fmt}"
    t0, cpu0 = time.perf_counter(), time.process_time()
    with factory() as s, path.open("wb") as fh:
        plan = plan_orders(s, principal=SYSTEM, clock=FixedClock(), cycle=ORDER_CYCLE)
        rows = write_orders(s, plan, fh, fmt=fmt, workers=workers)
        s.rollback()
    seconds = time.perf_counter() - t0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "rows": rows,
        "routes": len(plan.routes),
        "workers": workers,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds) if seconds else 0,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "cpu_seconds": round(time.process_time() - cpu0 + children.ru_utime + children.ru_stime, 1),
        "peak_rss_mb": _peak_rss_mb(),
        "worker_peak_rss_mb": round(children.ru_maxrss / 1024),
    }


def _import(url: str, work: Path) -> dict[str, Any]:
    """A month's reads of every subscription, from a file, through ``reading.pipeline.import_reads``."""
    import gc
    import hashlib
    from datetime import UTC, datetime

    from sqlalchemy import text

    from barq.auth.service import SYSTEM
    from barq.db import fetch_int_columns
    from barq.reading.incoming import parse_file, rows_in
    from barq.reading.pipeline import ContextAhead, import_reads

    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        if s.execute(text("SELECT COUNT(*) FROM meter_read")).scalar_one():
            raise SystemExit("the import measurement needs a freshly built database (run without --reuse)")
        number, last, peak, off, digits = fetch_int_columns(
            s,
            [
                "s.subscription_number",
                "st.last_value",
                "COALESCE(st.last_peak, -1)",
                "COALESCE(st.last_offpeak, -1)",
                "m.digits",
            ],
            "FROM subscription s JOIN reading_state st ON st.subscription_id = s.id "
            "JOIN meter_installation mi ON mi.subscription_id = s.id AND mi.removed_on IS NULL "
            "JOIN meter m ON m.id = mi.meter_id",
            text_first=True,
        )
    rng = np.random.default_rng(9)
    cap = 10**digits
    used = rng.integers(150, 450, len(last))
    door = rng.random(len(last)) < 0.03
    lines = ["subscription,read_at,code,active,peak,offpeak"]
    for i, num in enumerate(number):
        at = f"2026-12-{1 + i % 20:02d}T{8 + i % 9:02d}:{i % 60:02d}:00"
        if door[i]:
            lines.append(f"{num},{at},door_closed,,,")
            continue
        tou = peak[i] >= 0
        p = f"{(peak[i] + used[i] // 5) % cap[i]}" if tou else ""
        o = f"{(off[i] + used[i] // 3) % cap[i]}" if tou else ""
        lines.append(f"{num},{at},read,{(last[i] + used[i]) % cap[i]},{p},{o}")
    data = ("\n".join(lines) + "\n").encode()
    (work / "reads.csv").write_bytes(data)
    clock = FixedClock(moment=datetime(2026, 12, 25, 6, 0, tzinfo=UTC))
    stages: dict[str, float] = {}
    _quiet(engine)
    gc.collect()
    t0 = time.perf_counter()
    last_mark = [t0, "parse"]

    def step(stage: str, _done: int, _total: int) -> None:
        now = time.perf_counter()
        stages[str(last_mark[1])] = stages.get(str(last_mark[1]), 0.0) + now - float(last_mark[0])
        last_mark[0], last_mark[1] = now, stage

    with factory() as s, ContextAhead(s, rows_in(data)) as ahead:
        incoming = parse_file(data, tz=clock.tz)
        step("lookup", 0, 0)
        result = import_reads(
            s,
            principal=SYSTEM,
            clock=clock,
            incoming=incoming,
            source="handheld",
            filename="reads.csv",
            digest=hashlib.sha256(data).hexdigest(),
            progress=step,
            ahead=ahead,
        )
        t = time.perf_counter()
        s.commit()
        stages["commit"] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    b = result.batch
    return {
        "rows": b.rows_total,
        "stored": b.rows_stored,
        "exceptions": b.rows_exception,
        "estimated": b.rows_estimated,
        "refused": b.rows_refused,
        "seconds": round(seconds, 2),
        "stages": {k: round(v, 2) for k, v in stages.items() if k != "done"},
        "file_mb": round(len(data) / 2**20, 1),
        "peak_rss_mb": _peak_rss_mb(),
    }


Measurement = Callable[[str, Path, argparse.Namespace], dict[str, Any]]
"""A measurement: database URL, a work folder, the command's options → figures (a JSON-able dict)."""

MEASUREMENTS: dict[str, Measurement] = {
    "orders-csv": lambda url, work, opts: _orders(url, work, "csv", opts.workers),
    "orders-json": lambda url, work, opts: _orders(url, work, "json", opts.workers),
    "import": lambda url, work, opts: _import(url, work),
}


# ------------------------------------------------------------------------------------------ driver


def _target_url(target: str, fresh: bool) -> str:
    if target == "sqlite":
        path = OUT / "reads.db"
        OUT.mkdir(exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    if fresh:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS barq_bench"))
            conn.execute(text("CREATE DATABASE barq_bench"))
        admin.dispose()
    return PG_BENCH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "pg", "both"], default="both")
    parser.add_argument(
        "--only", default=",".join(MEASUREMENTS), help=f"comma-separated measurements: {', '.join(MEASUREMENTS)}"
    )
    parser.add_argument("--reuse", action="store_true", help="measure the database already built (same --accounts)")
    parser.add_argument(
        "--workers", type=int, default=min(os.cpu_count() or 1, 4), help="processes writing an export at once"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        OUT.mkdir(exist_ok=True)
        print(json.dumps(MEASUREMENTS[args.measure](args.url, OUT, args)))
        return
    chosen = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in MEASUREMENTS]
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(unknown)}; known: {', '.join(MEASUREMENTS)}")
    speed = machine_speed()
    for target in ["sqlite", "pg"] if args.db == "both" else [args.db]:
        url = _target_url(target, fresh=not args.reuse)
        build_s = None
        if not args.reuse:
            t = time.perf_counter()
            build(url, args.accounts)
            build_s = round(time.perf_counter() - t, 1)
        for name in chosen:
            out = subprocess.run(
                [sys.executable, __file__, "--measure", name, "--url", url, "--workers", str(args.workers)],
                check=True,
                capture_output=True,
                text=True,
                env=os.environ.copy(),
            )
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            line = {"db": target, "accounts": args.accounts, "measure": name, "build_seconds": build_s, **figures}
            line["python_loop_s"] = speed
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
