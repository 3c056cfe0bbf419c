"""Jinja2 environment with the Persian display filters: Jalali dates, Persian digits, rials."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates

from barq.auth import permissions as P
from barq.calendar import fa_digits, fa_number, format_jalali, format_jalali_datetime
from barq.ids import normalize_digits

TEMPLATES_DIR = Path(__file__).parent / "templates"


def _jdate(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_jalali_datetime(value)
    return format_jalali(value)


def _num(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        return fa_number(value)
    return fa_digits(str(value))


def _rial(value: int | None) -> str:
    return "" if value is None else f"{fa_number(value)} ریال"


def _query(params: dict[str, Any], **changes: Any) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return urlencode(merged)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.filters["jdate"] = _jdate
    env.filters["num"] = _num
    env.filters["fa"] = lambda v: "" if v is None else fa_digits(str(v))
    env.filters["rial"] = _rial
    env.filters["latin"] = normalize_digits
    env.globals["P"] = P
    env.globals["query"] = _query
    return templates
