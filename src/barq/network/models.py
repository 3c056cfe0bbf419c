from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from barq.db import Base, BigId


class Company(Base):
    __tablename__ = "company"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(3), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class District(Base):
    """A district office (امور برق); its two-digit code prefixes every subscription number in it."""

    __tablename__ = "district"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    code: Mapped[str] = mapped_column(String(2), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    default_zone: Mapped[str] = mapped_column(ForeignKey("climate_zone.code"))


class ClimateZone(Base):
    __tablename__ = "climate_zone"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))


class Route(Base):
    """A reading route (مسیر) of a district; subscriptions carry their sequence on it."""

    __tablename__ = "route"
    __table_args__ = (
        UniqueConstraint("district_id", "code"),
        CheckConstraint("cycle_days IN (30, 60)", name="cycle_days"),
        CheckConstraint("window_start BETWEEN 1 AND 31 AND window_end BETWEEN window_start AND 31", name="window"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    cycle_days: Mapped[int] = mapped_column(SmallInteger, default=30)
    contractor_id: Mapped[int | None] = mapped_column(ForeignKey("contractor.id"), index=True)
    reader_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    window_start: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    """First day of the Jalali month on which the route is read (1–31)."""
    window_end: Mapped[int] = mapped_column(SmallInteger, default=25, server_default="25")
    """Last day of the reading window; a read after it is late (scorecards)."""
