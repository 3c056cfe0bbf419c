"""The reading state derived from the stored reads, in one set-based statement.

The read pipeline keeps ``reading_state`` current as reads arrive; this derives it from ``meter_read``
alone, for a database loaded from elsewhere (the demo's history, a migration from an older system) or after
a repair. For each subscription with valid reads:

- the last actual read (not an estimate): its register values, date and meter;
- ``last_on``: the date of the last valid read or estimate (the end of the last billed period);
- ``estimated_kwh``: all kWh billed minus all register advance billed so far (what estimates billed ahead
  and the next actual read must settle), never below zero;
- ``door_closed_run``: valid door-closed visits since the last visit with any other code;
- the last three actual periods: kWh advance, days, and date.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text
from sqlalchemy.orm import Session

STATE_COLUMNS: Final = (
    "subscription_id",
    "meter_id",
    "last_value",
    "last_peak",
    "last_offpeak",
    "last_actual_on",
    "last_on",
    "estimated_kwh",
    "door_closed_run",
    "h1_kwh",
    "h1_days",
    "h1_on",
    "h2_kwh",
    "h2_days",
    "h2_on",
    "h3_kwh",
    "h3_days",
    "h3_on",
)


def _sql(sqlite: bool) -> str:
    days = (
        "CAST(julianday(read_on) - julianday(COALESCE(prev_actual_on, prev_read_on)) AS INTEGER)"
        if sqlite
        else "(read_on - COALESCE(prev_actual_on, prev_read_on))"
    )
    return f"""
WITH act AS (
  SELECT subscription_id, meter_id, read_on, active, peak, offpeak, COALESCE(actual_kwh, kwh) AS k, {days} AS d,
    ROW_NUMBER() OVER (PARTITION BY subscription_id ORDER BY read_on DESC, id DESC) AS rn
  FROM meter_read WHERE status = 'valid' AND NOT estimated AND COALESCE(actual_kwh, kwh) IS NOT NULL
),
agg AS (
  SELECT subscription_id, MAX(read_on) AS last_on,
    SUM(COALESCE(kwh, 0)) - SUM(CASE WHEN estimated THEN 0 ELSE COALESCE(actual_kwh, kwh, 0) END) AS est
  FROM meter_read WHERE status = 'valid' GROUP BY subscription_id
),
other_visit AS (
  SELECT subscription_id, MAX(read_on) AS d FROM meter_read
  WHERE code NOT IN ('door_closed', 'estimate') GROUP BY subscription_id
),
dc AS (
  SELECT m.subscription_id, COUNT(*) AS n FROM meter_read m
  LEFT JOIN other_visit o ON o.subscription_id = m.subscription_id
  WHERE m.code = 'door_closed' AND m.status = 'valid' AND (o.d IS NULL OR m.read_on > o.d)
  GROUP BY m.subscription_id
)
INSERT INTO reading_state ({", ".join(STATE_COLUMNS)})
SELECT agg.subscription_id, a1.meter_id, a1.active, a1.peak, a1.offpeak, a1.read_on, agg.last_on,
  CASE WHEN agg.est > 0 THEN agg.est ELSE 0 END, COALESCE(dc.n, 0),
  a1.k, a1.d, a1.read_on, a2.k, a2.d, a2.read_on, a3.k, a3.d, a3.read_on
FROM agg
LEFT JOIN act a1 ON a1.subscription_id = agg.subscription_id AND a1.rn = 1
LEFT JOIN act a2 ON a2.subscription_id = agg.subscription_id AND a2.rn = 2
LEFT JOIN act a3 ON a3.subscription_id = agg.subscription_id AND a3.rn = 3
LEFT JOIN dc ON dc.subscription_id = agg.subscription_id
"""


def rebuild_state(session: Session) -> int:
    """Replace every reading state with the one the stored reads give; returns how many there are."""
    session.execute(text("DELETE FROM reading_state"))
    session.execute(text(_sql(session.get_bind().dialect.name == "sqlite")))
    return int(session.execute(text("SELECT COUNT(*) FROM reading_state")).scalar_one())
