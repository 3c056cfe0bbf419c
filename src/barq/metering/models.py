from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, SmallInteger, String
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
