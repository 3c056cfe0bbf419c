"""Paging a query for a list page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
EXPORT_LIMIT = 100_000


@dataclass
class PageOf(Generic[T]):
    items: list[T]
    page: int
    pages: int
    total: int


def paginate(
    session: Session, stmt: Select[*tuple[Any, ...]], *, page: int, size: int, rows: bool = False
) -> PageOf[Any]:
    """One page of ``stmt``: its first entity per row, or whole rows (tuples) with ``rows``."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    paged = stmt.limit(size).offset((page - 1) * size)
    items = [tuple(r) for r in session.execute(paged)] if rows else list(session.scalars(paged))
    return PageOf(items=items, page=page, pages=pages, total=total)


def export_rows(session: Session, stmt: Select[Any]) -> list[Any]:
    return list(session.scalars(stmt.limit(EXPORT_LIMIT)))
