"""Work-order use cases: create, assign, start, complete, fail, cancel; the list a principal may see.

The allowed transitions are declared in ``TRANSITIONS``; ``transition`` refuses any other with a typed
error and writes the audit row in the same transaction (architecture rule 5).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.calendar import WorkingCalendar, default_calendar, to_jalali
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.contractors.service import get_contractor, has_contract
from barq.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from barq.ids import normalize_digits
from barq.network.models import District
from barq.workorders.models import WorkOrder
from barq.workorders.types import WorkOrderType, get_type

STATE_NAMES = {
    "created": "ایجاد شده",
    "assigned": "واگذار شده",
    "in_progress": "در حال انجام",
    "done": "انجام شده",
    "failed": "ناموفق",
    "cancelled": "ابطال شده",
}

# verb -> (states it may start from, state it leads to, permission)
TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "assign": (frozenset({"created", "assigned"}), "assigned", P.WORKORDERS_ASSIGN),
    "start": (frozenset({"assigned"}), "in_progress", P.WORKORDERS_WORK),
    "complete": (frozenset({"in_progress"}), "done", P.WORKORDERS_WORK),
    "fail": (frozenset({"in_progress"}), "failed", P.WORKORDERS_WORK),
    "cancel": (frozenset({"created", "assigned", "in_progress"}), "cancelled", P.WORKORDERS_CANCEL),
}
VERB_NAMES = {"assign": "واگذاری", "start": "شروع کار", "complete": "انجام شد", "fail": "ناموفق", "cancel": "ابطال"}


def allowed_verbs(state: str) -> list[str]:
    return [verb for verb, (sources, _, _) in TRANSITIONS.items() if state in sources]


def verbs_for(principal: Principal, wo: WorkOrder) -> list[str]:
    """The verbs this principal may use on this order now: the state allows them, the principal holds the
    permission and, for field work, passes the same worker check ``transition`` applies."""
    wo_type = get_type(wo.type_code)
    verbs: list[str] = []
    for verb in allowed_verbs(wo.state):
        permission = TRANSITIONS[verb][2]
        if not principal.can(permission):
            continue
        if permission == P.WORKORDERS_WORK and wo_type is not None:
            try:
                _check_worker(principal, wo, wo_type)
            except PermissionDenied:
                continue
        verbs.append(verb)
    return verbs


def scope_clause(principal: Principal) -> ColumnElement[bool]:
    """What a principal may see: a contractor's user only its contractor's orders; a district user its district."""
    clauses: list[ColumnElement[bool]] = []
    if principal.contractor_id is not None:
        clauses.append(WorkOrder.contractor_id == principal.contractor_id)
    if principal.district_id is not None:
        clauses.append(WorkOrder.district_id == principal.district_id)
    if not clauses:
        return true()
    result = clauses[0]
    for c in clauses[1:]:
        result = result & c
    return result


def due_at(wo_type: WorkOrderType, created: datetime, clock: Clock, cal: WorkingCalendar) -> datetime:
    if wo_type.target_unit == "hours":
        return created + timedelta(hours=wo_type.target_amount)
    local_day = clock.local(created).date()
    last_day = cal.add_working_days(local_day, wo_type.target_amount)
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=clock.tz).astimezone(created.tzinfo)


def _snapshot(wo: WorkOrder) -> dict[str, Any]:
    return {
        "state": wo.state,
        "assignee_team": wo.assignee_team,
        "contractor_id": wo.contractor_id,
        "result": wo.result,
        "failure_reason": wo.failure_reason,
    }


def create_work_order(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    type_code: str,
    district_id: int,
    subscription_id: int | None = None,
    description: str = "",
    calendar: WorkingCalendar | None = None,
) -> WorkOrder:
    principal.require(P.WORKORDERS_CREATE)
    wo_type = get_type(type_code)
    if wo_type is None:
        raise ValidationError("نوع دستورکار ناشناخته است", field="type_code")
    if principal.district_id is not None and principal.district_id != district_id:
        raise PermissionDenied("صدور دستورکار برای امور دیگر مجاز نیست")
    if session.get(District, district_id) is None:
        raise ValidationError("امور انتخاب‌شده وجود ندارد", field="district_id")
    if subscription_id is not None:
        sub = session.get(Subscription, subscription_id)
        if sub is None or sub.district_id != district_id:
            raise ValidationError("اشتراک در این امور پیدا نشد", field="subscription_id")
    now = clock.now()
    wo = WorkOrder(
        number=f"tmp-{secrets.token_hex(6)}",
        type_code=type_code,
        state="created",
        district_id=district_id,
        subscription_id=subscription_id,
        description=description.strip(),
        created_by=principal.username,
        created_at=now,
        due_at=due_at(wo_type, now, clock, calendar or default_calendar()),
    )
    session.add(wo)
    session.flush()
    wo.number = f"WO-{to_jalali(clock.local(now).date()).year}-{wo.id:06d}"
    audit.record(
        session,
        actor=principal.username,
        action="work_order.create",
        subject_type="work_order",
        subject_id=wo.id,
        at=now,
        after={"number": wo.number, "type": type_code, "state": "created"},
    )
    session.flush()
    return wo


def get_work_order(session: Session, *, principal: Principal, work_order_id: int) -> WorkOrder:
    principal.require(P.WORKORDERS_VIEW)
    wo = session.scalar(select(WorkOrder).where(WorkOrder.id == work_order_id, scope_clause(principal)))
    if wo is None:
        raise NotFound("دستورکار پیدا نشد")
    return wo


@dataclass(frozen=True)
class WorkOrderFilter:
    state: str | None = None
    type_code: str | None = None
    district_id: int | None = None
    contractor_id: int | None = None
    overdue_only: bool = False


def list_query(principal: Principal, flt: WorkOrderFilter, *, now: datetime) -> Select[WorkOrder]:
    principal.require(P.WORKORDERS_VIEW)
    stmt = select(WorkOrder).where(scope_clause(principal))
    if flt.state:
        stmt = stmt.where(WorkOrder.state == flt.state)
    if flt.type_code:
        stmt = stmt.where(WorkOrder.type_code == flt.type_code)
    if flt.district_id:
        stmt = stmt.where(WorkOrder.district_id == flt.district_id)
    if flt.contractor_id:
        stmt = stmt.where(WorkOrder.contractor_id == flt.contractor_id)
    if flt.overdue_only:
        stmt = stmt.where(WorkOrder.due_at < now, WorkOrder.state.in_(("created", "assigned", "in_progress")))
    return stmt.order_by(WorkOrder.id.desc())


def transition(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    work_order_id: int,
    verb: str,
    team: str | None = None,
    contractor_id: int | None = None,
    result: dict[str, str] | None = None,
    reason: str | None = None,
) -> WorkOrder:
    """Move a work order by one verb of ``TRANSITIONS``; anything else raises ``InvalidTransition``."""
    if verb not in TRANSITIONS:
        raise InvalidTransition("این تغییر وضعیت تعریف نشده است", detail=f"unknown verb {verb}")
    sources, target, permission = TRANSITIONS[verb]
    principal.require(permission)
    wo = get_work_order(session, principal=principal, work_order_id=work_order_id)
    if wo.state not in sources:
        raise InvalidTransition(
            f"دستورکار در وضعیت «{STATE_NAMES[wo.state]}» است و «{VERB_NAMES[verb]}» ممکن نیست",
            detail=f"{verb} not allowed from {wo.state}",
        )
    wo_type = get_type(wo.type_code)
    assert wo_type is not None
    if permission == P.WORKORDERS_WORK:
        _check_worker(principal, wo, wo_type)
    before = _snapshot(wo)
    now = clock.now()
    if verb == "assign":
        _assign(session, wo, wo_type, team=team, contractor_id=contractor_id, clock=clock)
    elif verb == "start":
        wo.started_at = now
    elif verb == "complete":
        wo.result = _parse_result(wo_type, result or {})
        wo.finished_at = now
    elif verb in ("fail", "cancel"):
        if not reason or not reason.strip():
            raise ValidationError("علت را بنویسید", field="reason")
        wo.failure_reason = reason.strip()[:300]
        wo.finished_at = now
    wo.state = target
    audit.record(
        session,
        actor=principal.username,
        action=f"work_order.{verb}",
        subject_type="work_order",
        subject_id=wo.id,
        at=now,
        before=before,
        after=_snapshot(wo),
    )
    session.flush()
    return wo


def _check_worker(principal: Principal, wo: WorkOrder, wo_type: WorkOrderType) -> None:
    if "admin" in principal.roles:
        return
    if not (principal.roles & wo_type.roles):
        raise PermissionDenied("نقش شما اجازه انجام این نوع دستورکار را ندارد")
    if principal.contractor_id is not None and wo.contractor_id != principal.contractor_id:
        raise PermissionDenied("این دستورکار به پیمانکار دیگری واگذار شده است")
    if principal.contractor_id is None and wo.contractor_id is not None:
        raise PermissionDenied("این دستورکار به پیمانکار واگذار شده است و کار خود اوست")


def _assign(
    session: Session,
    wo: WorkOrder,
    wo_type: WorkOrderType,
    *,
    team: str | None,
    contractor_id: int | None,
    clock: Clock,
) -> None:
    team = (team or "").strip() or None
    if (team is None) == (contractor_id is None):
        raise ValidationError("یکی از «گروه داخلی» یا «پیمانکار» را انتخاب کنید", field="assignee")
    if contractor_id is not None:
        contractor = get_contractor(session, contractor_id)
        if contractor is None or not contractor.active:
            raise ValidationError("پیمانکار پیدا نشد", field="contractor_id")
        if not has_contract(
            session, contractor_id=contractor_id, district_id=wo.district_id, work_type=wo_type.code, on=clock.today()
        ):
            raise ValidationError(
                f"«{contractor.name}» برای «{wo_type.name}» در این امور قرارداد معتبر ندارد", field="contractor_id"
            )
    wo.assignee_team = team
    wo.contractor_id = contractor_id


def _parse_result(wo_type: WorkOrderType, raw: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in wo_type.result_fields:
        text = normalize_digits(str(raw.get(f.name, ""))).strip()
        if f.kind == "bool":
            values[f.name] = text.lower() in ("1", "true", "on", "yes", "بله")
            continue
        if not text:
            if f.required:
                errors[f.name] = f"«{f.label}» را وارد کنید"
            continue
        if f.kind == "int":
            if not text.lstrip("-").isdigit():
                errors[f.name] = f"«{f.label}» باید عدد صحیح باشد"
                continue
            values[f.name] = int(text)
        else:
            values[f.name] = text[:500]
    if errors:
        raise ValidationError(next(iter(errors.values())), errors=errors)
    return values


def open_by_subscription(session: Session, *, principal: Principal, subscription_id: int) -> list[WorkOrder]:
    if not principal.can(P.WORKORDERS_VIEW):
        return []
    stmt = (
        select(WorkOrder)
        .where(WorkOrder.subscription_id == subscription_id, scope_clause(principal))
        .order_by(WorkOrder.id.desc())
    )
    return list(session.scalars(stmt))
