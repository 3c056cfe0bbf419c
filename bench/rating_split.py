"""Benchmark: ``rate_bills`` on N rows whose read periods all straddle a warm-month edge.

    python bench/rating_split.py --rows 1000000
    python bench/rating_split.py --rows 100000 --vector /tmp/old/vector.py   # another copy of vector.py

Every period runs from mid-Ordibehesht to mid-Khordad 1400 (Khordad is the first warm month of the
normal, tropical3 and tropical4 zones), so every bill has two parts. Mostly residential rows, some with
TOU registers, several households or a medical exemption, and some group 2–5 rows. Prints the seconds
``rate_bills`` took, how many rows fell back to the scalar engine, and checks a sample of rows against
``engine.rate_bill``. ``--unsplit`` moves the periods to Aban–Azar (one part each) for comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from datetime import date
from pathlib import Path
from types import ModuleType

import jdatetime
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from barq.rating.book import load_default_library  # noqa: E402
from barq.rating.engine import rate_bill  # noqa: E402


def _module(path: str | None) -> ModuleType:
    if path is None:
        import barq.rating.vector as vector

        return vector
    spec = importlib.util.spec_from_file_location("vector_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _jd(y: int, m: int, d: int) -> date:
    g = jdatetime.date(y, m, d).togregorian()
    return date(g.year, g.month, g.day)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--vector", default=None, help="path of a vector.py to time instead of barq's")
    parser.add_argument("--check", type=int, default=2_000, help="rows checked against the scalar engine")
    parser.add_argument(
        "--unsplit", action="store_true", help="periods within Aban–Azar instead (no split), to compare"
    )
    args = parser.parse_args()
    vector = _module(args.vector)
    n = args.rows
    rng = np.random.default_rng(1400)
    library = load_default_library()

    zones = ("normal", "tropical3", "tropical4")
    edge = np.datetime64(_jd(1400, 9 if args.unsplit else 3, 1).isoformat(), "D")
    prev = edge - rng.integers(1, 25, n).astype("timedelta64[D]")
    cur = edge + rng.integers(1, 25, n).astype("timedelta64[D]")
    group = rng.choice(np.array([1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 5], dtype=np.int64), n)
    kwh = rng.integers(0, 900, n).astype(np.int64)
    tou = rng.random(n) < 0.1
    peak = np.where(tou, kwh // 4, -1).astype(np.int64)
    off = np.where(tou, kwh // 3, -1).astype(np.int64)
    households = np.where(rng.random(n) < 0.05, rng.integers(2, 6, n), 1).astype(np.int64)
    cols = vector.RatingColumns(
        group=group,
        sub_code=np.full(n, -1, dtype=np.int64),
        zone=rng.integers(0, len(zones), n).astype(np.int64),
        prev_date=prev,
        cur_date=cur,
        kwh=kwh,
        zones=zones,
        peak_kwh=peak,
        offpeak_kwh=off,
        households=households,
        medical=rng.random(n) < 0.01,
        carry_in=rng.integers(0, 1000, n).astype(np.int64),
    )
    t0 = time.perf_counter()
    result = vector.rate_bills(library, cols)
    seconds = time.perf_counter() - t0
    kind = "none" if args.unsplit else "all"
    print(
        f"rows={n} split={kind} seconds={seconds:.2f} fallback={result.fallback.size} lines={result.line_amount.size}"
    )

    for i in rng.choice(n, min(args.check, n), replace=False).tolist():
        bill = rate_bill(library, cols.row(i))
        assert vector.lines_equal(result, i, bill), i
    print(f"checked {min(args.check, n)} rows against the scalar engine: equal")


if __name__ == "__main__":
    main()
