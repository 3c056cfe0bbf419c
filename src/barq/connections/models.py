from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from barq.db import Base, BigId, UTCDateTime

SUPPLY_STATES = ("pending", "active", "disconnected", "removed")
TARIFF_GROUPS = (1, 2, 3, 4, 5)


class Subscription(Base):
    __tablename__ = "subscription"
    __table_args__ = (
        CheckConstraint("tariff_group BETWEEN 1 AND 5", name="tariff_group"),
        CheckConstraint("phase IN (1, 3)", name="phase"),
        CheckConstraint("households >= 1", name="households"),
        CheckConstraint("supply_state IN ('pending', 'active', 'disconnected', 'removed')", name="supply_state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_number: Mapped[str] = mapped_column(String(14), unique=True)
    file_number: Mapped[str] = mapped_column(String(8), unique=True)
    bill_id: Mapped[str] = mapped_column(String(13), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    premises_id: Mapped[int] = mapped_column(ForeignKey("premises.id"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    route_id: Mapped[int | None] = mapped_column(ForeignKey("route.id"), index=True)
    route_sequence: Mapped[int | None] = mapped_column(Integer)
    tariff_group: Mapped[int] = mapped_column(SmallInteger)
    tariff_sub_code: Mapped[str] = mapped_column(String(12))
    phase: Mapped[int] = mapped_column(SmallInteger)
    amperage: Mapped[int] = mapped_column(SmallInteger)
    contract_kw: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    households: Mapped[int] = mapped_column(SmallInteger, default=1)
    medical_certificate: Mapped[str | None] = mapped_column(String(40))
    medical_valid_from: Mapped[date | None] = mapped_column(Date)
    medical_valid_to: Mapped[date | None] = mapped_column(Date)
    supply_state: Mapped[str] = mapped_column(String(14), default="active")
    connected_on: Mapped[date | None] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disconnect_candidate_on: Mapped[date | None] = mapped_column(Date)
    """Set when the subscription became a disconnection candidate (three door-closed reads in a row)."""
    disconnect_candidate_reason: Mapped[str | None] = mapped_column(String(24))

    def medical_valid_on(self, day: date) -> bool:
        return (
            self.medical_valid_from is not None
            and self.medical_valid_to is not None
            and self.medical_valid_from <= day <= self.medical_valid_to
        )


NOTICE_KINDS = {"door_closed_three": "اخطار سه نوبت درِ بسته"}


class Notice(Base):
    """A notice queued for a subscription's customer (SMS or letter); sending marks it sent."""

    __tablename__ = "notice"
    __table_args__ = (CheckConstraint("status IN ('queued', 'sent', 'cancelled')", name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
