"""The one interface through which a bill run takes validated reads and estimates.

``ReadSource.consumption`` returns, for one reading window, the consumption of every subscription
that has a validated read (or estimate) in it, as columns. The reads come from the ``meter_read``
table, filled by the read pipeline (``barq.reading.pipeline``): ``kwh`` there is what a read bills, an
actual read having already deducted what earlier estimates billed.
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
    """Validated reads and estimates of the ``meter_read`` table. A subscription with several in the window
    (an estimate, then an actual read that settles it) is billed for all of them: their kWh add up, the
    period runs from the first one's start to the last one's date, and it is an estimate only if the last
    one is. Time-of-use parts add up when every read has them."""

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
        first = np.ones(len(sub), dtype=bool)
        first[1:] = sub[1:] != sub[:-1]
        starts = np.flatnonzero(first)

        def total(values: I64) -> I64:
            """Sum per subscription; -1 (no register) when any of its reads lacks the part."""
            if len(values) == 0:
                return values
            sums = np.add.reduceat(values, starts)
            missing = np.add.reduceat((values < 0).astype(np.int64), starts) > 0
            return np.where(missing, -1, sums).astype(np.int64)

        return ReadColumns(
            subscription_id=sub[last],
            prev_date=ints[1][first].astype("datetime64[D]"),
            cur_date=ints[2][last].astype("datetime64[D]"),
            kwh=np.add.reduceat(ints[3], starts).astype(np.int64) if len(sub) else ints[3],
            peak_kwh=total(ints[4]),
            offpeak_kwh=total(ints[5]),
            maximeter_kw=np.maximum.reduceat(ints[6], starts).astype(np.int64) if len(sub) else ints[6],
            reactive=total(ints[7]),
            estimated=ints[8][last] == 1,
        )
