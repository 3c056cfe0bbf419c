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


def to_dates(values: list[object]) -> NDArray[np.datetime64]:
    """SQLite gives ISO strings, PostgreSQL gives dates; both become datetime64[D]."""
    return np.array([str(v) for v in values], dtype="datetime64[D]") if values else np.array([], "datetime64[D]")


class TableReadSource:
    """Validated reads of the ``meter_read`` table; the last one in the window wins."""

    def consumption(self, session: Session, *, start: date, end: date) -> ReadColumns:
        cur = raw_connection(session).cursor()
        placeholder = "?" if session.get_bind().dialect.name == "sqlite" else "%s"
        cur.execute(
            "SELECT subscription_id, prev_read_on, read_on, kwh, peak_kwh, offpeak_kwh, maximeter_kw, reactive, "
            "estimated FROM meter_read "
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
            prev_date=to_dates(list(cols[1]))[last],
            cur_date=to_dates(list(cols[2]))[last],
            kwh=ints(cols[3]),
            peak_kwh=ints(cols[4]),
            offpeak_kwh=ints(cols[5]),
            maximeter_kw=ints(cols[6]),
            reactive=ints(cols[7]),
            estimated=np.array([bool(v) for v in cols[8]], dtype=bool)[last],
        )
