"""Errors as application/problem+json (RFC 9457) with a stable ``code``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from barq.errors import BarqError, ValidationError

PROBLEM = "application/problem+json"


def problem_response(exc: BarqError, *, instance: str) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://barq.invalid/problems/{exc.code}",
        "title": exc.code.replace("_", " "),
        "status": exc.http_status,
        "code": exc.code,
        "detail": exc.detail,
        "message_fa": exc.message_fa,
        "instance": instance,
    }
    if isinstance(exc, ValidationError):
        body["errors"] = [{"field": f, "message_fa": m} for f, m in exc.errors.items()]
    headers = {"WWW-Authenticate": "ApiKey"} if exc.http_status == 401 else None
    return JSONResponse(body, status_code=exc.http_status, media_type=PROBLEM, headers=headers)


def validation_problem(exc: RequestValidationError, *, instance: str) -> JSONResponse:
    errors = []
    for err in exc.errors():
        errors.append({"field": _field(err), "message_fa": _fa_message(err), "detail": err.get("msg")})
    body = {
        "type": "https://barq.invalid/problems/validation_error",
        "title": "validation error",
        "status": 422,
        "code": "validation_error",
        "detail": "; ".join(f"{e['field']}: {e['detail']}" for e in errors),
        "message_fa": "ورودی نادرست است",
        "instance": instance,
        "errors": errors,
    }
    return JSONResponse(body, status_code=422, media_type=PROBLEM)


_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _field(err: Any) -> str:
    """The input's name as the client wrote it: ``amperage``, ``result.read``; ``body`` for the whole body."""
    if err.get("type") == "json_invalid":
        return "body"
    loc = [str(x) for x in err.get("loc", ()) if x not in _LOCATIONS]
    return ".".join(loc) or "body"


def _fa_message(err: Any) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    fixed = _FA_BY_TYPE.get(kind)
    if fixed is not None:
        return fixed
    if kind in ("greater_than_equal", "greater_than"):
        return f"نباید کمتر از {ctx.get('ge', ctx.get('gt', ''))} باشد"
    if kind in ("less_than_equal", "less_than"):
        return f"نباید بیشتر از {ctx.get('le', ctx.get('lt', ''))} باشد"
    if kind == "string_too_long":
        return f"از {ctx.get('max_length', '')} نویسه بلندتر است"
    if kind == "string_too_short":
        return f"دست‌کم {ctx.get('min_length', '')} نویسه لازم است"
    if kind in ("literal_error", "enum"):
        return f"یکی از گزینه‌های مجاز نیست ({ctx.get('expected', '')})"
    if kind == "decimal_max_places":
        return f"بیش از {ctx.get('decimal_places', '')} رقم اعشار دارد"
    if kind in ("decimal_max_digits", "decimal_whole_digits"):
        return "عدد بزرگ‌تر از حد مجاز است"
    if kind.startswith("date") or kind.startswith("datetime"):
        return "تاریخ باید به شکل YYYY-MM-DD (میلادی) باشد"
    if kind.startswith("int") or kind.startswith("decimal") or kind.startswith("float"):
        return "باید عدد باشد"
    if kind.startswith("string"):
        return "باید متن باشد"
    if kind.startswith("bool"):
        return "باید درست یا نادرست باشد"
    return "مقدار نادرست است"


_FA_BY_TYPE = {
    "missing": "این فیلد لازم است",
    "extra_forbidden": "این فیلد شناخته نیست",
    "json_invalid": "بدنه درخواست JSON درستی نیست",
    "int_from_float": "باید عدد صحیح باشد",
    "string_pattern_mismatch": "نویسه‌های نامجاز دارد",
    "string_unicode": "متن نادرست است",
    "model_attributes_type": "باید یک شیء JSON باشد",
    "model_type": "باید یک شیء JSON باشد",
    "dict_type": "باید یک شیء JSON باشد",
    "list_type": "باید فهرست باشد",
}


class ProblemRoute(APIRoute):
    """An API route whose unreadable request body (bytes that are not UTF-8, a form where JSON belongs) is a
    422 ``validation_error`` on ``body`` like malformed JSON, instead of FastAPI's bare 400 ``{"detail"}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                if exc.status_code != 400:
                    raise
                raise ValidationError(
                    _FA_BY_TYPE["json_invalid"], field="body", detail=f"unreadable body: {exc.detail}"
                ) from exc

        return route
