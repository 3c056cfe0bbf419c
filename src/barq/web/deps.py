"""Per-request dependencies: the unit of work, the acting principal, CSRF checks, the template renderer."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from barq.auth.service import Principal, csrf_matches, principal_from_session
from barq.clock import Clock
from barq.errors import NotAuthenticated, PermissionDenied, ValidationError
from barq.ids import normalize_digits
from barq.settings import Settings

SESSION_COOKIE = "barq_session"
ANON_CSRF_COOKIE = "barq_csrf"


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on any error."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is sent, so a failed commit is a 500, never a false 303/201
DB = Annotated[Session, Depends(get_db, scope="function")]


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def optional_principal(request: Request, db: DB) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return principal_from_session(db, token=token, clock=request.app.state.clock)
    except NotAuthenticated:
        return None


def current_principal(request: Request, db: DB) -> Principal:
    principal = optional_principal(request, db)
    if principal is None:
        raise NotAuthenticated("برای دیدن این صفحه وارد شوید")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def check_csrf(principal: Principal, form: Any) -> None:
    if not csrf_matches(principal.csrf_token, form.get("csrf_token")):
        raise PermissionDenied("نشانه امنیتی فرم نادرست یا کهنه است؛ صفحه را دوباره باز کنید", detail="CSRF")


def anon_csrf_token(request: Request) -> str:
    return request.cookies.get(ANON_CSRF_COOKIE) or secrets.token_urlsafe(24)


@dataclass
class Page:
    """Everything a page handler needs, in one dependency."""

    request: Request
    db: Session
    principal: Principal
    clock: Clock
    settings: Settings
    extra: dict[str, Any] = field(default_factory=dict)

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        templates = self.request.app.state.templates
        context.setdefault("principal", self.principal)
        context.setdefault("csrf_token", self.principal.csrf_token)
        response: HTMLResponse = templates.TemplateResponse(self.request, template, context, status_code=status_code)
        return response

    async def form(self) -> dict[str, Any]:
        """The submitted form, CSRF-checked; multi-valued fields keep their last value."""
        data = await self.request.form()
        check_csrf(self.principal, data)
        return {k: v for k, v in data.items() if isinstance(v, str)}


def get_page(
    request: Request,
    db: DB,
    principal: CurrentPrincipal,
    clock: Annotated[Clock, Depends(get_clock)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> Page:
    return Page(request=request, db=db, principal=principal, clock=clock, settings=settings)


PageDep = Annotated[Page, Depends(get_page)]


def xlsx_download(data: bytes, filename: str, name_fa: str | None = None) -> Response:
    """An Excel attachment; with ``name_fa`` the Persian file name too (RFC 6266), ``filename`` the ASCII one."""
    from urllib.parse import quote

    from barq.reports.excel import XLSX_MEDIA_TYPE

    disposition = f'attachment; filename="{filename}"'
    if name_fa:
        disposition += f"; filename*=UTF-8''{quote(name_fa)}"
    return Response(data, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": disposition})


def district_filter(raw: str) -> int | None:
    """A page's district filter from its query: None when empty, a 422 naming the field when not a number."""
    text = normalize_digits(raw).strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValidationError("امور نادرست است", field="district")
    return int(text)
