"""Errors as application/problem+json (RFC 9457) with a stable ``code``."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path")]
        errors.append({"field": ".".join(loc) or "body", "message_fa": _fa_message(err), "detail": err.get("msg")})
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


def _fa_message(err: Any) -> str:
    kind = str(err.get("type", ""))
    if kind == "missing":
        return "این فیلد لازم است"
    if kind.startswith("int") or kind.startswith("decimal") or kind.startswith("float"):
        return "باید عدد باشد"
    if kind.startswith("string"):
        return "باید متن باشد"
    if kind.startswith("bool"):
        return "باید درست یا نادرست باشد"
    return "مقدار نادرست است"
