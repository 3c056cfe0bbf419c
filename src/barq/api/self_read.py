"""``POST /api/v1/self-reads``: a customer's self-read (خوداظهاری) from another system: the company's app or
site, a bot (domain.md §4; service ``reading.self_read``; docs/self-reading.md).

Public: no API key, because the customer is identified by the bill ID (as on the public page
``/self-read``); the same rate limits apply to both (``web.routes.selfread.SelfReadLimits``: per client
address and per bill ID, 429 ``too_many_attempts`` with ``Retry-After`` above them), and a body larger
than a photo at the limit can make is refused (413 ``payload_too_large``) before it is read.

A read is answered 201 with ``status`` ``accepted`` (used as is) or ``review`` (the office reviews it;
``reason`` says why), or 200 ``duplicate`` when the same read was received before that day. Bad input is a
422 ``application/problem+json`` (``validation_error``) whose ``errors`` name each field as the body
names it, with a stable ``code`` and a Persian message; a different second self-read the same day is a
409 ``conflict``.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from pydantic_core import PydanticCustomError

from barq.api.errors import PROBLEM, problem_response
from barq.api.schemas import PROBLEM_SCHEMA, inline_refs
from barq.clock import Clock
from barq.errors import BarqError, TooManyAttempts
from barq.reading.config import reading_config
from barq.reading.self_read import SelfRead, SelfReadRefused, decode_photo, record_self_read
from barq.web.deps import DB, get_clock
from barq.web.routes.selfread import BODY_SLACK, client_address, retry_after, self_read_limits

MAX_PHOTO_BASE64: Final = 20_000_000
"""Longest ``photo_base64`` the schema lets through; the decoded photo's limit is ``reading.toml``'s."""
FIELD_NAMES: Final = {"photo": "photo_base64"}
"""Fields the service names differently from the body."""


def _register(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str) or (isinstance(value, str) and len(value) > 40):
        raise PydanticCustomError("int_type", "Input should be a whole number, or a string of at most 40 characters")
    return value


Register = Annotated[int | str, BeforeValidator(_register)]
"""A register value: a JSON whole number, or a string (Persian digits allowed); never a boolean or a fraction."""


class PayloadTooLarge(BarqError):
    code = "payload_too_large"
    http_status = 413


class SelfReadIn(BaseModel):
    """A customer's read of their own meter, with a photo of the meter's face."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"bill_id": "1000000012321", "active": 12350, "photo_base64": "/9j/4AAQSkZJRgABAQ…"},
                {
                    "bill_id": "1000000012321",
                    "active": "۴۵۲۱۰",
                    "peak": "۹۸۰۰",
                    "offpeak": "۱۵۲۰۰",
                    "read_at": "2026-11-28T09:30",
                    "photo_base64": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ…",
                },
            ]
        },
    )

    bill_id: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[^\x00]*$",
        description="شناسه قبض: 6–13 digits with a valid check digit (Persian digits, spaces and dashes allowed)",
        examples=["1000000012321"],
    )
    active: Register = Field(
        description="The active (total) register: a whole non-negative number, at most the meter's digits; "
        "a string may use Persian digits",
        examples=[12350],
    )
    peak: Register | None = Field(
        default=None, description="Peak register: required for a time-of-use meter, ignored for another"
    )
    offpeak: Register | None = Field(
        default=None, description="Off-peak register: required for a time-of-use meter, ignored for another"
    )
    read_at: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[^\x00]*$",
        description="When the meter was read: local time `YYYY-MM-DDTHH:MM`, an ISO time with an offset, or a "
        "Jalali date `1405/09/07`; today or up to 7 days back. Absent: now.",
        examples=["2026-11-28T09:30"],
    )
    photo_base64: str = Field(
        min_length=1,
        max_length=MAX_PHOTO_BASE64,
        description="The photo of the meter, JPEG, PNG or WebP (recognised by content), base64; a "
        "`data:image/...;base64,` prefix is allowed. At most the configured size (2 MB by default) decoded.",
    )


class SelfReadOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "accepted",
                    "reason": None,
                    "reason_fa": None,
                    "message_fa": "رقم کنتور شما دریافت شد و همین رقم برای صورتحساب به کار می‌رود.",
                    "read_on": "2026-11-28",
                    "tou": False,
                },
                {
                    "status": "review",
                    "reason": "above_high",
                    "reason_fa": "مصرف بیش از حد بالای مجاز",
                    "message_fa": "رقم کنتور شما دریافت شد و پیش از به‌کارگیری، کارشناسان امور برق آن را بررسی "
                    "می‌کنند (علت: مصرف بیش از حد بالای مجاز).",
                    "read_on": "2026-11-28",
                    "tou": False,
                },
            ]
        }
    )

    status: Literal["accepted", "review", "duplicate"] = Field(
        description="accepted: used as is for the bill; review: the office reviews it first; duplicate: the "
        "same read was received before for that day (nothing new was stored)"
    )
    reason: str | None = Field(
        description="Why it is reviewed: lower_without_rollover, above_high, below_low, zero_on_active, "
        "before_last_read, same_day"
    )
    reason_fa: str | None = Field(description="The reason in Persian")
    message_fa: str = Field(description="The answer to show the customer, in Persian")
    read_on: date = Field(description="The business date of the read")
    tou: bool = Field(description="Whether the meter is a time-of-use meter (peak and off-peak were needed)")


class SelfReadFieldError(BaseModel):
    field: str = Field(examples=["bill_id"])
    code: str = Field(
        description="Stable: required, format, check_digit, unknown, no_meter (bill_id); negative, "
        "not_a_number, too_long, over_digits, tou_required (active, peak, offpeak); future, too_old (read_at); "
        "not_base64, empty, too_large, not_image (photo_base64)",
        examples=["check_digit"],
    )
    message_fa: str = Field(examples=["رقم کنترل شناسه قبض درست نیست"])


class SelfReadProblem(BaseModel):
    type: str
    title: str
    status: int
    code: str = Field(examples=["validation_error"])
    detail: str
    message_fa: str
    instance: str
    errors: list[SelfReadFieldError]


def _problem(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": schema or PROBLEM_SCHEMA}}}


_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"description": "The same read was received before for that day (`status: duplicate`)"},
    409: _problem("Another, different self-read of this subscription is already stored for that day (`conflict`)"),
    413: _problem("The body is larger than a photo at the limit can make (`payload_too_large`)"),
    422: _problem(
        "Bad input (`validation_error`): `errors` name the field (`bill_id`, `active`, `peak`, `offpeak`, "
        "`read_at`, `photo_base64`) with a stable `code` and a Persian message",
        inline_refs(SelfReadProblem.model_json_schema(mode="serialization")),
    ),
    429: _problem("Too many submissions from this address or for this bill ID (`too_many_attempts`); see Retry-After"),
}

router = APIRouter(prefix="/api/v1", tags=["self-read"])


async def self_read_body(request: Request) -> SelfReadIn:
    """The body, refused unread when it is larger than a photo at the limit can make."""
    limit = reading_config().photo_max_bytes * 4 // 3 + BODY_SLACK
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > limit:
        raise PayloadTooLarge(
            "درخواست بزرگ‌تر از حد مجاز است؛ عکس را کوچک‌تر بفرستید",
            detail=f"the body must declare its Content-Length and be at most {limit} bytes",
        )
    raw = await request.body()
    try:
        return SelfReadIn.model_validate_json(raw)
    except PydanticError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=True)]
        ) from exc


def refused_response(exc: SelfReadRefused, *, instance: str) -> JSONResponse:
    """The 422 problem of a refused self-read, each error with its stable code."""
    body = json.loads(bytes(problem_response(exc, instance=instance).body))
    body["errors"] = [
        {"field": FIELD_NAMES.get(name, name), "code": exc.codes[name], "message_fa": message}
        for name, message in exc.errors.items()
    ]
    return JSONResponse(body, status_code=422, media_type=PROBLEM)


@router.post(
    "/self-reads",
    response_model=SelfReadOut,
    status_code=201,
    summary="Send a self-read (public, no API key)",
    description="A customer's read of their own meter with a photo, identified by the bill ID. Checked and "
    "stored as the public page `/self-read` does: within the limits of the expected consumption it is used "
    "as is; otherwise the office reviews it. **Public: no API key**; rate-limited per client address and per "
    "bill ID. One self-read per subscription and day.",
    responses=_RESPONSES,
    openapi_extra={
        "security": [],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_refs(SelfReadIn.model_json_schema())}},
        },
    },
)
def post_self_read(
    body: Annotated[SelfReadIn, Depends(self_read_body)],
    request: Request,
    response: Response,
    db: DB,
    clock: Annotated[Clock, Depends(get_clock)],
) -> Response | SelfReadOut:
    instance = request.url.path
    try:
        self_read_limits(request.app).check(client_address(request), body.bill_id)
    except TooManyAttempts as exc:
        limited = problem_response(exc, instance=instance)
        limited.headers["Retry-After"] = retry_after(exc)
        return limited
    photo: bytes | None = None
    photo_problem: SelfReadRefused | None = None
    try:
        photo = decode_photo(body.photo_base64)
    except SelfReadRefused as exc:
        photo_problem = exc
    try:
        receipt = record_self_read(
            db,
            clock=clock,
            data=SelfRead(
                bill_id=body.bill_id,
                active=body.active,
                peak=body.peak,
                offpeak=body.offpeak,
                read_at=body.read_at,
                photo=photo,
            ),
        )
    except SelfReadRefused as exc:
        db.rollback()
        if photo_problem is not None:
            exc = exc.merged(photo_problem)
        return refused_response(exc, instance=instance)
    if receipt.status == "duplicate":
        response.status_code = 200
    return SelfReadOut(
        status=receipt.status,
        reason=receipt.reason,
        reason_fa=receipt.reason_fa,
        message_fa=receipt.message_fa,
        read_on=receipt.read_on,
        tou=receipt.tou,
    )
