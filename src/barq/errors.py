"""Typed errors with stable codes, mapped once to HTTP statuses, Persian messages and CLI exit codes."""

from __future__ import annotations

from typing import ClassVar


class BarqError(Exception):
    """Base of every expected failure. ``code`` is stable; ``message_fa`` is shown to people."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400
    exit_code: ClassVar[int] = 1

    def __init__(self, message_fa: str, *, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(detail or message_fa)
        self.message_fa = message_fa
        self.field = field
        self.detail = detail or message_fa


class ValidationError(BarqError):
    """One or more input fields are wrong. ``errors`` maps field name to a Persian message."""

    code = "validation_error"
    http_status = 422

    def __init__(
        self,
        message_fa: str = "ورودی نادرست است",
        *,
        field: str | None = None,
        errors: dict[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        errs = dict(errors or {})
        if field and field not in errs:
            errs[field] = message_fa
        super().__init__(message_fa, field=field, detail=detail)
        self.errors = errs


class NotFound(BarqError):
    code = "not_found"
    http_status = 404


class PermissionDenied(BarqError):
    code = "permission_denied"
    http_status = 403


class NotAuthenticated(BarqError):
    code = "not_authenticated"
    http_status = 401


class Conflict(BarqError):
    code = "conflict"
    http_status = 409


class InvalidTransition(Conflict):
    code = "invalid_transition"


class TooManyAttempts(BarqError):
    code = "too_many_attempts"
    http_status = 429


class MethodNotAllowed(BarqError):
    code = "method_not_allowed"
    http_status = 405


class InternalError(BarqError):
    """Something that should not happen did; shown without details, logged with them."""

    code = "internal_error"
    http_status = 500


class HttpError(BarqError):
    """Any other HTTP-level refusal of the framework."""

    code = "http_error"
