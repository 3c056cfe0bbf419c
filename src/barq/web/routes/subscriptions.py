"""Subscription pages: the list (filter, page, Excel), the subscription page with its tabs, the open/edit
form (with an inline premises form, one transaction), and installing a meter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.calendar import fa_digits, format_jalali
from barq.connections.models import SUPPLY_STATES, Subscription
from barq.connections.service import (
    SUB_CODES,
    SUPPLY_STATE_NAMES,
    TARIFF_GROUP_NAMES,
    get_subscription,
    open_subscription,
    subscription_scope,
    update_subscription,
)
from barq.customers.models import Customer, Premises
from barq.customers.service import create_premises, get_customer
from barq.errors import NotFound, ValidationError
from barq.ids import normalize_digits
from barq.metering.models import Meter
from barq.metering.service import KIND_NAMES, current_installation, install_meter, installations
from barq.network.models import District, Route
from barq.network.service import ZONES, district_names, list_districts
from barq.reports.excel import XLSX_MEDIA_TYPE, to_xlsx
from barq.reports.listing import EXPORT_LIMIT, paginate
from barq.web.deps import Page, PageDep
from barq.workorders.service import STATE_NAMES as WORK_ORDER_STATES
from barq.workorders.service import open_by_subscription
from barq.workorders.types import get_type

router = APIRouter(include_in_schema=False)

NEW_PREMISES = "new"
PHASES = {"1": "تک‌فاز", "3": "سه‌فاز"}

# tab code -> (title, what to say when nothing is recorded yet)
TABS: dict[str, tuple[str, str]] = {
    "reads": ("قرائت‌ها", "برای این اشتراک هنوز قرائتی ثبت نشده است."),
    "bills": ("صورتحساب‌ها", "برای این اشتراک هنوز صورتحسابی صادر نشده است."),
    "payments": ("پرداخت‌ها", "برای این اشتراک هنوز پرداختی ثبت نشده است."),
    "requests": ("درخواست‌ها", "برای این اشتراک هنوز درخواستی ثبت نشده است."),
    "workorders": ("دستورکارها", "برای این اشتراک هنوز دستورکاری صادر نشده است."),
}
HISTORY_TAB = ("history", "تاریخچه تغییرات")

FIELD_LABELS = {
    "number": "شماره اشتراک",
    "bill_id": "شناسه قبض",
    "customer_id": "مشترک",
    "premises_id": "محل",
    "district_id": "امور",
    "route_id": "مسیر قرائت",
    "route_sequence": "ردیف در مسیر",
    "tariff_group": "گروه تعرفه",
    "tariff_sub_code": "کد تعرفه",
    "phase": "فاز",
    "amperage": "آمپراژ",
    "contract_kw": "قدرت قراردادی (کیلووات)",
    "households": "تعداد خانوار",
    "medical_certificate": "گواهی پزشکی",
    "medical_valid_from": "آغاز اعتبار گواهی",
    "medical_valid_to": "پایان اعتبار گواهی",
    "supply_state": "وضعیت برق",
    "connected_on": "تاریخ برقراری",
    "serial": "سریال کنتور",
    "installed_on": "تاریخ نصب",
    "initial_read": "رقم اولیه",
    "final_read": "رقم پایانی کنتور قبلی",
    "meter_installation_id": "نصب پیشین",
}
ACTION_NAMES = {
    "subscription.open": "گشایش اشتراک",
    "subscription.update": "ویرایش اشتراک",
    "meter.install": "نصب کنتور",
}


# ------------------------------------------------------------------------------------------------ list


def _filters(principal: Principal, params: dict[str, str]) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [subscription_scope(principal)]
    if principal.district_id is None and params["district_id"].isdigit():
        where.append(Subscription.district_id == int(params["district_id"]))
    if params["tariff_group"].isdigit():
        where.append(Subscription.tariff_group == int(params["tariff_group"]))
    if params["supply_state"] in SUPPLY_STATES:
        where.append(Subscription.supply_state == params["supply_state"])
    if params["route_id"].isdigit():
        where.append(Subscription.route_id == int(params["route_id"]))
    if params["medical"] == "1":
        where.append(Subscription.medical_certificate.is_not(None))
    elif params["medical"] == "0":
        where.append(Subscription.medical_certificate.is_(None))
    if params["multi"] == "1":
        where.append(Subscription.households > 1)
    number = normalize_digits(params["q"]).strip()
    if number:
        where.append(
            or_(
                Subscription.subscription_number.startswith(number, autoescape=True),
                Subscription.bill_id.startswith(number, autoescape=True),
                Subscription.file_number.startswith(number, autoescape=True),
            )
        )
    return where


def _route_choices(db: Session, district_ids: list[int]) -> list[tuple[str, list[tuple[int, str]]]]:
    """Routes of the given districts grouped by district, for a select with optgroups (none until a district
    is known: a company has thousands of routes)."""
    if not district_ids:
        return []
    names = district_names(db)
    stmt = select(Route).where(Route.district_id.in_(district_ids)).order_by(Route.district_id, Route.code)
    groups: dict[int, list[tuple[int, str]]] = {}
    for r in db.scalars(stmt):
        groups.setdefault(r.district_id, []).append((r.id, f"{r.code} — {r.name}"))
    return [(names.get(d, ""), items) for d, items in groups.items()]


@router.get("/subscriptions", response_class=HTMLResponse)
def subscription_list(
    page: PageDep,
    district_id: str = "",
    tariff_group: str = "",
    supply_state: str = "",
    route_id: str = "",
    medical: str = "",
    multi: str = "",
    q: str = "",
    p: int = 1,
    format: str = "",
) -> Response:
    page.principal.require(P.SUBSCRIPTIONS_VIEW)
    params = {
        "district_id": district_id,
        "tariff_group": tariff_group,
        "supply_state": supply_state,
        "route_id": route_id,
        "medical": medical,
        "multi": multi,
        "q": q,
    }
    where = _filters(page.principal, params)
    districts = district_names(page.db)
    if format == "xlsx":
        export = (
            select(Subscription, Customer, Route)
            .join(Customer, Customer.id == Subscription.customer_id)
            .outerjoin(Route, Route.id == Subscription.route_id)
            .where(*where)
            .order_by(Subscription.subscription_number)
            .limit(EXPORT_LIMIT)
        )
        rows = [
            (
                s.subscription_number,
                s.bill_id,
                s.file_number,
                c.display_name,
                TARIFF_GROUP_NAMES[s.tariff_group],
                s.tariff_sub_code,
                s.phase,
                s.amperage,
                s.contract_kw,
                s.households,
                "دارد" if s.medical_certificate else "ندارد",
                SUPPLY_STATE_NAMES[s.supply_state],
                districts.get(s.district_id, ""),
                r.code if r else "",
                s.route_sequence,
                s.connected_on,
            )
            for s, c, r in page.db.execute(export)
        ]
        data = to_xlsx(
            "اشتراک‌ها",
            [
                "شماره اشتراک",
                "شناسه قبض",
                "شماره پرونده",
                "مشترک",
                "گروه تعرفه",
                "کد تعرفه",
                "فاز",
                "آمپراژ",
                "قدرت قراردادی (کیلووات)",
                "خانوار",
                "گواهی پزشکی",
                "وضعیت برق",
                "امور",
                "مسیر",
                "ردیف",
                "تاریخ برقراری",
            ],
            rows,
        )
        return Response(
            data,
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": 'attachment; filename="subscriptions.xlsx"'},
        )
    stmt = select(Subscription).where(*where).order_by(Subscription.subscription_number)
    listing = paginate(page.db, stmt, page=p, size=page.settings.page_size)
    ids = {s.customer_id for s in listing.items}
    customers = {c.id: c for c in page.db.scalars(select(Customer).where(Customer.id.in_(ids)))}
    route_districts = (
        [page.principal.district_id]
        if page.principal.district_id is not None
        else [int(district_id)]
        if district_id.isdigit()
        else []
    )
    return page.render(
        "subscriptions/list.html",
        listing=listing,
        params=params,
        districts=districts,
        customers=customers,
        groups=TARIFF_GROUP_NAMES,
        states=SUPPLY_STATE_NAMES,
        routes=_route_choices(page.db, route_districts),
    )


# ---------------------------------------------------------------------------------------------- detail


@dataclass
class Change:
    """One field of an audit entry: ``before`` and ``after`` are None where the entry does not name the field."""

    label: str
    before: str | None
    after: str | None


_HIDDEN = {"meter_installation_id"}


def _show(key: str, value: Any, names: dict[str, dict[Any, str]]) -> str:
    """An audited value as a person reads it: names for codes, Jalali dates, Persian digits."""
    if value is None or value == "":
        return "—"
    if key in names:
        return names[key].get(value, fa_digits(str(value)))
    if key == "serial":
        return str(value)
    if isinstance(value, str) and key.endswith(("_on", "_from", "_to")):
        try:
            return format_jalali(date.fromisoformat(value))
        except ValueError:
            return value
    return fa_digits(str(value).replace(".", "٫") if key == "contract_kw" else str(value))


def _history(db: Session, sub_id: int) -> list[tuple[audit.AuditEntry, list[Change]]]:
    entries = list(reversed(audit.history(db, "subscription", sub_id)))
    route_ids = {v for e in entries for v in ((e.before or {}).get("route_id"), (e.after or {}).get("route_id")) if v}
    names: dict[str, dict[Any, str]] = {
        "tariff_group": dict(TARIFF_GROUP_NAMES),
        "supply_state": dict(SUPPLY_STATE_NAMES),
        "district_id": dict(district_names(db)),
        "phase": {1: "تک‌فاز", 3: "سه‌فاز"},
        "route_id": {r.id: r.code for r in db.scalars(select(Route).where(Route.id.in_(route_ids)))},
    }
    out = []
    for entry in entries:
        before, after = entry.before or {}, entry.after or {}
        changes = []
        for key in dict.fromkeys([*before, *after]):
            if key in _HIDDEN or (key in before and key in after and before[key] == after[key]):
                continue
            if not before and after.get(key) in (None, ""):
                continue  # an opening names only the fields it fills
            changes.append(
                Change(
                    FIELD_LABELS.get(key, key),
                    _show(key, before[key], names) if key in before else None,
                    _show(key, after[key], names) if key in after else None,
                )
            )
        out.append((entry, changes))
    return out


# ------------------------------------------------------------------------------------------------ form


def _premises_choices(
    db: Session, principal: Principal, customer_id: int | None, current: int | None
) -> list[Premises]:
    """Premises this customer already has a subscription at (in scope), and the subscription's own."""
    found: dict[int, Premises] = {}
    if customer_id is not None:
        stmt = (
            select(Premises)
            .join(Subscription, Subscription.premises_id == Premises.id)
            .where(Subscription.customer_id == customer_id, subscription_scope(principal))
            .order_by(Premises.id)
        )
        found = {p.id: p for p in db.scalars(stmt)}
    if current is not None and current not in found:
        premises = db.get(Premises, current)
        if premises is not None:
            found[premises.id] = premises
    return list(found.values())


def _route_district(db: Session, principal: Principal, values: dict[str, Any]) -> list[int]:
    """The district whose routes the route select offers: the chosen premises', else the new premises'."""
    if principal.district_id is not None:
        return [principal.district_id]
    premises_id = str(values.get("premises_id") or "")
    if premises_id.isdigit():
        premises = db.get(Premises, int(premises_id))
        if premises is not None:
            return [premises.district_id]
    district_id = str(values.get("district_id") or "")
    return [int(district_id)] if district_id.isdigit() else []


def _route_options_html(groups: list[tuple[str, list[tuple[int, str]]]], value: Any) -> Markup:
    parts = [Markup('<option value="">—</option>')]
    for label, items in groups:
        opts = Markup("").join(
            Markup('<option value="{}"{}>{}</option>').format(
                rid, Markup(" selected") if str(rid) == str(value or "") else "", text
            )
            for rid, text in items
        )
        parts.append(Markup('<optgroup label="{}">{}</optgroup>').format(label, opts))
    return Markup("").join(parts)


def _form(
    page: Page,
    *,
    sub: Subscription | None,
    customer: Customer | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    db, principal = page.db, page.principal
    customer_id = customer.id if customer else None
    premises = _premises_choices(db, principal, customer_id, sub.premises_id if sub else None)
    districts = list_districts(db)
    if principal.district_id is not None:
        districts = [d for d in districts if d.id == principal.district_id]
    route_groups = _route_choices(db, _route_district(db, principal, values))
    return page.render(
        "subscriptions/form.html",
        status_code=status,
        sub=sub,
        customer=customer,
        values=values,
        errors=errors,
        premises_choices=premises,
        districts=districts,
        zones=ZONES,
        groups=TARIFF_GROUP_NAMES,
        sub_codes=SUB_CODES,
        states=SUPPLY_STATE_NAMES,
        phases=PHASES,
        new_premises=NEW_PREMISES,
        route_options=_route_options_html(route_groups, values.get("route_id")),
    )


def _date_input(day: date | None) -> str:
    """A date as the value of a date input: Jalali with Latin digits, which the date picker can read."""
    return normalize_digits(format_jalali(day))


def _customer_or_none(page: Page, customer_id: str) -> Customer | None:
    raw = normalize_digits(customer_id).strip()
    if not raw.isdigit():
        return None
    try:
        return get_customer(page.db, principal=page.principal, customer_id=int(raw))
    except NotFound:
        return None


def _save(page: Page, data: dict[str, str], subscription_id: int | None) -> Subscription:
    """Create the inline premises (if asked) and then open or update the subscription: every field's error
    from both parts is collected; the caller rolls the request's transaction back on ValidationError."""
    db, principal = page.db, page.principal
    payload = dict(data)
    errors: dict[str, str] = {}
    if payload.get("premises_id") == NEW_PREMISES:
        if principal.district_id is not None:
            payload["district_id"] = str(principal.district_id)
        try:
            premises = create_premises(db, principal=principal, clock=page.clock, data=payload)
            payload["premises_id"] = str(premises.id)
        except ValidationError as exc:
            errors.update(exc.errors)
            payload.pop("premises_id")
    try:
        if subscription_id is None:
            sub = open_subscription(
                db, principal=principal, clock=page.clock, data=payload, company_code=page.settings.company_code
            )
        else:
            sub = update_subscription(
                db, principal=principal, clock=page.clock, subscription_id=subscription_id, data=payload
            )
    except ValidationError as exc:
        sub_errors = dict(exc.errors)
        if errors:  # the premises was refused, so the subscription had no premises to name
            sub_errors.pop("premises_id", None)
        errors.update({k: v for k, v in sub_errors.items() if k not in errors})
    if errors:
        raise ValidationError(next(iter(errors.values())), errors=errors)
    return sub


@router.get("/subscriptions/route-options", response_class=HTMLResponse)
def route_options(page: PageDep, premises_id: str = "", district_id: str = "", route_id: str = "") -> Response:
    """The options of the route select for the chosen premises or district (htmx swaps them in)."""
    page.principal.require(P.SUBSCRIPTIONS_VIEW)
    values = {"premises_id": premises_id, "district_id": district_id}
    groups = _route_choices(page.db, _route_district(page.db, page.principal, values))
    return HTMLResponse(str(_route_options_html(groups, route_id)))


@router.get("/subscriptions/new", response_class=HTMLResponse)
def subscription_new(page: PageDep, customer_id: str = "") -> Response:
    page.principal.require(P.SUBSCRIPTIONS_EDIT)
    customer = _customer_or_none(page, customer_id)
    if customer_id and customer is None:
        raise NotFound("مشترک پیدا نشد")
    district_id = page.principal.district_id or (customer.district_id if customer else None)
    district = page.db.get(District, district_id) if district_id else None
    choices = _premises_choices(page.db, page.principal, customer.id if customer else None, None)
    values: dict[str, Any] = {
        "customer_id": customer.id if customer else "",
        "premises_id": choices[0].id if choices else NEW_PREMISES,
        "district_id": district_id,
        "zone": district.default_zone if district else "normal",
        "tariff_group": 1,
        "tariff_sub_code": "1",
        "phase": "1",
        "households": 1,
        "supply_state": "active",
        "connected_on": _date_input(page.clock.today()),
    }
    return _form(page, sub=None, customer=customer, values=values, errors={})


@router.post("/subscriptions/new", response_class=HTMLResponse)
async def subscription_create(page: PageDep) -> Response:
    data = await page.form()
    page.principal.require(P.SUBSCRIPTIONS_EDIT)
    try:
        sub = _save(page, data, None)
    except ValidationError as exc:
        page.db.rollback()
        customer = _customer_or_none(page, data.get("customer_id", ""))
        return _form(page, sub=None, customer=customer, values=data, errors=exc.errors, status=422)
    return RedirectResponse(f"/subscriptions/{sub.id}?saved=1", status_code=303)


@router.get("/subscriptions/{subscription_id}", response_class=HTMLResponse)
def subscription_page(page: PageDep, subscription_id: int, tab: str = "reads", saved: str = "") -> Response:
    db = page.db
    sub = get_subscription(db, principal=page.principal, subscription_id=subscription_id)
    tabs = [(code, title) for code, (title, _) in TABS.items()]
    if page.principal.can(P.AUDIT_VIEW):
        tabs.append(HISTORY_TAB)
    if tab not in dict(tabs):
        tab = "reads"
    current = current_installation(db, subscription_id=sub.id)
    history = installations(db, subscription_id=sub.id)
    context: dict[str, Any] = {}
    if tab == "workorders":
        orders = open_by_subscription(db, principal=page.principal, subscription_id=sub.id)
        types = {wo.type_code: get_type(wo.type_code) for wo in orders}
        context.update(
            work_orders=orders,
            wo_types={k: (t.name if t else k) for k, t in types.items()},
            wo_states=WORK_ORDER_STATES,
        )
    elif tab == "history":
        context["changes"] = _history(db, sub.id)
    flash = {"1": "ذخیره شد", "meter": "کنتور نصب شد"}.get(saved)
    district = db.get(District, sub.district_id)
    return page.render(
        "subscriptions/detail.html",
        sub=sub,
        customer=db.get(Customer, sub.customer_id),
        premises=db.get(Premises, sub.premises_id),
        district=district,
        route=db.get(Route, sub.route_id) if sub.route_id else None,
        meter=db.get(Meter, current.meter_id) if current else None,
        installation=current,
        installations=history,
        tabs=tabs,
        tab=tab,
        empty=TABS.get(tab, ("", ""))[1],
        groups=TARIFF_GROUP_NAMES,
        states=SUPPLY_STATE_NAMES,
        zones=ZONES,
        kinds=KIND_NAMES,
        phases=PHASES,
        medical_valid=sub.medical_valid_on(page.clock.today()),
        flash=flash,
        contract_kw=_plain(sub.contract_kw).replace(".", "٫"),
        actions=ACTION_NAMES,
        **context,
    )


def _edit_values(sub: Subscription) -> dict[str, Any]:
    values: dict[str, Any] = {
        f: getattr(sub, f)
        for f in (
            "customer_id",
            "premises_id",
            "route_id",
            "route_sequence",
            "tariff_group",
            "tariff_sub_code",
            "phase",
            "amperage",
            "households",
            "medical_certificate",
            "supply_state",
            "district_id",
        )
    }
    values["contract_kw"] = _plain(sub.contract_kw)
    for f in ("medical_valid_from", "medical_valid_to", "connected_on"):
        values[f] = _date_input(getattr(sub, f))
    return values


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@router.get("/subscriptions/{subscription_id}/edit", response_class=HTMLResponse)
def subscription_edit(page: PageDep, subscription_id: int) -> Response:
    page.principal.require(P.SUBSCRIPTIONS_EDIT)
    sub = get_subscription(page.db, principal=page.principal, subscription_id=subscription_id)
    customer = page.db.get(Customer, sub.customer_id)
    return _form(page, sub=sub, customer=customer, values=_edit_values(sub), errors={})


@router.post("/subscriptions/{subscription_id}/edit", response_class=HTMLResponse)
async def subscription_update(page: PageDep, subscription_id: int) -> Response:
    data = await page.form()
    page.principal.require(P.SUBSCRIPTIONS_EDIT)
    sub = get_subscription(page.db, principal=page.principal, subscription_id=subscription_id)
    data["customer_id"] = str(sub.customer_id)  # a change of owner is a request of its own, not an edit
    try:
        _save(page, data, subscription_id)
    except ValidationError as exc:
        page.db.rollback()
        sub = get_subscription(page.db, principal=page.principal, subscription_id=subscription_id)
        return _form(
            page, sub=sub, customer=page.db.get(Customer, sub.customer_id), values=data, errors=exc.errors, status=422
        )
    return RedirectResponse(f"/subscriptions/{subscription_id}?saved=1", status_code=303)


# ------------------------------------------------------------------------------------------ install meter


def _stock(db: Session, phase: int) -> list[Meter]:
    stmt = select(Meter).where(Meter.state == "in_stock").order_by(Meter.phase != phase, Meter.serial)
    return list(db.scalars(stmt.limit(300)))


def _install_form(
    page: Page, sub: Subscription, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> HTMLResponse:
    current = current_installation(page.db, subscription_id=sub.id)
    return page.render(
        "subscriptions/install_meter.html",
        status_code=status,
        sub=sub,
        values=values,
        errors=errors,
        installation=current,
        meter=page.db.get(Meter, current.meter_id) if current else None,
        stock=_stock(page.db, sub.phase),
        kinds=KIND_NAMES,
    )


@router.get("/subscriptions/{subscription_id}/install-meter", response_class=HTMLResponse)
def install_meter_form(page: PageDep, subscription_id: int) -> Response:
    page.principal.require(P.METERS_EDIT)
    sub = get_subscription(page.db, principal=page.principal, subscription_id=subscription_id)
    return _install_form(page, sub, {"installed_on": _date_input(page.clock.today())}, {})


@router.post("/subscriptions/{subscription_id}/install-meter", response_class=HTMLResponse)
async def install_meter_save(page: PageDep, subscription_id: int) -> Response:
    data = await page.form()
    try:
        install_meter(page.db, principal=page.principal, clock=page.clock, subscription_id=subscription_id, data=data)
    except ValidationError as exc:
        page.db.rollback()
        sub = get_subscription(page.db, principal=page.principal, subscription_id=subscription_id)
        return _install_form(page, sub, data, exc.errors, status=422)
    return RedirectResponse(f"/subscriptions/{subscription_id}?saved=meter", status_code=303)
