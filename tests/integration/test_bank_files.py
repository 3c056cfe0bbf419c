"""Bank files: validated whole, matched, posted in chunks exactly once, resumable after a crash."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from barq.connections.models import Subscription
from barq.db import make_sessionmaker
from barq.ledger.models import LedgerEntry
from barq.ledger.service import account_totals, balances, verify
from barq.payments.files import BankFileRefused, receive_bank_file
from barq.payments.models import Payment
from barq.payments.service import PaymentIn, receive_payment
from tests.factories import World
from tests.ledger_factories import issue_bills

CYCLE = 140508


@pytest.fixture
def billed(world: World) -> dict[int, object]:
    subs = world.subscription_ids
    kwh = {subs[0]: 180, subs[1]: 420, subs[2]: 95}
    return issue_bills(world, CYCLE, kwh, prev=date(2026, 9, 25), cur=date(2026, 10, 25))


def _bill_ids(world: World) -> dict[int, str]:
    with world.session() as s:
        return dict(s.execute(select(Subscription.id, Subscription.bill_id)).all())  # type: ignore[arg-type]


def _file(rows: list[tuple[object, ...]], header: str = "trace,bill_id,payment_id,amount,paid_on") -> bytes:
    return ("\n".join([header, *(",".join(str(v) for v in r) for r in rows)]) + "\n").encode()


def _count(world: World, model: type) -> int:
    with world.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_a_file_posts_matched_payments_and_suspends_the_rest_once(world: World, billed) -> None:  # type: ignore[no-untyped-def]
    s0, s1, s2 = world.subscription_ids[:3]
    ids = _bill_ids(world)
    b0, b1, b2 = billed[s0], billed[s1], billed[s2]
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    with factory() as s:  # the bank already notified one payment through the API
        receive_payment(
            s,
            principal=admin,
            clock=world.clock,
            payment=PaymentIn("mellat", "T3", ids[s2], b2.payment_id, b2.payable, date(2026, 11, 19)),
        )
        s.commit()
    data = _file(
        [
            ("T1", ids[s0], b0.payment_id, b0.payable, "1405/08/29"),
            ("T2", ids[s1], b1.payment_id, b1.payable + 1000, "2026-11-19"),  # amount differs: suspense
            ("T3", ids[s2], b2.payment_id, b2.payable, "2026-11-19"),  # the API notification: a duplicate
            ("T1", ids[s0], b0.payment_id, b0.payable, "2026-11-19"),  # the same trace twice in the file
            ("T4", ids[s0], b0.payment_id, b0.payable, "2026-11-19"),  # the same bill again: no open bill
        ]
    )
    result = receive_bank_file(factory, principal=admin, clock=world.clock, bank="mellat", data=data, chunk_size=2)
    assert (result.rows_total, result.rows_posted, result.rows_suspense, result.rows_duplicate) == (5, 1, 2, 2)
    assert result.amount_total == b0.payable * 2 + b1.payable + 1000
    with factory() as s:
        assert balances(s, s0).receivable == 0 and balances(s, s1).receivable == b1.payable
        rows = {p.trace: p for p in s.scalars(select(Payment))}
        assert (rows["T1"].status, rows["T1"].bill_ref, rows["T1"].paid_on) == ("posted", b0.id, date(2026, 11, 20))
        assert (rows["T2"].status, rows["T2"].reason) == ("suspense", "amount_mismatch")
        assert (rows["T4"].status, rows["T4"].reason) == ("suspense", "no_open_bill")
        totals = account_totals(s)
        assert totals["suspense"] == -(b1.payable + 1000 + b0.payable)
        assert verify(s).ok
    entries = _count(world, LedgerEntry)
    again = receive_bank_file(factory, principal=admin, clock=world.clock, bank="mellat", data=data)
    assert again.already and again.batch_id == result.batch_id
    assert _count(world, LedgerEntry) == entries and _count(world, Payment) == 4


def test_a_bad_file_is_refused_whole_naming_each_row(world: World, billed) -> None:  # type: ignore[no-untyped-def]
    s0 = world.subscription_ids[0]
    ids = _bill_ids(world)
    b0 = billed[s0]
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    bad_pid = b0.payment_id[:-1] + str((int(b0.payment_id[-1]) + 1) % 10)
    data = _file(
        [
            ("G1", ids[s0], b0.payment_id, b0.payable, "2026-11-19"),
            ("G2", ids[s0], bad_pid, b0.payable, "2026-11-19"),
            ("G3", ids[s0], b0.payment_id, "-5", "2026-11-19"),
            ("G4", ids[s0], b0.payment_id, b0.payable, "2027-01-01"),
            ("G5", ids[s0], b0.payment_id),
        ]
    )
    with pytest.raises(BankFileRefused) as refused:
        receive_bank_file(factory, principal=admin, clock=world.clock, bank="melli", data=data)
    assert [(e.line, e.field) for e in refused.value.rows] == [
        (3, "payment_id"),
        (4, "amount"),
        (5, "paid_on"),
        (6, "row"),
    ]
    for broken, field in (
        (_file([("G1", ids[s0], b0.payment_id, b0.payable)], header="trace,bill_id,payment_id,amount"), "header"),
        ("trace,bill_id\n".encode("utf-16"), "file"),
    ):
        with pytest.raises(BankFileRefused) as refused:
            receive_bank_file(factory, principal=admin, clock=world.clock, bank="melli", data=broken)
        assert refused.value.field == field
    assert _count(world, Payment) == 0 and _count(world, LedgerEntry) == 1  # the bill run's entry only


def test_a_run_killed_half_way_posts_every_payment_once_when_run_again(world: World, billed) -> None:  # type: ignore[no-untyped-def]
    subs = world.subscription_ids[:3]
    ids = _bill_ids(world)
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    data = _file([(f"K{i}", ids[s], billed[s].payment_id, billed[s].payable, "2026-11-19") for i, s in enumerate(subs)])

    def crash(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        receive_bank_file(
            factory, principal=admin, clock=world.clock, bank="saderat", data=data, chunk_size=1, progress=crash
        )
    assert _count(world, Payment) == 1
    result = receive_bank_file(factory, principal=admin, clock=world.clock, bank="saderat", data=data, chunk_size=1)
    assert (result.rows_posted, result.rows_duplicate, result.already) == (3, 0, False)
    with factory() as s:
        assert [balances(s, sid).receivable for sid in subs] == [0, 0, 0]
        assert s.scalar(select(func.count()).select_from(Payment)) == 3
        assert verify(s).ok


def test_the_commands_post_a_file_and_verify_the_ledger(world: World, billed, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text
    from typer.testing import CliRunner

    from barq.cli.main import app
    from barq.settings import get_settings

    if world.engine.dialect.name != "sqlite":
        pytest.skip("the commands run against the SQLite file here; the services run on both")
    s0 = world.subscription_ids[0]
    ids = _bill_ids(world)
    monkeypatch.setenv("BARQ_DATABASE_URL", world.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        good = tmp_path / "melli.csv"
        good.write_bytes(_file([("C1", ids[s0], billed[s0].payment_id, billed[s0].payable, "2026-11-19")]))
        runner = CliRunner()
        first = runner.invoke(app, ["post-payments", str(good), "--bank", "melli"])
        assert first.exit_code == 0, first.output
        assert "1 posted" in first.output
        assert "posted before" in runner.invoke(app, ["post-payments", str(good), "--bank", "melli"]).output
        bad = tmp_path / "bad.csv"
        bad.write_bytes(_file([("C2", ids[s0], "123", billed[s0].payable, "2026-11-19")]))
        refused = runner.invoke(app, ["post-payments", str(bad), "--bank", "melli"])
        assert refused.exit_code != 0 and "line 2, payment_id" in refused.output
        assert runner.invoke(app, ["post-payments", str(good), "--bank", "nobank"]).exit_code != 0
        verified = runner.invoke(app, ["ledger", "verify"])
        assert verified.exit_code == 0 and "the ledger balances" in verified.output
        with world.session() as s:  # a balance changed behind the ledger's back is found
            s.execute(text(f"UPDATE ledger_balance SET amount = amount + 1 WHERE subscription_id = {s0}"))
            s.commit()
        broken = runner.invoke(app, ["ledger", "verify"])
        assert broken.exit_code == 1 and f"subscription {s0} receivable" in broken.output
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("quote", ['"', ""])
def test_spaces_quotes_crlf_and_leading_zeros_read_as_a_plain_file(world: World, billed, quote: str) -> None:  # type: ignore[no-untyped-def]
    s0, s1 = world.subscription_ids[:2]
    ids = _bill_ids(world)
    b0, b1 = billed[s0], billed[s1]
    admin = world.principal("admin")
    factory = make_sessionmaker(world.engine)
    data = (
        "paid_on,amount,trace,bill_id,payment_id\r\n"  # columns in another order
        f" 2026-11-19 , {b0.payable} ,{quote}Q1{quote}, 00{ids[s0]},{b0.payment_id}\r\n"
        f"1405/08/29,{b1.payable},Q2,{ids[s1]},000{b1.payment_id}\r\n"
        + ("\r\n" if quote else "")  # a blank line (the unquoted file is then read by the fast path)
    ).encode()
    result = receive_bank_file(factory, principal=admin, clock=world.clock, bank="mellat", data=data)
    assert (result.rows_total, result.rows_posted, result.rows_suspense) == (2, 2, 0)
    with factory() as s:
        rows = {p.trace: p for p in s.scalars(select(Payment))}
        assert (rows["Q1"].bill_id, rows["Q1"].bill_ref, rows["Q1"].paid_on) == (ids[s0], b0.id, date(2026, 11, 19))
        assert (rows["Q2"].payment_id, rows["Q2"].bill_ref) == (b1.payment_id, b1.id)
        assert balances(s, s0).receivable == 0 and balances(s, s1).receivable == 0
