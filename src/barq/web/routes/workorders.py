"""Work-order pages: the list (filter, page, Excel), the create form, and the work-order page with its
history and one small form per verb the principal may use. Every change goes through
``workorders.service.transition`` (or ``create_work_order``); scopes are applied by the service queries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.models import User
from barq.auth.service import Principal
from barq.calendar import fa_digits
from barq.connections.models import Subscription
from barq.connections.service import subscription_scope
from barq.contractors.models import Contractor
from barq.contractors.service import has_contract, list_contractors
from barq.customers.models import Premises
from barq.errors import InvalidTransition, ValidationError
from barq.ids import normalize_digits
from barq.network.service import district_names
from barq.reading.rereads import record_reread
from barq.reports.excel import XLSX_MEDIA_TYPE, to_xlsx
from barq.reports.listing import export_rows, paginate
from barq.web.deps import Page, PageDep
from barq.workorders import service
from barq.workorders.models import WorkOrder
from barq.workorders.types import WorkOrderType, all_types, get_type

router = APIRouter(include_in_schema=False)

OPEN_STATES = frozenset({"created", "assigned", "in_progress"})
ACTION_NAMES = {"create": "صدور", **service.VERB_NAMES}
DESCRIPTION_MAX = 2000


# ------------------------------------------------------------------------------------------ helpers


def _int(text: object) -> int | None:
    value = normalize_digits(str(text or "")).strip()
    return int(value) if value.isdigit() else None


def _type_name(code: str) -> str:
    wo_type = get_type(code)
    return wo_type.name if wo_type else code


def _contractor_names(session: Session) -> dict[int, str]:
    return {c.id: c.name for c in session.scalars(select(Contractor))}


def _subscription_numbers(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Subscription.id, Subscription.subscription_number).where(Subscription.id.in_(wanted)))
    return {sid: number for sid, number in rows}


def _assignee(wo: WorkOrder, contractors: Mapping[int, str]) -> str:
    if wo.contractor_id is not None:
        return contractors.get(wo.contractor_id, "")
    return wo.assignee_team or ""


def _is_overdue(wo: WorkOrder, now: datetime) -> bool:
    return wo.state in OPEN_STATES and wo.due_at < now


def _find_subscription(
    session: Session, principal: Principal, *, sub_id: int | None = None, number: str | None = None
) -> Subscription | None:
    stmt = select(Subscription).where(subscription_scope(principal))
    if sub_id is not None:
        stmt = stmt.where(Subscription.id == sub_id)
    elif number:
        stmt = stmt.where(Subscription.subscription_number == number)
    else:
        return None
    return session.scalar(stmt)


# --------------------------------------------------------------------------------------------- list


@router.get("/work-orders", response_class=HTMLResponse)
def work_order_list(
    page: PageDep,
    state: str = "",
    type_code: str = "",
    district_id: str = "",
    contractor_id: str = "",
    overdue: str = "",
    format: str = "",
    page_no: Annotated[int, Query(alias="p")] = 1,
) -> Response:
    principal, db = page.principal, page.db
    now = page.clock.now()
    flt = service.WorkOrderFilter(
        state=state if state in service.STATE_NAMES else None,
        type_code=type_code if get_type(type_code) else None,
        district_id=_int(district_id) if principal.district_id is None else None,
        contractor_id=_int(contractor_id) if principal.contractor_id is None else None,
        overdue_only=overdue == "1",
    )
    stmt = service.list_query(principal, flt, now=now)
    districts = district_names(db)
    contractors = _contractor_names(db)
    if format == "xlsx":
        orders = export_rows(db, stmt)
        subs = _subscription_numbers(db, (w.subscription_id for w in orders))
        rows = [
            (
                w.number,
                _type_name(w.type_code),
                subs.get(w.subscription_id or 0, ""),
                districts.get(w.district_id, ""),
                _assignee(w, contractors),
                service.STATE_NAMES[w.state],
                w.created_at,
                w.due_at,
                "بله" if _is_overdue(w, now) else "",
            )
            for w in orders
        ]
        data = to_xlsx(
            "دستورکارها",
            ["شماره", "نوع", "شماره اشتراک", "امور", "مجری", "وضعیت", "ایجاد", "مهلت", "دیرکرد"],
            rows,
        )
        return Response(
            data, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": 'attachment; filename="work-orders.xlsx"'}
        )
    listing = paginate(db, stmt, page=page_no, size=page.settings.page_size)
    params = {
        "state": state,
        "type_code": type_code,
        "district_id": district_id,
        "contractor_id": contractor_id,
        "overdue": "1" if overdue == "1" else "",
    }
    contractor_options = (
        []
        if principal.contractor_id is not None
        else [(c.id, c.name) for c in list_contractors(db, district_id=principal.district_id)]
    )
    return page.render(
        "workorders/list.html",
        listing=listing,
        params=params,
        now=now,
        districts=districts,
        contractors=contractors,
        contractor_options=contractor_options,
        types=all_types(),
        type_names={t.code: t.name for t in all_types()},
        states=service.STATE_NAMES,
        open_states=OPEN_STATES,
        subs=_subscription_numbers(db, (w.subscription_id for w in listing.items)),
    )


# ------------------------------------------------------------------------------------------- create


def _type_options() -> list[tuple[str, str]]:
    return [(t.code, f"{t.name} (مهلت {fa_digits(t.target_label)})") for t in all_types()]


def _form(page: Page, values: Mapping[str, Any], errors: Mapping[str, str], status: int = 200) -> HTMLResponse:
    return page.render(
        "workorders/form.html",
        status_code=status,
        values=values,
        errors=errors,
        type_options=_type_options(),
        districts=district_names(page.db),
    )


@router.get("/work-orders/new", response_class=HTMLResponse)
def work_order_new(page: PageDep, subscription_id: str = "", type_code: str = "") -> Response:
    page.principal.require(P.WORKORDERS_CREATE)
    values: dict[str, Any] = {"district_id": page.principal.district_id, "type_code": type_code}
    errors: dict[str, str] = {}
    if subscription_id:
        sub = _find_subscription(page.db, page.principal, sub_id=_int(subscription_id))
        if sub is None:
            errors["subscription_number"] = "اشتراک پیدا نشد"
        else:
            values["subscription_number"] = sub.subscription_number
            values["district_id"] = sub.district_id
    return _form(page, values, errors)


def _parse_create(page: Page, data: Mapping[str, str]) -> tuple[str, int, int | None, str]:
    """The create form's fields as the service wants them; every bad field at once, in Persian."""
    errors: dict[str, str] = {}
    type_code = data.get("type_code", "").strip()
    if get_type(type_code) is None:
        errors["type_code"] = "نوع دستورکار را انتخاب کنید"
    districts = district_names(page.db)
    district_id = page.principal.district_id
    if district_id is None:
        district_id = _int(data.get("district_id"))
        if district_id is not None and district_id not in districts:
            district_id = None
    number = normalize_digits(data.get("subscription_number", "")).replace(" ", "").strip()
    raw_id = data.get("subscription_id", "").strip()
    sub: Subscription | None = None
    if number or raw_id:
        if number:
            sub = _find_subscription(page.db, page.principal, number=number)
        else:
            sub = _find_subscription(page.db, page.principal, sub_id=_int(raw_id))
        if sub is None:
            errors["subscription_number"] = "اشتراکی با این شماره پیدا نشد"
        elif district_id is None:
            district_id = sub.district_id
        elif sub.district_id != district_id:
            errors["subscription_number"] = (
                f"این اشتراک در امور «{districts.get(sub.district_id, '')}» است، نه امور انتخاب‌شده"
            )
    if district_id is None and "district_id" not in errors:
        errors["district_id"] = "امور را انتخاب کنید"
    description = data.get("description", "").strip()
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = f"شرح بیش از {fa_digits(DESCRIPTION_MAX)} نویسه است"
    if errors:
        raise ValidationError(next(iter(errors.values())), errors=errors)
    assert district_id is not None
    return type_code, district_id, sub.id if sub else None, description


@router.post("/work-orders/new", response_class=HTMLResponse)
async def work_order_create(page: PageDep) -> Response:
    page.principal.require(P.WORKORDERS_CREATE)
    data = await page.form()
    try:
        type_code, district_id, sub_id, description = _parse_create(page, data)
        wo = service.create_work_order(
            page.db,
            principal=page.principal,
            clock=page.clock,
            type_code=type_code,
            district_id=district_id,
            subscription_id=sub_id,
            description=description,
        )
    except ValidationError as exc:
        page.db.rollback()
        return _form(page, data, exc.errors, status=422)
    return RedirectResponse(f"/work-orders/{wo.id}?done=create", status_code=303)


# ------------------------------------------------------------------------------------------- detail


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    who: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str


def _history(
    session: Session, wo: WorkOrder, wo_type: WorkOrderType | None, contractors: Mapping[int, str]
) -> list[HistoryRow]:
    entries = audit.history(session, "work_order", wo.id)
    actors = {e.actor for e in entries}
    names: dict[str, str] = {}
    if actors:
        rows_ = session.execute(select(User.username, User.full_name).where(User.username.in_(actors)))
        names = {username: full_name for username, full_name in rows_}
    rows: list[HistoryRow] = []
    for e in entries:
        verb = e.action.split(".", 1)[-1]
        before, after = e.before or {}, e.after or {}
        note = ""
        if verb == "assign":
            cid = after.get("contractor_id")
            note = f"پیمانکار: {contractors.get(cid, '')}" if cid else f"گروه: {after.get('assignee_team') or ''}"
        elif verb in ("fail", "cancel"):
            note = f"علت: {after.get('failure_reason') or ''}"
        elif verb == "complete" and wo_type is not None:
            note = "، ".join(f"{label}: {text}" for label, text in _result_rows(wo_type, after.get("result")))
        rows.append(
            HistoryRow(
                at=e.at,
                who=names.get(e.actor, e.actor),
                action=ACTION_NAMES.get(verb, e.action),
                from_state=before.get("state"),
                to_state=after.get("state"),
                note=note,
            )
        )
    return rows


def _result_rows(wo_type: WorkOrderType, result: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if not result:
        return []
    rows: list[tuple[str, str]] = []
    for f in wo_type.result_fields:
        if f.name not in result:
            continue
        value = result[f.name]
        text = ("بله" if value else "خیر") if f.kind == "bool" else str(value)
        rows.append((f.label, fa_digits(text)))
    return rows


def _eligible_contractors(page: Page, wo: WorkOrder) -> list[tuple[int, str]]:
    """Contractors that hold a valid contract today for this order's district and work type."""
    today = page.clock.today()
    return [
        (c.id, c.name)
        for c in list_contractors(page.db, district_id=wo.district_id)
        if has_contract(page.db, contractor_id=c.id, district_id=wo.district_id, work_type=wo.type_code, on=today)
    ]


def _detail(
    page: Page,
    wo: WorkOrder,
    *,
    status: int = 200,
    flash: str | None = None,
    flash_kind: str = "ok",
    error_verb: str | None = None,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    db = page.db
    wo_type = get_type(wo.type_code)
    contractors = _contractor_names(db)
    verbs = service.verbs_for(page.principal, wo)
    sub = db.get(Subscription, wo.subscription_id) if wo.subscription_id else None
    premises = db.get(Premises, sub.premises_id) if sub else None
    now = page.clock.now()
    return page.render(
        "workorders/detail.html",
        status_code=status,
        wo=wo,
        wo_type=wo_type,
        type_name=_type_name(wo.type_code),
        states=service.STATE_NAMES,
        verb_names=service.VERB_NAMES,
        verbs=verbs,
        district=district_names(db).get(wo.district_id, ""),
        assignee=_assignee(wo, contractors),
        sub=sub,
        premises=premises,
        overdue=_is_overdue(wo, now),
        now=now,
        result_rows=_result_rows(wo_type, wo.result) if wo_type else [],
        history=_history(db, wo, wo_type, contractors),
        eligible=_eligible_contractors(page, wo) if "assign" in verbs else [],
        flash=flash,
        flash_kind=flash_kind,
        error_verb=error_verb,
        errors=errors or {},
        values=values or {},
    )


@router.get("/work-orders/{work_order_id}", response_class=HTMLResponse)
def work_order_page(page: PageDep, work_order_id: int, done: str = "") -> Response:
    wo = service.get_work_order(page.db, principal=page.principal, work_order_id=work_order_id)
    flash = None
    if done in ACTION_NAMES:
        flash = "دستورکار صادر شد" if done == "create" else f"«{ACTION_NAMES[done]}» ثبت شد"
    return _detail(page, wo, flash=flash)


@router.post("/work-orders/{work_order_id}/{verb}", response_class=HTMLResponse)
async def work_order_transition(page: PageDep, work_order_id: int, verb: str) -> Response:
    data = await page.form()
    kind = data.get("assignee_kind", "")
    team = data.get("team") if kind != "contractor" else None
    raw_contractor = (data.get("contractor_id") or "").strip() if kind != "team" else ""
    try:
        contractor_id = _int(raw_contractor)
        if raw_contractor and contractor_id is None:
            raise ValidationError("پیمانکار پیدا نشد", field="contractor_id")
        wo = service.transition(
            page.db,
            principal=page.principal,
            clock=page.clock,
            work_order_id=work_order_id,
            verb=verb,
            team=team,
            contractor_id=contractor_id,
            result=data if verb == "complete" else None,
            reason=data.get("reason"),
        )
        record_reread(page.db, principal=page.principal, clock=page.clock, wo=wo)
    except ValidationError as exc:
        page.db.rollback()
        wo = service.get_work_order(page.db, principal=page.principal, work_order_id=work_order_id)
        return _detail(
            page,
            wo,
            status=422,
            error_verb=verb,
            errors=exc.errors or {"_form": exc.message_fa},
            values=data,
            flash=f"ثبت نشد: {exc.message_fa}",
            flash_kind="err",
        )
    except InvalidTransition as exc:
        page.db.rollback()
        wo = service.get_work_order(page.db, principal=page.principal, work_order_id=work_order_id)
        return _detail(page, wo, status=exc.http_status, flash=exc.message_fa, flash_kind="err")
    return RedirectResponse(f"/work-orders/{work_order_id}?done={verb}", status_code=303)
