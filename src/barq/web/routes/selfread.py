"""The public self-read page (خوداظهاری, ``/self-read``; service: ``reading.self_read``; docs/self-reading.md).

A customer, without signing in, sends the bill ID, the meter's register (and the peak and off-peak
registers of a time-of-use meter: the page asks for them again when it learns the meter is one) and a
photo of the meter; the answer says that the read was received and whether it is used as is or reviewed
by the office. The page works without JavaScript (a script only shrinks a photo above the limit).

Protection of a public form that writes:

- **CSRF**: a double-submit cookie, as the sign-in form does: ``GET`` sets ``barq_selfread_csrf``
  (HttpOnly, SameSite=Strict, path ``/self-read``) and puts the same random token in the form; a ``POST``
  whose form token does not match its cookie is refused (400) and the form comes back with a fresh token.
- **Rate limits** (``SelfReadLimits``, shared with ``POST /api/v1/self-reads``): per client address at most
  ``CLIENT_LIMIT`` submissions per window, and per bill ID at most ``BILL_LIMIT``; above them a 429 says
  when to try again. Counters live in this process's memory (several workers each count their own); behind
  a reverse proxy run uvicorn with ``--proxy-headers`` so that the client's address is the customer's.
- **Size**: a request larger than the photo limit plus ``BODY_SLACK`` is refused before it is read; the
  pipeline stores at most one self-read per subscription and day (a different second one is refused).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from barq.auth.service import csrf_matches
from barq.calendar import fa_number
from barq.errors import Conflict, TooManyAttempts
from barq.ids import normalize_digits
from barq.reading.config import reading_config
from barq.reading.self_read import SelfRead, SelfReadRefused, record_self_read
from barq.web.deps import DB

router = APIRouter(include_in_schema=False)

CSRF_COOKIE: Final = "barq_selfread_csrf"
PATH: Final = "/self-read"
CLIENT_LIMIT: Final = (30, 3600)
"""At most 30 self-read submissions (page and API together) from one client address per hour."""
BILL_LIMIT: Final = (6, 3600)
"""At most 6 submissions naming one bill ID per hour (a customer correcting a refused photo or digit)."""
BODY_SLACK: Final = 64_000
FORM_FIELDS: Final = ("bill_id", "active", "peak", "offpeak")


# ------------------------------------------------------------------------------------------ limits


class AttemptLimiter:
    """At most ``max_attempts`` per key in any ``window`` seconds (a sliding window), in memory.

    ``hit`` counts an attempt and answers 0 when it is allowed, else the seconds until the oldest attempt
    leaves the window. A refused attempt is not counted. At most ``max_keys`` keys are kept: the least
    recently used one is forgotten first, so memory stays bounded whatever the number of addresses."""

    def __init__(
        self,
        max_attempts: int,
        window: float,
        *,
        now: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.max_attempts = max_attempts
        self.window = window
        self.now = now
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        with self._lock:
            t = self.now()
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= t - self.window:
                hits.popleft()
            wait = 0.0
            if len(hits) >= self.max_attempts:
                wait = hits[0] + self.window - t
            else:
                hits.append(t)
            self._hits[key] = hits  # re-inserted: the dict's order is the order of last use
            while len(self._hits) > self.max_keys:
                del self._hits[next(iter(self._hits))]
            return wait


@dataclass
class ClientAndBillLimits:
    """A public page's limits: attempts per client address and per bill ID; ``what_fa`` names the attempts
    in the refusal."""

    per_client: AttemptLimiter
    per_bill: AttemptLimiter
    what_fa: ClassVar[str] = "ارسال‌ها"

    def check(self, client: str, bill_id: str) -> None:
        """Count one attempt; TooManyAttempts (its ``detail`` holds the seconds to wait) above a limit."""
        wait = self.per_client.hit(f"client:{client}")
        key = "".join(c for c in normalize_digits(bill_id) if c.isascii() and c.isdigit()).lstrip("0")
        if not wait and key:
            wait = self.per_bill.hit(f"bill:{key}")
        if wait:
            minutes = max(1, round(wait / 60))
            raise TooManyAttempts(
                f"{self.what_fa} بیش از حد مجاز است؛ {fa_number(minutes)} دقیقهٔ دیگر دوباره بکوشید",
                detail=f"retry after {int(wait) + 1} seconds",
            )


@dataclass
class SelfReadLimits(ClientAndBillLimits):
    per_client: AttemptLimiter = field(default_factory=lambda: AttemptLimiter(*CLIENT_LIMIT))
    per_bill: AttemptLimiter = field(default_factory=lambda: AttemptLimiter(*BILL_LIMIT))


def self_read_limits(app: FastAPI) -> SelfReadLimits:
    """The application's limits (made on first use; a test may put its own in ``app.state``)."""
    limits: SelfReadLimits | None = getattr(app.state, "self_read_limits", None)
    if limits is None:
        limits = SelfReadLimits()
        app.state.self_read_limits = limits
    return limits


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def retry_after(exc: TooManyAttempts) -> str:
    digits = "".join(c for c in exc.detail if c.isdigit())
    return digits or "60"


@dataclass(frozen=True)
class PublicForm:
    data: FormData
    values: dict[str, str]  # the named fields, stripped and cut to 40 characters
    token: str  # the cookie's
    refused: HTMLResponse | None  # the page refusing the submission; None when it may go on


async def public_form(
    request: Request,
    *,
    fields: Sequence[str],
    cookie: str,
    form: Callable[..., HTMLResponse],
    limits: ClientAndBillLimits,
    stale_fa: str,
) -> PublicForm:
    """A public page's submission and its refusal: a stale or forged form (the cookie's token does not match
    the form's: 400 with a new token), or one attempt too many for this client or bill ID (429). ``form``
    renders the page's form; ``cookie`` names the page's token cookie."""
    data = await request.form()
    values = {k: v.strip()[:40] for k in fields if isinstance(v := data.get(k, ""), str)}
    token = request.cookies.get(cookie, "")
    given = data.get("csrf_token")
    refused = None
    if not token or not csrf_matches(token, given if isinstance(given, str) else None):
        refused = form(request, token=secrets.token_urlsafe(24), values=values, error=stale_fa, status=400)
    else:
        try:
            limits.check(client_address(request), values.get("bill_id", ""))
        except TooManyAttempts as exc:
            headers = {"Retry-After": retry_after(exc)}
            refused = form(request, token=token, values=values, error=exc.message_fa, status=429, headers=headers)
    return PublicForm(data, values, token, refused)


def body_too_large(request: Request) -> bool:
    """Whether the request is larger than a form with a photo at the limit can be (or does not say)."""
    length = request.headers.get("content-length", "")
    return not length.isdigit() or int(length) > reading_config().photo_max_bytes + BODY_SLACK


# ------------------------------------------------------------------------------------------ page


def _page(
    request: Request,
    template: str,
    *,
    token: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    context |= {"principal": None, "csrf_token": token, "photo_max_bytes": reading_config().photo_max_bytes}
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status, headers=headers
    )
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.cookie_secure,
        path=PATH,
    )
    return response


def _form(
    request: Request,
    *,
    token: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    values = values or {}
    errors = errors or {}
    tou_open = any(values.get(k) for k in ("peak", "offpeak")) or any(k in errors for k in ("peak", "offpeak"))
    return _page(
        request,
        "reading/selfread/form.html",
        token=token,
        status=status,
        headers=headers,
        values=values,
        errors=errors,
        error=error,
        tou_open=tou_open,
    )


@router.get(PATH, response_class=HTMLResponse)
def self_read_form(request: Request) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    return _form(request, token=token)


@router.post(PATH, response_class=HTMLResponse)
async def self_read_submit(request: Request, db: DB) -> Response:
    token = request.cookies.get(CSRF_COOKIE, "")
    if body_too_large(request):
        limit = reading_config().photo_max_bytes
        message = f"عکس بزرگ‌تر از حد مجاز است (حداکثر {fa_number(limit // 1000)} کیلوبایت)"
        return _form(request, token=token or secrets.token_urlsafe(24), errors={"photo": message}, status=413)
    submitted = await public_form(
        request,
        fields=FORM_FIELDS,
        cookie=CSRF_COOKIE,
        form=_form,
        limits=self_read_limits(request.app),
        stale_fa="فرم کهنه شده است؛ عکس را دوباره برگزینید و بفرستید",
    )
    if submitted.refused is not None:
        return submitted.refused
    data, values = submitted.data, submitted.values
    upload = data.get("photo")
    photo = await upload.read() if isinstance(upload, UploadFile) and upload.filename else None
    try:
        receipt = record_self_read(
            db,
            clock=request.app.state.clock,
            data=SelfRead(
                bill_id=values.get("bill_id", ""),
                active=values.get("active") or None,
                peak=values.get("peak") or None,
                offpeak=values.get("offpeak") or None,
                photo=photo,
            ),
        )
    except SelfReadRefused as exc:
        db.rollback()
        errors = dict(exc.errors)
        if "photo" not in errors and photo is not None:
            errors["photo"] = "عکس را دوباره برگزینید (فرم پس از خطا عکس را نگه نمی‌دارد)"
        return _form(request, token=token, values=values, errors=errors, status=422)
    except Conflict as exc:
        db.rollback()
        return _form(request, token=token, values=values, error=exc.message_fa, status=409)
    return _page(request, "reading/selfread/done.html", token=token, receipt=receipt, values=values)
