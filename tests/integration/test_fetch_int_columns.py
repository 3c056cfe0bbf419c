"""db.fetch_int_columns: integer columns come back exactly, packed two to a value or not, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from barq import db
from barq.db import fetch_int_columns, make_sessionmaker

ROWS = "FROM (SELECT 1 AS k, -1 AS a, 0 AS b, 2147483647 AS c UNION ALL SELECT 2, -2147483648, 7, -5 ORDER BY 1) t"


@pytest.mark.parametrize("narrow", [False, True])
def test_columns_come_back_exactly(engine: Engine, narrow: bool) -> None:
    with make_sessionmaker(engine)() as s:
        got = fetch_int_columns(s, ["t.k", "t.a", "t.b", "t.c"], ROWS, narrow=narrow)
    assert [c.tolist() for c in got] == [[1, 2], [-1, -2147483648], [0, 7], [2147483647, -5]]


def test_narrow_columns_with_a_wide_value_are_read_one_by_one(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value beyond 32 bits fails the packed query on PostgreSQL; the columns are then read unpacked in
    the same transaction, which stays usable."""
    packed: list[int] = []
    real = db._copy_int_pairs
    monkeypatch.setattr(db, "_copy_int_pairs", lambda *a: packed.append(1) or real(*a))
    with make_sessionmaker(engine)() as s:
        got = fetch_int_columns(s, ["t.k", "t.a * 4294967296", "t.c"], ROWS, narrow=True)
        assert fetch_int_columns(s, ["t.k"], ROWS)[0].tolist() == [1, 2]
    assert [c.tolist() for c in got] == [[1, 2], [-4294967296, -2147483648 * 4294967296], [2147483647, -5]]
    assert packed == ([] if engine.dialect.name == "sqlite" else [1])
