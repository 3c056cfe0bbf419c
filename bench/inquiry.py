"""Benchmark: the banks' inquiry endpoint ``GET /api/v1/bills/{bill_id}`` under load, on loopback.

    python bench/payments.py --accounts 1000000 --db pg      # builds barq_bench_pay_base and barq_bench_pay
    python bench/inquiry.py --seconds 20 --connections 12 --workers 2

Serves ``barq serve --workers N --no-access-log`` against the PostgreSQL database that ``bench/payments.py``
left (1,000,000 subscriptions with a posted bill run and a posted bank file), issues an API key to a user
with the role ``bank``, and drives the endpoint with wrk (Debian's package ``wrk``) for a bounded time,
each request for a bill ID drawn at random from 20,000 of them. Prints one JSON line: requests a second,
latency percentiles from wrk's ``--latency`` report, and the count of non-2xx answers (which must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import barq.tables  # noqa: E402, F401  (every table known before the first query)
from barq.db import make_engine, make_sessionmaker  # noqa: E402

OUT = ROOT / "bench" / "out"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/barq_bench_pay"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _key_and_bills(url: str, sample: int) -> tuple[str, list[str]]:
    from sqlalchemy import select

    from barq.auth.models import User
    from barq.auth.service import create_api_key, create_user, ensure_roles
    from barq.clock import Clock
    from barq.connections.models import Subscription

    with make_sessionmaker(make_engine(url))() as s, s.begin():
        ensure_roles(s)
        user = s.scalar(select(User).where(User.username == "benchbank"))
        if user is None:
            user = create_user(
                s,
                username="benchbank",
                full_name="بانک آزمون",
                password="bench-bank-password",
                roles=["bank"],
                clock=Clock(),
                actor="bench",
            )
        key = create_api_key(s, name="inquiry bench", user=user, clock=Clock(), actor="bench")
        ids = list(s.scalars(select(Subscription.bill_id).order_by(Subscription.id)))
    return key, random.Random(7).sample(ids, min(sample, len(ids)))


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    key, bills = _key_and_bills(args.url, 20_000)
    OUT.mkdir(exist_ok=True)
    script = OUT / "inquiry.lua"
    script.write_text(
        "local bills = {" + ",".join(f'"{b}"' for b in bills) + "}\n"
        f'wrk.headers["X-API-Key"] = "{key}"\n'
        "request = function()\n"
        '  return wrk.format("GET", "/api/v1/bills/" .. bills[math.random(#bills)])\n'
        "end\n",
        encoding="utf-8",
    )
    env = {**os.environ, "BARQ_DATABASE_URL": args.url}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "barq"),
            "serve",
            "--port",
            str(args.port),
            "--workers",
            str(args.workers),
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        # warm every worker's connections and caches
        subprocess.run(["wrk", "-t1", "-c4", "-d3s", "-s", str(script), base], check=True, capture_output=True)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s", str(script), base],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, flags=re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)$", out, flags=re.M)
    print(
        json.dumps(
            {
                "seconds": args.seconds,
                "connections": args.connections,
                "workers": args.workers,
                "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
                **{f"p{p}_ms": round(_ms(v), 2) for p, v in latency.items()},
                "non_2xx": int(errors.group(1)) if errors else 0,
                "socket_errors": socket_errors.group(1) if socket_errors else "",
            }
        )
    )


if __name__ == "__main__":
    main()
