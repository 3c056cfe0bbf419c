"""The public payment portal (پرداخت قبض, ``/pay``; service: ``payments.gateway``; docs/portal-payments.md).

A customer, without signing in, enters the bill ID and the payment ID (or follows the e-bill's link
``/pay?bill=…&pay=…``; ``?bill_id=…&payment_id=…`` works too), sees the bill to pay (amount, period, the
owner's name masked) and goes to the payment gateway; the gateway sends them back to ``/pay/callback``,
which finishes the payment and redirects to the result page ``/pay/result/{token}`` with a printable
receipt. ``/dev-gateway/{token}`` is the development gateway's simulated bank page, served only while
``BARQ_PAYMENT_GATEWAY`` is ``dev``.

Protection, as on the self-read page:

- **CSRF**: a double-submit cookie ``barq_portal_csrf`` (HttpOnly, SameSite=Strict, path ``/pay``) whose
  token the forms carry; ``POST /pay`` and ``POST /pay/start`` refuse a mismatch (400, a fresh token).
  The callback carries no cookie (a bank's page sends the customer back): the gateway's verification
  (an HMAC for the development gateway) is what makes it trustworthy.
- **Rate limits** (``PortalLimits``): ``POST /pay`` and ``POST /pay/start`` count together, per client
  address (``CLIENT_LIMIT``) and per bill ID (``BILL_LIMIT``); above them a 429 says when to try again.
  The callback and the result page are not limited: a customer who paid must always get an answer.
- The token in the result's address is the only key to it: the page is sent with ``no-store`` and
  ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from barq.errors import BarqError, NotFound, ValidationError
from barq.payments.gateway import (
    CallbackRefused,
    DevAction,
    DevGateway,
    Gateway,
    UnknownGateway,
    complete_portal_payment,
    find_portal_bill,
    load_gateway,
    portal_payment,
    start_portal_payment,
)
from barq.web.deps import DB
from barq.web.routes.selfread import AttemptLimiter, ClientAndBillLimits, PublicForm, public_form

router = APIRouter(include_in_schema=False)
log = logging.getLogger("barq.web.portal")

CSRF_COOKIE: Final = "barq_portal_csrf"
PATH: Final = "/pay"
CALLBACK_PATH: Final = "/pay/callback"
CLIENT_LIMIT: Final = (60, 3600)
"""At most 60 checks and starts together from one client address per hour (mobile carriers put many
customers behind one address)."""
BILL_LIMIT: Final = (12, 3600)
"""At most 12 checks and starts naming one bill ID per hour."""
FIELDS: Final = ("bill_id", "payment_id")
ALIASES: Final = {"bill_id": "bill", "payment_id": "pay"}  # the e-bill's link: /pay?bill=…&pay=…
PRIVATE: Final = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


# ------------------------------------------------------------------------------------------ limits


@dataclass
class PortalLimits(ClientAndBillLimits):
    per_client: AttemptLimiter = field(default_factory=lambda: AttemptLimiter(*CLIENT_LIMIT))
    per_bill: AttemptLimiter = field(default_factory=lambda: AttemptLimiter(*BILL_LIMIT))
    what_fa: ClassVar[str] = "درخواست‌ها"


def portal_limits(app: FastAPI) -> PortalLimits:
    """The application's limits (made on first use; a test may put its own in ``app.state``)."""
    limits: PortalLimits | None = getattr(app.state, "portal_limits", None)
    if limits is None:
        limits = PortalLimits()
        app.state.portal_limits = limits
    return limits


def portal_gateway(app: FastAPI) -> Gateway:
    """The configured gateway (``BARQ_PAYMENT_GATEWAY``), made on first use; a test may set its own."""
    gateway: Gateway | None = getattr(app.state, "payment_gateway", None)
    if gateway is None:
        gateway = load_gateway(app.state.settings)
        app.state.payment_gateway = gateway
    return gateway


def _unavailable(request: Request, exc: UnknownGateway) -> HTMLResponse:
    log.error("portal: %s", exc.detail)
    down = UnknownGateway("پرداخت اینترنتی اکنون در دسترس نیست؛ کمی بعد دوباره بکوشید", detail=exc.detail)
    return _problem(request, None, down)


def callback_url(request: Request) -> str:
    """The callback's absolute address: under ``BARQ_PUBLIC_URL`` when set, else the request's own."""
    base = request.app.state.settings.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


# ------------------------------------------------------------------------------------------ pages


def _render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    **context: Any,
) -> HTMLResponse:
    context |= {
        "principal": None,
        "csrf_token": token or "",
        "company_name": request.app.state.settings.company_name,
    }
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status, headers=headers
    )
    if token:
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
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return _render(
        request,
        "portal/form.html",
        token=token,
        status=status,
        headers=headers,
        values=values,
        errors=errors or {},
        error=error,
    )


async def _submitted(request: Request) -> PublicForm:
    return await public_form(
        request,
        fields=FIELDS,
        cookie=CSRF_COOKIE,
        form=_form,
        limits=portal_limits(request.app),
        stale_fa="فرم کهنه شده است؛ دوباره «ادامه» را بزنید",
    )


@router.get(PATH, response_class=HTMLResponse)
def pay_form(request: Request) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    query = request.query_params
    values = {k: (query.get(k) or query.get(ALIASES[k]) or "").strip()[:40] for k in FIELDS}
    return _form(request, token=token, values=values)


@router.post(PATH, response_class=HTMLResponse)
async def pay_check(request: Request, db: DB) -> Response:
    submitted = await _submitted(request)
    if submitted.refused is not None:
        return submitted.refused
    values, token = submitted.values, submitted.token
    try:
        gateway = portal_gateway(request.app)
    except UnknownGateway as exc:
        return _unavailable(request, exc)
    try:
        bill = find_portal_bill(db, bill_id=values.get("bill_id", ""), payment_id=values.get("payment_id", ""))
    except ValidationError as exc:
        return _form(request, token=token, values=values, errors=exc.errors, status=422)
    return _render(request, "portal/confirm.html", token=token, headers=PRIVATE, bill=bill, gateway=gateway)


@router.post(PATH + "/start", response_class=HTMLResponse)
async def pay_start(request: Request, db: DB) -> Response:
    submitted = await _submitted(request)
    if submitted.refused is not None:
        return submitted.refused
    values, token = submitted.values, submitted.token
    try:
        gateway = portal_gateway(request.app)
    except UnknownGateway as exc:
        return _unavailable(request, exc)
    try:
        started = start_portal_payment(
            db,
            clock=request.app.state.clock,
            gateway=gateway,
            bill_id=values.get("bill_id", ""),
            payment_id=values.get("payment_id", ""),
            callback_url=callback_url(request),
        )
    except ValidationError as exc:
        db.rollback()
        return _form(request, token=token, values=values, errors=exc.errors, status=422)
    if started.redirect.form is None:
        return RedirectResponse(started.redirect.url, status_code=303)
    return _render(request, "portal/redirect.html", headers=PRIVATE, redirect=started.redirect)


def _problem(request: Request, db: Session | None, exc: BarqError) -> HTMLResponse:
    """A refusal on the portal's own page (with the way back to ``/pay``); the transaction is undone."""
    if db is not None:
        db.rollback()
    return _render(
        request,
        "portal/problem.html",
        status=exc.http_status,
        headers=PRIVATE,
        code=exc.http_status,
        message=exc.message_fa,
    )


@router.api_route(CALLBACK_PATH, methods=["GET", "POST"], response_class=HTMLResponse)
async def pay_callback(request: Request, db: DB) -> Response:
    params: dict[str, str] = {}
    if request.method == "POST":  # a bank that posts its answer; our own query (the token) wins over its fields
        params = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    params |= dict(request.query_params)
    try:
        result = complete_portal_payment(
            db,
            clock=request.app.state.clock,
            gateway=portal_gateway(request.app),
            token=params.get("token", ""),
            params=params,
        )
    except BarqError as exc:
        return _problem(request, db, exc)
    return RedirectResponse(f"{PATH}/result/{result.token}", status_code=303, headers=PRIVATE)


@router.get(PATH + "/result/{token}", response_class=HTMLResponse)
def pay_result(request: Request, db: DB, token: str) -> Response:
    try:
        result = portal_payment(db, token=token)
    except NotFound as exc:
        return _problem(request, db, exc)
    return _render(request, "portal/result.html", headers=PRIVATE, result=result)


# ------------------------------------------------------------------------------------------ dev bank


def _dev_gateway(request: Request) -> DevGateway:
    gateway = portal_gateway(request.app)
    if not isinstance(gateway, DevGateway):
        raise NotFound("نشانی پیدا نشد", detail="the development gateway is not configured")
    return gateway


@router.get(DevGateway.BANK_PATH + "/{token}", response_class=HTMLResponse)
def dev_bank_page(request: Request, token: str) -> Response:
    gateway = _dev_gateway(request)
    try:
        bank = gateway.bank_request(token, dict(request.query_params))
    except CallbackRefused as exc:
        return _problem(request, None, exc)
    return _render(request, "portal/dev_bank.html", headers=PRIVATE, bank=bank, gateway=gateway)


DEV_ACTIONS: Final[dict[str, DevAction]] = {"pay": "pay", "cancel": "cancel", "fail": "fail"}


@router.post(DevGateway.BANK_PATH + "/{token}")
async def dev_bank_answer(request: Request, token: str) -> Response:
    gateway = _dev_gateway(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    action = DEV_ACTIONS.get(form.get("action", ""))
    try:
        bank = gateway.bank_request(token, form)
        if action is None:
            raise ValidationError("دکمهٔ پرداخت یا انصراف را بزنید", field="action", detail="unknown action")
    except ValidationError as exc:
        return _problem(request, None, exc)
    return RedirectResponse(gateway.answer(bank, action), status_code=303, headers=PRIVATE)
