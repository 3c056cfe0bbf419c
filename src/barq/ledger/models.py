"""The ledger's tables: entries, their postings (append-only), and each subscription's stored balances.

``ledger_posting`` carries no foreign keys (a million-row COPY is several times slower with them, ADR 0006);
``barq ledger verify`` proves what they would have: every posting belongs to an entry, every entry sums to
zero, and every stored balance equals the sum of its postings. Database triggers refuse any UPDATE or DELETE
of a posting or an entry: a mistake is corrected by a reversing entry.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import DDL, BigInteger, Date, Index, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from barq.db import Base, BigId, UTCDateTime


class LedgerEntry(Base):
    """A journal entry. A bulk entry (a bill run, a bank file) holds one posting per subscription and one
    per company account; ``debit_total`` and ``posting_count`` are written with it so that verify notices a
    posting that went missing."""

    __tablename__ = "ledger_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    posted_on: Mapped[date] = mapped_column(Date)  # the business date
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(60))
    memo: Mapped[str] = mapped_column(String(200), default="")
    source_type: Mapped[str | None] = mapped_column(String(16))  # bill_run, payment_batch, payment, …
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    reverses_id: Mapped[int | None] = mapped_column(BigInteger)
    debit_total: Mapped[int] = mapped_column(BigInteger)
    posting_count: Mapped[int] = mapped_column(Integer)


class LedgerPosting(Base):
    """One line of an entry: debit positive. ``subscription_id`` is set for per-subscription accounts,
    ``channel`` for per-channel ones; ``doc_type``/``doc_id`` name the line's source document (a bill, a
    payment); ``due_on`` is set on receivable debits, for aging."""

    __tablename__ = "ledger_posting"
    __table_args__ = (Index("ix_ledger_posting_subscription", "subscription_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    account: Mapped[str] = mapped_column(String(20))
    subscription_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    doc_type: Mapped[str | None] = mapped_column(String(12))
    doc_id: Mapped[int | None] = mapped_column(BigInteger)
    due_on: Mapped[date | None] = mapped_column(Date)


class LedgerBalance(Base):
    """The balance of one per-subscription account, kept by ``post`` in the same transaction so that an
    inquiry reads one row; ``barq ledger verify`` proves it from the postings."""

    __tablename__ = "ledger_balance"
    # half-empty pages on PostgreSQL: a bulk entry's million balance updates stay on their page (HOT updates,
    # no new index entries)
    __table_args__ = {"postgresql_with": {"fillfactor": 50}}

    subscription_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[str] = mapped_column(String(20), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)


# Append-only, enforced by the database (the migration installs the same triggers).

_PG_GUARD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: post a reversing entry'; END $$"
)


def guard_ddl(dialect: str, table: str) -> list[str]:
    """The statements that make ``table`` refuse UPDATE and DELETE on ``dialect``."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_{verb.lower()}_refused BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: post a reversing entry'); END"
            for verb in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            _PG_GUARD_FUNCTION,
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()",
        ]
    return []


def _install_guards(target: Any, connection: Any, **_: Any) -> None:
    for statement in guard_ddl(connection.dialect.name, target.name):
        connection.execute(DDL(statement))  # type: ignore[no-untyped-call]


event.listen(LedgerEntry.__table__, "after_create", _install_guards)
event.listen(LedgerPosting.__table__, "after_create", _install_guards)
