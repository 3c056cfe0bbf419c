"""Kill ``barq post-payments FILE --bank … --chunk-size 1`` with SIGKILL after some chunks were committed and
before the last, run the same command again, and find every payment of the file posted exactly once
(domain.md §6, architecture rules 8 and 9; the in-process variant is in ``test_bank_files``).

It runs on SQLite and, when ``BARQ_TEST_DATABASE_URL`` is set, on PostgreSQL: the kill hits a different
recovery on each (SQLite's write-ahead log rolled back on the next open; the server rolling back the
transaction of a connection that died), and the command is the same.

The command takes its date from the real clock, so the bills are made for the month before today's month
and paid today: the test does not depend on the calendar.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from barq.billing.models import Bill
from barq.billing.service import cycle_of, cycle_window, previous_cycle
from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.db import make_sessionmaker
from barq.ledger import postings as L
from barq.ledger.service import balances, verify
from barq.payments.models import Payment, PaymentBatch
from tests.factories import build_world
from tests.ledger_factories import issue_bills

SUBSCRIPTIONS = 40
MONTHS = 3  # bills a subscription: each is paid once in the file
BANK = "tejarat"


def _post_payments(url: str, file: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BARQ_DATABASE_URL": url}
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "barq.cli.main", "post-payments", str(file), "--bank", BANK, "--chunk-size", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_a_killed_bank_file_run_posts_every_payment_once_when_run_again(engine: Engine, tmp_path: Path) -> None:
    clock = FixedClock(moment=datetime.now(UTC))
    world = build_world(engine, clock, customers=SUBSCRIPTIONS)
    subs = world.subscription_ids
    last = previous_cycle(cycle_of(clock.today()))
    bills: list[Bill] = []
    for k in range(MONTHS, 0, -1):
        cycle = previous_cycle(last, k - 1)
        cur = cycle_window(cycle)[1] - timedelta(days=2)
        kwh = {sid: 120 + (sid * 37 + k * 11) % 600 for sid in subs}
        bills.extend(issue_bills(world, cycle, kwh, prev=cur - timedelta(days=30), cur=cur).values())
    with world.session() as s:
        bill_id: dict[int, str] = {r.id: r.bill_id for r in s.execute(select(Subscription.id, Subscription.bill_id))}
        owed = {sid: balances(s, sid).receivable for sid in subs}
    assert all(b.payable > 0 and b.payment_id for b in bills)
    assert owed == {sid: sum(b.payable for b in bills if b.subscription_id == sid) for sid in subs}

    # every bill paid once; some paid a second time (no open bill: suspense); some with a wrong amount
    # (suspense, and the bill stays open); one row sent twice (a duplicate trace)
    rng = random.Random(5)
    today = clock.today().isoformat()
    rows = [(f"K{b.id}", bill_id[b.subscription_id], b.payment_id, b.payable) for b in bills]
    wrong = [b for b in bills if b.id % 7 == 0]
    again = rng.sample([b for b in bills if b.id % 7], 30)
    rows += [(f"W{b.id}", bill_id[b.subscription_id], b.payment_id, b.payable + 1000) for b in wrong]
    rows += [(f"A{b.id}", bill_id[b.subscription_id], b.payment_id, b.payable) for b in again]
    rng.shuffle(rows)
    rows.append(rows[len(rows) // 3])
    file = tmp_path / "tejarat-payments.csv"
    file.write_text(
        "trace,bill_id,payment_id,amount,paid_on\n" + "".join(f"{t},{b},{p},{a},{today}\n" for t, b, p, a in rows)
    )
    traces = {r[0]: r for r in rows}
    order = {t: i for i, (t, *_) in reversed(list(enumerate(rows)))}
    # of a bill paid twice, the payment that comes first in the file pays it, whichever run posts it
    late = {max((f"K{b.id}", f"A{b.id}"), key=order.__getitem__) for b in again}
    in_suspense = {f"W{b.id}" for b in wrong} | late

    url = engine.url.render_as_string(hide_password=False)
    factory = make_sessionmaker(engine)
    log = tmp_path / "post-payments.log"
    first = _post_payments(url, file, log)
    committed = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        with factory() as s:
            committed = int(s.scalar(text("SELECT COUNT(*) FROM payment")) or 0)
        if committed >= 10:
            break
        time.sleep(0.01)
    assert first.poll() is None, "the command ended before it could be killed: " + log.read_text()
    first.send_signal(signal.SIGKILL)
    first.wait()
    with factory() as s:
        done = int(s.scalar(select(func.count()).select_from(Payment)) or 0)
        batch = s.scalars(select(PaymentBatch)).one()
        assert batch.state == "posting" and 10 <= done < len(traces), (done, len(traces))

    second = _post_payments(url, file, log)
    assert second.wait(timeout=300) == 0, log.read_text()
    with factory() as s:
        stored = {p.trace: p for p in s.scalars(select(Payment))}
        assert sorted(stored) == sorted(traces)  # every payment once, the repeated row once
        assert {t for t, p in stored.items() if p.status == "posted"} == set(traces) - in_suspense
        assert Counter(p.bill_ref for p in stored.values() if p.status == "posted") == Counter(b.id for b in bills)
        assert {(p.status, p.reason) for t, p in stored.items() if t in in_suspense} == {
            ("suspense", "amount_mismatch"),
            ("suspense", "no_open_bill"),
        }
        assert all((stored[t].reason == "amount_mismatch") == (t[0] == "W") for t in in_suspense)
        assert all(balances(s, sid).receivable == 0 and balances(s, sid).credit == 0 for sid in subs)
        batch = s.scalars(select(PaymentBatch)).one()
        assert (batch.state, batch.rows_total, batch.rows_duplicate) == ("posted", len(rows), 1)
        assert (batch.rows_posted, batch.rows_suspense) == (len(bills), len(traces) - len(bills))
        suspense = sum(p.amount for p in stored.values() if p.status == "suspense")
        totals = dict(
            s.execute(
                text("SELECT account, SUM(amount) FROM ledger_posting WHERE subscription_id IS NULL GROUP BY account")
            ).all()
        )
        assert int(totals[L.SUSPENSE_CODE]) == -suspense
        assert int(totals[L.BANK_CLEARING]) == sum(r[3] for r in traces.values())
        report = verify(s)
        assert report.ok, report
