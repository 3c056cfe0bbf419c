"""Sign-in and sign-out. The sign-in form is protected by a double-submit CSRF cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from barq.auth.service import authenticate, csrf_matches, end_session, start_session
from barq.errors import NotAuthenticated, TooManyAttempts
from barq.web.deps import ANON_CSRF_COOKIE, DB, SESSION_COOKIE, anon_csrf_token, optional_principal

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _login_page(
    request: Request, *, token: str, next_url: str, error: str = "", username: str = "", status: int = 200
) -> HTMLResponse:
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        "login.html",
        {"csrf_token": token, "next": next_url, "error": error, "username": username, "principal": None},
        status_code=status,
    )
    settings = request.app.state.settings
    response.set_cookie(ANON_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=settings.cookie_secure)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, db: DB, next: str = "/") -> Response:
    if optional_principal(request, db) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, token=anon_csrf_token(request), next_url=_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: DB,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    settings = request.app.state.settings
    clock = request.app.state.clock
    cookie_token = request.cookies.get(ANON_CSRF_COOKIE, "")
    if not csrf_matches(cookie_token, csrf_token):
        return _login_page(
            request,
            token=anon_csrf_token(request),
            next_url=_safe_next(next),
            error="فرم کهنه شده است؛ دوباره بکوشید",
            username=username,
            status=400,
        )
    client = request.client.host if request.client else "unknown"
    try:
        user = authenticate(
            db,
            username=username,
            password=password,
            client=client,
            clock=clock,
            max_failures=settings.login_max_failures,
            lock_seconds=settings.login_lock_seconds,
        )
    except (NotAuthenticated, TooManyAttempts) as exc:
        db.commit()  # keep the failure count even though the sign-in is refused
        return _login_page(
            request,
            token=cookie_token,
            next_url=_safe_next(next),
            error=exc.message_fa,
            username=username,
            status=exc.http_status if exc.http_status == 429 else 401,
        )
    token, _csrf = start_session(db, user=user, clock=clock, max_age_seconds=settings.session_max_age_seconds)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_max_age_seconds,
    )
    response.delete_cookie(ANON_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, db: DB, principal: Annotated[object, Depends(optional_principal)]) -> Response:
    form = await request.form()
    token = request.cookies.get(SESSION_COOKIE)
    response = RedirectResponse("/login", status_code=303)
    if (
        principal is not None
        and token
        and csrf_matches(getattr(principal, "csrf_token", ""), str(form.get("csrf_token")))
    ):
        end_session(db, token=token)
        response.delete_cookie(SESSION_COOKIE)
    return response
