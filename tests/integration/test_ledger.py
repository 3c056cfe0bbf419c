"""The ledger on a real database: post, post_selected, append-only, balances, verify, bills posted on approval."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from barq.billing.service import bill_lines
from barq.errors import ValidationError
from barq.ledger import postings as L
from barq.ledger.models import LedgerEntry, LedgerPosting
from barq.ledger.service import account_totals, balances, post, post_selected, statement, verify
from tests.factories import World
from tests.ledger_factories import issue_bills

AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ON = date(2026, 11, 20)


def test_post_moves_balances_and_refuses_an_unbalanced_entry(world: World) -> None:
    sid = world.subscription_ids[0]
    with world.session() as s:
        post(s, entry=L.bill_entry(sid, 100_000, 10_000, 9_000, 500, -500), actor="t", at=AT, on=ON)
        post(s, entry=L.payment_entry(sid, 150_000, "melli", to_credit=30_000), actor="t", at=AT, on=ON)
        bad = L.Entry(L.EntryKind.ADJUSTMENT, (L.Posting(L.receivable(sid), 10), L.Posting(L.ENERGY_REVENUE, -9)))
        with pytest.raises(ValidationError):
            post(s, entry=bad, actor="t", at=AT, on=ON)
        s.commit()
        b = balances(s, sid)
        assert (b.receivable, b.credit, b.carry, b.net) == (0, 30_000, -500, -30_000)
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 2
        totals = account_totals(s)
        assert sum(totals.values()) == 0 and totals["bank_clearing"] == 150_000
        lines = statement(s, sid)
        assert [ln.balance for ln in lines] == [120_000, 0, -30_000]
        assert verify(s).ok


def test_postings_and_entries_cannot_be_changed_or_deleted(world: World) -> None:
    sid = world.subscription_ids[0]
    with world.session() as s:
        post(s, entry=L.adjustment_entry(sid, 5_000), actor="t", at=AT, on=ON)
        s.commit()
    for sql in ("UPDATE ledger_posting SET amount = 1", "DELETE FROM ledger_posting", "DELETE FROM ledger_entry"):
        with world.session() as s, pytest.raises(DBAPIError, match="append-only"):
            s.execute(text(sql))
    with world.session() as s:
        assert s.scalar(select(func.sum(LedgerPosting.amount)).where(LedgerPosting.amount > 0)) == 5_000


def test_post_selected_is_all_or_nothing_and_verify_finds_tampering(world: World) -> None:
    subs = world.subscription_ids[:3]
    amounts = {subs[0]: 1_000, subs[1]: 0, subs[2]: 2_000}
    case = " ".join(f"WHEN {sid} THEN {a}" for sid, a in amounts.items())
    select_sql = (
        f"SELECT 'receivable' AS account, id AS subscription_id, CASE id {case} END AS amount, 'adj' AS doc_type, "
        f"id AS doc_id, CAST(NULL AS DATE) AS due_on FROM subscription WHERE id IN ({', '.join(map(str, subs))})"
    )
    with world.session() as s:
        with pytest.raises(ValidationError):
            post_selected(
                s,
                kind=L.EntryKind.ADJUSTMENT,
                select_sql=select_sql,
                params={},
                others=[L.Posting(L.ENERGY_REVENUE, -2_999)],
                actor="t",
                at=AT,
                on=ON,
            )
        with pytest.raises(ValidationError):  # an account kept per channel cannot come from the query
            post_selected(
                s,
                kind=L.EntryKind.ADJUSTMENT,
                select_sql=select_sql.replace("'receivable' AS account", "'bank_clearing' AS account"),
                params={},
                others=[L.Posting(L.ENERGY_REVENUE, -3_000)],
                actor="t",
                at=AT,
                on=ON,
            )
        entry = post_selected(
            s,
            kind=L.EntryKind.ADJUSTMENT,
            select_sql=select_sql,
            params={},
            others=[L.Posting(L.ENERGY_REVENUE, -3_000)],
            actor="t",
            at=AT,
            on=ON,
        )
        s.commit()
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 1
        assert s.scalar(select(LedgerEntry.posting_count).where(LedgerEntry.id == entry)) == 3  # the zero is left out
        assert [balances(s, sid).receivable for sid in subs] == [1_000, 0, 2_000]
        report = verify(s)
        assert report.ok and report.postings == 3 and report.balances == 2
        # a posting slipped in behind post()'s back: its entry no longer balances nor matches its count,
        # and the stored balance no longer equals the postings
        s.execute(
            text(
                "INSERT INTO ledger_posting (entry_id, account, subscription_id, amount) "
                f"VALUES ({entry}, 'receivable', {subs[0]}, 7)"
            )
        )
        s.execute(text(f"UPDATE ledger_balance SET amount = amount + 1 WHERE subscription_id = {subs[-1]}"))
        report = verify(s)
        assert not report.ok
        assert report.unbalanced_entries == [(entry, 7)] and report.incomplete_entries == [entry]
        assert report.ledger_total == 7
        assert sorted(report.balance_differences) == sorted(
            [(subs[0], "receivable", 1_000, 1_007), (subs[-1], "receivable", 2_001, 2_000)]
        )


def test_approving_a_bill_run_posts_every_bill(world: World) -> None:
    subs = world.subscription_ids
    with world.session() as s:  # an earlier overpayment: credit that the new bill uses first
        post(s, entry=L.payment_entry(subs[0], 50_000, "melli", to_credit=50_000), actor="t", at=AT, on=ON)
        s.commit()
    bills = issue_bills(world, 140508, {subs[0]: 180, subs[1]: 420}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))
    with world.session() as s:
        b0, b1 = bills[subs[0]], bills[subs[1]]
        assert balances(s, subs[1]).receivable == b1.payable
        assert balances(s, subs[1]).carry == b1.carry_out
        assert balances(s, subs[0]).receivable == b0.payable - 50_000 and balances(s, subs[0]).credit == 0
        lines = statement(s, subs[1])
        assert [(ln.kind, ln.doc_type, ln.doc_id, ln.amount) for ln in lines] == [("bill", "bill", b1.id, b1.payable)]
        assert lines[0].due_on is not None
        totals = account_totals(s)
        lines_of = bill_lines(s, [b0, b1])
        levy = sum(ln.amount for b in (b0, b1) for ln in lines_of[b.id] if ln.code == "levy")
        assert levy > 0 and b0.levy + b1.levy == levy
        assert -totals["levy_payable"] == levy
        assert totals["receivable"] == b0.payable + b1.payable - 50_000
        report = verify(s)
        assert report.ok, report
