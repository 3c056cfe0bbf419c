"""The reader's page, made for a phone's browser (issue 4, «reader page»; service: ``reading.worklist``).

- ``GET /reader``: the signed-in reader's routes, this cycle's first, with their window and progress.
- ``GET /reader/routes/{route_id}``: the route's subscriptions in reading sequence, each with its address,
  meter serial, last read and this cycle's visit; each opens its form.
- ``GET|POST /reader/routes/{route_id}/subscriptions/{subscription_id}``: one subscription's form: the
  register value(s) (peak and off-peak too on a time-of-use meter) or a no-read code, an optional photo
  from the camera, and the position the browser gives (hidden fields). A recorded read redirects to the
  next subscription in sequence (or back to the route after the last) with ``?done=<read id>``, whose
  outcome that page shows; a bad form comes back with each error beside its field (status 422) and
  nothing stored.

Everything works without JavaScript; scripts only fill the position and shrink a camera photo larger than
the photo limit before it is sent. Needs ``READING_ENTER``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from barq.auth import permissions as P
from barq.billing.service import cycle_of
from barq.calendar import fa_number
from barq.errors import ValidationError
from barq.metering.models import READ_CODES
from barq.reading.config import reading_config
from barq.reading.routes import cycle_label
from barq.reading.worklist import (
    PAGE_CODES,
    REGISTER_FIELDS,
    Visit,
    reader_routes,
    record_visit,
    route_stops,
    stop_page,
    visit_in_scope,
)
from barq.web.deps import Page, PageDep, check_csrf

router = APIRouter(include_in_schema=False)

BODY_SLACK: Final = 64_000
"""Room for the form's other fields above the photo limit in one request."""
FORM_FIELDS: Final = (*REGISTER_FIELDS, "lat", "lon")
NO_READ_CODES: Final = tuple(c for c in PAGE_CODES if c != "read")


def _done(page: Page, done: int | None, dup: str) -> Visit | None:
    if done is None:
        return None
    return visit_in_scope(page.db, principal=page.principal, read_id=done, duplicate=dup == "1")


@router.get("/reader", response_class=HTMLResponse)
def reader_home(page: PageDep) -> Response:
    page.principal.require(P.READING_ENTER)
    routes = reader_routes(page.db, principal=page.principal, clock=page.clock)
    today = page.clock.today()
    return page.render(
        "reading/reader/routes.html", routes=routes, today=today, cycle_name=cycle_label(cycle_of(today))
    )


@router.get("/reader/routes/{route_id}", response_class=HTMLResponse)
def reader_route(page: PageDep, route_id: int, done: int | None = None, dup: str = "") -> Response:
    page.principal.require(P.READING_ENTER)
    route, stops = route_stops(page.db, principal=page.principal, clock=page.clock, route_id=route_id)
    first_open = next((s for s in stops if s.visit is None and s.has_meter), None)
    return page.render(
        "reading/reader/route.html",
        route=route,
        stops=stops,
        first_open=first_open,
        outcome=_done(page, done, dup),
        today=page.clock.today(),
    )


def _form_page(
    page: Page,
    route_id: int,
    subscription_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    outcome: Visit | None = None,
    status: int = 200,
) -> HTMLResponse:
    stop = stop_page(
        page.db, principal=page.principal, clock=page.clock, route_id=route_id, subscription_id=subscription_id
    )
    errors = errors or {}
    shown = {"code", "photo", *FORM_FIELDS}
    return page.render(
        "reading/reader/stop.html",
        status_code=status,
        sp=stop,
        route=stop.route,
        stop=stop.stop,
        values=values or {},
        errors=errors,
        other_errors=[m for f, m in errors.items() if f not in shown],
        outcome=outcome,
        codes=READ_CODES,
        no_read_codes=NO_READ_CODES,
        photo_max_bytes=reading_config().photo_max_bytes,
    )


@router.get("/reader/routes/{route_id}/subscriptions/{subscription_id}", response_class=HTMLResponse)
def reader_stop(page: PageDep, route_id: int, subscription_id: int, done: int | None = None, dup: str = "") -> Response:
    page.principal.require(P.READING_ENTER)
    return _form_page(page, route_id, subscription_id, outcome=_done(page, done, dup))


async def _submitted(page: Page) -> tuple[dict[str, str], bytes | None, str | None]:
    """The form's text fields, the photo's bytes (None when none was chosen) and an error when the request
    is larger than a photo at the limit could make it (then nothing of it is read)."""
    limit = reading_config().photo_max_bytes
    length = page.request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > limit + BODY_SLACK:
        return {}, None, f"عکس بزرگ‌تر از حد مجاز است (حداکثر {fa_number(limit // 1000)} کیلوبایت)"
    data = await page.request.form()
    check_csrf(page.principal, data)
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    upload = data.get("photo")
    photo = await upload.read() if isinstance(upload, UploadFile) else None
    return fields, (photo or None), None


@router.post("/reader/routes/{route_id}/subscriptions/{subscription_id}", response_class=HTMLResponse)
async def reader_record(page: PageDep, route_id: int, subscription_id: int) -> Response:
    page.principal.require(P.READING_ENTER)
    fields, photo, too_big = await _submitted(page)
    values: dict[str, Any] = {k: fields.get(k, "") for k in FORM_FIELDS}
    if too_big is not None:
        return _form_page(page, route_id, subscription_id, values=values, errors={"photo": too_big}, status=413)
    try:
        visit = record_visit(
            page.db,
            principal=page.principal,
            clock=page.clock,
            route_id=route_id,
            subscription_id=subscription_id,
            form=fields,
            photo=photo,
        )
    except ValidationError as exc:
        page.db.rollback()  # a refusal after the photo or the batch was written leaves nothing behind
        return _form_page(page, route_id, subscription_id, values=values, errors=exc.errors, status=422)
    sp = stop_page(
        page.db, principal=page.principal, clock=page.clock, route_id=route_id, subscription_id=subscription_id
    )
    query = f"?done={visit.read_id}" + ("&dup=1" if visit.duplicate else "")
    if sp.next_id is not None:
        target = f"/reader/routes/{route_id}/subscriptions/{sp.next_id}{query}"
    else:
        target = f"/reader/routes/{route_id}{query}"
    return RedirectResponse(target, status_code=303)
