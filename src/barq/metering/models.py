from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from barq.db import Base, BigId, UTCDateTime

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
    (علی‌الحساب) has ``estimated`` set. Large table: it carries ``subscription_id`` for partitioning, and
    declares no foreign keys (ADR 0006): checking four of them per row made a million reads four times
    slower to store on PostgreSQL; its only writers take every id from the database in the same transaction.
    """

    __tablename__ = "meter_read"
    __table_args__ = (
        UniqueConstraint("subscription_id", "read_on", "source"),
        # no CHECK on status: SQLite then applies every column's affinity before inserting, which made the
        # bulk insert of a million reads three times slower; only the read pipeline writes the status
        Index(
            "ix_meter_read_exception",
            "subscription_id",
            sqlite_where=text("status = 'exception'"),
            postgresql_where=text("status = 'exception'"),
        ),
        Index("ix_meter_read_read_on", "read_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(BigId)
    meter_id: Mapped[int | None] = mapped_column(BigId)
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
    reason: Mapped[str | None] = mapped_column(String(24))
    """Validation reason (``validation.REASONS``, or the code that needs a decision); ``ok`` when valid."""
    actual_kwh: Mapped[int | None] = mapped_column(BigInteger)
    """Real kWh the register advanced since the last actual read (``prev_actual_on``); ``kwh`` is what is
    billed: this minus what estimates in between already billed."""
    prev_actual_on: Mapped[date | None] = mapped_column(Date)
    reader_id: Mapped[int | None] = mapped_column(BigId)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lat_e6: Mapped[int | None] = mapped_column(Integer)
    lon_e6: Mapped[int | None] = mapped_column(Integer)
    photo_id: Mapped[int | None] = mapped_column(BigId)
    batch_id: Mapped[int | None] = mapped_column(BigId)
    resolution: Mapped[str | None] = mapped_column(String(10))
    """How an exception was cleared: ``accept``, ``reread`` or ``estimate``."""
    resolved_by: Mapped[int | None] = mapped_column(BigId)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    work_order_id: Mapped[int | None] = mapped_column(BigId)


READ_SOURCES = {
    "handheld": "فایل دستگاه قرائت",
    "api": "سامانهٔ دیگر (API)",
    "reader": "صفحهٔ مامور قرائت",
    "self": "خوداظهاری مشترک",
    "reread": "قرائت مجدد",
    "estimate": "برآورد سامانه",
    "demo": "دادهٔ نمایشی",
}


class ReadPhoto(Base):
    """A photo of a meter's face sent with a read (JPEG, PNG or WebP, at most ``MAX_PHOTO_BYTES``)."""

    __tablename__ = "read_photo"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    content_type: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReadBatch(Base):
    """One arrival of reads: a file, an API call, a reader's page or a self-read. A file's digest makes the
    same file twice a no-op; ``errors_csv`` is the report of the rows refused, line by line."""

    __tablename__ = "read_batch"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(12))
    filename: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_stored: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    rows_refused: Mapped[int] = mapped_column(Integer, default=0)
    rows_exception: Mapped[int] = mapped_column(Integer, default=0)
    rows_estimated: Mapped[int] = mapped_column(Integer, default=0)
    errors_csv: Mapped[str | None] = mapped_column(Text)


class ReadingState(Base):
    """Where each subscription's reading stands: the last actual register values, the end of the last
    billed period (actual or estimate), the kWh estimates billed since the last actual read, the run of
    door-closed visits, and the last three actual periods (for expected consumption). Kept by the read
    pipeline set-based; ``barq reads rebuild-state`` derives it again from ``meter_read``.

    Each read rewrites its subscription's row. On PostgreSQL the pages are kept half full, so that the new
    version fits on the page of the old and the primary key needs no new entry (a heap-only update): a
    million reads move their states in about half the time (docs/performance.md).

    ``meter_id`` has no foreign key, like ``meter_read.meter_id`` it is copied from: SQLite checks a foreign key
    on every update that sets its column, changed or not, which cost a province's file 0.5 s."""

    __tablename__ = "reading_state"
    __table_args__ = {"postgresql_with": {"fillfactor": 50}}

    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"), primary_key=True)
    meter_id: Mapped[int | None] = mapped_column(BigId)
    last_value: Mapped[int | None] = mapped_column(BigInteger)
    last_peak: Mapped[int | None] = mapped_column(BigInteger)
    last_offpeak: Mapped[int | None] = mapped_column(BigInteger)
    last_actual_on: Mapped[date | None] = mapped_column(Date)
    last_on: Mapped[date | None] = mapped_column(Date)
    estimated_kwh: Mapped[int] = mapped_column(BigInteger, default=0)
    door_closed_run: Mapped[int] = mapped_column(SmallInteger, default=0)
    h1_kwh: Mapped[int | None] = mapped_column(BigInteger)
    h1_days: Mapped[int | None] = mapped_column(Integer)
    h1_on: Mapped[date | None] = mapped_column(Date)
    h2_kwh: Mapped[int | None] = mapped_column(BigInteger)
    h2_days: Mapped[int | None] = mapped_column(Integer)
    h2_on: Mapped[date | None] = mapped_column(Date)
    h3_kwh: Mapped[int | None] = mapped_column(BigInteger)
    h3_days: Mapped[int | None] = mapped_column(Integer)
    h3_on: Mapped[date | None] = mapped_column(Date)


class RouteMembership(Base):
    """Which route (and place in its sequence) a subscription was on, from when to when."""

    __tablename__ = "route_membership"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"), index=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("route.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    from_on: Mapped[date] = mapped_column(Date)
    to_on: Mapped[date | None] = mapped_column(Date)
    moved_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
