"""Meter pages: the stock list (filter, page, Excel), the meter page with its installation history, and
the register/edit form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.calendar import fa_digits
from barq.connections.models import Subscription
from barq.errors import ValidationError
from barq.metering.models import METER_KINDS, METER_STATES, Meter, MeterInstallation
from barq.metering.service import (
    ACCURACY_CLASSES,
    KIND_NAMES,
    STATE_NAMES,
    create_meter,
    get_meter,
    update_meter,
)
from barq.reports.excel import XLSX_MEDIA_TYPE, to_xlsx
from barq.reports.listing import EXPORT_LIMIT, paginate
from barq.web.deps import Page, PageDep

router = APIRouter(include_in_schema=False)
PHASES = {"1": "تک‌فاز", "3": "سه‌فاز"}
FIELD_LABELS = {
    "serial": "سریال",
    "kind": "نوع",
    "registers": "ثبات‌ها",
    "digits": "تعداد ارقام",
    "multiplier": "ضریب",
    "phase": "فاز",
    "accuracy_class": "کلاس دقت",
    "manufacturer": "سازنده",
    "manufacture_year": "سال ساخت",
    "state": "وضعیت",
}
REGISTER_NAMES = {
    "active": "اکتیو",
    "peak": "اوج‌بار",
    "mid": "میان‌بار",
    "offpeak": "کم‌بار",
    "friday_peak": "اوج جمعه",
    "reactive": "راکتیو",
    "maximeter": "دیماند (ماکسیمتر)",
}
ACTION_NAMES = {"meter.create": "ثبت کنتور", "meter.update": "ویرایش کنتور"}


def _year(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() else None


def _filters(params: dict[str, str]) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if params["kind"] in METER_KINDS:
        where.append(Meter.kind == params["kind"])
    if params["state"] in METER_STATES:
        where.append(Meter.state == params["state"])
    if params["accuracy_class"] in ACCURACY_CLASSES:
        where.append(Meter.accuracy_class == params["accuracy_class"])
    if params["phase"] in PHASES:
        where.append(Meter.phase == int(params["phase"]))
    year_from, year_to = _year(params["year_from"]), _year(params["year_to"])
    if year_from is not None:
        where.append(Meter.manufacture_year >= year_from)
    if year_to is not None:
        where.append(Meter.manufacture_year <= year_to)
    serial = params["serial"].strip().upper().replace(" ", "")
    if serial:
        where.append(Meter.serial.contains(serial, autoescape=True))
    return where


def _installed_at(db: Session, principal: Principal, meter_ids: list[int]) -> dict[int, Subscription | None]:
    """Where each meter stands now: its subscription, or None when that subscription is outside the scope."""
    if not meter_ids:
        return {}
    stmt = (
        select(MeterInstallation.meter_id, Subscription)
        .join(Subscription, Subscription.id == MeterInstallation.subscription_id)
        .where(MeterInstallation.meter_id.in_(meter_ids), MeterInstallation.removed_on.is_(None))
    )
    return {mid: _in_scope(principal, sub) for mid, sub in db.execute(stmt)}


def _in_scope(principal: Principal, sub: Subscription) -> Subscription | None:
    return sub if principal.district_id is None or sub.district_id == principal.district_id else None


@router.get("/meters", response_class=HTMLResponse)
def meter_list(
    page: PageDep,
    kind: str = "",
    state: str = "",
    accuracy_class: str = "",
    phase: str = "",
    year_from: str = "",
    year_to: str = "",
    serial: str = "",
    p: int = 1,
    format: str = "",
) -> Response:
    page.principal.require(P.METERS_VIEW)
    params = {
        "kind": kind,
        "state": state,
        "accuracy_class": accuracy_class,
        "phase": phase,
        "year_from": year_from,
        "year_to": year_to,
        "serial": serial,
    }
    stmt = select(Meter).where(*_filters(params)).order_by(Meter.serial)
    if format == "xlsx":
        meters = list(page.db.scalars(stmt.limit(EXPORT_LIMIT)))
        where = _installed_at(page.db, page.principal, [m.id for m in meters])
        rows = [
            (
                m.serial,
                KIND_NAMES[m.kind],
                m.phase,
                m.digits,
                m.multiplier,
                m.accuracy_class,
                m.manufacturer,
                m.manufacture_year,
                STATE_NAMES[m.state],
                _sub_label(m.id, where),
            )
            for m in meters
        ]
        data = to_xlsx(
            "کنتورها",
            ["سریال", "نوع", "فاز", "ارقام", "ضریب", "کلاس دقت", "سازنده", "سال ساخت", "وضعیت", "اشتراک"],
            rows,
        )
        return Response(
            data, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": 'attachment; filename="meters.xlsx"'}
        )
    listing = paginate(page.db, stmt, page=p, size=page.settings.page_size)
    return page.render(
        "meters/list.html",
        listing=listing,
        params=params,
        kinds=KIND_NAMES,
        states=STATE_NAMES,
        classes=ACCURACY_CLASSES,
        phases=PHASES,
        installed=_installed_at(page.db, page.principal, [m.id for m in listing.items]),
    )


def _sub_label(meter_id: int, where: dict[int, Subscription | None]) -> str:
    if meter_id not in where:
        return ""
    sub = where[meter_id]
    return sub.subscription_number if sub is not None else "امور دیگر"


def _form(
    page: Page, meter: Meter | None, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> HTMLResponse:
    return page.render(
        "meters/form.html",
        status_code=status,
        meter=meter,
        values=values,
        errors=errors,
        kinds=KIND_NAMES,
        classes=ACCURACY_CLASSES,
        phases=PHASES,
        this_year=page.clock.today().year,
    )


@router.get("/meters/new", response_class=HTMLResponse)
def meter_new(page: PageDep) -> Response:
    page.principal.require(P.METERS_EDIT)
    values = {
        "kind": "single",
        "phase": "1",
        "digits": 6,
        "multiplier": 1,
        "accuracy_class": "2",
        "manufacture_year": page.clock.today().year,
    }
    return _form(page, None, values, {})


@router.post("/meters/new", response_class=HTMLResponse)
async def meter_create(page: PageDep) -> Response:
    data = await page.form()
    try:
        meter = create_meter(page.db, principal=page.principal, clock=page.clock, data=data)
    except ValidationError as exc:
        page.db.rollback()
        return _form(page, None, data, exc.errors, status=422)
    return RedirectResponse(f"/meters/{meter.id}?saved=1", status_code=303)


def _show(key: str, value: Any) -> str:
    """An audited value as a person reads it."""
    if value is None or value == "":
        return "—"
    names: dict[str, dict[Any, str]] = {"kind": KIND_NAMES, "state": STATE_NAMES, "phase": {1: "تک‌فاز", 3: "سه‌فاز"}}
    if key in names:
        return names[key].get(value, str(value))
    if key == "registers":
        return "، ".join(REGISTER_NAMES.get(r, r) for r in str(value).split(","))
    if key in ("serial", "accuracy_class"):
        return str(value)
    return fa_digits(str(value))


@router.get("/meters/{meter_id}", response_class=HTMLResponse)
def meter_page(page: PageDep, meter_id: int, saved: str = "") -> Response:
    db = page.db
    meter = get_meter(db, principal=page.principal, meter_id=meter_id)
    stmt = (
        select(MeterInstallation, Subscription)
        .join(Subscription, Subscription.id == MeterInstallation.subscription_id)
        .where(MeterInstallation.meter_id == meter.id)
        .order_by(MeterInstallation.installed_on.desc(), MeterInstallation.id.desc())
    )
    history = [(inst, _in_scope(page.principal, sub)) for inst, sub in db.execute(stmt)]
    changes = []
    if page.principal.can(P.AUDIT_VIEW):
        for entry in reversed(audit.history(db, "meter", meter.id)):
            before, after = entry.before or {}, entry.after or {}
            diff = [
                (FIELD_LABELS.get(k, k), _show(k, before.get(k)), _show(k, after.get(k)))
                for k in dict.fromkeys([*before, *after])
                if before.get(k) != after.get(k)
            ]
            changes.append((entry, diff))
    return page.render(
        "meters/detail.html",
        meter=meter,
        installations=history,
        kinds=KIND_NAMES,
        states=STATE_NAMES,
        phases=PHASES,
        changes=changes,
        actions=ACTION_NAMES,
        registers=REGISTER_NAMES,
        flash="ذخیره شد" if saved else None,
        can_see_subs=page.principal.can(P.SUBSCRIPTIONS_VIEW),
    )


@router.get("/meters/{meter_id}/edit", response_class=HTMLResponse)
def meter_edit(page: PageDep, meter_id: int) -> Response:
    page.principal.require(P.METERS_EDIT)
    meter = get_meter(page.db, principal=page.principal, meter_id=meter_id)
    fields = ("serial", "kind", "digits", "multiplier", "phase", "accuracy_class", "manufacturer", "manufacture_year")
    values = {f: getattr(meter, f) for f in fields}
    return _form(page, meter, values, {})


@router.post("/meters/{meter_id}/edit", response_class=HTMLResponse)
async def meter_update(page: PageDep, meter_id: int) -> Response:
    data = await page.form()
    try:
        update_meter(page.db, principal=page.principal, clock=page.clock, meter_id=meter_id, data=data)
    except ValidationError as exc:
        page.db.rollback()
        meter = get_meter(page.db, principal=page.principal, meter_id=meter_id)
        return _form(page, meter, data, exc.errors, status=422)
    return RedirectResponse(f"/meters/{meter_id}?saved=1", status_code=303)
