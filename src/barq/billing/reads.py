"""The one interface through which a bill run takes validated reads and estimates.

``ReadSource.consumption`` returns, for one reading window, the consumption of every subscription
that has a validated read (or estimate) in it, as columns. Today the reads come from the
``meter_read`` table (filled by the demo generator, and by meter reading once it lands).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from barq.db import raw_connection

I64 = NDArray[np.int64]


@dataclass(frozen=True)
class ReadColumns:
    """One row per subscription, sorted by subscription id. -1 in the TOU columns: no such register."""

    subscription_id: I64
    prev_date: NDArray[np.datetime64]
    cur_date: NDArray[np.datetime64]
    kwh: I64
    peak_kwh: I64
    offpeak_kwh: I64
    maximeter_kw: I64
    reactive: I64
    estimated: NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.subscription_id.shape[0])


class ReadSource(Protocol):
    def consumption(self, session: Session, *, start: date, end: date) -> ReadColumns: ...


def _epoch_days(column: str, sqlite: bool) -> str:
    """SQL for a date column as whole days since 1970-01-01 (numpy's datetime64[D] epoch)."""
    if sqlite:
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"
    return f"({column} - DATE '1970-01-01')"


class TableReadSource:
    """Validated reads of the ``meter_read`` table; the last one in the window wins."""

    def consumption(self, session: Session, *, start: date, end: date) -> ReadColumns:
        cur = raw_connection(session).cursor()
        sqlite = session.get_bind().dialect.name == "sqlite"
        placeholder = "?" if sqlite else "%s"
        cur.execute(
            f"SELECT subscription_id, {_epoch_days('prev_read_on', sqlite)}, {_epoch_days('read_on', sqlite)}, kwh, "
            "peak_kwh, offpeak_kwh, maximeter_kw, reactive, estimated FROM meter_read "
            f"WHERE status = 'valid' AND read_on >= {placeholder} AND read_on <= {placeholder} "
            "AND kwh IS NOT NULL AND prev_read_on IS NOT NULL ORDER BY subscription_id, read_on",
            (start.isoformat(), end.isoformat()),
        )
        rows = cur.fetchall()
        cur.close()
        if not rows:
            empty = np.array([], dtype=np.int64)
            nodate = np.array([], dtype="datetime64[D]")
            return ReadColumns(empty, nodate, nodate, empty, empty, empty, empty, empty, np.array([], dtype=bool))
        cols = list(zip(*rows, strict=True))
        sub = np.array(cols[0], dtype=np.int64)
        last = np.ones(len(sub), dtype=bool)
        last[:-1] = sub[1:] != sub[:-1]

        def ints(values: tuple[object, ...]) -> I64:
            return np.array([-1 if v is None else v for v in values], dtype=np.int64)[last]

        return ReadColumns(
            subscription_id=sub[last],
            prev_date=np.array(cols[1], dtype=np.int64)[last].astype("datetime64[D]"),
            cur_date=np.array(cols[2], dtype=np.int64)[last].astype("datetime64[D]"),
            kwh=ints(cols[3]),
            peak_kwh=ints(cols[4]),
            offpeak_kwh=ints(cols[5]),
            maximeter_kw=ints(cols[6]),
            reactive=ints(cols[7]),
            estimated=np.array([bool(v) for v in cols[8]], dtype=bool)[last],
        )
