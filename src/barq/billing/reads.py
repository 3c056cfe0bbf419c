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

from barq.db import fetch_columns

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


def epoch_days(column: str, sqlite: bool) -> str:
    """SQL for a date column as whole days since 1970-01-01 (numpy's datetime64[D] epoch)."""
    if sqlite:
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"
    return f"({column} - DATE '1970-01-01')"


class TableReadSource:
    """Validated reads of the ``meter_read`` table; the last one in the window wins."""

    def consumption(self, session: Session, *, start: date, end: date) -> ReadColumns:
        sqlite = session.get_bind().dialect.name == "sqlite"
        estimated = "estimated" if sqlite else "CASE WHEN estimated THEN 1 ELSE 0 END"
        cols = fetch_columns(
            session,
            f"SELECT subscription_id, {epoch_days('prev_read_on', sqlite)}, {epoch_days('read_on', sqlite)}, kwh, "
            "COALESCE(peak_kwh, -1), COALESCE(offpeak_kwh, -1), COALESCE(maximeter_kw, -1), COALESCE(reactive, -1), "
            f"{estimated} FROM meter_read WHERE status = 'valid' "
            f"AND read_on >= '{start.isoformat()}' AND read_on <= '{end.isoformat()}' "
            "AND kwh IS NOT NULL AND prev_read_on IS NOT NULL ORDER BY subscription_id, read_on",
        )
        if not cols[0]:
            cols = [()] * 9
        ints = [np.array(c, dtype=np.int64) for c in cols]
        sub = ints[0]
        last = np.ones(len(sub), dtype=bool)
        last[:-1] = sub[1:] != sub[:-1]
        return ReadColumns(
            subscription_id=sub[last],
            prev_date=ints[1][last].astype("datetime64[D]"),
            cur_date=ints[2][last].astype("datetime64[D]"),
            kwh=ints[3][last],
            peak_kwh=ints[4][last],
            offpeak_kwh=ints[5][last],
            maximeter_kw=ints[6][last],
            reactive=ints[7][last],
            estimated=ints[8][last] == 1,
        )
