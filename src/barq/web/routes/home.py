"""The desk (پیشخوان) and the one search box."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from barq.auth import permissions as P
from barq.connections.models import Subscription
from barq.connections.service import subscription_scope
from barq.reports.search import search
from barq.web.deps import PageDep
from barq.workorders.models import WorkOrder
from barq.workorders.service import scope_clause

router = APIRouter(include_in_schema=False)

_HIT_URLS = {
    "customer": "/customers/{}",
    "subscription": "/subscriptions/{}",
    "meter": "/meters/{}",
    "work_order": "/work-orders/{}",
}


@router.get("/", response_class=HTMLResponse)
def home(page: PageDep) -> Response:
    db, principal = page.db, page.principal
    stats: dict[str, int] = {}
    if principal.can(P.SUBSCRIPTIONS_VIEW):
        rows = db.execute(
            select(Subscription.supply_state, func.count())
            .where(subscription_scope(principal))
            .group_by(Subscription.supply_state)
        )
        stats.update({f"sub_{state}": n for state, n in rows})
    if principal.can(P.WORKORDERS_VIEW):
        open_states = ("created", "assigned", "in_progress")
        scope = scope_clause(principal)
        stats["wo_open"] = (
            db.scalar(select(func.count()).select_from(WorkOrder).where(scope, WorkOrder.state.in_(open_states))) or 0
        )
        stats["wo_overdue"] = (
            db.scalar(
                select(func.count())
                .select_from(WorkOrder)
                .where(scope, WorkOrder.state.in_(open_states), WorkOrder.due_at < page.clock.now())
            )
            or 0
        )
    return page.render("home.html", stats=stats)


@router.get("/search", response_class=HTMLResponse)
def search_page(page: PageDep, q: str = "") -> Response:
    hits = search(page.db, principal=page.principal, query=q)
    if len(hits) == 1:
        hit = hits[0]
        return RedirectResponse(_HIT_URLS[hit.kind].format(hit.id), status_code=303)
    return page.render("search.html", q=q, hits=hits, urls=_HIT_URLS)
