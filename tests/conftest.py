"""Shared fixtures. Integration and web tests run on SQLite always and on PostgreSQL when
BARQ_TEST_DATABASE_URL is set (CI sets it): the ``engine`` fixture is parametrised over both."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from barq.clock import FixedClock
from barq.db import make_engine, make_sessionmaker
from barq.tables import metadata
from tests.factories import World, build_world

PG_URL = os.environ.get("BARQ_TEST_DATABASE_URL")
_pg_engine: Engine | None = None


def _pg() -> Engine:
    global _pg_engine
    if _pg_engine is None:
        assert PG_URL
        _pg_engine = make_engine(PG_URL)
        with _pg_engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        metadata.create_all(_pg_engine)
    return _pg_engine


def _truncate(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        metadata.create_all(eng)
        yield eng
        eng.dispose()
    else:
        if not PG_URL:
            pytest.skip("BARQ_TEST_DATABASE_URL not set")
        eng = _pg()
        _truncate(eng)
        yield eng


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    factory = make_sessionmaker(engine)
    with factory() as s:
        yield s


@pytest.fixture
def world(engine: Engine, clock: FixedClock) -> World:
    """Reference data, roles, two contractors with contracts, users of every kind, a few customers."""
    return build_world(engine, clock)
