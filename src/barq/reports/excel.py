"""Every list can go to Excel: one writer for column titles and rows, right-to-left sheets."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook

from barq.calendar import format_jalali, format_jalali_datetime

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_jalali_datetime(value)
    if isinstance(value, date):
        return format_jalali(value)
    return value


Sheet = tuple[str, Sequence[str], Iterable[Sequence[Any]]]
"""A sheet: its title, column titles and rows."""


def sheets_to_xlsx(sheets: Iterable[Sheet]) -> bytes:
    """Right-to-left sheets in one workbook. Numbers stay numbers (so Excel can sum them); dates become
    Jalali text."""
    wb = Workbook(write_only=True)
    for title, headers, rows in sheets:
        ws = wb.create_sheet(title[:31])
        ws.sheet_view.rightToLeft = True
        ws.append(list(headers))
        for row in rows:
            ws.append([_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_xlsx(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One sheet (see :func:`sheets_to_xlsx`)."""
    return sheets_to_xlsx([(title, headers, rows)])
