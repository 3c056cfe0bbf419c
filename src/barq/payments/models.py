from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from barq.db import Base, BigId, UTCDateTime

PAYMENT_STATES = ("posted", "suspense", "resolved", "refunded", "reversed")
SUSPENSE_REASONS = ("unknown_bill", "no_open_bill", "amount_mismatch")


class PaymentBatch(Base):
    """A bank file: posted in chunks, each in its own transaction, so a run killed half way is resumed by
    running the same file again (``state`` stays ``posting`` until the last chunk)."""

    __tablename__ = "payment_batch"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(10))  # posting, posted
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_posted: Mapped[int] = mapped_column(Integer, default=0)
    rows_suspense: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    amount_total: Mapped[int] = mapped_column(BigInteger, default=0)


class Payment(Base):
    """One payment as the channel reported it, and what became of it.

    ``status``: ``posted`` (matched to ``bill_ref`` of ``subscription_id``; ``to_credit`` of it became
    customer credit), ``suspense`` (``reason`` says why), ``resolved`` (a suspended payment given to a
    subscription), ``refunded`` (a suspended payment returned), ``reversed`` (bounced). No foreign keys, for
    the same reason as the ledger's postings (ADR 0006).
    """

    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("channel", "trace"),
        Index("ix_payment_bill_ref", "bill_ref"),
        Index(
            "ix_payment_open_suspense",
            "id",
            sqlite_where=text("status = 'suspense'"),
            postgresql_where=text("status = 'suspense'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # a bank's code, "counter" or "portal"
    # byte order on PostgreSQL too, so that a bank file's range of traces is one index range scan
    trace: Mapped[str] = mapped_column(String(40).with_variant(String(40, collation="C"), "postgresql"))
    bill_id: Mapped[str] = mapped_column(String(13))
    payment_id: Mapped[str] = mapped_column(String(13))
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(16))
    subscription_id: Mapped[int | None] = mapped_column(BigInteger)
    bill_ref: Mapped[int | None] = mapped_column(BigInteger)
    to_credit: Mapped[int] = mapped_column(BigInteger, default=0)
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    resolved_by: Mapped[str | None] = mapped_column(String(60))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(200))


class GatewayPayment(Base):
    """A portal payment on its way through a payment gateway: started, then paid, failed or cancelled by the
    gateway's callback; a paid one becomes a :class:`Payment` of channel ``portal``."""

    __tablename__ = "gateway_payment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    gateway: Mapped[str] = mapped_column(String(16))
    bill_id: Mapped[str] = mapped_column(String(13))
    payment_id: Mapped[str] = mapped_column(String(13))
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(10))  # started, paid, failed, cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gateway_ref: Mapped[str | None] = mapped_column(String(40))
    payment_row: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str | None] = mapped_column(Text)
