"""Database: declarative base with a naming convention, engines, sessions and column types.

SQLite is the default (WAL, foreign keys on); PostgreSQL via psycopg 3 in production.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Engine, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids that still autoincrement on SQLite (a BIGINT primary key does not there).
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; refuses naive ones. SQLite keeps no zone, so it is restored on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    # a province's tables are gigabytes: with SQLite's default 2 MB page cache, every index insert of a bulk
    # write reads pages from disk again (payment rows went in at 22 µs each instead of 7)
    cur.execute("PRAGMA cache_size=-262144")  # KiB: up to 256 MB, taken only as pages are used
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def raw_connection(session: Session) -> Any:
    """The DBAPI connection inside the session's transaction, for bulk executemany / COPY."""
    return session.connection().connection.driver_connection


def bulk_insert(session: Session, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows inside the session's transaction: ``executemany`` on SQLite, ``COPY`` on PostgreSQL
    (the fastest paths the standard drivers offer; the ORM is 40–80× slower for a million rows)."""
    if not rows:
        return
    conn = raw_connection(session)
    names = ", ".join(columns)
    if session.get_bind().dialect.name == "sqlite":
        conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in columns)})", rows)
        return
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fetch_columns(session: Session, sql: str) -> list[tuple[Any, ...]]:
    """Run a read-only query on the DBAPI connection and return its result column by column (tuples),
    ready for numpy: the fastest path the standard drivers offer for a million rows. (ADBC was measured
    faster but links a second SQLite library into the process, which breaks SQLite's file locking.)
    The query takes no parameters: callers only put integers and dates they computed into it."""
    cur = raw_connection(session).cursor()
    try:
        cur.execute(sql)
        rows = cur.fetchall()
        width = len(cur.description or ())
    finally:
        cur.close()
    if not rows:
        return [() for _ in range(width)]
    return list(zip(*rows, strict=True))


def fetch_int_columns(session: Session, exprs: Sequence[str], tail: str, *, text_first: bool = False) -> list[Any]:
    """Integer columns of a query as numpy arrays, fast. ``tail`` is the ``FROM … WHERE …`` of the query;
    every expression must be non-null (use COALESCE). With ``text_first`` the first column is text without
    commas and comes back as a list of str.

    On PostgreSQL each column comes as one binary array read by numpy (several times faster than text or
    rows); on SQLite each column is joined into one comma-separated string (``group_concat``) and
    parsed by numpy, several times faster than fetching rows."""
    import numpy as np

    sqlite = session.get_bind().dialect.name == "sqlite"
    if not sqlite and not text_first:
        return _copy_int_columns(session, exprs, tail)
    parts = [f"group_concat({e}, ',')" if sqlite else f"string_agg(({e})::text, ',')" for e in exprs]
    cur = raw_connection(session).cursor()
    try:
        cur.execute(f"SELECT {', '.join(parts)} {tail}")
        row = cur.fetchone()
    finally:
        cur.close()
    out: list[Any] = []
    for k, value in enumerate(row or [None] * len(exprs)):
        if text_first and k == 0:
            out.append(value.split(",") if value else [])
        else:
            out.append(np.fromstring(value, dtype=np.int64, sep=",") if value else np.zeros(0, dtype=np.int64))
    return out


def _copy_int_columns(session: Session, exprs: Sequence[str], tail: str) -> list[Any]:
    """PostgreSQL: each column aggregated into one array and sent in its binary form (``array_send``), which
    numpy reads as records of a 32-bit length and a big-endian 64-bit value: one message a column, where a
    COPY sends one a row."""
    import numpy as np

    columns = ", ".join(f"array_send(array_agg(({e})::bigint))" for e in exprs)
    with raw_connection(session).cursor(binary=True) as cur:
        cur.execute(f"SELECT {columns} {tail}")
        row = cur.fetchone()
    out: list[Any] = []
    record = np.dtype([("length", ">i4"), ("value", ">i8")])
    for value in row or [None] * len(exprs):
        if value is None:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        data = memoryview(value)
        has_null = int.from_bytes(data[4:8], "big")
        if has_null:
            raise ValueError("fetch_int_columns: a column was NULL (use COALESCE)")
        items = np.frombuffer(data[20:], dtype=record)  # 1-D header: ndim, flags, type, size, lower bound
        out.append(items["value"].astype(np.int64))
    return out
