"""Reading routes and orders pages: the route list (filters, Excel), a route's page (edit, its subscriptions
in sequence, moving a subscription, membership history), the reading-order download and the printable
route sheet. Seeing needs ``READING_VIEW``; changing needs ``READING_MANAGE``; scopes are the services'."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from barq import audit
from barq.auth import permissions as P
from barq.auth.models import User
from barq.billing.service import cycle_of, previous_cycle
from barq.calendar import fa_digits
from barq.contractors.models import Contractor
from barq.contractors.service import list_contractors
from barq.errors import ValidationError
from barq.ids import normalize_digits
from barq.inputs import Inputs
from barq.metering.estimates import NOT_A_VISIT
from barq.metering.models import READ_CODES
from barq.network.models import District
from barq.network.service import district_names, list_districts
from barq.reading.orders import FORMATS, check_format, order_rows, plan_orders, stream_orders
from barq.reading.routes import (
    CYCLE_DAYS,
    contractor_choices,
    cycle_label,
    cycle_text,
    find_subscription_id,
    list_routes,
    membership_history,
    move_subscription,
    reader_choices,
    route_due,
    route_movements,
    route_row,
    route_subscriptions,
    route_window,
    routes_of_district,
    update_route,
)
from barq.reports.excel import XLSX_MEDIA_TYPE, to_xlsx
from barq.web.deps import Page, PageDep

router = APIRouter(include_in_schema=False)

SUPPLY_NAMES = {"pending": "در انتظار نصب", "active": "برقرار", "disconnected": "قطع", "removed": "جمع‌آوری‌شده"}
FIELD_LABELS = {
    "contractor_id": "پیمانکار",
    "reader_id": "مامور قرائت",
    "cycle_days": "طول دوره",
    "window_start": "روز آغاز قرائت",
    "window_end": "روز پایان قرائت",
    "route_id": "مسیر",
    "route_sequence": "ردیف",
}
SHEET_CODES = [(k, v) for k, v in READ_CODES.items() if k not in (NOT_A_VISIT, "self")]
"""Codes a reader writes on the sheet: not the system's estimate, nor the customer's self-read."""
MEMBERS_PER_PAGE = 100


def _int(raw: str) -> int | None:
    text = normalize_digits(raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


def _cycles(page: Page) -> list[tuple[int, str]]:
    """The next cycle, this one and the five before it, for choosing."""
    current = cycle_of(page.clock.today())
    return [(c, cycle_label(c)) for c in (previous_cycle(current, k) for k in range(-1, 6))]


# ------------------------------------------------------------------------------------------ list


@router.get("/reading/routes", response_class=HTMLResponse)
def route_list(
    page: PageDep,
    district_id: str = "",
    contractor_id: str = "",
    reader_id: str = "",
    cycle_days: str = "",
    p: int = 1,
    format: str = "",
) -> Response:
    page.principal.require(P.READING_VIEW)
    params = {
        "district_id": district_id,
        "contractor_id": contractor_id,
        "reader_id": reader_id,
        "cycle_days": cycle_days,
    }
    filters: dict[str, Any] = {
        "district_id": _int(district_id) if page.principal.district_id is None else None,
        "contractor_id": _int(contractor_id),
        "reader_id": _int(reader_id),
        "cycle_days": _int(cycle_days) if _int(cycle_days) in CYCLE_DAYS else None,
    }
    if format == "xlsx":
        every = list_routes(page.db, principal=page.principal, **filters)
        data = to_xlsx(
            "مسیرهای قرائت",
            ["امور", "کد مسیر", "نام", "دوره (روز)", "از روز", "تا روز", "پیمانکار", "مامور قرائت", "اشتراک‌ها"],
            (
                (
                    r.district_name,
                    r.code,
                    r.name,
                    r.cycle_days,
                    r.window_start,
                    r.window_end,
                    r.contractor_name or "شرکت",
                    r.reader_name or "",
                    r.subscriptions,
                )
                for r in every.rows
            ),
        )
        return Response(
            data, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": 'attachment; filename="routes.xlsx"'}
        )
    listing = list_routes(page.db, principal=page.principal, page=p, size=page.settings.page_size, **filters)
    district_scope = page.principal.district_id or filters["district_id"]
    cycle = cycle_of(page.clock.today())
    return page.render(
        "reading/routes/list.html",
        listing=listing,
        params=params,
        districts=district_names(page.db),
        contractors=_contractors(page, district_scope),
        readers=reader_choices(page.db, district_id=district_scope) if district_scope else [],
        cycle_days=CYCLE_DAYS,
        cycle=cycle,
        cycle_label=cycle_label(cycle),
        cycle_text=cycle_text(cycle),
    )


def _contractors(page: Page, district_id: int | None) -> list[Contractor]:
    if district_id:
        return contractor_choices(page.db, district_id=district_id)
    return list_contractors(page.db)


# ------------------------------------------------------------------------------------------ one route


def _route_page(
    page: Page,
    route_id: int,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    move_values: dict[str, Any] | None = None,
    move_errors: dict[str, str] | None = None,
    p: int = 1,
    sub: int | None = None,
    flash: str | None = None,
) -> HTMLResponse:
    page.principal.require(P.READING_VIEW)
    db = page.db
    route = route_row(db, principal=page.principal, route_id=route_id)
    members, p, pages, total = route_subscriptions(
        db, principal=page.principal, route_id=route_id, page=p, size=MEMBERS_PER_PAGE
    )
    cycle = cycle_of(page.clock.today())
    window = route_window(route, cycle)
    can_manage = page.principal.can(P.READING_MANAGE)
    history = membership_history(db, principal=page.principal, subscription_id=sub) if sub else None
    changes = []
    if page.principal.can(P.AUDIT_VIEW):
        for entry in reversed(audit.history(db, "route", route.id)):
            before, after = entry.before or {}, entry.after or {}
            changes.append(
                (
                    entry,
                    [
                        (FIELD_LABELS.get(k, k), _shown(page, k, before.get(k)), _shown(page, k, after.get(k)))
                        for k in dict.fromkeys([*before, *after])
                        if before.get(k) != after.get(k)
                    ],
                )
            )
    return page.render(
        "reading/routes/detail.html",
        status_code=status,
        route=route,
        members=members,
        p=p,
        pages=pages,
        total=total,
        cycle=cycle,
        cycle_label=cycle_label(cycle),
        cycle_text=cycle_text(cycle),
        cycles=_cycles(page),
        window=window,
        due=route_due(route, cycle),
        cycle_days=CYCLE_DAYS,
        supply=SUPPLY_NAMES,
        can_manage=can_manage,
        contractor_options=[("", "شرکت (بدون پیمانکار)")]
        + [(c.id, c.name) for c in contractor_choices(db, district_id=route.district_id)],
        readers=reader_choices(db, district_id=route.district_id) if can_manage else [],
        targets=routes_of_district(db, principal=page.principal, district_id=route.district_id) if can_manage else [],
        values=values
        or {
            "contractor_id": route.contractor_id or "",
            "reader_id": route.reader_id or "",
            "cycle_days": route.cycle_days,
            "window_start": route.window_start,
            "window_end": route.window_end,
        },
        errors=errors or {},
        move_values=move_values or {"route_id": route.id},
        move_errors=move_errors or {},
        movements=route_movements(db, principal=page.principal, route_id=route.id),
        history=history,
        history_sub=sub,
        changes=changes,
        flash=flash,
        flash_kind="err" if (errors or move_errors) else "ok",
    )


def _shown(page: Page, key: str, value: Any) -> str:
    """An audited value of a route as a person reads it."""
    if value is None or value == "":
        return "—" if key != "contractor_id" else "شرکت (بدون پیمانکار)"
    if key == "contractor_id":
        found = page.db.get(Contractor, value)
        return found.name if found else str(value)
    if key == "reader_id":
        user = page.db.get(User, value)
        return user.full_name if user else str(value)
    if key == "cycle_days":
        return CYCLE_DAYS.get(int(value), str(value))
    return fa_digits(str(value))


@router.get("/reading/routes/{route_id}", response_class=HTMLResponse)
def route_page(page: PageDep, route_id: int, p: int = 1, sub: str = "", saved: str = "", moved: str = "") -> Response:
    flash = "تغییرات مسیر ذخیره شد" if saved else ("اشتراک جابه‌جا شد" if moved else None)
    return _route_page(page, route_id, p=p, sub=_int(sub), flash=flash)


@router.post("/reading/routes/{route_id}", response_class=HTMLResponse)
async def route_update(page: PageDep, route_id: int) -> Response:
    data = await page.form()
    page.principal.require(P.READING_MANAGE)
    try:
        update_route(page.db, principal=page.principal, clock=page.clock, route_id=route_id, data=data)
    except ValidationError as exc:
        page.db.rollback()
        return _route_page(
            page, route_id, status=422, values=data, errors=exc.errors, flash="تغییرات ذخیره نشد: خطاهای فرم را ببینید"
        )
    return RedirectResponse(f"/reading/routes/{route_id}?saved=1", status_code=303)


@router.post("/reading/routes/{route_id}/move", response_class=HTMLResponse)
async def route_move(page: PageDep, route_id: int) -> Response:
    data = await page.form()
    page.principal.require(P.READING_MANAGE)
    form = Inputs(data)
    number = form.text("subscription", "شماره اشتراک", max_len=20)
    target = form.integer("route_id", "مسیر مقصد", min_value=1)
    sequence = form.integer("sequence", "ردیف در مسیر", min_value=1, max_value=999_999)
    try:
        sub_id = find_subscription_id(page.db, principal=page.principal, number=number) if number else None
        form.done()
        assert sub_id is not None and target is not None and sequence is not None
        move_subscription(
            page.db,
            principal=page.principal,
            clock=page.clock,
            subscription_id=sub_id,
            route_id=target,
            sequence=sequence,
        )
    except ValidationError as exc:
        page.db.rollback()
        errors = {**form.errors, **exc.errors}
        return _route_page(
            page,
            route_id,
            status=422,
            move_values=data,
            move_errors=errors,
            flash="جابه‌جایی انجام نشد: " + next(iter(errors.values())),
        )
    return RedirectResponse(f"/reading/routes/{route_id}?moved=1&sub={sub_id}#history", status_code=303)


# ------------------------------------------------------------------------------------------ sheet


@router.get("/reading/routes/{route_id}/sheet", response_class=HTMLResponse)
def route_sheet(page: PageDep, route_id: int, cycle: str = "") -> Response:
    """A printable A4 sheet of a route's reading order for a cycle (this month's when none is given)."""
    page.principal.require(P.READING_VIEW)
    wanted = cycle or cycle_of(page.clock.today())
    plan = plan_orders(page.db, principal=page.principal, clock=page.clock, cycle=wanted, route_id=route_id)
    rows = order_rows(page.db, plan)
    route = route_row(page.db, principal=page.principal, route_id=route_id)
    return page.render(
        "reading/routes/sheet.html",
        plan=plan,
        route=route,
        order=plan.routes[0],
        rows=rows,
        codes=SHEET_CODES,
        company=page.settings.company_name,
        cycle_label=cycle_label(plan.cycle),
        printed=page.clock.now(),
    )


# ------------------------------------------------------------------------------------------ orders


@router.get("/reading/orders", response_class=HTMLResponse)
def orders_page(
    page: PageDep, cycle: str = "", district: str = "", route: str = "", format: str = "csv", action: str = ""
) -> Response:
    """Choose a cycle and a route or district; preview what the file holds, or download it (CSV or JSON)."""
    page.principal.require(P.READING_VIEW)
    values = {
        "cycle": cycle if action else cycle_text(cycle_of(page.clock.today())),
        "district": district,
        "route": route,
    }
    values["format"] = format if format in FORMATS else "csv"
    if page.principal.district_id is not None:
        own = page.db.get(District, page.principal.district_id)
        values["district"] = own.code if own else ""
    errors: dict[str, str] = {}
    plan = None
    if action:
        try:
            if not normalize_digits(cycle).strip():
                raise ValidationError("دوره را وارد کنید، مانند ۱۴۰۵/۰۹", field="cycle")
            fmt = check_format(format)
            plan = plan_orders(
                page.db,
                principal=page.principal,
                clock=page.clock,
                cycle=cycle,
                district=values["district"] or None,
                route=route or None,
            )
        except ValidationError as exc:
            errors = exc.errors
        else:
            if action == "download":
                return StreamingResponse(
                    stream_orders(page.request.app.state.sessionmaker, plan, fmt=fmt),
                    media_type=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{plan.filename(fmt)}"'},
                )
    districts = list_districts(page.db)
    return page.render(
        "reading/routes/orders.html",
        status_code=422 if errors else 200,
        values=values,
        errors=errors,
        plan=plan,
        districts=districts,
        formats=FORMATS,
        flash="درخواست نادرست است: " + next(iter(errors.values())) if errors else None,
        flash_kind="err",
    )
