"""``GET /api/v1/reading-orders``: the reading orders of a cycle for one route, a district, or every route the
key's user may see, as the JSON or CSV file of docs/reading-orders.md, streamed as it is read.

The key's user needs ``reading.view`` (or ``reading.enter``: a reader's key gets the reader's own routes).
Bad input is a 422 ``validation_error`` problem naming the field: a cycle that is not a Jalali year and
month, an unknown district or one outside the key's district, a route not found in the key's scope or not
of the district given, a 60-day route in an odd month, a format other than csv and json.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from barq.api.deps import ApiDep
from barq.api.errors import PROBLEM, ProblemRoute
from barq.api.schemas import PROBLEM_SCHEMA
from barq.reading.orders import FORMATS, check_format, plan_orders, stream_orders


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}


router = APIRouter(
    prefix="/api/v1",
    tags=["reading"],
    route_class=ProblemRoute,
    responses={
        401: _problem("No API key, or an invalid or revoked one (`not_authenticated`)"),
        403: _problem("The key's user may not see reading routes (`permission_denied`)"),
        422: _problem("Invalid cycle, district, route or format (`validation_error`), with the field"),
    },
)

_CLEAN = r"^[^\x00]*$"


@router.get(
    "/reading-orders",
    summary="Reading orders of a cycle",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The order file (docs/reading-orders.md), UTF-8",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
def reading_orders(
    api: ApiDep,
    request: Request,
    cycle: Annotated[str, Query(max_length=20, pattern=_CLEAN, description="Jalali year and month: 140509 or 1405/09")],
    route: Annotated[
        str | None,
        Query(max_length=20, pattern=_CLEAN, description="Route code, e.g. R11A (with `district` when codes repeat)"),
    ] = None,
    district: Annotated[str | None, Query(max_length=20, pattern=_CLEAN, description="District code, e.g. 11")] = None,
    format: Annotated[str, Query(max_length=8, description="`json` (default) or `csv`")] = "json",
) -> StreamingResponse:
    """One row per subscription to read (active or disconnected, with a meter, on a route due in the cycle):
    the last read and its date and the accepted range of the next read as register values."""
    fmt = check_format(format)
    plan = plan_orders(api.db, principal=api.principal, clock=api.clock, cycle=cycle, district=district, route=route)
    return StreamingResponse(
        stream_orders(request.app.state.sessionmaker, plan, fmt=fmt),
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{plan.filename(fmt)}"'},
    )
