from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from barq.db import Base, BigId

METER_KINDS = ("single", "tou", "demand")
METER_STATES = ("in_stock", "installed", "faulty", "retired")
REGISTERS_BY_KIND = {
    "single": "active",
    "tou": "peak,mid,offpeak",
    "demand": "peak,mid,offpeak,friday_peak,reactive,maximeter",
}


class Meter(Base):
    __tablename__ = "meter"
    __table_args__ = (
        CheckConstraint("kind IN ('single', 'tou', 'demand')", name="kind"),
        CheckConstraint("state IN ('in_stock', 'installed', 'faulty', 'retired')", name="state"),
        CheckConstraint("digits BETWEEN 4 AND 9", name="digits"),
        CheckConstraint("multiplier >= 1", name="multiplier"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    registers: Mapped[str] = mapped_column(String(80))
    digits: Mapped[int] = mapped_column(SmallInteger)
    multiplier: Mapped[int] = mapped_column(Integer, default=1)
    phase: Mapped[int] = mapped_column(SmallInteger, default=1)
    accuracy_class: Mapped[str] = mapped_column(String(6))
    manufacturer: Mapped[str | None] = mapped_column(String(60))
    manufacture_year: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[str] = mapped_column(String(10), default="in_stock")


class MeterInstallation(Base):
    """Which meter stood on which subscription, from when to when, with its first and last reads."""

    __tablename__ = "meter_installation"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"), index=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meter.id"), index=True)
    installed_on: Mapped[date] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)
    initial_read: Mapped[int] = mapped_column(Integer, default=0)
    final_read: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(120))
