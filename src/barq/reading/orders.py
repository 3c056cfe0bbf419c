"""Reading orders (domain.md §4): for a cycle and a set of routes, one row per subscription to read, with
the last read and the accepted range of the next one. File formats: docs/reading-orders.md.

Set-based (architecture rule 8): one query over subscription ⋈ route ⋈ premises ⋈ current installation ⋈
meter ⋈ reading_state, read chunk by chunk from the DBAPI cursor (chunked rows on PostgreSQL), so a million
rows stream with bounded memory; the expected consumption and the range are numpy over each chunk. A file
may be written by several processes at once (``write_orders(workers=…)``), each running the same query for a
contiguous share of the routes; the parts are joined in route order.

Per subscription (active or disconnected, with a meter installed, on a route due in the cycle):

- **last read**: the reading state's last actual register value and date; when there is none, or it
  belongs to another meter (the meter was replaced since), or predates the installation: the current
  installation's initial read and date.
- **expected daily**: ``estimates.expected_daily_periods`` over the last three actual periods kept in the reading
  state (``h1..h3``) as of the planned read date, else the tariff group's default (``reading.toml``).
- **planned read date**: the last day of the route's window in the cycle (``routes.route_window``).
- **expected kWh** = expected daily × days from the last read to the planned date (``expected_kwh``).
- **range**: ``low = last + ⌈low‰·expected / (1000·multiplier)⌉`` and ``high = last + ⌊high‰·expected /
  (1000·multiplier)⌋``, both modulo ``10^digits``: register values, and a range may wrap past 9…9
  (``low > high`` then means ``low..9…9`` or ``0..high``).
"""

from __future__ import annotations

import multiprocessing
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from itertools import islice
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from barq.auth.models import User
from barq.auth.service import Principal
from barq.billing.reads import epoch_days
from barq.calendar import fa_digits, to_jalali
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.contractors.models import Contractor
from barq.db import make_engine, make_sessionmaker, raw_connection
from barq.errors import BarqError, InternalError, ValidationError
from barq.ids import normalize_digits
from barq.metering.estimates import SOURCES, expected_daily_periods
from barq.metering.validation import ValidationLimits, expected_kwh_columns
from barq.network.models import District, Route
from barq.reading.config import ReadingConfig, reading_config
from barq.reading.routes import cycle_label, parse_cycle, require_view, route_due, route_scope, route_window

I64 = NDArray[np.int64]
CHUNK: Final = 4_000
"""Rows a chunk: a few thousand keep Python's row-to-column work inside the CPU cache."""
FORMATS: Final = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
FORMAT_ID: Final = "barq.reading-orders/1"

CSV_COLUMNS: Final = (
    "cycle",
    "district",
    "route",
    "sequence",
    "subscription",
    "address",
    "meter_serial",
    "meter_kind",
    "digits",
    "multiplier",
    "last_read",
    "last_read_on",
    "last_read_on_jalali",
    "last_peak",
    "last_offpeak",
    "expected_kwh",
    "low",
    "high",
    "read_from",
    "read_by",
    "basis",
)
"""The columns of a CSV order file, in this order (docs/reading-orders.md)."""
JSON_KEYS: Final = tuple(c for c in CSV_COLUMNS if c not in ("cycle", "read_from", "read_by"))
"""The keys of a JSON order object; the cycle and each route's window are given once, above the orders."""

_EPOCH: Final = np.datetime64("1970-01-01", "D")
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class OrderRoute:
    """A route in an order file, with its reading window in the cycle and its subscriptions to read
    (active and disconnected; those without a meter installed are left out of the file)."""

    id: int
    district_code: str
    district_name: str
    code: str
    name: str
    cycle_days: int
    contractor_name: str | None
    reader_name: str | None
    read_from: date
    read_by: date
    subscriptions: int = 0


@dataclass(frozen=True)
class OrderPlan:
    """What an order file will hold: the cycle, when it was made and its routes, in file order."""

    cycle: int
    generated_at: datetime
    routes: tuple[OrderRoute, ...]

    @property
    def subscriptions(self) -> int:
        return sum(r.subscriptions for r in self.routes)

    @property
    def label(self) -> str:
        return cycle_label(self.cycle)

    def filename(self, fmt: str) -> str:
        if len(self.routes) == 1:
            scope = f"{self.routes[0].district_code}-{self.routes[0].code}"
        elif self.routes and len({r.district_code for r in self.routes}) == 1:
            scope = self.routes[0].district_code
        else:
            scope = "all"
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in scope)
        return f"reading-orders-{self.cycle}-{safe}.{fmt}"


@dataclass(frozen=True)
class OrderChunk:
    """Up to ``CHUNK`` order rows as columns, in file order. ``route`` indexes ``OrderPlan.routes``;
    -1 in ``last_peak``/``last_offpeak``: no such register; ``basis`` indexes ``estimates.SOURCES``."""

    route: I64
    sequence: I64
    subscription_number: list[str]
    address: list[str]
    meter_serial: list[str]
    meter_kind: I64
    """Index into ``KIND_CODES``."""
    digits: I64
    multiplier: I64
    last_read: I64
    last_read_on: I64
    """Days since 1970-01-01."""
    last_peak: I64
    last_offpeak: I64
    expected_kwh: I64
    low: I64
    high: I64
    basis: NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.route.shape[0])


@dataclass(frozen=True)
class OrderRow:
    """One order row (for pages and tests; files are written from the columns)."""

    route: OrderRoute
    sequence: int
    subscription_number: str
    address: str
    meter_serial: str
    meter_kind: str
    digits: int
    multiplier: int
    last_read: int
    last_read_on: date
    last_peak: int | None
    last_offpeak: int | None
    expected_kwh: int
    low: int
    high: int
    basis: str


# --------------------------------------------------------------------------------------------- pure


def accepted_range(
    last: I64, expected_kwh: I64, multiplier: I64, digits: I64, limits: ValidationLimits
) -> tuple[I64, I64]:
    """Lowest and highest register value accepted at the next read (see the module doc); exact integers."""
    scale = 1000 * np.maximum(multiplier.astype(np.int64), 1)
    exp = expected_kwh.astype(np.int64)
    cap = np.power(np.int64(10), digits.astype(np.int64))
    low: I64 = (last + (limits.low_permille * exp + scale - 1) // scale) % cap
    high: I64 = (last + (limits.high_permille * exp) // scale) % cap
    return low, high


# --------------------------------------------------------------------------------------------- plan


def plan_orders(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    cycle: int | str,
    district: str | None = None,
    route: str | None = None,
    route_id: int | None = None,
) -> OrderPlan:
    """The routes of an order file: one route (by code, or by id), a district (by code), or every route in
    the principal's scope; only those due in the cycle. Bad input is a ValidationError naming the field
    (``cycle``, ``district`` or ``route``)."""
    require_view(principal)
    cycle_no = parse_cycle(cycle)
    stmt = (
        select(Route, District, Contractor.name, User.full_name)
        .join(District, District.id == Route.district_id)
        .outerjoin(Contractor, Contractor.id == Route.contractor_id)
        .outerjoin(User, User.id == Route.reader_id)
        .where(route_scope(principal))
        .order_by(District.code, Route.code)
    )
    district_code = normalize_digits(district or "").strip() or None
    if district_code is not None:
        found = session.scalar(select(District).where(District.code == district_code))
        if found is None:
            raise ValidationError(f"امور با کد «{fa_digits(district_code)}» وجود ندارد", field="district")
        if principal.district_id is not None and found.id != principal.district_id:
            raise ValidationError(f"امور «{found.name}» در حوزهٔ دسترسی شما نیست", field="district")
        stmt = stmt.where(Route.district_id == found.id)
    code = normalize_digits(route or "").strip().upper() or None
    if code is not None:
        stmt = stmt.where(Route.code == code)
    if route_id is not None:
        stmt = stmt.where(Route.id == route_id)
    rows = session.execute(stmt).all()
    single = code is not None or route_id is not None
    if single and not rows:
        raise _route_not_found(session, principal, code, district_code)
    if code is not None and len(rows) > 1:
        raise ValidationError(f"مسیر «{code}» در چند امور هست؛ امور را هم انتخاب کنید", field="district")
    routes = []
    for r, d, contractor, reader in rows:
        if not route_due(r, cycle_no):
            if single:
                raise ValidationError(
                    f"مسیر «{r.code}» دوماهه است و در {cycle_label(cycle_no)} قرائت نمی‌شود (فقط ماه‌های زوج)",
                    field="cycle",
                )
            continue
        start, end = route_window(r, cycle_no)
        routes.append(
            OrderRoute(
                id=r.id,
                district_code=d.code,
                district_name=d.name,
                code=r.code,
                name=r.name,
                cycle_days=r.cycle_days,
                contractor_name=contractor,
                reader_name=reader,
                read_from=start,
                read_by=end,
            )
        )
    counts: dict[int, int] = {}
    if routes:
        counts = {
            int(rid or 0): int(n)
            for rid, n in session.execute(
                select(Subscription.route_id, func.count())
                .where(
                    Subscription.route_id.in_([r.id for r in routes]),
                    Subscription.supply_state.in_(("active", "disconnected")),
                )
                .group_by(Subscription.route_id)
            )
        }
    return OrderPlan(
        cycle=cycle_no,
        generated_at=clock.now(),
        routes=tuple(replace(r, subscriptions=counts.get(r.id, 0)) for r in routes),
    )


def _route_not_found(
    session: Session, principal: Principal, code: str | None, district_code: str | None
) -> ValidationError:
    if code is not None and district_code is not None:
        homes = set(
            session.scalars(
                select(District.code).join(Route, Route.district_id == District.id).where(Route.code == code)
            )
        )
        if homes and district_code not in homes:
            return ValidationError(
                f"مسیر «{code}» از امور «{fa_digits(district_code)}» نیست",
                field="route",
                detail=f"route {code} is not in district {district_code}",
            )
    return ValidationError(f"مسیر «{code or ''}» در حوزهٔ دسترسی شما پیدا نشد", field="route")


# --------------------------------------------------------------------------------------------- rows


KIND_CODES: Final = {"single": 0, "tou": 1, "demand": 2}
_KINDS: Final = tuple(KIND_CODES)


def _sql(plan: OrderPlan, routes: Sequence[OrderRoute], dialect: str) -> str:
    """The one query, for some of a plan's routes. Only integers the service computed go into its text.

    Every value that reaches Python costs more than the database's arithmetic, so the query gives each row
    its route's place in the plan (``k.pos``, from a list of the routes: sorting on it is much cheaper than
    on district and route codes), chooses the last read (the state's when it is of the installed meter and
    not older than its installation, else the installation's initial read) and packs small numbers into one
    integer each (unpacked in ``_compute``): ``multiplier·1000 + kind·100 + digits·10 + tariff group`` and,
    per history period, ``kwh·65536 + days`` (-1: no usable period)."""
    sqlite = dialect == "sqlite"
    pos = {r.id: k for k, r in enumerate(plan.routes)}
    places = ", ".join(f"({int(r.id)}, {pos[r.id]})" for r in routes)
    state_ok = (
        "(rs.last_value IS NOT NULL AND rs.last_actual_on IS NOT NULL AND rs.last_actual_on >= i.installed_on "
        "AND (rs.meter_id IS NULL OR rs.meter_id = i.meter_id))"
    )
    kind = "CASE m.kind " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in KIND_CODES.items()) + " ELSE 0 END"
    history = ", ".join(
        f"CASE WHEN rs.h{k}_kwh >= 0 AND rs.h{k}_days BETWEEN 1 AND 65535 AND rs.h{k}_on IS NOT NULL "
        f"THEN rs.h{k}_kwh * 65536 + rs.h{k}_days ELSE -1 END, COALESCE({epoch_days(f'rs.h{k}_on', sqlite)}, -1)"
        for k in (1, 2, 3)
    )
    byte_order = "" if sqlite else ' COLLATE "C"'  # the same order on both databases, and fast
    return (
        f"WITH k(route_id, pos) AS (VALUES {places}) "
        "SELECT k.pos, COALESCE(s.route_sequence, 0), s.subscription_number, p.address, m.serial, "
        f"CAST(m.multiplier AS BIGINT) * 1000 + ({kind}) * 100 + m.digits * 10 + s.tariff_group, "
        f"CASE WHEN {state_ok} THEN rs.last_value ELSE i.initial_read END, "
        f"{epoch_days(f'CASE WHEN {state_ok} THEN rs.last_actual_on ELSE i.installed_on END', sqlite)}, "
        f"CASE WHEN {state_ok} THEN COALESCE(rs.last_peak, -1) ELSE -1 END, "
        f"CASE WHEN {state_ok} THEN COALESCE(rs.last_offpeak, -1) ELSE -1 END, {history} "
        "FROM k "
        "JOIN route r ON r.id = k.route_id "
        "JOIN subscription s ON s.route_id = r.id "
        "JOIN premises p ON p.id = s.premises_id "
        "JOIN meter_installation i ON i.subscription_id = s.id AND i.removed_on IS NULL "
        "JOIN meter m ON m.id = i.meter_id "
        "LEFT JOIN reading_state rs ON rs.subscription_id = s.id "
        "WHERE s.supply_state IN ('active', 'disconnected') "
        f"ORDER BY k.pos, COALESCE(s.route_sequence, 0), s.subscription_number{byte_order}"
    )


def _raw_chunks(session: Session, sql: str, chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    conn = raw_connection(session)
    if session.get_bind().dialect.name == "postgresql":
        with conn.cursor() as cur:
            # the joins hash whole tables: give them memory, for this transaction only
            cur.execute("SET LOCAL work_mem = '256MB'")
            # chunked rows: bounded memory, parallel plans allowed; binary: integers cost less to read
            rows = cur.stream(sql, size=chunk_size, binary=True)
            while part := list(islice(rows, chunk_size)):
                yield part
        return
    cur = conn.cursor()
    try:
        cur.execute(sql)
        while part := cur.fetchmany(chunk_size):
            yield part
    finally:
        cur.close()


@dataclass(frozen=True)
class _Context:
    read_by: I64
    config: ReadingConfig


def _context(plan: OrderPlan, config: ReadingConfig | None) -> _Context:
    return _Context(
        read_by=np.array([r.read_by.toordinal() - _EPOCH_ORDINAL for r in plan.routes], dtype=np.int64),
        config=config or reading_config(),
    )


def _compute(rows: list[tuple[Any, ...]], ctx: _Context) -> OrderChunk:
    n = len(rows)
    # cheap for a few thousand rows, slow for many (the CPU cache): hence small chunks
    cols = list(zip(*rows, strict=False))

    def ints(i: int) -> I64:
        return np.fromiter(cols[i], dtype=np.int64, count=n)

    route = ints(0)
    meter = ints(5)
    multiplier, kind, digits, group = meter // 1000, meter // 100 % 10, meter // 10 % 10, meter % 10
    last, last_on = ints(6), ints(7)
    plan_day = ctx.read_by[route]
    packed = np.stack([ints(10 + 2 * k) for k in range(3)], axis=1)
    expected = expected_daily_periods(
        np.where(packed >= 0, packed >> 16, -1),
        np.where(packed >= 0, packed & 0xFFFF, -1),
        np.stack([ints(11 + 2 * k) for k in range(3)], axis=1),
        as_of=_EPOCH + plan_day.astype("timedelta64[D]"),
        tariff_class=group.astype(np.str_),
        defaults=ctx.config.default_kwh_per_30_days,
        rules=ctx.config.rules,
    )
    exp_kwh = expected_kwh_columns(expected.daily_milli, np.maximum(plan_day - last_on, 0))
    low, high = accepted_range(last, exp_kwh, multiplier, digits, ctx.config.limits)
    return OrderChunk(
        route=route,
        sequence=ints(1),
        subscription_number=list(cols[2]),
        address=list(cols[3]),
        meter_serial=list(cols[4]),
        meter_kind=kind,
        digits=digits,
        multiplier=multiplier,
        last_read=last,
        last_read_on=last_on,
        last_peak=ints(8),
        last_offpeak=ints(9),
        expected_kwh=exp_kwh,
        low=low,
        high=high,
        basis=expected.source,
    )


def order_chunks(
    session: Session,
    plan: OrderPlan,
    *,
    config: ReadingConfig | None = None,
    chunk_size: int = CHUNK,
    routes: Sequence[OrderRoute] | None = None,
) -> Iterator[OrderChunk]:
    """The plan's order rows (or those of some of its ``routes``) as columns, chunk by chunk, in file order
    (district, route, sequence, subscription number)."""
    chosen = plan.routes if routes is None else routes
    if not chosen:
        return
    ctx = _context(plan, config)
    for rows in _raw_chunks(session, _sql(plan, chosen, session.get_bind().dialect.name), chunk_size):
        yield _compute(rows, ctx)


def order_rows(session: Session, plan: OrderPlan, *, config: ReadingConfig | None = None) -> list[OrderRow]:
    """Every row of the plan as objects (a route sheet; not for a million rows)."""
    out = []
    for c in order_chunks(session, plan, config=config):
        for k in range(len(c)):
            peak, off = int(c.last_peak[k]), int(c.last_offpeak[k])
            out.append(
                OrderRow(
                    route=plan.routes[int(c.route[k])],
                    sequence=int(c.sequence[k]),
                    subscription_number=c.subscription_number[k],
                    address=c.address[k],
                    meter_serial=c.meter_serial[k],
                    meter_kind=_KINDS[int(c.meter_kind[k])],
                    digits=int(c.digits[k]),
                    multiplier=int(c.multiplier[k]),
                    last_read=int(c.last_read[k]),
                    last_read_on=date.fromordinal(_EPOCH_ORDINAL + int(c.last_read_on[k])),
                    last_peak=peak if peak >= 0 else None,
                    last_offpeak=off if off >= 0 else None,
                    expected_kwh=int(c.expected_kwh[k]),
                    low=int(c.low[k]),
                    high=int(c.high[k]),
                    basis=SOURCES[int(c.basis[k])],
                )
            )
    return out


# --------------------------------------------------------------------------------------------- text
#
# Writing a million lines is most of the time an export takes, so each line is made of few pieces: what is
# the same for a route, a meter type or a day is made once per chunk and looked up (``_lookup``).


def _lookup(keys: I64, make: Callable[[int], str]) -> list[str]:
    """``make(key)`` for each key, calling ``make`` once per distinct key."""
    values, inverse = np.unique(keys, return_inverse=True)
    table = np.asarray([make(int(v)) for v in values.tolist()], dtype=object)
    out: list[str] = table[inverse.reshape(-1)].tolist()
    return out


@lru_cache(maxsize=8192)
def _day_text(day: int, sep: str, quote: str = "") -> str:
    """A day (days since 1970) as ISO and Jalali text; cached, since converting to Jalali is slow."""
    d = date.fromordinal(_EPOCH_ORDINAL + day)
    j = to_jalali(d)
    return f"{quote}{d.isoformat()}{quote}{sep}{quote}{j.year:04d}/{j.month:02d}/{j.day:02d}{quote}"


def _needs_quotes(value: str) -> bool:
    return '"' in value or "," in value or "\n" in value or "\r" in value


def _csv_field(value: str) -> str:
    """A CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote or a line end."""
    return '"' + value.replace('"', '""') + '"' if _needs_quotes(value) else value


def _csv_column(values: list[str]) -> list[str]:
    """``_csv_field`` over a column, checked at once (addresses seldom hold an ASCII comma)."""
    return [_csv_field(v) for v in values] if _needs_quotes("".join(values)) else values


def _day_and_registers(chunk: OrderChunk, day: Callable[[int], str], registers: Callable[[str, str], str]) -> list[str]:
    """The last read's day with ``last_peak`` and ``last_offpeak`` as one piece of each line: the day's text
    is made once a day, and the registers only for the rows that have them (most meters have neither)."""
    out = _lookup(chunk.last_read_on, lambda d: day(d) + registers("", ""))
    for k in np.flatnonzero((chunk.last_peak >= 0) | (chunk.last_offpeak >= 0)).tolist():
        peak, off = int(chunk.last_peak[k]), int(chunk.last_offpeak[k])
        out[k] = day(int(chunk.last_read_on[k])) + registers(
            str(peak) if peak >= 0 else "", str(off) if off >= 0 else ""
        )
    return out


def _meter_key(chunk: OrderChunk) -> I64:
    key: I64 = (chunk.multiplier * 10 + chunk.meter_kind) * 10 + chunk.digits
    return key


def csv_header() -> str:
    return ",".join(CSV_COLUMNS) + "\r\n"


_CSV_ROW: Final = "%s%d,%s,%s,%s,%s,%d,%s,%d,%d,%d,%s\r\n"


def csv_text(plan: OrderPlan, chunk: OrderChunk) -> str:
    """A chunk's rows as CSV lines (comma, ``\\r\\n``, RFC 4180 quoting)."""
    routes = plan.routes
    rows = zip(
        _lookup(
            chunk.route, lambda k: f"{plan.cycle},{_csv_field(routes[k].district_code)},{_csv_field(routes[k].code)},"
        ),
        chunk.sequence.tolist(),
        _csv_column(chunk.subscription_number),
        _csv_column(chunk.address),
        _csv_column(chunk.meter_serial),
        _lookup(_meter_key(chunk), lambda k: f"{_KINDS[k // 10 % 10]},{k % 10},{k // 100}"),
        chunk.last_read.tolist(),
        _day_and_registers(chunk, lambda d: _day_text(d, ","), lambda peak, off: f",{peak},{off}"),
        chunk.expected_kwh.tolist(),
        chunk.low.tolist(),
        chunk.high.tolist(),
        _lookup(
            chunk.route * len(SOURCES) + chunk.basis,
            lambda k: (
                f"{routes[k // len(SOURCES)].read_from},{routes[k // len(SOURCES)].read_by},{SOURCES[k % len(SOURCES)]}"
            ),
        ),
        strict=True,
    )
    return "".join([_CSV_ROW % row for row in rows])


_JSON_ROW: Final = (
    '{%s,"sequence":%d,"subscription":"%s","address":"%s","meter_serial":"%s",%s,"last_read":%d,%s,'
    '"expected_kwh":%d,"low":%d,"high":%d,"basis":"%s"}'
)
_JSON_ESCAPES: Final = re.compile(r'[\x00-\x1f"\\]')
"""What a JSON string must escape (RFC 8259): quote, backslash and control characters."""


def _json(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return str(encode_basestring(str(value)))


def _json_column(values: list[str]) -> list[str]:
    """Each value as the inside of a JSON string, checked at once (escaping is seldom needed)."""
    if _JSON_ESCAPES.search("".join(values)) is None:
        return values
    return [str(encode_basestring(v))[1:-1] for v in values]


def json_head(plan: OrderPlan) -> str:
    routes = ",\n".join(
        "{"
        + ",".join(
            f'"{k}":{_json(v)}'
            for k, v in (
                ("district", r.district_code),
                ("district_name", r.district_name),
                ("route", r.code),
                ("name", r.name),
                ("cycle_days", r.cycle_days),
                ("contractor", r.contractor_name),
                ("reader", r.reader_name),
                ("read_from", r.read_from.isoformat()),
                ("read_by", r.read_by.isoformat()),
            )
        )
        + "}"
        for r in plan.routes
    )
    return (
        f'{{"format":"{FORMAT_ID}","cycle":{plan.cycle},"generated_at":"{plan.generated_at.isoformat()}",\n'
        f'"routes":[{routes}],\n"orders":[\n'
    )


def json_text(plan: OrderPlan, chunk: OrderChunk) -> str:
    """A chunk's order objects, one a line, separated by ``,\\n`` (no separator before the first)."""
    routes = plan.routes

    def registers(peak: str, off: str) -> str:
        return f',"last_peak":{peak or "null"},"last_offpeak":{off or "null"}'

    rows = zip(
        _lookup(chunk.route, lambda k: f'"district":{_json(routes[k].district_code)},"route":{_json(routes[k].code)}'),
        chunk.sequence.tolist(),
        _json_column(chunk.subscription_number),
        _json_column(chunk.address),
        _json_column(chunk.meter_serial),
        _lookup(
            _meter_key(chunk),
            lambda k: f'"meter_kind":"{_KINDS[k // 10 % 10]}","digits":{k % 10},"multiplier":{k // 100}',
        ),
        chunk.last_read.tolist(),
        _day_and_registers(
            chunk, lambda d: '"last_read_on":' + _day_text(d, ',"last_read_on_jalali":', '"'), registers
        ),
        chunk.expected_kwh.tolist(),
        chunk.low.tolist(),
        chunk.high.tolist(),
        _lookup(chunk.basis.astype(np.int64), lambda k: SOURCES[k]),
        strict=True,
    )
    return ",\n".join([_JSON_ROW % row for row in rows])


def json_tail(count: int) -> str:
    return f'\n],\n"count":{count}}}\n'


def check_format(fmt: str | None) -> str:
    value = (fmt or "csv").strip().lower()
    if value not in FORMATS:
        raise ValidationError(
            "قالب پرونده باید csv یا json باشد", field="format", detail=f"format must be csv or json, got {fmt!r}"
        )
    return value


def file_parts(plan: OrderPlan, chunks: Iterator[OrderChunk], fmt: str) -> Iterator[str]:
    """The whole order file, piece by piece, from the plan's chunks."""
    fmt = check_format(fmt)
    if fmt == "csv":
        yield csv_header()
        for chunk in chunks:
            yield csv_text(plan, chunk)
        return
    yield json_head(plan)
    count = 0
    for chunk in chunks:
        if len(chunk):
            yield ("" if count == 0 else ",\n") + json_text(plan, chunk)
            count += len(chunk)
    yield json_tail(count)


# --------------------------------------------------------------------------------------------- files


def stream_orders(
    factory: sessionmaker[Session], plan: OrderPlan, *, fmt: str = "csv", config: ReadingConfig | None = None
) -> Iterator[bytes]:
    """The order file as UTF-8 pieces for a streaming response, read in a session of its own (the request's
    transaction has ended by the time the body is sent)."""
    fmt = check_format(fmt)
    cfg = config or reading_config()
    with factory() as session:
        for part in file_parts(plan, order_chunks(session, plan, config=cfg), fmt):
            yield part.encode("utf-8")
        session.rollback()


def split_routes(routes: Sequence[OrderRoute], parts: int) -> list[list[OrderRoute]]:
    """Routes cut into at most ``parts`` contiguous runs of about equal subscriptions (none empty)."""
    total = sum(r.subscriptions for r in routes)
    out: list[list[OrderRoute]] = [[]]
    done = 0
    for r in routes:
        if out[-1] and len(out) < parts and done >= total * len(out) / parts:
            out.append([])
        out[-1].append(r)
        done += r.subscriptions
    return [p for p in out if p]


def write_orders(
    session: Session,
    plan: OrderPlan,
    out: IO[bytes],
    *,
    fmt: str = "csv",
    config: ReadingConfig | None = None,
    chunk_size: int = CHUNK,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the plan's order file to ``out`` (UTF-8); returns the number of order rows.

    With ``workers`` > 1 (and a database in a file or on a server) the routes are cut into that many
    contiguous shares, each read and written by a process of its own (forked) into a part file, and the parts
    are joined in order: the same bytes as one process writes, in about 1/workers of the time when as many
    cores are free. Each share is read in a transaction of its own, so a read stored during the export may
    show in a later share and not in an earlier one; every row is consistent in itself."""
    fmt = check_format(fmt)
    cfg = config or reading_config()
    total = plan.subscriptions
    url = session.get_bind().engine.url
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    shares = split_routes(plan.routes, workers) if workers > 1 and not in_memory else []
    if len(shares) < 2:
        done = 0

        def counted() -> Iterator[OrderChunk]:
            nonlocal done
            for chunk in order_chunks(session, plan, config=cfg, chunk_size=chunk_size):
                yield chunk
                done += len(chunk)
                if progress is not None:
                    progress(done, max(done, total))

        for part in file_parts(plan, counted(), fmt):
            out.write(part.encode("utf-8"))
        return done
    return _write_parallel(
        url.render_as_string(hide_password=False), plan, shares, out, fmt, cfg, chunk_size, total, progress
    )


def _worker(
    url: str,
    plan: OrderPlan,
    routes: list[OrderRoute],
    fmt: str,
    config: ReadingConfig,
    chunk_size: int,
    path: str,
    done: Any,
    result: Any,
) -> None:
    """One share of a parallel export (a forked process): its rows, formatted, into ``path``."""
    try:
        engine = make_engine(url, poolclass=NullPool)
        rows = 0
        with make_sessionmaker(engine)() as session, open(path, "wb") as fh:
            for chunk in order_chunks(session, plan, config=config, chunk_size=chunk_size, routes=routes):
                if not len(chunk):
                    continue
                text = csv_text(plan, chunk) if fmt == "csv" else ("" if rows == 0 else ",\n") + json_text(plan, chunk)
                fh.write(text.encode("utf-8"))
                rows += len(chunk)
                done.value = rows
            session.rollback()
        engine.dispose()
        result.send(("ok", rows))
    except BarqError as exc:
        result.send(("barq", type(exc).__name__, exc.message_fa, exc.detail, exc.field))
    except Exception as exc:  # reported to the parent, which raises it there
        result.send(("error", repr(exc)))
    finally:
        result.close()


def _write_parallel(
    url: str,
    plan: OrderPlan,
    shares: list[list[OrderRoute]],
    out: IO[bytes],
    fmt: str,
    config: ReadingConfig,
    chunk_size: int,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    ctx = multiprocessing.get_context("fork")  # the children share the loaded modules and the plan
    with tempfile.TemporaryDirectory(prefix="barq-orders-") as tmp:
        jobs = []
        for k, routes in enumerate(shares):
            done = ctx.Value("q", 0, lock=False)
            receive, send = ctx.Pipe(duplex=False)
            path = str(Path(tmp) / f"part{k}")
            proc = ctx.Process(
                target=_worker, args=(url, plan, routes, fmt, config, chunk_size, path, done, send), daemon=True
            )
            proc.start()
            send.close()
            jobs.append((proc, done, receive, path))
        try:
            while any(p.is_alive() for p, *_ in jobs):
                if progress is not None:
                    now = sum(int(d.value) for _, d, _, _ in jobs)
                    progress(now, max(now, total))
                time.sleep(0.1)
            results: list[tuple[Any, ...]] = [
                r.recv() if r.poll() else ("error", f"exit code {p.exitcode}") for p, _, r, _ in jobs
            ]
        finally:
            for proc, *_ in jobs:
                if proc.is_alive():
                    proc.kill()
                proc.join()
        for res in results:
            if res[0] == "barq":
                kind, message, detail, field = res[1], res[2], res[3], res[4]
                if kind == "ValidationError":
                    raise ValidationError(message, field=field, detail=detail)
                raise InternalError(message, detail=detail)
            if res[0] != "ok":
                raise InternalError("ساختن پرونده دستور قرائت ناتمام ماند", detail=f"order export worker: {res[1]}")
        count = sum(int(res[1]) for res in results)
        out.write((csv_header() if fmt == "csv" else json_head(plan)).encode("utf-8"))
        written = 0
        for (_, _, _, path), res in zip(jobs, results, strict=True):
            if int(res[1]) == 0:
                continue
            if fmt == "json" and written:
                out.write(b",\n")
            with open(path, "rb") as part:
                shutil.copyfileobj(part, out, 4 * 2**20)
            written += int(res[1])
        if fmt == "json":
            out.write(json_tail(count).encode("utf-8"))
        if progress is not None:
            progress(count, count)
        return count
