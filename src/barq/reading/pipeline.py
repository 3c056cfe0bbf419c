"""Reads arriving, validated, estimated and stored, set-based (architecture rule 8; docs/reading-files.md).

``import_reads`` takes parsed rows (``incoming.Incoming``) from any source and, in the caller's transaction:

1. records a ``read_batch`` (a file's SHA-256 makes the same file twice a no-op);
2. finds each row's subscription, meter and ``reading_state`` with one query, and refuses rows that name an
   unknown subscription, one outside the sender's scope, a subscription without a meter, a register beyond
   the meter's digits, a second read of one subscription in the same arrival, or a read that differs from
   one already stored for that subscription, date and source; a read stored before is counted as a
   duplicate and changes nothing;
3. evaluates every row at once (``evaluate``): the validation rules of ``metering.validation`` against the
   last actual read, estimates (علی‌الحساب) for door-closed, broken and missing meters from the expected
   consumption of ``metering.estimates``, and the settlement of earlier estimates by this actual read;
4. writes the reads (valid or exception) in bulk, moves ``reading_state`` forward for the valid ones, and
   marks subscriptions with three door-closed visits in a row as disconnection candidates with a notice.

**Settlement.** An actual read after estimates bills the register advance since the last actual read minus
the kWh the estimates billed. When the estimates billed more than was used, the read bills 0 and the rest
stays in ``reading_state.estimated_kwh`` to come off the next actual read: every kWh the register advances
is billed exactly once, never twice and never as a negative energy line.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.bulk import without_gc
from barq.clock import Clock
from barq.db import Nullable, fetch_columns, fetch_int_columns, insert_columns
from barq.errors import PermissionDenied
from barq.metering import estimates, validation
from barq.metering.models import READ_CODES, READ_SOURCES, ReadBatch
from barq.reading.config import ReadingConfig, reading_config
from barq.reading.incoming import MISSING, Incoming, RowError, errors_csv

I64 = NDArray[np.int64]
Bools = NDArray[np.bool_]
Progress = Callable[[str, int, int], None]

ESTIMATE_CODES: Final = frozenset(estimates.ESTIMATE_CODES) | {"estimate"}
DECISION_CODES: Final = ("tamper", "replaced", "hazard")
"""Codes that always need a clerk's decision (the exception queue)."""
DATE_REASONS: Final = frozenset({"future_date", "before_last_read", "same_day"})
REASON_TITLES_FA: Final = {
    **validation.REASON_TITLES_FA,
    "tamper": "مشکوک به دستکاری",
    "replaced": "کنتور در محل با کنتور پرونده فرق دارد",
    "hazard": "خطر جانی؛ قرائت نشد",
}
_CODES: Final = tuple(READ_CODES)
_CODE_INDEX: Final = {c: k for k, c in enumerate(_CODES)}
_REASONS: Final = (*validation.REASONS, *DECISION_CODES)
"""What an evaluated read can be stored with as its reason: ``evaluate`` works on indexes into this."""
_REASON_NAMES: Final = np.array(_REASONS, dtype=object)
_IS_ESTIMATE: Final = np.array([c in ESTIMATE_CODES for c in _CODES])
_DECISION_REASON: Final = np.array([_REASONS.index(c) if c in DECISION_CODES else -1 for c in _CODES])
"""Per read code: its reason when it is a code that needs a clerk's decision, else -1."""
NOTICE_KIND: Final = "door_closed_three"
_EPOCH: Final = date(1970, 1, 1).toordinal()
_FULL_LOAD: Final = 20_000
"""Above this many rows the lookup reads every subscription once instead of searching by number."""


def _day(d: date) -> int:
    return d.toordinal() - _EPOCH


# ------------------------------------------------------------------------------------------ context


_SUBSCRIPTION: Final = (
    # field, expression; the first is the number (text), the rest integers
    ("number", "s.subscription_number"),
    ("sub_id", "s.id"),
    ("district_id", "s.district_id"),
    ("route_id", "COALESCE(s.route_id, -1)"),
    ("supply_active", "CASE WHEN s.supply_state = 'active' THEN 1 ELSE 0 END"),
    ("tariff_group", "s.tariff_group"),
)
# the other tables: (FROM, key, [(field, expression, value where the row or the value is missing)])
_ROUTE: Final = (
    "FROM route r",
    "r.id",
    (("route_reader", "COALESCE(r.reader_id, -1)", -1), ("route_contractor", "COALESCE(r.contractor_id, -1)", -1)),
)
_INSTALLATION: Final = (
    "FROM meter_installation mi WHERE mi.removed_on IS NULL",
    "mi.subscription_id",
    (
        ("meter_id", "mi.meter_id", -1),
        ("inst_initial", "mi.initial_read", 0),
        ("inst_on", "{mi.installed_on}", -1),
    ),
)
_METER: Final = (
    "FROM meter m",
    "m.id",
    (
        ("digits", "m.digits", 0),
        ("multiplier", "COALESCE(m.multiplier, 1)", 1),
        ("tou", "CASE WHEN m.kind IN ('tou', 'demand') THEN 1 ELSE 0 END", 0),
    ),
)
_STATE: Final = (
    "FROM reading_state st",
    "st.subscription_id",
    (
        ("st_meter", "COALESCE(st.meter_id, -1)", -1),
        ("last_value", "COALESCE(st.last_value, -1)", -1),
        ("last_peak", "COALESCE(st.last_peak, -1)", -1),
        ("last_offpeak", "COALESCE(st.last_offpeak, -1)", -1),
        ("last_actual_on", "COALESCE({st.last_actual_on}, -1)", -1),
        ("last_on", "COALESCE({st.last_on}, -1)", -1),
        ("est_kwh", "st.estimated_kwh", -1),  # -1: the subscription has no reading state yet
        ("door_run", "st.door_closed_run", 0),
        *(
            item
            for j in (1, 2, 3)
            for item in (
                (f"h{j}_kwh", f"COALESCE(st.h{j}_kwh, -1)", -1),
                (f"h{j}_days", f"COALESCE(st.h{j}_days, -1)", -1),
                (f"h{j}_on", f"COALESCE({{st.h{j}_on}}, -1)", -1),
            )
        ),
    ),
)
CONTEXT_FIELDS: Final = (
    *(f for f, _ in _SUBSCRIPTION if f != "route_id"),
    *(f for f, _e, _d in _ROUTE[2] + _INSTALLATION[2] + _METER[2] + _STATE[2]),
)


def _epoch(column: str, sqlite: bool) -> str:
    """A date column as days since 1970 (NULL stays NULL). SQLite's ``unixepoch`` (3.38 and later) costs a
    third less than ``julianday``."""
    if sqlite:
        if sqlite3.sqlite_version_info >= (3, 38):
            return f"(unixepoch({column}) / 86400)"
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"
    return f"({column} - DATE '1970-01-01')"


def _dates(expr: str, sqlite: bool) -> str:
    """``{table.column}`` in an expression: that date as days since 1970."""
    out, rest = "", expr
    while "{" in rest:
        head, _, tail = rest.partition("{")
        column, _, rest = tail.partition("}")
        out += head + _epoch(column, sqlite)
    return out + rest


def _ints_in(column: str, values: I64) -> str:
    return f"{column} IN ({', '.join(str(int(v)) for v in np.unique(values).tolist())})" if len(values) else "1 = 0"


def _table(session: Session, part: tuple[str, str, tuple[tuple[str, str, int], ...]], keys: I64 | None) -> list[I64]:
    """One table's key and columns, for the given keys (``None``: every row)."""
    tail, key, columns = part
    if keys is not None:
        tail += (" AND " if " WHERE " in tail else " WHERE ") + _ints_in(key, keys)
    sqlite = _is_sqlite(session)
    return fetch_int_columns(session, [key, *(_dates(e, sqlite) for _f, e, _d in columns)], tail, narrow=True)


def _align(part: tuple[str, str, tuple[tuple[str, str, int], ...]], got: list[I64], wanted: I64) -> dict[str, I64]:
    """The table's columns for each wanted key (its default where the table has no row for it; of two rows
    with one key, the one read later)."""
    keys = got[0]
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], wanted, side="right") - 1
    pos_c = np.maximum(pos, 0)
    src = order[pos_c] if len(keys) else pos_c
    hit = (pos >= 0) & (keys[src] == wanted) if len(keys) else np.zeros(len(wanted), dtype=np.bool_)
    return {
        field: np.where(hit, values[src], default) if len(keys) else np.full(len(wanted), default, dtype=np.int64)
        for (field, _e, default), values in zip(part[2], got[1:], strict=True)
    }


def read_context(
    session: Session, numbers: Sequence[str] | None, states: Future[list[I64]] | None = None
) -> tuple[list[str], dict[str, I64]]:
    """The context of the subscriptions with these numbers (``None``: of every subscription), in no particular
    order: their numbers, and a column per field of ``CONTEXT_FIELDS`` after the number. ``states``: every
    reading state, being read on another connection (``ContextAhead``).

    Each table is read alone and the rows are joined here by their keys: on PostgreSQL the four joins of one
    query over a million subscriptions cost more than reading the tables (docs/performance.md)."""
    exprs = [e for _f, e in _SUBSCRIPTION]
    if numbers is None:
        chunks = [fetch_int_columns(session, exprs, "FROM subscription s", text_first=True)]
    else:
        unique = sorted(set(numbers))
        chunks = [
            fetch_int_columns(
                session,
                exprs,
                f"FROM subscription s WHERE s.subscription_number IN ({_sql_list(unique[k : k + 500])})",
                text_first=True,
            )
            for k in range(0, len(unique), 500)
        ] or [[[]] + [np.zeros(0, dtype=np.int64)] * (len(exprs) - 1)]
    known = [n for chunk in chunks for n in chunk[0]]
    cols = {f: np.concatenate([chunk[k] for chunk in chunks]) for k, (f, _e) in enumerate(_SUBSCRIPTION) if k}
    ids = None if numbers is None else cols["sub_id"]
    cols.update(_align(_ROUTE, _table(session, _ROUTE, None), cols.pop("route_id")))
    cols.update(_align(_INSTALLATION, _table(session, _INSTALLATION, ids), cols["sub_id"]))
    meter_ids = None if numbers is None else cols["meter_id"][cols["meter_id"] >= 0]
    cols.update(_align(_METER, _table(session, _METER, meter_ids), cols["meter_id"]))
    state_rows = states.result() if states is not None else _table(session, _STATE, ids)
    cols.update(_align(_STATE, state_rows, cols["sub_id"]))
    return known, cols


@dataclass
class Context:
    """Per row: the subscription, its current meter and its reading state (``-1`` where there is none)."""

    cols: dict[str, I64]
    found: Bools

    def __getitem__(self, name: str) -> I64:
        return self.cols[name]

    def subset(self, idx: I64) -> Context:
        if idx.shape[0] == self.found.shape[0] and bool((idx == np.arange(idx.shape[0])).all()):
            return self
        return Context(cols={k: v[idx] for k, v in self.cols.items()}, found=self.found[idx])


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "") + "'" for v in values)


def _number_keys(*columns: Sequence[str]) -> list[NDArray[Any]]:
    """Subscription numbers as integers when that keeps equal numbers equal and different ones different:
    every one plain digits, and either all of one length or none with a leading zero. Sorting and searching
    a million of them is then several times faster than as text. Otherwise as text."""
    joined = [",".join(c) for c in columns]
    sizes = [len(c) for c in columns]
    lengths = np.concatenate([np.fromiter(map(len, c), dtype=np.int64, count=len(c)) for c in columns])
    digits = all(
        j.replace(",", "").isdigit() and j.isascii() and j.count(",") == max(n - 1, 0)
        for j, n in zip(joined, sizes, strict=True)
        if n
    )
    same_length = len(lengths) == 0 or lengths.min() == lengths.max()
    no_leading_zero = all(",0" not in "," + j for j in joined)
    if digits and lengths.max(initial=0) <= 18 and (same_length or no_leading_zero):
        return [
            np.fromstring(j, dtype=np.int64, sep=",") if n else np.zeros(0, dtype=np.int64)
            for j, n in zip(joined, sizes, strict=True)
        ]
    return [np.array(c, dtype=np.str_) if len(c) else np.zeros(0, dtype="<U14") for c in columns]


def _every_state(engine: Engine) -> list[I64]:
    with Session(engine) as s:
        return _table(s, _STATE, None)


def _all_context(engine: Engine, states: Future[list[I64]]) -> tuple[list[str], dict[str, I64]]:
    """Every subscription's context, on a connection of its own; the reading states come from another."""
    with Session(engine) as s:
        return read_context(s, None, states)


class ContextAhead:
    """Every subscription's context read on two more connections (the reading states on one, the other tables
    on the other) while the caller parses a large file, for ``import_reads(ahead=…)``: above ``_FULL_LOAD``
    rows the lookup reads every subscription, whatever the file holds, so the read need not wait for the
    parse (docs/performance.md).

    It first takes the import's lock in the caller's transaction, so nothing the side read sees can change
    before the import writes; the caller's transaction must not have written anything yet (the side read
    would not see it). Below ``_FULL_LOAD`` expected rows it does nothing. Leaving the ``with`` block waits
    for the side read."""

    def __init__(self, session: Session, expected_rows: int) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._future: Future[tuple[list[str], dict[str, I64]]] | None = None
        if expected_rows > _FULL_LOAD:
            _lock(session)
            engine = session.get_bind().engine
            self._pool = ThreadPoolExecutor(max_workers=2)
            states = self._pool.submit(_every_state, engine)
            self._future = self._pool.submit(_all_context, engine, states)

    def __enter__(self) -> ContextAhead:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def everything(self) -> tuple[list[str], dict[str, I64]] | None:
        return self._future.result() if self._future is not None else None


def load_context(session: Session, numbers: Sequence[str], ahead: ContextAhead | None = None) -> Context:
    """Context for each subscription number (aligned with ``numbers``); ``found`` false for unknown ones.
    Above ``_FULL_LOAD`` numbers every subscription is read (one scan a table beats searching)."""
    if len(numbers) > _FULL_LOAD:
        read = (ahead.everything() if ahead is not None else None) or read_context(session, None)
    else:
        read = read_context(session, numbers)
    known_numbers, columns = read
    known, wanted = _number_keys(known_numbers, numbers)
    order = np.argsort(known)
    known_sorted = known[order]
    pos = np.searchsorted(known_sorted, wanted)
    pos_c = np.minimum(pos, max(len(known_sorted) - 1, 0))
    found = (
        (pos < len(known_sorted)) & (known_sorted[pos_c] == wanted)
        if len(known_sorted)
        else np.zeros(len(wanted), bool)
    )
    src = order[pos_c] if len(known_sorted) else np.zeros(len(wanted), dtype=np.int64)
    every = bool(found.all())
    cols: dict[str, I64] = {}
    for name in CONTEXT_FIELDS[1:]:
        arr = columns[name]
        cols[name] = arr[src] if every else np.where(found, arr[src] if len(arr) else 0, -1)
    return Context(cols=cols, found=found)


# ------------------------------------------------------------------------------------------ evaluate


@dataclass
class Evaluated:
    """Per row: what is stored in ``meter_read`` (``advance_state`` then moves the reading state past it)."""

    status: NDArray[np.str_]  # valid | exception
    reason: list[str]
    kwh: I64  # billed kWh; MISSING on exceptions
    actual_kwh: I64  # register advance × multiplier since the last actual read; MISSING on estimates
    peak_kwh: I64
    offpeak_kwh: I64
    estimated: Bools
    prev_read_on: I64  # epoch days, -1 none
    prev_actual_on: I64
    valid: Bools
    visit: Bools
    actual: Bools  # rows with a register value that counts (not an estimate, not a code without value)
    door_run: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # door-closed visits in a row


def _periods(ctx: Context) -> tuple[I64, I64, I64]:
    """The kept actual periods of each row, oldest first (h3, h2, h1): kWh, days and read day as (rows, 3)
    matrices, -1 where absent."""
    kwh, days, on = (np.stack([ctx[f"h{j}_{c}"] for j in (3, 2, 1)], axis=1) for c in ("kwh", "days", "on"))
    return kwh, days, on


def expected_daily(session: Session, ctx: Context, as_of: I64, config: ReadingConfig) -> tuple[I64, NDArray[np.int8]]:
    """Expected daily kWh (thousandths) per row: the last three actual periods, the same season last year
    (looked up in ``meter_read`` only for rows without recent history), or the tariff group's default."""
    exp = estimates.expected_daily_periods(
        *_periods(ctx),
        as_of=as_of.astype("datetime64[D]"),
        tariff_class=ctx["tariff_group"],
        defaults=config.default_kwh_per_30_days,
        rules=config.rules,
    )
    daily, source = exp.daily_milli, exp.source
    recent = (ctx["h1_on"] >= 0) & (ctx["h1_on"] > as_of - config.rules.recent_days)
    need_year = np.flatnonzero(~recent & (ctx["sub_id"] >= 0))
    if need_year.shape[0]:  # their history and last year's reads, the general way
        sub, rows, sub_as_of = ctx.subset(need_year), np.arange(need_year.shape[0], dtype=np.int64), as_of[need_year]
        year = estimates.expected_daily(
            _with_last_year(session, sub, rows, sub_as_of, estimates.periods_history(*_periods(sub)), config),
            subscription_id=rows,
            as_of=sub_as_of.astype("datetime64[D]"),
            tariff_class=sub["tariff_group"],
            defaults=config.default_kwh_per_30_days,
            rules=config.rules,
        )
        daily[need_year], source[need_year] = year.daily_milli, year.source
    return daily, source


def _with_last_year(
    session: Session, ctx: Context, rows: I64, as_of: I64, hist: estimates.HistoryColumns, config: ReadingConfig
) -> estimates.HistoryColumns:
    sqlite = _is_sqlite(session)
    row_of = {int(ctx["sub_id"][i]): int(i) for i in rows.tolist()}
    ids = sorted(row_of)
    lo = int(as_of[rows].min()) - 365 - config.rules.season_half_days
    hi = int(as_of[rows].max()) - 365 + config.rules.season_half_days
    found: list[list[Any]] = [[], [], [], []]
    for k in range(0, len(ids), 500):
        part = ", ".join(str(i) for i in ids[k : k + 500])
        cols = fetch_columns(
            session,
            f"SELECT subscription_id, {_epoch('COALESCE(prev_actual_on, prev_read_on)', sqlite)}, "
            f"{_epoch('read_on', sqlite)}, COALESCE(actual_kwh, kwh) FROM meter_read "
            f"WHERE subscription_id IN ({part}) AND status = 'valid' AND estimated = {'0' if sqlite else 'false'} "
            f"AND COALESCE(actual_kwh, kwh) >= 0 AND COALESCE(prev_actual_on, prev_read_on) IS NOT NULL "
            f"AND {_epoch('read_on', sqlite)} BETWEEN {lo} AND {hi}",
        )
        for j in range(4):
            found[j].extend(cols[j])
    if not found[0]:
        return hist
    target = np.array([row_of[int(s)] for s in found[0]], dtype=np.int64)
    prev = np.array(found[1], dtype=np.int64)
    read = np.array(found[2], dtype=np.int64)
    ok = read > prev
    return estimates.HistoryColumns(
        subscription_id=np.concatenate([hist.subscription_id, target[ok]]),
        prev_date=np.concatenate([hist.prev_date, prev[ok].astype("datetime64[D]")]),
        read_date=np.concatenate([hist.read_date, read[ok].astype("datetime64[D]")]),
        kwh=np.concatenate([hist.kwh, np.array(found[3], dtype=np.int64)[ok]]),
        estimated=np.zeros(int(hist.kwh.shape[0]) + int(ok.sum()), dtype=np.bool_),
    )


def old_meters(session: Session, ctx: Context, rows: I64) -> tuple[I64, I64]:
    """For rows whose meter changed since the last actual read: the old meter's final read and digits."""
    final = np.zeros(int(rows.shape[0]), dtype=np.int64)
    digits = np.zeros(int(rows.shape[0]), dtype=np.int64)
    for k, i in enumerate(rows.tolist()):
        found = session.execute(
            text(
                "SELECT mi.final_read, m.digits FROM meter_installation mi JOIN meter m ON m.id = mi.meter_id "
                "WHERE mi.subscription_id = :s AND mi.meter_id = :m ORDER BY mi.id DESC"
            ),
            {"s": int(ctx["sub_id"][i]), "m": int(ctx["st_meter"][i])},
        ).first()
        final[k] = int(found[0] or 0) if found else 0
        digits[k] = int(found[1]) if found else int(ctx["digits"][i])
    return final, digits


def code_index(code: Sequence[str]) -> NDArray[np.intp]:
    """Read codes (``models.READ_CODES``) as indexes into ``_CODES``: a million compared as numbers, not text."""
    return np.fromiter(map(_CODE_INDEX.__getitem__, code), dtype=np.intp, count=len(code))


def evaluate(
    session: Session,
    ctx: Context,
    *,
    code: Sequence[str],
    registers: dict[str, I64],
    read_on: I64,
    today: date,
    config: ReadingConfig,
    accept: Bools | None = None,
) -> Evaluated:
    """The outcome of N reads (one per subscription) against their context, all at once.

    ``accept`` marks rows a clerk accepted from the exception queue: their consumption limits no longer
    apply (dates still do; the caller refuses those)."""
    n = len(code)
    kind = code_index(code)
    is_est = _IS_ESTIMATE[kind]
    decision = _DECISION_REASON[kind]
    decision_no_value = (decision >= 0) & (registers["active"] == MISSING)
    actual = ~is_est & ~decision_no_value
    first = ctx["last_value"] < 0
    prev_value = np.where(first, ctx["inst_initial"], ctx["last_value"])
    prev_actual = np.where(first | (ctx["last_actual_on"] < 0), ctx["inst_on"], ctx["last_actual_on"])
    last_on = np.where(ctx["last_on"] < 0, prev_actual, np.maximum(ctx["last_on"], prev_actual))
    mult = np.maximum(ctx["multiplier"], 1)

    daily, _ = expected_daily(session, ctx, read_on, config)
    # limits are on register units: the expected daily kWh divided by the multiplier
    daily_reg = (daily + mult // 2) // mult

    replaced = actual & ~first & (ctx["st_meter"] >= 0) & (ctx["st_meter"] != ctx["meter_id"])
    old_final = np.zeros(n, dtype=np.int64)
    old_digits = ctx["digits"].copy()
    rep_rows = np.flatnonzero(replaced)
    if rep_rows.shape[0]:
        old_final[rep_rows], old_digits[rep_rows] = old_meters(session, ctx, rep_rows)
    new_value = np.where(actual, registers["active"], prev_value)
    digits = np.where(ctx["digits"] > 0, ctx["digits"], 9)
    checked = validation.validate_reads(
        validation.ValidationColumns(
            prev_value=np.where(actual, prev_value, 0),
            prev_date=prev_actual.astype("datetime64[D]"),
            new_value=np.where(actual, new_value, 0),
            new_date=read_on.astype("datetime64[D]"),
            digits=digits,
            expected_daily_milli=np.where(accept if accept is not None else False, -1, daily_reg),
            active=ctx["supply_active"] == 1,
            replaced=replaced,
            old_final=old_final,
            new_initial=np.where(replaced, ctx["inst_initial"], 0),
            old_digits=np.where(replaced, old_digits, digits),
        ),
        today=today,
        limits=config.limits,
    )
    ok, why = validation.OK, validation.REASON_INDEX
    reason = checked.reason.astype(np.int64)
    if accept is not None:
        reason = np.where(accept & (reason == why["zero_on_active"]), ok, reason)
    # periods are counted from the end of the last billed period (an estimate may be later than the last actual)
    since = read_on - last_on
    date_reason = np.where(
        read_on > _day(today),
        why["future_date"],
        np.where(since < 0, why["before_last_read"], np.where(since == 0, why["same_day"], ok)),
    )
    reason = np.where(date_reason != ok, date_reason, np.where(actual, reason, ok))
    reason = np.where((decision >= 0) & (date_reason == ok), decision, reason)
    valid = reason == ok
    visit = kind != _CODE_INDEX["estimate"]

    advance = checked.kwh * mult
    est_now = (
        estimates.estimate(
            np.maximum(daily, 0), last_on.astype("datetime64[D]"), np.maximum(read_on, last_on).astype("datetime64[D]")
        )
        if n
        else np.zeros(0, np.int64)
    )
    carried = np.maximum(ctx["est_kwh"], 0)
    billed_actual = np.maximum(advance - carried, 0)
    kwh = np.where(is_est, est_now, billed_actual)
    kwh = np.where(valid, kwh, MISSING)

    # time-of-use parts: the advance of each register; after estimates, scaled to the billed kWh
    peak_kwh = np.full(n, MISSING, dtype=np.int64)
    off_kwh = np.full(n, MISSING, dtype=np.int64)
    tou = actual & (ctx["tou"] == 1) & (registers["peak"] >= 0) & (registers["offpeak"] >= 0)
    tou_known = tou & ~replaced & (ctx["last_peak"] >= 0) & (ctx["last_offpeak"] >= 0)
    if tou_known.any():
        cap = 10 ** np.minimum(digits, 18)
        pk = ((registers["peak"] - ctx["last_peak"]) % cap) * mult
        of = ((registers["offpeak"] - ctx["last_offpeak"]) % cap) * mult
        scale_ok = tou_known & valid & (advance > 0) & (pk + of <= advance)
        safe = np.maximum(advance, 1)
        peak_kwh = np.where(scale_ok, pk * np.where(is_est, 0, billed_actual) // safe, MISSING)
        off_kwh = np.where(scale_ok, of * np.where(is_est, 0, billed_actual) // safe, MISSING)

    ev = Evaluated(
        status=np.where(valid, "valid", "exception"),
        reason=_REASON_NAMES[reason].tolist(),
        kwh=kwh.astype(np.int64),
        actual_kwh=np.where(actual, advance, MISSING).astype(np.int64),
        peak_kwh=peak_kwh,
        offpeak_kwh=off_kwh,
        estimated=is_est,
        prev_read_on=last_on,
        prev_actual_on=prev_actual,
        valid=valid,
        visit=visit,
        actual=actual,
    )
    ev.door_run = np.where(
        valid & (kind == _CODE_INDEX["door_closed"]), ctx["door_run"] + 1, np.where(visit, 0, ctx["door_run"])
    )
    return ev


# ------------------------------------------------------------------------------------------ writing


def day_column(days: I64) -> NDArray[np.datetime64]:
    """Epoch days as dates for ``insert_columns``; a negative day is NULL (NaT)."""
    return np.where(days < 0, np.datetime64("NaT", "D"), days.astype("datetime64[D]"))


def add_states(session: Session, ctx: Context) -> None:
    """A blank reading state for the context's subscriptions that have none (their first read)."""
    new = np.unique(ctx["sub_id"][ctx.found & (ctx["est_kwh"] < 0)])
    insert_columns(
        session, "reading_state", {"subscription_id": new, "estimated_kwh": 0, "door_closed_run": 0}, len(new)
    )


_FILE_JOIN: Final = {"enable_nestloop": "off", "enable_mergejoin": "off", "work_mem": "'512MB'"}
"""PostgreSQL settings for a file's update of the reading states (``advance_state(many=True)``)."""


def advance_state(session: Session, reads: str, *, many: bool = False) -> None:
    """Move the reading state of the subscriptions of the given stored reads (``reads``: a condition on
    ``meter_read m``, at most one read per subscription; each subscription has a state: ``add_states``)
    past those reads, in SQL:

    - a valid actual read becomes the last actual read (register values, date, meter), ends the period,
      settles what estimates billed ahead (``estimated_kwh`` less its register advance, not below zero)
      and shifts the three last actual periods;
    - a valid estimate ends the period and adds its kWh to ``estimated_kwh``;
    - a valid door-closed visit adds one to the run of door-closed visits; any other visit ends the run.

    ``many``: the reads are many (a file): on PostgreSQL the join is then hashed, not a nested loop of one
    index search a read, which the planner picks when the statistics do not yet know the reads just stored
    (a million reads took 5 s longer), and its hash table may take 512 MB, not spill to disk in two batches
    (2 s longer).
    """
    sqlite = _is_sqlite(session)
    greatest = "max" if sqlite else "GREATEST"
    days = (
        "CAST(julianday(m.read_on) - julianday(m.prev_actual_on) AS INTEGER)"
        if sqlite
        else "(m.read_on - m.prev_actual_on)"
    )
    yes, no = ("1", "0") if sqlite else ("true", "false")
    t = "reading_state"
    actual = f"m.status = 'valid' AND m.estimated = {no} AND m.actual_kwh IS NOT NULL"
    if many and not sqlite:
        for name, value in _FILE_JOIN.items():
            session.execute(text(f"SET LOCAL {name} = {value}"))
    # two statements, each over its own reads, with no CASE on the kind of read in every column: a third faster
    session.execute(
        text(
            f"""
UPDATE reading_state SET
  meter_id = m.meter_id, last_value = m.active, last_peak = m.peak, last_offpeak = m.offpeak,
  last_actual_on = m.read_on, last_on = m.read_on,
  estimated_kwh = {greatest}({t}.estimated_kwh - m.actual_kwh, 0),
  door_closed_run = 0,
  h3_kwh = {t}.h2_kwh, h3_days = {t}.h2_days, h3_on = {t}.h2_on,
  h2_kwh = {t}.h1_kwh, h2_days = {t}.h1_days, h2_on = {t}.h1_on,
  h1_kwh = m.actual_kwh, h1_days = {days}, h1_on = m.read_on
FROM meter_read m
WHERE {reads} AND {actual} AND {t}.subscription_id = m.subscription_id
"""
        )
    )
    session.execute(
        text(
            f"""
UPDATE reading_state SET
  meter_id = COALESCE({t}.meter_id, m.meter_id),
  last_on = CASE WHEN m.status = 'valid' THEN m.read_on ELSE {t}.last_on END,
  estimated_kwh = CASE WHEN m.status = 'valid' AND m.estimated = {yes} THEN {t}.estimated_kwh + m.kwh
    ELSE {t}.estimated_kwh END,
  door_closed_run = CASE WHEN m.status = 'valid' AND m.code = 'door_closed' THEN {t}.door_closed_run + 1
    WHEN m.code <> 'estimate' THEN 0 ELSE {t}.door_closed_run END
FROM meter_read m
WHERE {reads} AND NOT ({actual}) AND {t}.subscription_id = m.subscription_id
"""
        )
    )
    if many and not sqlite:
        for name in _FILE_JOIN:
            session.execute(text(f"RESET {name}"))


# ------------------------------------------------------------------------------------------ import


@dataclass
class RowOutcome:
    line: int
    subscription: str
    status: str  # valid | exception | duplicate
    reason: str
    kwh: int | None
    estimated: bool


@dataclass
class ImportResult:
    batch: ReadBatch
    errors: list[RowError]
    already: bool = False
    outcomes: list[RowOutcome] = field(default_factory=list)
    candidates: int = 0


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _lock(session: Session) -> None:
    """The import's lock, held to the end of the caller's transaction: an advisory lock on PostgreSQL; on
    SQLite the database's write lock, which a write that changes nothing takes."""
    if _is_sqlite(session):
        session.execute(text("UPDATE read_batch SET id = id WHERE 0 = 1"))
    else:
        session.execute(text("SELECT pg_advisory_xact_lock(8472002)"))


def in_scope(principal: Principal, ctx: Context, source: str) -> Bools:
    """Rows the sender may record: office staff within their district; a contractor's users on their
    contractor's routes; a reader on the routes assigned to them. A self-read is the customer's own."""
    n = int(ctx.found.shape[0])
    if source == "self":
        return np.ones(n, dtype=np.bool_)
    if principal.can(P.READING_MANAGE):
        if principal.district_id is None:
            return np.ones(n, dtype=np.bool_)
        scoped: Bools = ctx["district_id"] == principal.district_id
        return scoped
    if not principal.can(P.READING_ENTER):
        raise PermissionDenied("شما اجازهٔ ثبت قرائت ندارید", detail="missing permission reading.enter")
    mine: Bools = ctx["route_reader"] == principal.user_id
    if principal.contractor_id is not None and "reader" not in principal.roles:
        mine = mine | (ctx["route_contractor"] == principal.contractor_id)
    return mine


def _existing(session: Session, sub_ids: I64, read_on: I64) -> tuple[I64, list[str], list[str], I64]:
    """Stored reads of these days (key = subscription × 100 000 + day): key, source, code, active."""
    if sub_ids.shape[0] == 0:
        return np.zeros(0, np.int64), [], [], np.zeros(0, np.int64)
    sqlite = _is_sqlite(session)
    lo = str(np.datetime64(int(read_on.min()), "D"))
    hi = str(np.datetime64(int(read_on.max()), "D"))
    where = f"read_on >= '{lo}' AND read_on <= '{hi}'"
    if sub_ids.shape[0] <= 500:
        where += f" AND subscription_id IN ({', '.join(str(int(s)) for s in sub_ids.tolist())})"
    cols = fetch_columns(
        session,
        f"SELECT subscription_id, {_epoch('read_on', sqlite)}, source, code, COALESCE(active, -1) "
        f"FROM meter_read WHERE {where}",
    )
    if not cols[0]:
        return np.zeros(0, np.int64), [], [], np.zeros(0, np.int64)
    key = np.array(cols[0], dtype=np.int64) * 100_000 + np.array(cols[1], dtype=np.int64)
    return key, list(cols[2]), list(cols[3]), np.array(cols[4], dtype=np.int64)


def imported_before(session: Session, digest: str) -> ReadBatch | None:
    """The batch that imported the file of this SHA-256, if one did. ``import_reads`` checks it again under
    its lock; asked first, it spares parsing a file sent again (a million rows: seconds)."""
    return session.scalar(select(ReadBatch).where(ReadBatch.sha256 == digest))


@without_gc
def import_reads(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    incoming: Incoming,
    source: str,
    filename: str | None = None,
    digest: str | None = None,
    config: ReadingConfig | None = None,
    progress: Progress | None = None,
    reader_id: int | None = None,
    ahead: ContextAhead | None = None,
) -> ImportResult:
    """Validate, estimate and store reads; refused rows are reported, never half-written (module doc).

    The reader recorded on each read is ``reader_id`` when given, else the sender when the sender is a
    reader (or a contractor's user), else the route's reader; self-reads have none. ``ahead``: the context
    read while the file was parsed (``ContextAhead``)."""
    if source not in READ_SOURCES:
        raise ValueError(f"unknown read source {source}")
    cfg = config or reading_config()
    step = progress or (lambda _stage, _done, _total: None)
    _lock(session)
    batch = ReadBatch(
        source=source,
        filename=filename,
        created_by=principal.user_id or None,
        created_at=clock.now(),
        rows_total=len(incoming) + len(incoming.errors),
    )
    session.add(batch)
    session.flush()
    if digest is not None:
        earlier = imported_before(session, digest)
        if earlier is not None:
            session.delete(batch)
            session.flush()
            return ImportResult(batch=earlier, errors=[], already=True)
        batch.sha256 = digest
    errors = list(incoming.errors)
    step("lookup", 0, 4)
    ctx = load_context(session, incoming.subscription, ahead)
    n = len(incoming)
    lines = incoming.line
    refused = np.zeros(n, dtype=np.bool_)

    def refuse(mask: Bools, fld: str, message: str | Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask & ~refused).tolist():
            msg = message(i) if callable(message) else message
            errors.append(RowError(int(lines[i]), fld, msg, incoming.subscription[i]))
        refused[:] |= mask

    refuse(~ctx.found, "subscription", "اشتراکی با این شماره نیست")
    refuse(~in_scope(principal, ctx, source), "subscription", "این اشتراک در حوزهٔ شما نیست")
    refuse(ctx["meter_id"] < 0, "subscription", "برای این اشتراک کنتور نصب‌شده‌ای ثبت نیست")
    codes = incoming.code
    kind = code_index(codes)
    if source != "self":
        refuse(kind == _CODE_INDEX["self"], "code", "کد خوداظهاری فقط از صفحهٔ خوداظهاری مشترک پذیرفته می‌شود")
    cap = 10 ** np.clip(ctx["digits"], 1, 18)
    for reg in ("active", "peak", "offpeak"):
        refuse(
            (incoming.registers[reg] >= cap) & (ctx["digits"] > 0),
            reg,
            lambda i: f"رقم بیش از {int(ctx['digits'][i])} رقمِ کنتور است",
        )
    needs_tou = np.isin(kind, [_CODE_INDEX["read"], _CODE_INDEX["self"]]) & (ctx["tou"] == 1)
    refuse(
        needs_tou & ((incoming.registers["peak"] < 0) | (incoming.registers["offpeak"] < 0)),
        "peak",
        "کنتور چندتعرفه است: رقم اوج‌بار و کم‌بار هم لازم است",
    )
    # one read per subscription per arrival
    sub_ids = ctx["sub_id"]
    order = np.lexsort((lines, sub_ids))
    repeat = np.zeros(n, dtype=np.bool_)
    if n > 1:
        same = sub_ids[order][1:] == sub_ids[order][:-1]
        repeat[order[1:][same]] = True
    refuse(repeat & ctx.found, "subscription", "برای این اشتراک بیش از یک قرائت در این ارسال آمده است")

    # reads stored before: identical → duplicate; same subscription, day and source but different → refused
    read_on = incoming.read_on.astype(np.int64)
    key = np.where(refused, -1, sub_ids * 100_000 + read_on)
    ex_key, ex_source, ex_code, ex_active = _existing(session, sub_ids[~refused], read_on[~refused])
    duplicate = np.zeros(n, dtype=np.bool_)
    if ex_key.shape[0]:
        stored: dict[int, list[tuple[str, str, int]]] = {}
        hits = np.flatnonzero(np.isin(ex_key, key))
        for j in hits.tolist():
            stored.setdefault(int(ex_key[j]), []).append((ex_source[j], ex_code[j], int(ex_active[j])))
        for i in np.flatnonzero(np.isin(key, ex_key)).tolist():
            mine = (codes[i], int(incoming.registers["active"][i]))
            same_day = stored.get(int(key[i]), [])
            if any((c, a) == mine for _s, c, a in same_day):
                duplicate[i] = True
            elif any(s == source for s, _c, _a in same_day):
                errors.append(
                    RowError(
                        int(lines[i]),
                        "read_at",
                        "برای این اشتراک در این روز قرائت دیگری از همین منبع ثبت شده است",
                        incoming.subscription[i],
                    )
                )
                refused[i] = True
    keep = ~refused & ~duplicate
    idx = np.flatnonzero(keep)
    step("validate", 1, 4)
    kctx = ctx.subset(idx)
    kcodes = [codes[i] for i in idx.tolist()]
    ev = evaluate(
        session,
        kctx,
        code=kcodes,
        registers={k: v[idx] for k, v in incoming.registers.items()},
        read_on=read_on[idx],
        today=clock.today(),
        config=cfg,
    )
    step("store", 2, 4)
    if reader_id is not None:
        reader = np.full(idx.shape[0], reader_id, dtype=np.int64)
    elif principal.user_id and not principal.can(P.READING_MANAGE):
        reader = np.full(idx.shape[0], principal.user_id, dtype=np.int64)
    elif source == "self":
        reader = np.full(idx.shape[0], -1, dtype=np.int64)
    else:
        reader = kctx["route_reader"]
    regs = {k: v[idx] for k, v in incoming.registers.items()}
    lat, lon, photo = incoming.lat_e6[idx], incoming.lon_e6[idx], incoming.photo_id[idx]
    columns: dict[str, Any] = {
        "subscription_id": kctx["sub_id"],
        "meter_id": kctx["meter_id"],
        "read_on": day_column(read_on[idx]),
        "code": kcodes,
        "source": source,
        **{k: Nullable(regs[k], regs[k] < 0) for k in ("active", "peak", "offpeak", "maximeter_kw", "reactive")},
        "prev_read_on": day_column(ev.prev_read_on),
        "kwh": Nullable(ev.kwh, ev.kwh < 0),
        "peak_kwh": Nullable(ev.peak_kwh, ev.peak_kwh < 0),
        "offpeak_kwh": Nullable(ev.offpeak_kwh, ev.offpeak_kwh < 0),
        "estimated": ev.estimated,
        "status": ev.status.tolist(),
        "reason": ev.reason,
        "actual_kwh": Nullable(ev.actual_kwh, ~ev.actual),
        "prev_actual_on": day_column(ev.prev_actual_on),
        "reader_id": Nullable(reader, reader < 1),
        "read_at": incoming.read_at[idx],
        "lat_e6": Nullable(lat, lat == MISSING),
        "lon_e6": Nullable(lon, lon == MISSING),
        "photo_id": Nullable(photo, photo < 1),
        "batch_id": batch.id,
    }
    before = int(session.execute(text("SELECT COALESCE(MAX(id), 0) FROM meter_read")).scalar_one())
    # a column no row of this arrival has (positions, photos, TOU registers…) is left to its default NULL
    insert_columns(session, "meter_read", {k: v for k, v in columns.items() if _has_value(v)}, int(idx.shape[0]))
    step("state", 3, 4)
    add_states(session, kctx)
    advance_state(session, f"m.id > {before} AND m.batch_id = {int(batch.id)}", many=idx.shape[0] > _FULL_LOAD)
    candidates = mark_door_closed(
        session, clock, kctx["sub_id"][ev.valid & (ev.door_run >= 3) & (kctx["door_run"] < 3)]
    )
    clear_door_closed(session, kctx["sub_id"][ev.valid & ~ev.estimated])
    step("done", 4, 4)

    batch.rows_stored = int(idx.shape[0])
    batch.rows_duplicate = int(duplicate.sum())
    batch.rows_refused = len(errors)
    batch.rows_exception = int((~ev.valid).sum())
    batch.rows_estimated = int((ev.valid & ev.estimated).sum())
    batch.errors_csv = errors_csv(errors) if errors else None
    session.flush()
    result = ImportResult(batch=batch, errors=errors, candidates=candidates)
    if n <= 1000:
        pos = {int(i): k for k, i in enumerate(idx.tolist())}
        for i in range(n):
            if refused[i]:
                continue
            if duplicate[i]:
                result.outcomes.append(
                    RowOutcome(int(lines[i]), incoming.subscription[i], "duplicate", "", None, False)
                )
                continue
            k = pos[i]
            result.outcomes.append(
                RowOutcome(
                    int(lines[i]),
                    incoming.subscription[i],
                    str(ev.status[k]),
                    ev.reason[k],
                    int(ev.kwh[k]) if ev.kwh[k] >= 0 else None,
                    bool(ev.estimated[k]),
                )
            )
    return result


def _has_value(column: Any) -> bool:
    if isinstance(column, Nullable):
        return not bool(column.null.all())
    if isinstance(column, list):
        return column.count(None) != len(column)
    return True


# ------------------------------------------------------------------------------------------ door closed


def notice_text(number: str) -> str:
    return (
        f"مشترک گرامی، کنتور اشتراک {number} در سه نوبت پیاپی به سبب بسته بودن در قرائت نشد. "
        "لطفاً رقم کنتور را از راه خوداظهاری ثبت کنید یا برای قرائت با امور برق هماهنگ کنید؛ "
        "در غیر این صورت انشعاب در فهرست قطع قرار می‌گیرد."
    )


def mark_door_closed(session: Session, clock: Clock, sub_ids: I64) -> int:
    """Subscriptions that just reached three door-closed visits: disconnection candidates with a notice."""
    if sub_ids.shape[0] == 0:
        return 0
    today = clock.today().isoformat()
    now = clock.now()
    ids = sorted(int(s) for s in sub_ids.tolist())
    for k in range(0, len(ids), 500):
        part = ", ".join(str(i) for i in ids[k : k + 500])
        session.execute(
            text(
                "UPDATE subscription SET disconnect_candidate_on = :d, disconnect_candidate_reason = :r "
                f"WHERE id IN ({part})"
            ),
            {"d": today, "r": NOTICE_KIND},
        )
        numbers = session.execute(text(f"SELECT id, subscription_number FROM subscription WHERE id IN ({part})")).all()
        session.execute(
            text(
                "INSERT INTO notice (subscription_id, kind, text, status, created_at) "
                "VALUES (:s, :k, :t, 'queued', :at)"
            ),
            [{"s": sid, "k": NOTICE_KIND, "t": notice_text(num), "at": now} for sid, num in numbers],
        )
    return len(ids)


def clear_door_closed(session: Session, sub_ids: I64) -> None:
    """An actual read (or an estimate for another reason) ends the door-closed candidacy."""
    if sub_ids.shape[0] == 0:
        return
    session.execute(
        text(
            "UPDATE subscription SET disconnect_candidate_on = NULL, disconnect_candidate_reason = NULL "
            "WHERE disconnect_candidate_reason = :r AND EXISTS (SELECT 1 FROM reading_state st "
            "WHERE st.subscription_id = subscription.id AND st.door_closed_run = 0)"
        ),
        {"r": NOTICE_KIND},
    )
