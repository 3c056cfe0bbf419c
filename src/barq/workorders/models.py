from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from barq.db import Base, BigId, UTCDateTime


class WorkOrder(Base):
    __tablename__ = "work_order"
    __table_args__ = (
        CheckConstraint("state IN ('created', 'assigned', 'in_progress', 'done', 'failed', 'cancelled')", name="state"),
        CheckConstraint("NOT (assignee_team IS NOT NULL AND contractor_id IS NOT NULL)", name="one_assignee"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    type_code: Mapped[str] = mapped_column(String(40), index=True)
    state: Mapped[str] = mapped_column(String(12), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscription.id"), index=True)
    assignee_team: Mapped[str | None] = mapped_column(String(80))
    contractor_id: Mapped[int | None] = mapped_column(ForeignKey("contractor.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
