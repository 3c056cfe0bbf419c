"""db.insert_columns: every kind of column comes back exactly as given, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import numpy as np
import pytest
from sqlalchemy import Engine, select, text

from barq import db
from barq.db import Nullable, insert_columns, make_sessionmaker
from barq.metering.models import MeterRead
from barq.payments.models import Payment


def test_columns_round_trip(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "_COPY_BLOCK", 2)  # three blocks, each with its own widths (and text trimmed or not)
    n = 5
    at = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    sqlite = engine.dialect.name == "sqlite"
    with make_sessionmaker(engine)() as s, s.begin():
        insert_columns(
            s,
            "payment",
            {
                "channel": "mellat",
                "trace": ["9", "123456789012345678901234567890", "00042", "a-b_c", "x"],
                "bill_id": ["1", "22", "333", "4444", "5555555555555"],
                "payment_id": ["0", "10", "200", "3000", "40000"],
                "amount": np.array([1, 0, 9_223_372_036_854_775_807, 120_000, 7], dtype=np.int64),
                "paid_on": ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"],
                "received_at": str(at.replace(tzinfo=None)) if sqlite else at,
                "actor": ["بانک ملت", "bank", "", "b", "bank"],
                "status": ["posted", "suspense", "posted", "posted", "posted"],
                "reason": [None, "amount", None, None, "no_bill"],
                "subscription_id": Nullable(np.array([5, 0, 7, -3, 0]), np.array([False, True, False, False, True])),
                "bill_ref": Nullable(np.array([0, 0, 0, 0, 0]), np.zeros(n, dtype=bool)),
                "to_credit": np.array([-1_500, 0, 3, -9_223_372_036_854_775_807, 10]),
                "resolved_at": np.array(["NaT", "2026-11-28T10:00:01", "NaT", "NaT", "1970-01-01"], "datetime64[s]"),
            },
            n,
        )
    with make_sessionmaker(engine)() as s:
        rows = s.scalars(select(Payment).order_by(Payment.id)).all()
    assert [r.trace for r in rows] == ["9", "123456789012345678901234567890", "00042", "a-b_c", "x"]
    assert [r.bill_id for r in rows] == ["1", "22", "333", "4444", "5555555555555"]
    assert [r.payment_id for r in rows] == ["0", "10", "200", "3000", "40000"]
    assert [r.amount for r in rows] == [1, 0, 9_223_372_036_854_775_807, 120_000, 7]
    assert [r.paid_on for r in rows] == [date(2026, 11, d) for d in range(20, 25)]
    assert {r.received_at for r in rows} == {at} and {r.channel for r in rows} == {"mellat"}
    assert [r.actor for r in rows] == ["بانک ملت", "bank", "", "b", "bank"]
    assert [r.reason for r in rows] == [None, "amount", None, None, "no_bill"]
    assert [r.subscription_id for r in rows] == [5, None, 7, -3, None]
    assert [r.bill_ref for r in rows] == [0, 0, 0, 0, 0]
    assert [r.to_credit for r in rows] == [-1_500, 0, 3, -9_223_372_036_854_775_807, 10]
    assert [r.resolved_at for r in rows] == [
        None,
        datetime(2026, 11, 28, 10, 0, 1, tzinfo=UTC),
        None,
        None,
        datetime(1970, 1, 1, tzinfo=UTC),
    ]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    with engine.connect() as conn:  # stored as integers, not text, on SQLite too
        assert conn.execute(text("SELECT SUM(to_credit) FROM payment WHERE to_credit > 0")).scalar_one() == 13


def test_refuses_a_column_of_another_length(engine: Engine) -> None:
    with make_sessionmaker(engine)() as s, pytest.raises(ValueError, match="2 values, not 3"):
        insert_columns(s, "payment", {"amount": np.array([1, 2])}, 3)


def test_integers_for_a_text_column_and_copy_control_characters(engine: Engine) -> None:
    with make_sessionmaker(engine)() as s, s.begin():
        insert_columns(
            s,
            "payment",
            {
                "channel": "melli",
                "trace": ["a", "b\\n\tc\r\nd"],  # what COPY text escapes; a line break (SQLite: one by one)
                "bill_id": np.array([1234567, 10]),
                "payment_id": np.array([70, 5]),
                "amount": np.array([1, 2]),
                "paid_on": "2026-11-20",
                "received_at": "2026-11-28 00:00:00" if engine.dialect.name == "sqlite" else datetime.now(UTC),
                "actor": "b\\ank",
                "status": "posted",
                "to_credit": np.array([0, 0]),
            },
            2,
        )
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT trace, bill_id, payment_id, actor FROM payment ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("a", "1234567", "70", "b\\ank"), ("b\\n\tc\r\nd", "10", "5", "b\\ank")]


def test_text_of_many_values_and_of_few(engine: Engine) -> None:
    """SQLite sends a text column of few values as indexes into them (db._CHOICES), and one of more as padded
    cells, trimmed; both come back as given, NULLs too."""
    n = 40
    many = [None if k % 7 == 3 else "t" * (1 + k % 5) + str(k) for k in range(n)]  # 35 values and NULL
    few = [None if k % 3 == 0 else ("posted" if k % 2 else "x") for k in range(n)]
    with make_sessionmaker(engine)() as s, s.begin():
        insert_columns(
            s,
            "payment",
            {
                "channel": "mellat",
                "trace": [f"tr{k}" for k in range(n)],
                "bill_id": "1",
                "payment_id": "2",
                "amount": np.arange(n),
                "paid_on": "2026-11-20",
                "received_at": "2026-11-28 00:00:00" if engine.dialect.name == "sqlite" else datetime.now(UTC),
                "actor": ["b"] * n,
                "status": "posted",
                "reason": many,
                "note": few,
                "to_credit": 0,
            },
            n,
        )
    with engine.connect() as conn:
        got = conn.execute(text("SELECT reason, note FROM payment ORDER BY id")).all()
    assert [r.reason for r in got] == many
    assert [r.note for r in got] == few


def test_dates_moments_and_booleans_from_numpy(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy dates and moments (NaT is NULL) and booleans: text on SQLite, COPY's binary form on PostgreSQL
    (the text form is not used there: it raises here)."""

    def no_text(*_args: object) -> None:
        raise AssertionError("COPY text used")

    monkeypatch.setattr(db, "_copy_text", no_text)
    monkeypatch.setattr(db, "_COPY_BLOCK", 3)
    days = np.array(["2026-11-20", "NaT", "2026-12-01", "1999-12-31"], dtype="datetime64[D]")
    moments = np.array(
        ["2026-11-20T05:30:00", "NaT", "2026-12-01T23:59:59", "1969-07-20T20:17:40.250"], dtype="datetime64[ms]"
    )
    with make_sessionmaker(engine)() as s, s.begin():
        insert_columns(
            s,
            "meter_read",
            {
                "subscription_id": np.array([1, 2, 3, 4]),
                "read_on": np.array(["2026-11-21", "2026-11-22", "2026-12-02", "2000-01-01"], dtype="datetime64[D]"),
                "prev_read_on": days,
                "code": ["read", "door_closed", "read", "بسته"],
                "source": "handheld",
                "active": Nullable(np.array([5, 0, 2**40, 7]), np.array([False, True, False, False])),
                "maximeter_kw": np.array([1, -2, 0, 2**31 - 1]),
                "estimated": np.array([True, False, True, False]),
                "status": "valid",
                "reason": [None, "x", None, "ok"],
                "read_at": moments,
                "batch_id": None,
            },
            4,
        )
    with make_sessionmaker(engine)() as s:
        rows = s.scalars(select(MeterRead).order_by(MeterRead.id)).all()
    assert [r.read_on for r in rows] == [date(2026, 11, 21), date(2026, 11, 22), date(2026, 12, 2), date(2000, 1, 1)]
    assert [r.prev_read_on for r in rows] == [date(2026, 11, 20), None, date(2026, 12, 1), date(1999, 12, 31)]
    assert [r.code for r in rows] == ["read", "door_closed", "read", "بسته"]
    assert [r.active for r in rows] == [5, None, 2**40, 7]
    assert [r.maximeter_kw for r in rows] == [1, -2, 0, 2**31 - 1]
    assert [r.estimated for r in rows] == [True, False, True, False]
    assert [r.reason for r in rows] == [None, "x", None, "ok"]
    assert [r.read_at for r in rows] == [
        datetime(2026, 11, 20, 5, 30, tzinfo=UTC),
        None,
        datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC),
        datetime(1969, 7, 20, 20, 17, 40, 250_000, tzinfo=UTC),
    ]
    assert {r.source for r in rows} == {"handheld"} and {r.batch_id for r in rows} == {None}


def test_a_date_sqlite_cannot_write_is_refused(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("COPY's binary form takes any date PostgreSQL keeps")
    with make_sessionmaker(engine)() as s, pytest.raises(ValueError, match="years 1 to 9999"):
        insert_columns(s, "meter_read", {"read_on": np.array(["12026-01-01"], dtype="datetime64[D]")}, 1)


def test_a_number_too_large_for_its_column_is_refused(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite keeps any integer")
    with make_sessionmaker(engine)() as s, pytest.raises(ValueError, match="maximeter_kw"):
        insert_columns(
            s,
            "meter_read",
            {
                "subscription_id": 1,
                "read_on": np.array(["2026-11-21"], dtype="datetime64[D]"),
                "code": ["read"],
                "source": "handheld",
                "maximeter_kw": np.array([2**31]),
                "estimated": False,
                "status": "valid",
            },
            1,
        )


def test_sqlite_without_json_counts_rows_recursively(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before SQLite 3.38 (no JSON built in) the rows are counted by a recursive counter: same rows, same order."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's counter")
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 37, 2))
    monkeypatch.setattr(db, "_COPY_BLOCK", 3)
    sql, _ = db._sqlite_block("payment", {"amount": db._encode(np.array([1]), 1)}, 1)
    assert "RECURSIVE" in sql and "json_each" not in sql
    with make_sessionmaker(engine)() as s, s.begin():
        insert_columns(
            s,
            "payment",
            {
                "channel": "mellat",
                "trace": [f"t{k}" for k in range(7)],
                "bill_id": "1",
                "payment_id": "2",
                "amount": np.arange(7) * 10,
                "paid_on": "2026-11-20",
                "received_at": "2026-11-28 00:00:00",
                "actor": "b",
                "status": "posted",
                "to_credit": 0,
            },
            7,
        )
    with make_sessionmaker(engine)() as s:
        rows = s.scalars(select(Payment).order_by(Payment.id)).all()
    assert [(r.trace, r.amount) for r in rows] == [(f"t{k}", 10 * k) for k in range(7)]
