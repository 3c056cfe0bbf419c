from __future__ import annotations

from datetime import date

from sqlalchemy import (
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


READ_CODES = {
    "read": "قرائت شد",
    "door_closed": "در بسته",
    "broken": "کنتور خراب یا متوقف",
    "missing": "کنتور مفقود",
    "tamper": "مشکوک به دستکاری",
    "replaced": "کنتور تعویض شده",
    "self": "خوداظهاری",
    "hazard": "خطر جانی",
    "estimate": "علی‌الحساب",
}


class MeterRead(Base):
    """One read (or no-access code) of a subscription's meter, and the consumption it gives once validated.

    ``kwh`` (and the TOU parts) are the consumption from ``prev_read_on`` to ``read_on``; they are set
    when the read is validated (status ``valid``) and are what a bill run prices. An estimate
    (علی‌الحساب) has ``estimated`` set. Large table: it carries ``subscription_id`` for partitioning.
    """

    __tablename__ = "meter_read"
    __table_args__ = (
        UniqueConstraint("subscription_id", "read_on", "source"),
        CheckConstraint("status IN ('valid', 'exception', 'rejected')", name="status"),
        Index("ix_meter_read_read_on", "read_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"))
    meter_id: Mapped[int | None] = mapped_column(ForeignKey("meter.id"))
    read_on: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(12))
    source: Mapped[str] = mapped_column(String(12))
    active: Mapped[int | None] = mapped_column(BigInteger)
    peak: Mapped[int | None] = mapped_column(BigInteger)
    offpeak: Mapped[int | None] = mapped_column(BigInteger)
    maximeter_kw: Mapped[int | None] = mapped_column(Integer)
    reactive: Mapped[int | None] = mapped_column(BigInteger)
    prev_read_on: Mapped[date | None] = mapped_column(Date)
    kwh: Mapped[int | None] = mapped_column(BigInteger)
    peak_kwh: Mapped[int | None] = mapped_column(BigInteger)
    offpeak_kwh: Mapped[int | None] = mapped_column(BigInteger)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="valid")
