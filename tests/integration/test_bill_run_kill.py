"""Kill the `barq bill-run` process with SIGKILL in the middle of a run, run it again, and find exactly one
bill per subscription and cycle, none lost (issue 3). On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from barq.billing.models import Bill, BillRun, BillRunException, issued_bills
from barq.clock import FixedClock
from barq.db import make_sessionmaker
from barq.demo.generator import build_demo

ACCOUNTS = 1500
CYCLE = "1405/08"


def _reads(engine: Engine) -> int:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO meter_read (subscription_id, read_on, code, source, prev_read_on, kwh, estimated, status) "
                "SELECT id, '2026-10-25', 'read', 'test', '2026-09-25', 100 + id % 400, false, 'valid' "
                "FROM subscription WHERE supply_state IN ('active', 'disconnected')"
            )
        )
        return int(conn.execute(text("SELECT count(*) FROM meter_read")).scalar_one())


def _barq(url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BARQ_DATABASE_URL": url, "BARQ_BILL_RUN_CHUNK": "100"}
    return subprocess.Popen(
        [sys.executable, "-m", "barq.cli.main", "bill-run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_killed_run_resumes_with_one_bill_per_subscription(engine: Engine, tmp_path: Path) -> None:
    build_demo(engine, accounts=ACCOUNTS, seed=7, clock=FixedClock())
    expected = _reads(engine)
    url = engine.url.render_as_string(hide_password=False)
    factory = make_sessionmaker(engine)

    proc = _barq(url, "--cycle", CYCLE)
    deadline = time.monotonic() + 120
    rated = 0
    while time.monotonic() < deadline and proc.poll() is None:
        with factory() as s:
            rated = s.scalar(select(func.coalesce(func.max(BillRun.rated_count), 0))) or 0
        if rated >= 200:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with factory() as s:
        run = s.scalars(select(BillRun)).one()
        partial = s.scalar(select(func.count()).select_from(Bill))
        assert run.state == "rating" and 0 < partial < expected  # type: ignore[operator]

    resumed = _barq(url, "--resume", str(run.id), "--approve")
    output = resumed.communicate(timeout=300)[0].decode()
    assert resumed.returncode == 0, output
    with factory() as s:
        per_subscription = s.execute(select(Bill.subscription_id, func.count()).group_by(Bill.subscription_id)).all()
        assert {c for _, c in per_subscription} == {1}
        not_billed = set(s.scalars(select(BillRunException.subscription_id).where(BillRunException.bill_id.is_(None))))
        billed = {sid for sid, _ in per_subscription}
        assert not billed & not_billed and len(billed | not_billed) == expected  # none doubled, none lost
        assert s.get_one(BillRun, run.id).state == "issued"
        assert s.scalar(select(func.count()).select_from(Bill).where(~issued_bills())) == 0
