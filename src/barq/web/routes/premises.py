"""Premises (محل مصرف) pages: the edit form. A premises is shown on the page of each subscription at it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from barq.auth import permissions as P
from barq.connections.models import Subscription
from barq.connections.service import subscription_scope
from barq.customers.models import Premises
from barq.customers.service import get_premises, update_premises
from barq.errors import ValidationError
from barq.network.service import ZONES, list_districts
from barq.web.deps import Page, PageDep

router = APIRouter(include_in_schema=False)


def _local(target: str) -> str:
    """Only a path on this site may be a return address."""
    return target if target.startswith("/") and not target.startswith("//") else ""


def _next_url(page: Page, premises_id: int, target: str) -> str:
    """Where to go after saving: the page that sent us, else the first subscription at the premises."""
    if _local(target):
        return target
    sub_id = page.db.scalar(
        select(Subscription.id)
        .where(Subscription.premises_id == premises_id, subscription_scope(page.principal))
        .order_by(Subscription.id)
    )
    return f"/subscriptions/{sub_id}?saved=1" if sub_id else "/subscriptions"


def _form(
    page: Page, premises: Premises, values: dict[str, Any], errors: dict[str, str], next_url: str, status: int = 200
) -> HTMLResponse:
    districts = list_districts(page.db)
    if page.principal.district_id is not None:
        districts = [d for d in districts if d.id == page.principal.district_id]
    subs = list(
        page.db.scalars(
            select(Subscription)
            .where(Subscription.premises_id == premises.id, subscription_scope(page.principal))
            .order_by(Subscription.subscription_number)
        )
    )
    return page.render(
        "premises/form.html",
        status_code=status,
        premises=premises,
        values=values,
        errors=errors,
        districts=districts,
        zones=ZONES,
        next_url=_local(next_url),
        subscriptions=subs,
    )


@router.get("/premises/{premises_id}/edit", response_class=HTMLResponse)
def premises_edit(page: PageDep, premises_id: int, next: str = "") -> Response:
    page.principal.require(P.CUSTOMERS_EDIT)
    premises = get_premises(page.db, principal=page.principal, premises_id=premises_id)
    values = {f: getattr(premises, f) for f in ("district_id", "zone", "address", "postal_code", "is_rural")}
    return _form(page, premises, values, {}, next)


@router.post("/premises/{premises_id}/edit", response_class=HTMLResponse)
async def premises_update(page: PageDep, premises_id: int) -> Response:
    data = await page.form()
    page.principal.require(P.CUSTOMERS_EDIT)
    payload = dict(data)
    if page.principal.district_id is not None:
        payload["district_id"] = str(page.principal.district_id)
    try:
        update_premises(page.db, principal=page.principal, clock=page.clock, premises_id=premises_id, data=payload)
    except ValidationError as exc:
        page.db.rollback()
        premises = get_premises(page.db, principal=page.principal, premises_id=premises_id)
        return _form(page, premises, data, exc.errors, data.get("next", ""), status=422)
    target = _next_url(page, premises_id, data.get("next", ""))
    if target.startswith("/subscriptions/") and "saved=" not in target:
        target += ("&" if "?" in target else "?") + "saved=1"
    return RedirectResponse(target, status_code=303)
