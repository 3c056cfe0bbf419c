"""Bill pages: the bill page, the PDF bill, the e-bill text, the print-company file of a route and cycle, and
the bills list of a subscription (a fragment for the subscription page's bills tab)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from barq.auth import permissions as P
from barq.billing.documents import (
    BILL_STATE_NAMES,
    UNIT_NAMES,
    barcode_svg_inline,
    bill_pdf,
    bill_state,
    bill_view,
    cycle_label,
    ebill_text,
    fa_amount,
    get_bill,
    get_print_route,
    print_file,
    print_file_name,
)
from barq.billing.models import Bill, BillRun
from barq.billing.service import cycle_window
from barq.connections.service import get_subscription
from barq.errors import ValidationError
from barq.ids import normalize_digits
from barq.web.deps import PageDep

router = APIRouter(include_in_schema=False)


# Fixed paths first: /bills/{bill_id} would otherwise take "print-file" as a bill id.
@router.get("/bills/print-file")
def bill_print_file(page: PageDep, cycle: str = "", route_id: str = "") -> Response:
    """The CSV the printing company receives for one route and cycle (docs/print-file.md)."""
    page.principal.require(P.BILLS_VIEW)
    cycle_digits, route_digits = normalize_digits(cycle).strip(), normalize_digits(route_id).strip()
    if not cycle_digits.isdigit():
        raise ValidationError("دوره باید به شکل سال و ماه شمسی باشد، مانند ۱۴۰۵۰۸", field="cycle")
    if not route_digits.isdigit():
        raise ValidationError("مسیر قرائت را انتخاب کنید", field="route_id")
    cycle_window(int(cycle_digits))
    route, district = get_print_route(page.db, principal=page.principal, route_id=int(route_digits))
    data = print_file(page.db, cycle=int(cycle_digits), route_id=route.id)
    name = print_file_name(cycle=int(cycle_digits), route_code=route.code, district_code=district.code)
    return Response(
        data.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _attachment(name)},
    )


def _attachment(name: str) -> str:
    """An attachment header that survives a Persian route code: an ASCII name and the UTF-8 one (RFC 6266)."""
    ascii_name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@router.get("/bills/{bill_id}.pdf")
def bill_pdf_download(page: PageDep, bill_id: int) -> Response:
    bill = get_bill(page.db, principal=page.principal, bill_id=bill_id)
    view = bill_view(page.db, bill.id)
    return Response(
        bill_pdf(view),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="bill-{view.bill_number}.pdf"'},
    )


@router.get("/bills/{bill_id}.txt")
def bill_ebill_text(page: PageDep, bill_id: int) -> Response:
    """The e-bill (قبض سبز) SMS text of the bill, as plain text."""
    bill = get_bill(page.db, principal=page.principal, bill_id=bill_id)
    return Response(ebill_text(bill_view(page.db, bill.id)), media_type="text/plain; charset=utf-8")


@router.get("/bills/{bill_id}", response_class=HTMLResponse)
def bill_page(page: PageDep, bill_id: int) -> Response:
    bill = get_bill(page.db, principal=page.principal, bill_id=bill_id)
    view = bill_view(page.db, bill.id)
    sms = ebill_text(view)
    return page.render(
        "bills/detail.html",
        v=view,
        barcode_svg=Markup(barcode_svg_inline(view.barcode)) if view.barcode else None,
        chart=view.chart_data(),
        ebill=sms,
        ebill_length=len(sms),
        states=BILL_STATE_NAMES,
        units=UNIT_NAMES,
        amount=fa_amount,
        can_see_subscription=page.principal.can(P.SUBSCRIPTIONS_VIEW),
    )


@router.get("/subscriptions/{subscription_id}/bills", response_class=HTMLResponse)
def subscription_bills(page: PageDep, subscription_id: int) -> Response:
    """The subscription's bills, newest first: a fragment for the subscription page's bills tab."""
    page.principal.require(P.BILLS_VIEW)
    sub = get_subscription(page.db, principal=page.principal, subscription_id=subscription_id)
    rows = page.db.execute(
        select(Bill, BillRun)
        .join(BillRun, BillRun.id == Bill.run_id)
        .where(Bill.subscription_id == sub.id)
        .order_by(Bill.cycle.desc())
    ).all()
    bills = [b for b, _ in rows]
    return page.render(
        "bills/subscription_bills.html",
        bills=bills,
        state_of={b.id: bill_state(b, r) for b, r in rows},
        due_of={b.id: r.due_on if r.state == "issued" else None for b, r in rows},
        labels={b.cycle: cycle_label(b.cycle) for b in bills},
        states=BILL_STATE_NAMES,
    )
