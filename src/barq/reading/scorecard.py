"""Reader scorecards (domain.md §4; definitions and formula in docs/reader-scorecard.md).

Per reader and cycle (a Jalali month ``yyyymm``): what was ordered, what was visited, on time, door closed,
exceptions, reads proven wrong, complaints and photos; each factor mapped to 0–100 points and the weighted
mean of the points is the score. Readers and contractors are ranked by score.

Set-based (architecture rule 8): three SQL aggregates grouped by reader and cycle (visits, complaints) or
by reader (the order), whatever the number of reads; Python only combines a few rows per reader. A small
table of calendar days (one row per day of the cycles asked, built from the Jalali calendar here and sent
as ``VALUES``) gives each read its cycle and day of month, and each day its bounds in UTC, so no
database-specific date arithmetic is needed.

Scores are exact (``Fraction``): the same reads give the same score and the same ranking on any database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from math import floor
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    and_,
    case,
    column,
    distinct,
    exists,
    func,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.selectable import CTE

from barq.auth import permissions as P
from barq.auth.models import User
from barq.auth.permissions import DEFAULT_ROLES
from barq.auth.service import Principal
from barq.billing.service import cycle_of, cycle_window, previous_cycle
from barq.calendar import MONTH_NAMES, fa_digits, fa_number
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.contractors.models import Contractor
from barq.db import UTCDateTime
from barq.errors import NotFound, PermissionDenied, ValidationError
from barq.ids import normalize_digits
from barq.metering.models import MeterRead
from barq.network.models import Route
from barq.reading.config import SCORE_FACTORS, reading_config
from barq.workorders.models import WorkOrder

VISIT_SOURCES = ("handheld", "api", "reader")
"""A read is a visit when a reader made it in the field: not a self-read, a system estimate or demo data."""
DUE_STATES = ("active", "disconnected")
"""Subscriptions whose meters are read (as in a bill run)."""
PROVEN_WRONG = ("reread", "estimate")
"""Exception resolutions that say the read was wrong (``accept`` says it was right)."""
COMPLAINT_TYPE = "reread"
TREND_CYCLES = 12
MAX_CYCLES = 36
COMPANY_NAME = "شرکت"

FACTOR_NAMES: dict[str, str] = {
    "completion": "تکمیل",
    "on_time": "به‌موقع",
    "door_closed": "درِ بسته",
    "exceptions": "استثنا",
    "proven_wrong": "قرائت نادرست",
    "complaints": "شکایت",
    "photo": "عکس",
}
PER_THOUSAND = frozenset({"proven_wrong", "complaints"})
"""Factors measured per 1,000 visits; the others are shares (0–1)."""
LOWER_IS_BETTER = frozenset({"door_closed", "exceptions", "proven_wrong", "complaints"})

_FA_DECIMAL = "\u066b"  # ARABIC DECIMAL SEPARATOR «٫»


# ----------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class ZeroAt:
    """Where a bad factor reaches 0 points (linearly from 100 points at none). Configuration keys
    ``[scorecard.zero_at]`` of reading.toml, with these defaults."""

    door_closed_percent: int = 20
    exceptions_percent: int = 10
    proven_wrong_per_1000: int = 50
    complaints_per_1000: int = 10

    def __post_init__(self) -> None:
        for key, value in self.as_dict().items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValidationError(
                    f"در پیکربندی کارنامه، «scorecard.zero_at.{key}» باید عدد صحیح مثبت باشد",
                    field=f"scorecard.zero_at.{key}",
                )

    def as_dict(self) -> dict[str, int]:
        return {
            "door_closed_percent": self.door_closed_percent,
            "exceptions_percent": self.exceptions_percent,
            "proven_wrong_per_1000": self.proven_wrong_per_1000,
            "complaints_per_1000": self.complaints_per_1000,
        }

    def threshold(self, factor: str) -> Fraction:
        """The factor's measured value (share 0–1, or per 1,000) that scores 0 points."""
        return {
            "door_closed": Fraction(self.door_closed_percent, 100),
            "exceptions": Fraction(self.exceptions_percent, 100),
            "proven_wrong": Fraction(self.proven_wrong_per_1000),
            "complaints": Fraction(self.complaints_per_1000),
        }[factor]


@dataclass(frozen=True)
class Rules:
    weights: Mapping[str, int]
    zero_at: ZeroAt = field(default_factory=ZeroAt)

    def __post_init__(self) -> None:
        if set(self.weights) != set(SCORE_FACTORS):
            raise ValidationError("وزن‌های کارنامه باید برای همهٔ عامل‌ها داده شود", field="scorecard.weights")
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 0 for w in self.weights.values()):
            raise ValidationError("وزن‌های کارنامه باید عدد صحیح نامنفی باشند", field="scorecard.weights")
        if sum(self.weights.values()) == 0:
            raise ValidationError("دست‌کم یکی از وزن‌های کارنامه باید بیش از صفر باشد", field="scorecard.weights")


def configured_rules() -> Rules:
    """The company's weights and zero-at thresholds from reading.toml."""
    cfg = reading_config()
    return Rules(weights=dict(cfg.weights), zero_at=ZeroAt(**cfg.zero_at))


# ---------------------------------------------------------------------------------------- pure scoring


@dataclass(frozen=True)
class Counts:
    ordered: int = 0
    completed: int = 0
    visits: int = 0
    on_time: int = 0
    door_closed: int = 0
    exceptions: int = 0
    proven_wrong: int = 0
    complaints: int = 0
    photos: int = 0

    def numerator(self, factor: str) -> int:
        """What a factor counts: the subscriptions visited for completion, the visits of each kind else."""
        return {
            "completion": self.completed,
            "on_time": self.on_time,
            "door_closed": self.door_closed,
            "exceptions": self.exceptions,
            "proven_wrong": self.proven_wrong,
            "complaints": self.complaints,
            "photo": self.photos,
        }[factor]

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            ordered=self.ordered + other.ordered,
            completed=self.completed + other.completed,
            visits=self.visits + other.visits,
            on_time=self.on_time + other.on_time,
            door_closed=self.door_closed + other.door_closed,
            exceptions=self.exceptions + other.exceptions,
            proven_wrong=self.proven_wrong + other.proven_wrong,
            complaints=self.complaints + other.complaints,
            photos=self.photos + other.photos,
        )


def measure_counts(c: Counts) -> dict[str, Fraction | None]:
    """Each factor's measured value: a share (0–1) or, for ``PER_THOUSAND`` factors, a rate per 1,000
    visits. None where it has no denominator (nothing ordered, or no visit)."""
    out: dict[str, Fraction | None] = {"completion": Fraction(c.completed, c.ordered) if c.ordered else None}
    if c.visits:
        out["on_time"] = Fraction(c.on_time, c.visits)
        out["door_closed"] = Fraction(c.door_closed, c.visits)
        out["exceptions"] = Fraction(c.exceptions, c.visits)
        out["proven_wrong"] = Fraction(c.proven_wrong * 1000, c.visits)
        out["complaints"] = Fraction(c.complaints * 1000, c.visits)
        out["photo"] = Fraction(c.photos, c.visits)
    else:
        out.update(dict.fromkeys(("on_time", "door_closed", "exceptions", "proven_wrong", "complaints", "photo")))
    return {k: out[k] for k in SCORE_FACTORS}


def factor_points(factor: str, measured: Fraction, zero_at: ZeroAt) -> Fraction:
    """0–100 points, higher is better: a good share as a percent; a bad measure 100 at none, falling
    linearly to 0 at its zero-at threshold and staying 0 beyond it."""
    if factor in LOWER_IS_BETTER:
        return max(Fraction(0), 100 * (1 - measured / zero_at.threshold(factor)))
    return 100 * measured


def points(c: Counts, zero_at: ZeroAt) -> dict[str, Fraction | None]:
    return {k: None if m is None else factor_points(k, m, zero_at) for k, m in measure_counts(c).items()}


def weighted_score(pts: Mapping[str, Fraction | None], weights: Mapping[str, int]) -> Fraction | None:
    """The weighted mean of the factors that have a value; a factor without one (no denominator) is left
    out with its weight. None when no weighted factor has a value."""
    total_weight = sum(weights[k] for k, p in pts.items() if p is not None)
    if total_weight == 0:
        return None
    return sum((weights[k] * p for k, p in pts.items() if p is not None), Fraction(0)) / total_weight


def one_decimal(value: Fraction) -> Fraction:
    """Rounded to one decimal, halves up (scores are never negative): 87.45 → 87.5."""
    return Fraction(floor(value * 10 + Fraction(1, 2)), 10)


def fa_one_decimal(value: Fraction | None, suffix: str = "") -> str:
    """«۸۷٫۵» — Persian digits and decimal separator; «—» for None."""
    if value is None:
        return "—"
    tenths = floor(value * 10 + Fraction(1, 2))
    return f"{fa_number(tenths // 10)}{_FA_DECIMAL}{fa_digits(tenths % 10)}{suffix}"


def fa_measure(factor: str, value: Fraction | None) -> str:
    """A measured value as shown: a share as a percent «۹۷٫۵٪», a rate per 1,000 as «۱۲٫۵»."""
    if value is None:
        return "—"
    return fa_one_decimal(value) if factor in PER_THOUSAND else fa_one_decimal(100 * value, "٪")


def cycle_name(cycle: int) -> str:
    """140509 → «آذر ۱۴۰۵»."""
    year, month = divmod(cycle, 100)
    return f"{MONTH_NAMES[month - 1]} {fa_digits(year)}"


def parse_cycle(raw: str) -> int:
    """«1405/09», «۱۴۰۵/۰۹», «1405-9» or «140509» → 140509; ValidationError otherwise."""
    text = normalize_digits(raw).strip().replace("-", "/")
    year, sep, month = text.partition("/")
    if sep and year.isdigit() and month.isdigit() and len(year) == 4 and len(month) <= 2:
        cycle = int(year) * 100 + int(month)
    elif text.isdigit() and len(text) == 6:
        cycle = int(text)
    else:
        raise ValidationError("دوره باید به شکل سال و ماه شمسی باشد، مانند ۱۴۰۵/۰۹", field="cycle")
    cycle_window(cycle)
    return cycle


def next_cycle(cycle: int) -> int:
    return previous_cycle(cycle, -1)


def cycles_between(first: int, last: int) -> list[int]:
    out = [first]
    while out[-1] < last:
        out.append(next_cycle(out[-1]))
    return out


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Line:
    """One reader (or one contractor) in one cycle."""

    cycle: int
    key: int | None
    """The reader's user id; for a contractor line the contractor's id (None: the company's own readers)."""
    name: str
    contractor_id: int | None
    contractor_name: str
    counts: Counts
    measures: dict[str, Fraction | None]
    points: dict[str, Fraction | None]
    score: Fraction | None
    rank: int | None = None
    routes: tuple[str, ...] = ()
    readers: int = 1

    @property
    def completion(self) -> Fraction | None:
        return self.measures["completion"]


def make_line(
    *,
    cycle: int,
    key: int | None,
    name: str,
    contractor_id: int | None,
    contractor_name: str,
    counts: Counts,
    rules: Rules,
    routes: tuple[str, ...] = (),
    readers: int = 1,
) -> Line:
    pts = points(counts, rules.zero_at)
    return Line(
        cycle=cycle,
        key=key,
        name=name,
        contractor_id=contractor_id,
        contractor_name=contractor_name,
        counts=counts,
        measures=measure_counts(counts),
        points=pts,
        score=weighted_score(pts, rules.weights),
        routes=routes,
        readers=readers,
    )


def ranked(lines: Iterable[Line]) -> list[Line]:
    """Best first, with a dense rank: by score, equal scores by completion; lines equal in both share a
    rank and are listed by name. Lines without a score come last, unranked."""

    def merit(line: Line) -> tuple[Fraction, Fraction]:
        assert line.score is not None
        return line.score, line.completion if line.completion is not None else Fraction(-1)

    scored = sorted(
        (x for x in lines if x.score is not None), key=lambda x: (tuple(-v for v in merit(x)), x.name, x.key or 0)
    )
    out: list[Line] = []
    rank, previous = 0, None
    for line in scored:
        if merit(line) != previous:
            rank, previous = rank + 1, merit(line)
        out.append(replace(line, rank=rank))
    unscored = sorted((x for x in lines if x.score is None), key=lambda x: (x.name, x.key or 0))
    return out + unscored


def by_contractor(lines: Iterable[Line], rules: Rules) -> list[Line]:
    """Contractor lines from reader lines of one cycle: the readers' counts pooled (not their scores
    averaged), so a contractor's score weighs each visit alike. Company readers form «شرکت»."""
    groups: dict[tuple[int, int | None], tuple[str, Counts, int]] = {}
    for line in lines:
        gkey = (line.cycle, line.contractor_id)
        name, counts, readers = groups.get(gkey, (line.contractor_name, Counts(), 0))
        groups[gkey] = (name, counts + line.counts, readers + 1)
    return ranked(
        make_line(
            cycle=cycle,
            key=cid,
            name=name,
            contractor_id=cid,
            contractor_name=name,
            counts=counts,
            rules=rules,
            readers=readers,
        )
        for (cycle, cid), (name, counts, readers) in groups.items()
    )


@dataclass(frozen=True)
class Scorecard:
    cycle: int
    district_id: int | None
    rules: Rules
    readers: list[Line]
    contractors: list[Line]


@dataclass(frozen=True)
class ReaderInfo:
    id: int
    name: str
    contractor_id: int | None
    contractor_name: str
    routes: tuple[str, ...]


@dataclass(frozen=True)
class Trend:
    reader: ReaderInfo
    rules: Rules
    cycles: list[int]
    """Oldest first."""
    lines: dict[int, Line]
    """Cycle → the reader's line; a cycle with nothing ordered and no visit has none."""


# ------------------------------------------------------------------------------------------- scopes

_WIDER_ROLES = frozenset(code for code, (_, perms) in DEFAULT_ROLES.items() if P.READING_VIEW in perms)


def _sees_only_self(principal: Principal) -> bool:
    """A reader sees only their own scorecard, unless another role of theirs sees reading more widely."""
    return "reader" in principal.roles and not (principal.roles & _WIDER_ROLES)


def _district_for(principal: Principal, district_id: int | None) -> int | None:
    if principal.district_id is not None:
        if district_id is not None and district_id != principal.district_id:
            raise PermissionDenied("دیدن کارنامهٔ امور دیگر مجاز نیست", detail="district outside scope")
        return principal.district_id
    return district_id


def _visit(read: Any) -> ColumnElement[bool]:
    return and_(read.reader_id.is_not(None), read.source.in_(VISIT_SOURCES))


def _readers_in_scope(principal: Principal, district_id: int | None, first: date, last: date) -> Select[Any] | None:
    """The user ids the principal may see scorecards of, as a subquery; None for every reader.

    A reader sees themself; a contractor's user the readers of its contractor; a district (the user's, or
    the one filtered on) narrows to the readers of its routes now and whoever visited its subscriptions in
    the cycles. The conditions add up: a contractor's user filtering on a district sees its readers there.
    """
    stmt, narrowed = select(User.id), False
    if _sees_only_self(principal):
        stmt, narrowed = stmt.where(User.id == principal.user_id), True
    if principal.contractor_id is not None:
        stmt, narrowed = stmt.where(User.contractor_id == principal.contractor_id), True
    if district_id is not None:
        routed = select(Route.reader_id).where(Route.district_id == district_id, Route.reader_id.is_not(None))
        visited = (
            select(MeterRead.reader_id)
            .join(Subscription, Subscription.id == MeterRead.subscription_id)
            .where(Subscription.district_id == district_id, _visit(MeterRead), MeterRead.read_on.between(first, last))
        )
        stmt, narrowed = stmt.where(User.id.in_(union(routed, visited))), True
    return stmt if narrowed else None


def _only(col: Any, scope: Select[Any] | None, reader_id: int | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if scope is not None:
        where.append(col.in_(scope))
    if reader_id is not None:
        where.append(col == reader_id)
    return where


# ---------------------------------------------------------------------------------------- the queries


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The moment a day begins in the company's time zone, in UTC."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


_DAY_COLUMNS = (
    ("day", Date),
    ("cycle", Integer),
    ("dom", Integer),
    ("odd", Integer),
    ("utc_from", UTCDateTime),
    ("utc_to", UTCDateTime),
    ("cycle_first", Date),
    ("prev_cycle", Integer),
    ("prev_first", Date),
)


def _literal(value: int | date | datetime, sqlite: bool) -> str:
    """A value this module computed, as SQL: dates and moments as each database stores them (SQLite keeps
    text, in SQLAlchemy's format for ``UTCDateTime``)."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        if sqlite:
            return f"'{moment:%Y-%m-%d %H:%M:%S.%f}'"
        return f"TIMESTAMPTZ '{moment:%Y-%m-%d %H:%M:%S}+00:00'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'" if sqlite else f"DATE '{value.isoformat()}'"
    return str(int(value))


def _days(session: Session, first_cycle: int, last_cycle: int, tz: ZoneInfo) -> CTE:
    """One row per calendar day from the first cycle's first day to the last cycle's last day: the day,
    its cycle, its day of the Jalali month, whether the cycle's month is odd (60-day routes are read in
    even months), its bounds in UTC (for events), the first day of its cycle, and the previous cycle with
    its first day.

    Sent as literal ``VALUES``: a few hundred rows the module computed itself (no input reaches them), and
    SQLAlchemy takes longer to compile that many bound parameters than the database takes to answer."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    rows: list[str] = []
    for cycle in cycles_between(first_cycle, last_cycle):
        start, end = cycle_window(cycle)
        prev = previous_cycle(cycle)
        prev_first = cycle_window(prev)[0]
        day, dom = start, 1
        while day <= end:
            utc_from, utc_to = _midnight(day, tz), _midnight(day + timedelta(days=1), tz)
            row = (day, cycle, dom, cycle % 2, utc_from, utc_to, start, prev, prev_first)
            rows.append("(" + ", ".join(_literal(v, sqlite) for v in row) + ")")
            day, dom = day + timedelta(days=1), dom + 1
    names = ", ".join(f"column{i} AS {name}" for i, (name, _) in enumerate(_DAY_COLUMNS, start=1))
    sql = f"SELECT {names} FROM (VALUES {', '.join(rows)}) AS scorecard_values"
    return text(sql).columns(*(column(name, type_) for name, type_ in _DAY_COLUMNS)).cte("scorecard_day")


def _visit_counts(
    session: Session, days: CTE, first: date, last: date, where: list[ColumnElement[bool]]
) -> dict[tuple[int, int], Counts]:
    """Visits per reader and cycle, with how many were on time, door closed, exceptions, proven wrong and
    with a photo, and how many of the reader's ordered subscriptions they visited."""
    v, s, r, d = MeterRead, Subscription, Route, days.c
    ordered = and_(
        r.reader_id == v.reader_id,
        s.supply_state.in_(DUE_STATES),
        or_(d.odd == 0, r.cycle_days != 60),
    )

    def n(cond: ColumnElement[bool]) -> Any:
        return func.sum(case((cond, 1), else_=0))

    stmt = (
        select(
            v.reader_id,
            d.cycle,
            func.count(),
            func.count(distinct(case((ordered, v.subscription_id)))),
            n(d.dom.between(func.coalesce(r.window_start, 1), func.coalesce(r.window_end, 31))),
            n(v.code == "door_closed"),
            n(or_(v.status == "exception", v.resolution.is_not(None))),
            n(v.resolution.in_(PROVEN_WRONG)),
            n(v.photo_id.is_not(None)),
        )
        .select_from(v)
        .join(days, d.day == v.read_on)
        .join(s, s.id == v.subscription_id)
        .outerjoin(r, r.id == s.route_id)
        .where(v.read_on.between(first, last), _visit(v), *where)
        .group_by(v.reader_id, d.cycle)
    )
    return {
        (int(reader), int(cycle)): Counts(
            completed=int(completed),
            visits=int(visits),
            on_time=int(on_time),
            door_closed=int(door_closed),
            exceptions=int(exceptions),
            proven_wrong=int(wrong),
            photos=int(photos),
        )
        for reader, cycle, visits, completed, on_time, door_closed, exceptions, wrong, photos in session.execute(stmt)
    }


def _orders(session: Session, where: list[ColumnElement[bool]]) -> dict[int, tuple[int, int]]:
    """Per reader, the due subscriptions on their routes now: (in an odd month, in an even month)."""
    stmt = (
        select(
            Route.reader_id,
            func.sum(case((Route.cycle_days == 60, 0), else_=1)),
            func.count(),
        )
        .select_from(Subscription)
        .join(Route, Route.id == Subscription.route_id)
        .where(Route.reader_id.is_not(None), Subscription.supply_state.in_(DUE_STATES), *where)
        .group_by(Route.reader_id)
    )
    return {int(reader): (int(odd), int(even)) for reader, odd, even in session.execute(stmt)}


def _complaints(
    session: Session, days: CTE, first_cycle: int, last_cycle: int, tz: ZoneInfo
) -> dict[tuple[int, int], int]:
    """Customers' re-read work orders (type ``reread`` that no read refers to: the exception queue's own
    re-reads are referred to by the read that caused them; cancelled ones are left out) charged to the
    visit they complain of: the subscription's latest visit on or before the day the order was made, when
    that visit is in the order's cycle or the one before. Counted per reader and cycle of that visit.

    Every reader's complaints are counted (callers keep the readers they show): the work is bounded by the
    complaints made in the cycles, found by index, which keeps the database's planner away from the reads."""
    w, made = WorkOrder, days.c
    v, v2, m = aliased(MeterRead), aliased(MeterRead), aliased(MeterRead)
    made_from = _midnight(cycle_window(first_cycle)[0], tz)
    made_to = _midnight(cycle_window(next_cycle(last_cycle))[1] + timedelta(days=1), tz)
    referred = exists().where(m.subscription_id == w.subscription_id, m.work_order_id == w.id)
    # the complaints first, each checked once, before they meet the calendar and the reads
    wo = (
        select(w.id, w.subscription_id, w.created_at)
        .where(
            w.type_code == COMPLAINT_TYPE,
            w.state != "cancelled",
            w.subscription_id.is_not(None),
            w.created_at >= made_from,
            w.created_at < made_to,
            ~referred,
        )
        .cte("scorecard_complaint")
        .prefix_with("MATERIALIZED")
    )
    latest = (
        select(func.max(v2.read_on))
        .where(v2.subscription_id == wo.c.subscription_id, _visit(v2), v2.read_on <= made.day)
        .scalar_subquery()
    )
    visit_cycle = case((v.read_on >= made.cycle_first, made.cycle), else_=made.prev_cycle)
    stmt = (
        select(v.reader_id, visit_cycle, func.count(distinct(wo.c.id)))
        .select_from(wo)
        .join(days, and_(wo.c.created_at >= made.utc_from, wo.c.created_at < made.utc_to))
        .join(
            v,
            and_(
                v.subscription_id == wo.c.subscription_id,
                _visit(v),
                v.read_on >= made.prev_first,
                v.read_on == latest,
            ),
        )
        .where(visit_cycle.between(first_cycle, last_cycle))
        .group_by(v.reader_id, visit_cycle)
    )
    return {(int(reader), int(cycle)): int(n) for reader, cycle, n in session.execute(stmt)}


def _reader_info(session: Session, ids: Iterable[int]) -> dict[int, ReaderInfo]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    routes: dict[int, list[str]] = {}
    for reader, code in session.execute(
        select(Route.reader_id, Route.code).where(Route.reader_id.in_(wanted)).order_by(Route.code)
    ):
        if reader is not None:
            routes.setdefault(int(reader), []).append(code)
    stmt = (
        select(User.id, User.full_name, User.contractor_id, Contractor.name)
        .outerjoin(Contractor, Contractor.id == User.contractor_id)
        .where(User.id.in_(wanted))
    )
    return {
        int(uid): ReaderInfo(
            id=int(uid),
            name=name,
            contractor_id=cid,
            contractor_name=cname if cid is not None and cname else COMPANY_NAME,
            routes=tuple(routes.get(int(uid), ())),
        )
        for uid, name, cid, cname in session.execute(stmt)
    }


def _check_range(first_cycle: int, last_cycle: int) -> None:
    cycle_window(first_cycle)
    cycle_window(last_cycle)
    if first_cycle > last_cycle:
        raise ValidationError("دورهٔ آغاز پس از دورهٔ پایان است", field="cycle")
    if len(cycles_between(first_cycle, last_cycle)) > MAX_CYCLES:
        raise ValidationError(f"حداکثر {fa_digits(MAX_CYCLES)} دوره در یک گزارش", field="cycle")


def reader_lines(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    first_cycle: int,
    last_cycle: int,
    district_id: int | None = None,
    reader_id: int | None = None,
    rules: Rules | None = None,
) -> list[Line]:
    """Every (reader, cycle) line the principal may see in the cycles from first to last, unranked: each
    reader with something ordered or a visit in the cycle. ``district_id`` narrows to a district's readers
    (a district user is always narrowed to their own); ``reader_id`` to one reader."""
    principal.require(P.READING_VIEW)
    _check_range(first_cycle, last_cycle)
    rules = rules or configured_rules()
    district_id = _district_for(principal, district_id)
    first, last = cycle_window(first_cycle)[0], cycle_window(last_cycle)[1]
    scope = _readers_in_scope(principal, district_id, first, last)
    days = _days(session, first_cycle, next_cycle(last_cycle), clock.tz)
    visits = _visit_counts(session, days, first, last, _only(MeterRead.reader_id, scope, reader_id))
    orders = _orders(session, _only(Route.reader_id, scope, reader_id))
    complaints = _complaints(session, days, first_cycle, last_cycle, clock.tz)

    def ordered(reader: int, cycle: int) -> int:
        odd_month, even_month = orders.get(reader, (0, 0))
        return odd_month if cycle % 2 else even_month

    keys = set(visits)
    keys.update((r, c) for r in orders for c in cycles_between(first_cycle, last_cycle) if ordered(r, c))
    info = _reader_info(session, (reader for reader, _ in keys))
    lines = []
    for reader, cycle in sorted(keys):
        counts = replace(
            visits.get((reader, cycle), Counts()),
            ordered=ordered(reader, cycle),
            complaints=complaints.get((reader, cycle), 0),
        )
        who = info[reader]
        lines.append(
            make_line(
                cycle=cycle,
                key=reader,
                name=who.name,
                contractor_id=who.contractor_id,
                contractor_name=who.contractor_name,
                counts=counts,
                rules=rules,
                routes=who.routes,
            )
        )
    return lines


def reader_scorecard(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    cycle: int,
    district_id: int | None = None,
    rules: Rules | None = None,
) -> Scorecard:
    """One cycle: the readers the principal may see, ranked, and their contractors, ranked."""
    rules = rules or configured_rules()
    lines = reader_lines(
        session,
        principal=principal,
        clock=clock,
        first_cycle=cycle,
        last_cycle=cycle,
        district_id=district_id,
        rules=rules,
    )
    return Scorecard(
        cycle=cycle,
        district_id=_district_for(principal, district_id),
        rules=rules,
        readers=ranked(lines),
        contractors=by_contractor(lines, rules),
    )


def reader_trend(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    reader_id: int,
    last_cycle: int,
    cycles: int = TREND_CYCLES,
    rules: Rules | None = None,
) -> Trend:
    """One reader's lines over the ``cycles`` cycles ending with ``last_cycle``. A reader the principal may
    not see is not found, as if it did not exist."""
    principal.require(P.READING_VIEW)
    rules = rules or configured_rules()
    first_cycle = previous_cycle(last_cycle, cycles - 1)
    _check_range(first_cycle, last_cycle)
    first, last = cycle_window(first_cycle)[0], cycle_window(last_cycle)[1]
    scope = _readers_in_scope(principal, _district_for(principal, None), first, last)
    visible = select(User.id).where(User.id == reader_id, *_only(User.id, scope, None))
    if session.scalar(visible) is None:
        raise NotFound("مامور قرائت پیدا نشد")
    lines = reader_lines(
        session,
        principal=principal,
        clock=clock,
        first_cycle=first_cycle,
        last_cycle=last_cycle,
        reader_id=reader_id,
        rules=rules,
    )
    info = _reader_info(session, [reader_id])[reader_id]
    return Trend(
        reader=info,
        rules=rules,
        cycles=cycles_between(first_cycle, last_cycle),
        lines={line.cycle: line for line in lines},
    )


def default_cycle(clock: Clock) -> int:
    """The last whole cycle: the month before today's."""
    return previous_cycle(cycle_of(clock.today()))


def recent_cycles(clock: Clock, count: int = 24) -> list[int]:
    """The current cycle and the ``count - 1`` before it, newest first (for a cycle picker)."""
    current = cycle_of(clock.today())
    return [previous_cycle(current, k) for k in range(count)]
