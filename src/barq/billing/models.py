from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import ColumnElement, select

from barq.db import Base, BigId, UTCDateTime

RUN_STATES = ("rating", "review", "issued", "cancelled")


class BillRun(Base):
    """One run over a cycle (Jalali year and month) and a set of districts or routes."""

    __tablename__ = "bill_run"
    __table_args__ = (CheckConstraint("state IN ('rating', 'review', 'issued', 'cancelled')", name="state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer, index=True)  # Jalali yyyymm, e.g. 140508
    district_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    route_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(10))
    due_count: Mapped[int] = mapped_column(Integer, default=0)
    rated_count: Mapped[int] = mapped_column(Integer, default=0)
    exception_count: Mapped[int] = mapped_column(Integer, default=0)
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    amount_total: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(60))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Issuing a run writes these once; its bills are issued through it (no bill row is rewritten).
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Bill(Base):
    """At most one bill per subscription and cycle. An issued bill is never changed.

    ``state``: ``rated`` (priced by its run; issued when the run is issued, see ``issued_bills``), ``held``
    (kept out of its run's approval by a reviewer; withdrawn at approval), ``cancelled``. The issue and due
    dates are the run's.
    """

    __tablename__ = "bill"
    __table_args__ = (
        # cycle first: a run's approval and the history of recent cycles read by cycle
        UniqueConstraint("cycle", "subscription_id"),
        Index("ix_bill_subscription_id", "subscription_id"),  # a subscription's bills: inquiry, statement
        CheckConstraint("state IN ('rated', 'held', 'cancelled')", name="state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("bill_run.id"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"))
    cycle: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10))
    prev_read_on: Mapped[date] = mapped_column(Date)
    cur_read_on: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(SmallInteger)
    kwh: Mapped[int] = mapped_column(BigInteger)
    peak_kwh: Mapped[int | None] = mapped_column(BigInteger)
    offpeak_kwh: Mapped[int | None] = mapped_column(BigInteger)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int] = mapped_column(BigInteger)  # the period's charges, before the carried remainder
    carry_in: Mapped[int] = mapped_column(BigInteger, default=0)
    payable: Mapped[int] = mapped_column(BigInteger)
    carry_out: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_id: Mapped[str | None] = mapped_column(String(13))
    exception: Mapped[str | None] = mapped_column(String(16))
    # the bill's levy, VAT and insurance lines (also when they are not stored as lines): what approval posts
    # to the payable accounts
    levy: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    vat: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    insurance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # the bill's lines are the bill_line rows with ids first_line_id … first_line_id + line_count − 1
    first_line_id: Mapped[int] = mapped_column(BigInteger)
    line_count: Mapped[int] = mapped_column(SmallInteger)

    @property
    def bill_number(self) -> str:
        return f"{self.cycle}-{self.id}"


class BillLine(Base):
    """A priced line: quantity and rate in thousandths as shown on the bill, the amount in rials.

    A bill's lines have consecutive ids (``Bill.first_line_id`` and ``Bill.line_count``) and are read by
    that id range, so this large table needs no secondary index (architecture rule 8: a bill run writes
    millions of lines). The carried remainders are not stored as lines: they are the bill's ``carry_in``
    and ``carry_out`` and ``bill_lines`` shows them as lines.
    """

    __tablename__ = "bill_line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bill_id: Mapped[int] = mapped_column(BigInteger)
    subscription_id: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(SmallInteger)
    code: Mapped[str] = mapped_column(String(24))
    part: Mapped[int] = mapped_column(SmallInteger, default=0)
    version: Mapped[str] = mapped_column(String(16))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    rate_milli: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)


class BillRunException(Base):
    """What a run could not bill, or billed but wants a person to look at before approval."""

    __tablename__ = "bill_run_exception"
    __table_args__ = (UniqueConstraint("run_id", "subscription_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("bill_run.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"))
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("bill.id"))
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(300))
    resolution: Mapped[str | None] = mapped_column(String(16))


def issued_bills() -> ColumnElement[bool]:
    """The bills that are issued: rated in a run that was issued."""
    return (Bill.state == "rated") & Bill.run_id.in_(select(BillRun.id).where(BillRun.state == "issued"))


ISSUED_BILLS_SQL = "b.state = 'rated' AND b.run_id IN (SELECT id FROM bill_run WHERE state = 'issued')"
"""The same condition in SQL text, for a query that names the bill table ``b``."""
