from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from barq.db import Base, BigId, UTCDateTime


class Customer(Base):
    """A person (national code) or an organisation (legal-entity national ID)."""

    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint("kind IN ('person', 'organisation')", name="kind"),
        CheckConstraint(
            "(kind = 'person' AND national_code IS NOT NULL) OR (kind = 'organisation' AND legal_id IS NOT NULL)",
            name="identifier",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    first_name: Mapped[str | None] = mapped_column(String(60))
    last_name: Mapped[str | None] = mapped_column(String(80), index=True)
    father_name: Mapped[str | None] = mapped_column(String(60))
    national_code: Mapped[str | None] = mapped_column(String(10), unique=True)
    org_name: Mapped[str | None] = mapped_column(String(200), index=True)
    legal_id: Mapped[str | None] = mapped_column(String(11), unique=True)
    is_government: Mapped[bool] = mapped_column(Boolean, default=False)
    org_category: Mapped[str | None] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(11), index=True)
    # The district office that keeps the customer's file; district-scoped users see only theirs.
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def display_name(self) -> str:
        if self.kind == "organisation":
            return self.org_name or ""
        return f"{self.first_name or ''} {self.last_name or ''}".strip()


class Contact(Base):
    __tablename__ = "contact"
    __table_args__ = (CheckConstraint("kind IN ('mobile', 'phone', 'email')", name="kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(String(200))


class Premises(Base):
    __tablename__ = "premises"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    zone: Mapped[str] = mapped_column(ForeignKey("climate_zone.code"))
    address: Mapped[str] = mapped_column(String(300))
    postal_code: Mapped[str] = mapped_column(String(10), index=True)
    is_rural: Mapped[bool] = mapped_column(Boolean, default=False)
