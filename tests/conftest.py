"""Shared fixtures. Integration and web tests run on SQLite always and on PostgreSQL when
BARQ_TEST_DATABASE_URL is set (CI sets it): the ``engine`` fixture is parametrised over both."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from barq.auth import service as auth_service
from barq.clock import FixedClock
from barq.db import make_engine, make_sessionmaker
from barq.tables import metadata
from tests.factories import World, build_world

PG_URL = os.environ.get("BARQ_TEST_DATABASE_URL")
# each pytest-xdist worker gets its own schema in the one test database
PG_SCHEMA = "test_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
_pg_engine: Engine | None = None

# Sign-ins in tests need not resist guessing: a cheap argon2 keeps the suite fast.
auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _pg() -> Engine:
    global _pg_engine
    if _pg_engine is None:
        assert PG_URL
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"})
        _pg_engine = make_engine(url.render_as_string(hide_password=False))
        with _pg_engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
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
