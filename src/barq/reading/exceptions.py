"""The exception queue: reads validation did not accept, and a clerk's three ways to clear them.

- **accept**: the read stands as read; its consumption is billed (settling earlier estimates) and the
  reading state moves to it. Not possible when the date is the problem (future, before or on the last
  read) or when a later read already moved the state; a read flagged "meter replaced" is accepted only once
  the new meter is registered on the subscription.
- **reread**: a re-read work order (قرائت مجدد) is created for the subscription; the read is set aside.
- **estimate**: the read is set aside and an estimate (علی‌الحساب) for the same day takes its place.

Accept and estimate are refused once the read's cycle is billed for that subscription (its kWh would fall
outside every bill run); a re-read then settles everything since the last actual read.

Every decision is audited and recorded on the read (``resolution``, ``resolved_by``, ``resolved_at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import numpy as np
from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.billing.models import Bill
from barq.billing.service import cycle_of
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.errors import ValidationError
from barq.metering.models import MeterRead
from barq.network.models import Route
from barq.reading.config import ReadingConfig, reading_config
from barq.reading.incoming import MISSING, REGISTERS
from barq.reading.pipeline import (
    DATE_REASONS,
    Context,
    add_states,
    advance_state,
    evaluate,
    load_context,
)
from barq.workorders.service import create_work_order

ACTIONS: Final = {"accept": "پذیرش قرائت", "reread": "قرائت مجدد", "estimate": "برآورد (علی‌الحساب)"}


def scope_clause(principal: Principal) -> ColumnElement[bool]:
    if principal.district_id is not None:
        return Subscription.district_id == principal.district_id
    return true()


@dataclass(frozen=True)
class QueueFilter:
    district_id: int | None = None
    route_id: int | None = None
    reader_id: int | None = None
    reason: str | None = None


def queue_query(principal: Principal, flt: QueueFilter) -> Select[MeterRead, Subscription, Route]:
    principal.require(P.READING_MANAGE)
    q = (
        select(MeterRead, Subscription, Route)
        .join(Subscription, Subscription.id == MeterRead.subscription_id)
        .outerjoin(Route, Route.id == Subscription.route_id)
        .where(MeterRead.status == "exception", scope_clause(principal))
    )
    if flt.district_id is not None:
        q = q.where(Subscription.district_id == flt.district_id)
    if flt.route_id is not None:
        q = q.where(Subscription.route_id == flt.route_id)
    if flt.reader_id is not None:
        q = q.where(MeterRead.reader_id == flt.reader_id)
    if flt.reason:
        q = q.where(MeterRead.reason == flt.reason)
    return q.order_by(Route.code, Subscription.route_sequence, MeterRead.id)


def queue_counts(session: Session, principal: Principal, flt: QueueFilter) -> dict[str, list[tuple[Any, int]]]:
    """Open exceptions per route, per reader and per reason (the queue's filters narrow them too)."""
    base = queue_query(principal, flt).subquery()
    out: dict[str, list[tuple[Any, int]]] = {}
    for key, column in (("route", base.c.route_id), ("reader", base.c.reader_id), ("reason", base.c.reason)):
        rows = session.execute(select(column, func.count()).group_by(column).order_by(func.count().desc())).all()
        out[key] = [(r[0], int(r[1])) for r in rows]
    return out


@dataclass(frozen=True)
class Resolved:
    done: int
    refused: dict[int, str]  # read id → why it could not be cleared this way


def _refusal(action: str, reason: str, ctx: Context, i: int, read: MeterRead) -> str | None:
    if ctx["last_on"][i] >= 0 and int(ctx["last_on"][i]) >= _day(read.read_on):
        return "قرائت یا برآورد دیگری پس از این قرائت ثبت شده است؛ فقط قرائت مجدد ممکن است"
    if action == "accept" and reason in DATE_REASONS:
        return "تاریخ این قرائت نادرست است و پذیرفتنی نیست؛ قرائت مجدد یا برآورد کنید"
    if action == "accept" and reason == "hazard":
        return "قرائتی ثبت نشده است؛ قرائت مجدد یا برآورد کنید"
    if action == "accept" and reason == "replaced" and ctx["st_meter"][i] == ctx["meter_id"][i]:
        return "ابتدا کنتور جدید را در پروندهٔ اشتراک نصب و ثبت کنید، سپس قرائت را بپذیرید"
    if action == "estimate" and reason == "future_date":
        return "تاریخ قرائت در آینده است؛ برآورد برای آن ممکن نیست"
    return None


_EPOCH: Final = date(1970, 1, 1).toordinal()


def _day(d: date) -> int:
    return d.toordinal() - _EPOCH


def _from_day(day: int) -> date:
    return date.fromordinal(day + _EPOCH)


def _billed_cycles(session: Session, sub_ids: list[int]) -> dict[int, int]:
    """The latest cycle each subscription has a bill for (held and cancelled bills do not count)."""
    rows = session.execute(
        select(Bill.subscription_id, func.max(Bill.cycle))
        .where(Bill.subscription_id.in_(sub_ids), Bill.state == "rated")
        .group_by(Bill.subscription_id)
    ).all()
    return {int(s): int(c) for s, c in rows}


def resolve(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    read_ids: Sequence[int],
    action: str,
    note: str = "",
    config: ReadingConfig | None = None,
) -> Resolved:
    """Clear the given exceptions with one action; rows that cannot be cleared so are returned with why."""
    principal.require(P.READING_MANAGE)
    if action not in ACTIONS:
        raise ValidationError("اقدام ناشناخته است", field="action")
    if not read_ids:
        raise ValidationError("هیچ قرائتی انتخاب نشده است", field="read_ids")
    cfg = config or reading_config()
    reads = list(
        session.scalars(
            select(MeterRead)
            .join(Subscription, Subscription.id == MeterRead.subscription_id)
            .where(MeterRead.id.in_(list(read_ids)), MeterRead.status == "exception", scope_clause(principal))
            .order_by(MeterRead.id)
        )
    )
    refused: dict[int, str] = {
        rid: "این قرائت در صف استثنا نیست یا در حوزهٔ شما نیست" for rid in set(read_ids) - {r.id for r in reads}
    }
    seen: set[int] = set()
    for r in list(reads):  # one decision per subscription at a time: the earliest read first
        if r.subscription_id in seen:
            refused[r.id] = "برای این اشتراک استثنای دیگری در همین انتخاب هست؛ آن‌ها را یکی‌یکی بررسی کنید"
            reads.remove(r)
        seen.add(r.subscription_id)
    if not reads:
        return Resolved(0, refused)
    numbers = dict(
        session.execute(
            select(Subscription.id, Subscription.subscription_number).where(
                Subscription.id.in_([r.subscription_id for r in reads])
            )
        ).all()
    )
    ctx = load_context(session, [numbers[r.subscription_id] for r in reads])
    billed = _billed_cycles(session, [r.subscription_id for r in reads])
    ok: list[int] = []
    for i, r in enumerate(reads):
        why = _refusal(action, r.reason or "", ctx, i, r)
        if why is None and action != "reread" and billed.get(r.subscription_id, 0) >= cycle_of(r.read_on):
            why = "دورهٔ این قرائت برای این اشتراک صورتحساب شده است؛ قرائت مجدد کنید تا با قرائت بعدی تسویه شود"
        if why is not None:
            refused[r.id] = why
        else:
            ok.append(i)
    if not ok:
        return Resolved(0, refused)
    idx = np.array(ok, dtype=np.int64)
    chosen = [reads[i] for i in ok]
    kctx = ctx.subset(idx)
    now = clock.now()
    if action == "reread":
        for r in chosen:
            sub = session.get_one(Subscription, r.subscription_id)
            wo = create_work_order(
                session,
                principal=principal,
                clock=clock,
                type_code="reread",
                district_id=sub.district_id,
                subscription_id=sub.id,
                description=f"قرائت مجدد برای استثنای قرائت {r.read_on.isoformat()}: {note}".strip(" :"),
            )
            r.work_order_id = wo.id
            _close(session, principal, r, "reread", "rejected", now)
        return Resolved(len(chosen), refused)

    read_on = np.array([_day(r.read_on) for r in chosen], dtype=np.int64)
    registers = {
        name: np.array([MISSING if getattr(r, name) is None else int(getattr(r, name)) for r in chosen], dtype=np.int64)
        for name in REGISTERS
    }
    codes = [r.code if action == "accept" else "estimate" for r in chosen]
    ev = evaluate(
        session,
        kctx,
        code=codes,
        registers=registers,
        read_on=read_on,
        today=clock.today(),
        config=cfg,
        accept=np.ones(len(chosen), dtype=np.bool_) if action == "accept" else None,
    )
    moved: list[int] = []  # the reads the reading state now moves past
    if action == "accept":
        for k, r in enumerate(chosen):
            if not ev.valid[k]:  # a decision code still needs its value: cannot be accepted as is
                refused[r.id] = "این قرائت رقم پذیرفتنی ندارد؛ قرائت مجدد یا برآورد کنید"
                continue
            r.kwh = int(ev.kwh[k])
            r.actual_kwh = int(ev.actual_kwh[k])
            r.prev_read_on = _from_day(int(ev.prev_read_on[k]))
            r.prev_actual_on = _from_day(int(ev.prev_actual_on[k]))
            r.peak_kwh = None if ev.peak_kwh[k] < 0 else int(ev.peak_kwh[k])
            r.offpeak_kwh = None if ev.offpeak_kwh[k] < 0 else int(ev.offpeak_kwh[k])
            r.meter_id = int(kctx["meter_id"][k])
            _close(session, principal, r, "accept", "valid", now)
            moved.append(r.id)
    else:
        for k, r in enumerate(chosen):
            if not ev.valid[k]:
                refused[r.id] = "برآورد برای این تاریخ ممکن نیست"
                continue
            estimate = MeterRead(
                subscription_id=r.subscription_id,
                meter_id=int(kctx["meter_id"][k]),
                read_on=r.read_on,
                code="estimate",
                source="estimate",
                prev_read_on=_from_day(int(ev.prev_read_on[k])),
                kwh=int(ev.kwh[k]),
                estimated=True,
                status="valid",
                reason="ok",
            )
            session.add(estimate)
            _close(session, principal, r, "estimate", "rejected", now)
            moved.append(estimate.id)
    if moved:
        add_states(session, kctx.subset(np.flatnonzero(ev.valid)))
        advance_state(session, f"m.id IN ({', '.join(str(i) for i in moved)})")
    valid = np.array(moved)
    return Resolved(int(valid.shape[0]), refused)


def _close(session: Session, principal: Principal, r: MeterRead, action: str, status: str, now: datetime) -> None:
    before = {"status": r.status, "reason": r.reason}
    r.status = status
    r.resolution = action
    r.resolved_by = principal.user_id or None
    r.resolved_at = now
    audit.record(
        session,
        actor=principal.username,
        action=f"meter_read.{action}",
        subject_type="meter_read",
        subject_id=r.id,
        at=now,
        before=before,
        after={"status": status, "resolution": action, "work_order_id": r.work_order_id, "kwh": r.kwh},
    )
    session.flush()
