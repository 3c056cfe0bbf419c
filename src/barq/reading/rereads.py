"""A completed re-read work order (قرائت مجدد) brings its read into the read pipeline.

The read is recorded with source ``reread``, the date the order was completed and the worker as its
reader, and is validated and settled like any other read: an actual read settles everything since the
last actual read, so a re-read ordered from the exception queue after a bill run is billed exactly once.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from barq.auth.service import SYSTEM, Principal
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.reading.incoming import parse_records
from barq.reading.pipeline import ImportResult, import_reads
from barq.workorders.models import WorkOrder


def record_reread(session: Session, *, principal: Principal, clock: Clock, wo: WorkOrder) -> ImportResult | None:
    """Record the read of a done re-read order; None when the order is of another kind or has no read."""
    if wo.type_code != "reread" or wo.state != "done" or wo.subscription_id is None:
        return None
    value = (wo.result or {}).get("read")
    if value is None:
        return None
    sub = session.get_one(Subscription, wo.subscription_id)
    local = clock.local(clock.now())
    incoming = parse_records(
        [
            {
                "subscription": sub.subscription_number,
                "read_at": local.replace(tzinfo=None).isoformat(timespec="minutes"),
                "code": "read",
                "active": value,
            }
        ],
        tz=clock.tz,
    )
    return import_reads(
        session, principal=SYSTEM, clock=clock, incoming=incoming, source="reread", reader_id=principal.user_id or None
    )
