"""Customer pages: the list (filter, page, Excel), the customer page, and the create/edit form."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from barq.auth import permissions as P
from barq.connections.service import SUPPLY_STATE_NAMES, TARIFF_GROUP_NAMES, subscriptions_of_customer
from barq.customers import service
from barq.customers.models import Customer
from barq.errors import ValidationError
from barq.network.service import district_names
from barq.reports.excel import XLSX_MEDIA_TYPE, to_xlsx
from barq.reports.listing import export_rows, paginate
from barq.web.deps import Page, PageDep

router = APIRouter(include_in_schema=False)


@router.get("/customers", response_class=HTMLResponse)
def customer_list(
    page: PageDep,
    kind: str = "",
    district_id: str = "",
    government: str = "",
    name: str = "",
    p: int = 1,
    format: str = "",
) -> Response:
    page.principal.require(P.CUSTOMERS_VIEW)
    stmt = select(Customer).where(service.customer_scope(page.principal))
    if kind in service.CUSTOMER_KINDS:
        stmt = stmt.where(Customer.kind == kind)
    if district_id.isdigit():
        stmt = stmt.where(Customer.district_id == int(district_id))
    if government in ("1", "0"):
        stmt = stmt.where(Customer.is_government.is_(government == "1"))
    if name.strip():
        like = f"%{name.strip()}%"
        stmt = stmt.where(Customer.last_name.like(like) | Customer.org_name.like(like) | Customer.first_name.like(like))
    stmt = stmt.order_by(Customer.id)
    districts = district_names(page.db)
    if format == "xlsx":
        rows = [
            (
                c.id,
                service.CUSTOMER_KINDS[c.kind],
                c.display_name,
                c.national_code or c.legal_id,
                c.mobile,
                districts.get(c.district_id or 0, ""),
                "بله" if c.is_government else "خیر",
            )
            for c in export_rows(page.db, stmt)
        ]
        data = to_xlsx("مشترکان", ["شناسه", "نوع", "نام", "کد/شناسه ملی", "همراه", "امور", "دولتی"], rows)
        return Response(
            data,
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": 'attachment; filename="customers.xlsx"'},
        )
    params = {"kind": kind, "district_id": district_id, "government": government, "name": name}
    listing = paginate(page.db, stmt, page=p, size=page.settings.page_size)
    return page.render(
        "customers/list.html",
        listing=listing,
        params=params,
        districts=districts,
        kinds=service.CUSTOMER_KINDS,
    )


def _form(
    page: Page,
    customer: Customer | None,
    values: dict[str, object],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    return page.render(
        "customers/form.html",
        status_code=status,
        customer=customer,
        values=values,
        errors=errors,
        districts=district_names(page.db),
        kinds=service.CUSTOMER_KINDS,
        categories=service.ORG_CATEGORIES,
    )


@router.get("/customers/new", response_class=HTMLResponse)
def customer_new(page: PageDep) -> Response:
    page.principal.require(P.CUSTOMERS_EDIT)
    return _form(page, None, {"kind": "person", "district_id": page.principal.district_id}, {})


@router.post("/customers/new", response_class=HTMLResponse)
async def customer_create(page: PageDep) -> Response:
    data = await page.form()
    try:
        customer = service.create_customer(page.db, principal=page.principal, clock=page.clock, data=data)
    except ValidationError as exc:
        return _form(page, None, data, exc.errors, status=422)
    return RedirectResponse(f"/customers/{customer.id}?saved=1", status_code=303)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(page: PageDep, customer_id: int, saved: str = "") -> Response:
    customer = service.get_customer(page.db, principal=page.principal, customer_id=customer_id)
    subs = subscriptions_of_customer(page.db, principal=page.principal, customer_id=customer.id)
    return page.render(
        "customers/detail.html",
        customer=customer,
        subscriptions=subs,
        contacts=service.list_contacts(page.db, customer_id=customer.id),
        districts=district_names(page.db),
        kinds=service.CUSTOMER_KINDS,
        categories=service.ORG_CATEGORIES,
        groups=TARIFF_GROUP_NAMES,
        states=SUPPLY_STATE_NAMES,
        flash="ذخیره شد" if saved else None,
    )


@router.get("/customers/{customer_id}/edit", response_class=HTMLResponse)
def customer_edit(page: PageDep, customer_id: int) -> Response:
    page.principal.require(P.CUSTOMERS_EDIT)
    customer = service.get_customer(page.db, principal=page.principal, customer_id=customer_id)
    values = {
        c: getattr(customer, c)
        for c in (
            "kind",
            "first_name",
            "last_name",
            "father_name",
            "national_code",
            "org_name",
            "legal_id",
            "is_government",
            "org_category",
            "mobile",
            "district_id",
        )
    }
    return _form(page, customer, values, {})


@router.post("/customers/{customer_id}/edit", response_class=HTMLResponse)
async def customer_update(page: PageDep, customer_id: int) -> Response:
    data = await page.form()
    customer = service.get_customer(page.db, principal=page.principal, customer_id=customer_id)
    try:
        service.update_customer(page.db, principal=page.principal, clock=page.clock, customer_id=customer_id, data=data)
    except ValidationError as exc:
        page.db.rollback()
        return _form(page, customer, data, exc.errors, status=422)
    return RedirectResponse(f"/customers/{customer_id}?saved=1", status_code=303)


@router.post("/customers/{customer_id}/contacts", response_class=HTMLResponse)
async def contact_add(page: PageDep, customer_id: int) -> Response:
    data = await page.form()
    try:
        service.add_contact(page.db, principal=page.principal, clock=page.clock, customer_id=customer_id, data=data)
    except ValidationError as exc:
        page.db.rollback()
        customer = service.get_customer(page.db, principal=page.principal, customer_id=customer_id)
        return page.render(
            "customers/detail.html",
            status_code=422,
            customer=customer,
            subscriptions=subscriptions_of_customer(page.db, principal=page.principal, customer_id=customer_id),
            contacts=service.list_contacts(page.db, customer_id=customer_id),
            districts=district_names(page.db),
            kinds=service.CUSTOMER_KINDS,
            categories=service.ORG_CATEGORIES,
            groups=TARIFF_GROUP_NAMES,
            states=SUPPLY_STATE_NAMES,
            contact_errors=exc.errors,
            contact_values=data,
        )
    return RedirectResponse(f"/customers/{customer_id}?saved=1", status_code=303)
