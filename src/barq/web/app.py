"""The one FastAPI application: Persian pages, the JSON API under /api/v1, static assets, health."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException

import barq.tables  # noqa: F401  (every table known before the first query)
from barq.api.errors import problem_response, validation_problem
from barq.api.payments import router as payments_api_router
from barq.api.quote import router as quote_api_router
from barq.api.reading_orders import router as reading_orders_api_router
from barq.api.reads import router as reads_api_router
from barq.api.routes import router as api_router
from barq.api.self_read import router as self_read_api_router
from barq.clock import Clock
from barq.db import make_engine, make_sessionmaker
from barq.errors import BarqError, HttpError, InternalError, MethodNotAllowed, NotAuthenticated, NotFound
from barq.rating.book import load_default_library
from barq.settings import Settings, get_settings
from barq.web.routes import (
    bank_files,
    billruns,
    bills,
    customers,
    home,
    login,
    meters,
    payments,
    portal,
    premises,
    public,
    reader,
    reading_routes,
    reads,
    receivables,
    scorecards,
    selfread,
    subscriptions,
    tariffs,
    workorders,
)
from barq.web.templating import make_templates

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("barq.web")


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, clock: Clock | None = None
) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    app = FastAPI(
        title="barq API",
        version="1",
        description="Customer services and revenue collection. Every endpoint under /api/v1 needs an API key "
        "(header `X-API-Key`), except `POST /api/v1/quote`, the public bill calculator, and "
        "`POST /api/v1/self-reads`, a customer's own meter read (خوداظهاری). "
        "Errors are `application/problem+json` with a stable `code`.",
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.clock = clock or Clock(settings.time_zone)
    app.state.templates = make_templates()
    app.state.tariff_library = load_default_library()  # a broken tariff book stops the start, not a request

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api_router)
    app.include_router(quote_api_router)
    app.include_router(reading_orders_api_router)
    app.include_router(reads_api_router)
    app.include_router(self_read_api_router)
    app.include_router(payments_api_router)
    for module in (
        login,
        home,
        public,
        customers,
        subscriptions,
        premises,
        meters,
        workorders,
        billruns,
        bills,
        tariffs,
        reading_routes,
        reads,
        scorecards,
        reader,
        selfread,
        bank_files,
        payments,
        portal,
        receivables,
    ):
        app.include_router(module.router)

    @app.get("/health", include_in_schema=False)
    def health() -> JSONResponse:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    @app.exception_handler(BarqError)
    async def barq_error(request: Request, exc: BarqError) -> Response:
        if request.url.path.startswith("/api/"):
            return problem_response(exc, instance=request.url.path)
        if isinstance(exc, NotAuthenticated):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return _error_page(request, exc.http_status, exc.message_fa)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "نشانی پیدا نشد", 405: "این روش درخواست پذیرفته نیست"}.get(exc.status_code, "درخواست نادرست")
        if request.url.path.startswith("/api/"):
            problem = _HTTP_ERRORS.get(exc.status_code, HttpError)(message, detail=str(exc.detail))
            return problem_response(problem, instance=request.url.path)
        return _error_page(request, exc.status_code, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        problem = InternalError("خطای پیش‌بینی‌نشده؛ به پشتیبانی خبر دهید", detail="internal error")
        if request.url.path.startswith("/api/"):
            return problem_response(problem, instance=request.url.path)
        return _error_page(request, 500, problem.message_fa)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return validation_problem(exc, instance=request.url.path)
        return _error_page(request, 422, "نشانی یا داده‌های درخواست نادرست است")

    return app


_HTTP_ERRORS: dict[int, type[BarqError]] = {404: NotFound, 405: MethodNotAllowed, 500: InternalError}


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    templates = request.app.state.templates
    principal = getattr(request.state, "principal", None)
    response: HTMLResponse = templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "principal": principal},
        status_code=status,
    )
    return response
