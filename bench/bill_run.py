"""Benchmark: a full bill run (read, rate, persist bills and lines, approve) over N subscriptions.

    python bench/bill_run.py --accounts 1000000 --db sqlite            # or --db pg
    python bench/bill_run.py --accounts 100000 --db both

Builds a fresh database with N subscriptions (mostly residential, some TOU, households, medical,
commercial and public tariffs) and one validated read each for cycle 1405/08, then times the bill run
in a separate process so that its peak memory is its own. Prints one line per database; the figures go
in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from barq.clock import FixedClock  # noqa: E402
from barq.db import bulk_insert, make_engine, make_sessionmaker  # noqa: E402
from barq.tables import metadata  # noqa: E402

CYCLE = 140508
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/barq_bench"


def _insert(engine, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    with make_sessionmaker(engine)() as s, s.begin():
        bulk_insert(s, table, columns, rows)


def build(url: str, n: int, seed: int = 1405) -> None:
    engine = make_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    rng = np.random.default_rng(seed)
    from barq.auth.service import ensure_roles
    from barq.network.service import seed_reference_data

    with make_sessionmaker(engine)() as s, s.begin():
        seed_reference_data(s, company_code="123", company_name="bench")
        ensure_roles(s)
    now = "2026-01-01 00:00:00+00:00"
    ids = np.arange(1, n + 1)
    district = 1 + (ids % 11)
    group = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.86, 0.03, 0.03, 0.01, 0.07])
    sub_code = np.select([group == 1, group == 2, group == 3, group == 4], ["1", "2-الف-1", "3-ب", "4-الف-1"], "5-الف")
    households = np.where(rng.random(n) < 0.06, rng.integers(2, 5, n), 1)
    households = np.where(group == 1, households, 1)
    medical = (rng.random(n) < 0.005) & (group == 1)
    kwh = np.maximum(0, np.round(rng.gamma(2.0, 90.0, n) * households)).astype(np.int64)
    tou = rng.random(n) < 0.15
    peak = np.where(tou, kwh // 5, -1)
    off = np.where(tou, kwh // 3, -1)
    chunk = 200_000
    for lo in range(0, n, chunk):
        part = ids[lo : lo + chunk].tolist()
        _insert(
            engine,
            "customer",
            ("id", "kind", "first_name", "last_name", "national_code", "is_government", "created_at"),
            [(i, "person", "نام", "خانوادگی", f"{i:010d}", False, now) for i in part],
        )
        _insert(
            engine,
            "premises",
            ("id", "district_id", "zone", "address", "postal_code", "is_rural"),
            [(i, int(district[i - 1]), "normal", "نشانی", f"{1000000000 + i}", False) for i in part],
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
                "tariff_group",
                "tariff_sub_code",
                "phase",
                "amperage",
                "contract_kw",
                "households",
                "medical_certificate",
                "medical_valid_from",
                "medical_valid_to",
                "supply_state",
                "created_at",
            ),
            [
                (
                    i,
                    f"{i:012d}",
                    f"{i:08d}",
                    _bill_id(i),
                    i,
                    i,
                    int(district[i - 1]),
                    int(group[i - 1]),
                    str(sub_code[i - 1]),
                    1,
                    25,
                    5,
                    int(households[i - 1]),
                    "M-1" if medical[i - 1] else None,
                    "2026-03-21" if medical[i - 1] else None,
                    "2027-03-20" if medical[i - 1] else None,
                    "active",
                    now,
                )
                for i in part
            ],
        )
        _insert(
            engine,
            "meter_read",
            (
                "id",
                "subscription_id",
                "read_on",
                "code",
                "source",
                "prev_read_on",
                "kwh",
                "peak_kwh",
                "offpeak_kwh",
                "estimated",
                "status",
            ),
            [
                (
                    i,
                    i,
                    "2026-11-10",
                    "read",
                    "bench",
                    "2026-10-11",
                    int(kwh[i - 1]),
                    None if peak[i - 1] < 0 else int(peak[i - 1]),
                    None if off[i - 1] < 0 else int(off[i - 1]),
                    False,
                    "valid",
                )
                for i in part
            ],
        )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            from sqlalchemy import text

            for t in ("customer", "premises", "subscription", "meter_read"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), {n})"))
            conn.execute(text("ANALYZE"))
    engine.dispose()


def _bill_id(i: int) -> str:
    from barq.ids import build_bill_id

    return build_bill_id(str(i), "123")


def run(url: str) -> dict[str, float]:
    from barq.auth.service import SYSTEM
    from barq.billing.service import approve_bill_run, rate_bill_run, start_bill_run
    from barq.rating.book import load_default_library

    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    clock = FixedClock()
    library = load_default_library()
    t0 = time.perf_counter()
    with factory() as s, s.begin():
        run_id = start_bill_run(s, principal=SYSTEM, clock=clock, cycle=CYCLE).id
    result = rate_bill_run(factory, run_id=run_id, library=library, clock=clock)
    t1 = time.perf_counter()
    with factory() as s, s.begin():
        approved = approve_bill_run(s, principal=SYSTEM, clock=clock, run_id=run_id)
    t2 = time.perf_counter()
    return {
        "bills": result.rated_count,
        "exceptions": result.exception_count,
        "issued": approved.issued_count,
        "rate_seconds": round(t1 - t0, 2),
        "approve_seconds": round(t2 - t1, 2),
        "total_seconds": round(t2 - t0, 2),
        "bills_per_second": round(result.rated_count / (t2 - t0)),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "pg", "both"], default="both")
    parser.add_argument("--phase", choices=["all", "run"], default="all", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "run":
        print(json.dumps(run(args.url)))
        return
    targets = ["sqlite", "pg"] if args.db == "both" else [args.db]
    for target in targets:
        if target == "sqlite":
            path = ROOT / "bench" / "out" / "bill_run.db"
            path.parent.mkdir(exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            url = f"sqlite:///{path}"
        else:
            from sqlalchemy import create_engine, text

            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS barq_bench"))
                conn.execute(text("CREATE DATABASE barq_bench"))
            admin.dispose()
            url = PG_BENCH
        t = time.perf_counter()
        build(url, args.accounts)
        build_s = time.perf_counter() - t
        out = subprocess.run(
            [sys.executable, __file__, "--phase", "run", "--url", url],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps({"db": target, "accounts": args.accounts, "build_seconds": round(build_s, 1), **figures}))


if __name__ == "__main__":
    main()
