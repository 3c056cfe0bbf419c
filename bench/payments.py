"""Benchmark: a bank file of N payments validated, matched and posted; then ``barq ledger verify``.

    python bench/payments.py --accounts 1000000 --db sqlite            # or --db pg, --db both
    python bench/payments.py --accounts 1000000 --db pg --reuse        # measure again on the built base

Builds a base database with ``bench/bill_run.py``'s N subscriptions and one approved bill run (cycle 1405/08:
its bills are posted to the ledger on approval, which is timed too). Each measurement then runs on a copy of
the base (a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL) in a separate process, and
prints one JSON line per database. The figures go in docs/performance.md.

The bank file pays every issued bill: 97 % exactly, 1 % with an amount that differs from the payment ID
(suspense), 1 % a second time under a new trace (suspense: no open bill), 0.5 % with a bill ID of no
subscription (suspense), and 0.5 % of the lines repeat an earlier trace (duplicates). Dates are a mix of
ISO and Jalali.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from barq.clock import FixedClock  # noqa: E402
from barq.db import fetch_int_columns, make_engine, make_sessionmaker  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BASE = "barq_bench_pay_base"
PG_RUN = "barq_bench_pay"
OUT = ROOT / "bench" / "out"


def _pg(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _admin(*statements: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for sql in statements:
            conn.execute(text(sql))
    admin.dispose()


def write_file(url: str, path: Path, seed: int = 7) -> int:
    """The bank file described in the module docstring; returns its number of lines."""
    from barq.billing.models import ISSUED_BILLS_SQL
    from barq.ids import build_bill_id

    rng = np.random.default_rng(seed)
    with make_sessionmaker(make_engine(url))() as s:
        subs, payable, pid = fetch_int_columns(
            s,
            ["b.subscription_id", "b.payable", "CAST(b.payment_id AS BIGINT)"],
            f"FROM bill b WHERE {ISSUED_BILLS_SQL} AND b.payment_id IS NOT NULL",
        )
        (file_numbers,) = fetch_int_columns(s, ["CAST(file_number AS BIGINT)"], "FROM subscription")
    bill_ids = {int(f): build_bill_id(str(int(f)), "123") for f in file_numbers[np.isin(file_numbers, subs)]}
    n = len(subs)
    kind = rng.random(n)
    lines = []
    jalali = ("1405/08/29", "1405/08/30", "1405/09/01")
    iso = ("2026-11-20", "2026-11-21", "2026-11-22")
    for i in range(n):
        sub, amount, p = int(subs[i]), int(payable[i]), str(int(pid[i]))
        bill = bill_ids[sub]
        when = (jalali if i % 2 else iso)[i % 3]
        k = kind[i]
        if k < 0.01:
            amount += 1000
        elif k < 0.015:
            bill, p = _unknown_bill(p, n + 1 + i)
        lines.append(f"T{i:09d},{bill},{p},{amount},{when}")
        if 0.015 <= k < 0.025:
            lines.append(f"R{i:09d},{bill},{p},{amount},{when}")
        if 0.025 <= k < 0.03:
            lines.append(lines[-1])
    order = rng.permutation(len(lines))
    with path.open("w", encoding="utf-8") as out:
        out.write("trace,bill_id,payment_id,amount,paid_on\n")
        out.write("\n".join(lines[j] for j in order.tolist()))
        out.write("\n")
    return len(lines)


def _unknown_bill(payment_id: str, file_number: int) -> tuple[str, str]:
    """A well-formed bill ID of no subscription, and the payment ID re-made for it (same amount, period)."""
    from barq.ids import build_bill_id, build_payment_id, parse_payment_id

    bill = build_bill_id(str(file_number), "123")
    parts = parse_payment_id(payment_id)
    return bill, build_payment_id(bill_id=bill, amount=parts.amount, year=parts.year_digit, period=parts.period)


def measure(url: str, work: Path) -> dict[str, Any]:
    from barq.auth.service import SYSTEM
    from barq.ledger.service import verify
    from barq.payments.files import parse_bank_file, receive_bank_file

    path = work / "bank.csv"
    t = time.perf_counter()
    lines = write_file(url, path)
    write_s = time.perf_counter() - t
    data = path.read_bytes()
    clock = FixedClock()
    t = time.perf_counter()
    parse_bank_file(data, today=clock.today())
    parse_s = time.perf_counter() - t
    factory = make_sessionmaker(make_engine(url))
    t = time.perf_counter()
    result = receive_bank_file(factory, principal=SYSTEM, clock=clock, bank="melli", data=data, filename="bank.csv")
    post_s = time.perf_counter() - t
    t = time.perf_counter()
    with factory() as s:
        report = verify(s)
    verify_s = time.perf_counter() - t
    return {
        "lines": lines,
        "file_mb": round(len(data) / 1e6, 1),
        "write_file_seconds": round(write_s, 1),
        "parse_check_seconds": round(parse_s, 2),
        "post_file_seconds": round(post_s, 2),
        "posted": result.rows_posted,
        "suspense": result.rows_suspense,
        "duplicates": result.rows_duplicate,
        "verify_seconds": round(verify_s, 2),
        "verify_ok": report.ok,
        "postings": report.postings,
        "balances": report.balances,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def build(target: str, n: int) -> tuple[str, dict[str, Any]]:
    """The base database: subscriptions and reads (bill_run.build), then the bill run, approved and posted."""
    import bill_run

    if target == "sqlite":
        path = OUT / "payments_base.db"
        OUT.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        _admin(f"DROP DATABASE IF EXISTS {PG_RUN}", f"DROP DATABASE IF EXISTS {PG_BASE}", f"CREATE DATABASE {PG_BASE}")
        url = _pg(PG_BASE)
    t = time.perf_counter()
    bill_run.build(url, n)
    figures = bill_run.run(url)
    make_engine(url).dispose()
    return url, {"build_seconds": round(time.perf_counter() - t, 1), "bill_run": figures}


def copy(target: str) -> str:
    if target == "sqlite":
        base = OUT / "payments_base.db"
        run = OUT / "payments.db"
        engine = make_engine(f"sqlite:///{base}")
        with engine.connect() as conn:  # the copy must hold what is still in the write-ahead log
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{run}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(base, run)
        return f"sqlite:///{run}"
    _admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{PG_BASE}' "
        "AND pid <> pg_backend_pid()",
        f"DROP DATABASE IF EXISTS {PG_RUN}",
        f"CREATE DATABASE {PG_RUN} TEMPLATE {PG_BASE}",
    )
    return _pg(PG_RUN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "pg", "both"], default="both")
    parser.add_argument("--reuse", action="store_true", help="measure on the base built before")
    parser.add_argument("--phase", choices=["all", "measure"], default="all", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "measure":
        work = OUT / "payments_work"
        work.mkdir(parents=True, exist_ok=True)
        print(json.dumps(measure(args.url, work)))
        return
    for target in ["sqlite", "pg"] if args.db == "both" else [args.db]:
        built: dict[str, Any] = {}
        if not args.reuse:
            _, built = build(target, args.accounts)
        url = copy(target)
        out = subprocess.run(
            [sys.executable, __file__, "--phase", "measure", "--url", url],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps({"db": target, "accounts": args.accounts, **built, **figures}), flush=True)


if __name__ == "__main__":
    main()
