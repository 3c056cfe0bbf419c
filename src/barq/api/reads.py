"""``POST /api/v1/reads``: reads from handhelds or another system, through the same pipeline as a file.

The body is ``{"reads": [...]}`` with up to 10,000 objects having the columns of a handheld file
(docs/reading-files.md) and, optionally, ``photo_base64`` (a JPEG, PNG or WebP image). Good rows are
stored, bad rows come back in ``errors`` with their position (``line``, from 1) and reason; the same read
sent twice is reported as ``duplicate`` and changes nothing. The key's user must have ``reading.enter``,
and a reader's key records only the reader's own routes.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from barq.api.deps import ApiDep
from barq.api.errors import ProblemRoute
from barq.auth import permissions as P
from barq.errors import ValidationError
from barq.reading.incoming import MISSING, RowError, parse_records
from barq.reading.photos import store_photo
from barq.reading.pipeline import REASON_TITLES_FA, import_reads

router = APIRouter(prefix="/api/v1", tags=["reading"], route_class=ProblemRoute)
MAX_READS = 10_000


class ReadsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reads: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_READS)


class RowErrorOut(BaseModel):
    line: int
    subscription: str
    field: str
    message_fa: str


class RowResultOut(BaseModel):
    line: int
    subscription: str
    status: str = Field(description="valid | exception | duplicate")
    reason: str = Field(description="ok, or why the read waits in the exception queue")
    reason_fa: str
    kwh: int | None = Field(description="kWh billed for the period (valid reads and estimates)")
    estimated: bool


class ReadsOut(BaseModel):
    batch_id: int
    stored: int
    duplicate: int
    refused: int
    exception: int
    estimated: int
    errors: list[RowErrorOut]
    results: list[RowResultOut]


@router.post("/reads", response_model=ReadsOut, summary="Record meter reads")
def post_reads(body: ReadsIn, api: ApiDep) -> ReadsOut:
    api.principal.require(P.READING_ENTER)
    photo_errors: list[RowError] = []
    kept: list[tuple[int, dict[str, Any], int]] = []  # (position in the body, read, photo id)
    for k, item in enumerate(body.reads, start=1):
        row = {key: value for key, value in item.items() if key != "photo_base64"}
        raw = item.get("photo_base64")
        try:
            photo_id = (
                store_photo(api.db, base64.b64decode(str(raw), validate=True), clock=api.clock).id if raw else MISSING
            )
        except (ValueError, ValidationError) as exc:
            message = exc.message_fa if isinstance(exc, ValidationError) else "عکس باید با base64 رمزگذاری شده باشد"
            photo_errors.append(RowError(k, "photo", message, str(row.get("subscription", ""))))
            continue
        kept.append((k, row, photo_id))
    incoming = parse_records([item for _, item, _ in kept], tz=api.clock.tz, photo_ids=[pid for _, _, pid in kept])
    # positions in the body, not in the kept list
    position = [k for k, _, _ in kept]
    incoming.line = incoming.line.copy()
    for i in range(len(incoming)):
        incoming.line[i] = position[int(incoming.line[i]) - 1]
    incoming.errors = [
        RowError(position[e.line - 1], e.field, e.message, e.subscription) for e in incoming.errors
    ] + photo_errors
    result = import_reads(api.db, principal=api.principal, clock=api.clock, incoming=incoming, source="api")
    b = result.batch
    return ReadsOut(
        batch_id=b.id,
        stored=b.rows_stored,
        duplicate=b.rows_duplicate,
        refused=b.rows_refused,
        exception=b.rows_exception,
        estimated=b.rows_estimated,
        errors=[
            RowErrorOut(line=e.line, subscription=e.subscription, field=e.field, message_fa=e.message)
            for e in sorted(result.errors, key=lambda e: e.line)
        ],
        results=[
            RowResultOut(
                line=o.line,
                subscription=o.subscription,
                status=o.status,
                reason=o.reason,
                reason_fa=REASON_TITLES_FA.get(o.reason, ""),
                kwh=o.kwh,
                estimated=o.estimated,
            )
            for o in result.outcomes
        ],
    )
