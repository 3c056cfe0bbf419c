"""The deterministic demo-province generator behind ``barq demo``.

``build_demo`` expects an empty, migrated schema. Every row comes from one ``random.Random(seed)`` and a
fixed clock, so the same seed and account count always give the same rows. Rows are generated in chunks of
``CHUNK_SIZE`` subscriptions and written with explicit ids through the DBAPI connection inside one
SQLAlchemy transaction per chunk: ``executemany`` on SQLite, ``COPY … FROM STDIN`` on PostgreSQL (the ORM,
one object at a time, is 40–80× slower). Demo logins and roles go through ``barq.auth.service``.
"""

from __future__ import annotations

import json
import math
import random
import time as _time
import tomllib
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.orm import Session

from barq.auth.models import User, UserRole
from barq.auth.permissions import DEFAULT_ROLES
from barq.auth.service import create_user, ensure_roles, hash_password
from barq.calendar import WorkingCalendar, default_calendar, from_jalali, month_length, to_jalali
from barq.clock import Clock, FixedClock
from barq.ids import build_bill_id, legal_id_check_digit, make_mobile, national_code_check_digit
from barq.metering.models import REGISTERS_BY_KIND
from barq.network.service import ZONES
from barq.settings import get_settings
from barq.workorders.service import due_at
from barq.workorders.types import WorkOrderType, get_type

__all__ = [
    "CHUNK_SIZE",
    "DEMO_PASSWORD",
    "DISTRICTS",
    "WORK_TYPES",
    "DemoLogin",
    "DemoSummary",
    "DistrictSpec",
    "build_demo",
    "demo_logins",
    "is_built",
]

CHUNK_SIZE = 20_000
DEMO_PASSWORD = "barq1234"
ROUTE_SIZE = 300  # subscriptions per reading route, about

T = TypeVar("T")


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    full_name: str
    roles: tuple[str, ...]
    scope: str  # "" when the user sees everything, else the district or contractor it is limited to


@dataclass(frozen=True)
class DemoSummary:
    accounts: int
    seed: int
    counts: dict[str, int]
    elapsed_seconds: float
    logins: tuple[DemoLogin, ...]


# ------------------------------------------------------------------------------------- province data


@dataclass(frozen=True)
class DistrictSpec:
    code: str
    name: str
    name_en: str
    town: str  # the district office's town, used in addresses and organisation names
    weight: float  # share of the province's subscriptions, percent (roughly by population)
    rural_share: float  # share of the district's routes that are rural
    zone: str


# Climate zone: "normal" everywhere except Poldokhtar, which is given "tropical4". Poldokhtar lies low in
# the south-west on the Karkheh plain and is the hottest county of Lorestan; that its subscriptions are on
# the tropical-4 tariff is an assumption of the demo, not confirmed by a circular (domain-sources.md has no
# zone list per county). A company fixes it per district or premises without code.
DISTRICTS: tuple[DistrictSpec, ...] = (
    DistrictSpec("11", "خرم‌آباد", "Khorramabad", "خرم‌آباد", 35.0, 0.20, "normal"),
    DistrictSpec("12", "بروجرد", "Borujerd", "بروجرد", 20.0, 0.20, "normal"),
    DistrictSpec("13", "دورود", "Dorud", "دورود", 9.0, 0.25, "normal"),
    DistrictSpec("14", "ازنا", "Azna", "ازنا", 4.0, 0.30, "normal"),
    DistrictSpec("15", "الیگودرز", "Aligudarz", "الیگودرز", 8.0, 0.35, "normal"),
    DistrictSpec("16", "کوهدشت", "Kuhdasht", "کوهدشت", 7.0, 0.40, "normal"),
    DistrictSpec("17", "دلفان", "Delfan", "نورآباد", 6.0, 0.50, "normal"),
    DistrictSpec("18", "سلسله", "Selseleh", "الشتر", 4.0, 0.45, "normal"),
    DistrictSpec("19", "پلدختر", "Poldokhtar", "پلدختر", 3.5, 0.40, "tropical4"),
    DistrictSpec("20", "چگنی", "Chegeni", "سراب‌دوره", 1.75, 0.70, "normal"),
    DistrictSpec("21", "رومشکان", "Rumeshkan", "چقابل", 1.75, 0.60, "normal"),
)

WORK_TYPES = (
    "inspection",
    "installation",
    "meter_replacement",
    "reread",
    "disconnection",
    "reconnection",
    "meter_test",
    "removal",
    "reading",
)

# (group, sub code, percent of subscriptions, probability that such a subscription is a demand customer)
# Group 5's sub code follows from the demand draw: "5-ب" (over 30 kW) for demand customers, else "5-الف".
_TARIFFS: tuple[tuple[int, str, float, float], ...] = (
    (1, "1", 85.0, 0.0),
    (2, "2-الف-1", 1.5, 0.02),
    (2, "2-الف-2", 0.9, 0.02),
    (2, "2-ب", 0.6, 0.10),
    (3, "3-الف", 1.05, 0.20),
    (3, "3-ب", 1.35, 0.03),
    (3, "3-ج-1", 0.6, 0.03),
    (4, "4-الف-1", 0.6, 0.30),
    (4, "4-ب", 0.4, 1.0),
    (5, "5", 8.0, 0.05),
)

GOVERNMENT_CATEGORIES = frozenset(
    {"education", "health", "water", "municipality", "military", "religious", "other_government"}
)
_PUBLIC_BODIES: tuple[tuple[str, float], ...] = (
    ("education", 0.35 * 0.92),
    ("health", 0.20 * 0.92),
    ("religious", 0.20 * 0.92),
    ("municipality", 0.10 * 0.92),
    ("military", 0.05 * 0.92),
    ("other_government", 0.10 * 0.92),
    ("company", 0.08),
)
_INDUSTRY: tuple[tuple[str, float], ...] = (("company", 0.9), ("other_government", 0.1))
# Who holds a subscription of each sub code: "person", a government category, "company" or "shop".
_HOLDERS: dict[str, tuple[tuple[str, float], ...]] = {
    "1": (("person", 1.0),),
    "2-الف-1": _PUBLIC_BODIES,
    "2-الف-2": _PUBLIC_BODIES,
    "2-ب": _PUBLIC_BODIES,
    "3-الف": (("water", 0.6), ("person", 0.4)),
    "3-ب": (("person", 0.85), ("company", 0.15)),
    "3-ج-1": (("person", 0.6), ("company", 0.4)),
    "4-الف-1": _INDUSTRY,
    "4-ب": _INDUSTRY,
    "5": (
        ("person", 0.65),
        ("shop", 0.20),
        ("company", 0.05),
        ("other_government", 0.05),
        ("municipality", 0.025),
        ("health", 0.015),
        ("military", 0.01),
    ),
}

_DEMAND_KW: tuple[tuple[int, float], ...] = (
    (30, 14), (35, 10), (40, 12), (50, 12), (60, 9), (75, 8), (100, 8), (125, 5), (150, 5), (200, 5),
    (250, 4), (315, 3), (400, 2), (500, 1.5), (630, 1), (800, 0.7), (1000, 0.5),
)  # fmt: skip
_CT_RATIOS = (20, 30, 40, 60, 80, 100, 120, 160, 200, 300, 400, 600, 800)

_SUPPLY_STATES: tuple[tuple[str, float], ...] = (("active", 95.5), ("disconnected", 3.0), ("removed", 1.5))
_HOUSEHOLDS: tuple[tuple[int, float], ...] = ((1, 94.0), (2, 4.0), (3, 1.5), (4, 0.5))
_MEDICAL_SHARE = 0.006  # of residential subscriptions held by people: about 0.5 % of all
_MULTI_HOLDER_SHARE = 0.03  # of customers, who hold 2–3 subscriptions
_REPLACEMENT_REASONS = (
    "تعویض کنتور معیوب",
    "تعویض کنتور فرسوده",
    "تبدیل به کنتور چندتعرفه",
    "تعویض کنتور در برنامه آزمایش هدفمند",
    "کنتور سوخته",
)

_WORK_ORDER_TYPES: tuple[tuple[str, float], ...] = (
    ("disconnection", 25), ("reconnection", 12), ("reread", 20), ("inspection", 15),
    ("meter_replacement", 10), ("installation", 8), ("meter_test", 6), ("removal", 4),
)  # fmt: skip
_WORK_ORDER_STATES: tuple[tuple[str, float], ...] = (
    ("created", 10), ("assigned", 25), ("in_progress", 15), ("done", 35), ("failed", 8), ("cancelled", 7),
)  # fmt: skip
_FAILURE_REASONS = (
    "در بسته بود",
    "مشترک حضور نداشت",
    "دسترسی به کنتور ممکن نبود",
    "مانع فنی در محل",
    "نشانی پیدا نشد",
)
_CANCEL_REASONS = ("درخواست مشترک", "بدهی پرداخت شد", "دستورکار تکراری", "اشتباه در ثبت")
_FINDINGS = ("محل آماده برق‌رسانی است", "شبکه فشار ضعیف در دسترس است", "نیاز به نصب پایه", "کنتور سالم است")
# Used only if barq.workorders.types does not know a type (it knows all of them today).
_FALLBACK_TARGET_HOURS = {
    "inspection": 72, "installation": 120, "meter_replacement": 120, "reread": 48, "disconnection": 72,
    "reconnection": 24, "meter_test": 240, "removal": 240,
}  # fmt: skip

_FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def _fa(n: int | str) -> str:
    return str(n).translate(_FA_DIGITS)


class _Weighted(Generic[T]):
    """A categorical draw: one ``rng.random()`` and a bisection over cumulative shares."""

    def __init__(self, items: Sequence[tuple[T, float]]) -> None:
        total = float(sum(w for _, w in items))
        acc = 0.0
        cum: list[float] = []
        for _, w in items:
            acc += w
            cum.append(acc / total)
        cum[-1] = 1.0
        self.items = [item for item, _ in items]
        self.cum = cum

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect_right(self.cum, rng.random())]


# -------------------------------------------------------------------------------------------- names


@dataclass(frozen=True)
class _Names:
    male: tuple[str, ...]
    female: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    alleys: tuple[str, ...]
    villages: dict[str, tuple[str, ...]]
    org_templates: dict[str, tuple[str, ...]]
    honorifics: tuple[str, ...]
    words: tuple[str, ...]
    brands: tuple[str, ...]
    contractor_kinds: tuple[str, ...]
    contractor_brands: tuple[str, ...]
    manufacturers: _Weighted[tuple[str, str]]


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def load_names() -> _Names:
    """The name lists of ``barq/data/demo/names.toml``."""
    raw = resources.files("barq").joinpath("data", "demo", "names.toml").read_text(encoding="utf-8")
    data: dict[str, Any] = tomllib.loads(raw)
    people, places, orgs = data["people"], data["places"], data["organisations"]
    categories = sorted(GOVERNMENT_CATEGORIES | {"company", "shop"})
    return _Names(
        male=_unique(people["male"]),
        female=_unique(people["female"]),
        last=_unique(people["last"]),
        streets=_unique(places["streets"]),
        alleys=_unique(places["alleys"]),
        villages={code: _unique(names) for code, names in data["villages"].items()},
        org_templates={c: _unique(orgs[c]) for c in categories},
        honorifics=_unique(orgs["honorifics"]),
        words=_unique(orgs["words"]),
        brands=_unique(orgs["brands"]),
        contractor_kinds=_unique(data["contractors"]["kinds"]),
        contractor_brands=_unique(data["contractors"]["brands"]),
        manufacturers=_Weighted(
            [((m["name"], m["prefix"]), float(m["share"])) for m in data["meters"]["manufacturers"]]
        ),
    )


# ------------------------------------------------------------------------------------------- writing

_COLUMNS: dict[str, tuple[str, ...]] = {
    "company": ("id", "code", "name"),
    "climate_zone": ("code", "name"),
    "district": ("id", "company_id", "code", "name", "name_en", "default_zone"),
    "contractor": ("id", "name", "legal_id", "phone", "active"),
    "contract": ("id", "number", "contractor_id", "district_id", "work_type", "valid_from", "valid_to"),
    "route": ("id", "district_id", "code", "name", "cycle_days", "contractor_id"),
    "customer": (
        "id", "kind", "first_name", "last_name", "father_name", "national_code", "org_name", "legal_id",
        "is_government", "org_category", "mobile", "district_id", "created_at",
    ),
    "premises": ("id", "district_id", "zone", "address", "postal_code", "is_rural"),
    "meter": (
        "id", "serial", "kind", "registers", "digits", "multiplier", "phase", "accuracy_class",
        "manufacturer", "manufacture_year", "state",
    ),
    "subscription": (
        "id", "subscription_number", "file_number", "bill_id", "customer_id", "premises_id", "district_id",
        "route_id", "route_sequence", "tariff_group", "tariff_sub_code", "phase", "amperage", "contract_kw",
        "households", "medical_certificate", "medical_valid_from", "medical_valid_to", "supply_state",
        "connected_on", "removed_on", "created_at",
    ),
    "meter_installation": (
        "id", "subscription_id", "meter_id", "installed_on", "removed_on", "initial_read", "final_read",
        "reason",
    ),
    "work_order": (
        "id", "number", "type_code", "state", "district_id", "subscription_id", "assignee_team",
        "contractor_id", "description", "result", "failure_reason", "created_by", "created_at", "due_at",
        "started_at", "finished_at",
    ),
}  # fmt: skip

# Tables written with explicit ids (their PostgreSQL sequences are moved past the demo's ids afterwards).
_ID_TABLES = (
    "company", "district", "contractor", "contract", "route", "customer", "premises", "meter", "subscription",
    "meter_installation", "work_order",
)  # fmt: skip
_COUNTED_TABLES = (*_ID_TABLES[:5], "climate_zone", *_ID_TABLES[5:], "user_account", "role", "user_role")

Row = tuple[object, ...]
_SQLITE_CACHE_KIB = 256 * 1024  # 256 MiB


class _Sink:
    """Bulk insert through the DBAPI connection of a SQLAlchemy transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.raw: Any = conn.connection.driver_connection

    def insert(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        columns = _COLUMNS[table]
        names = ", ".join(columns)
        if self.postgres:
            with self.raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            cur = self.raw.cursor()
            try:
                cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            finally:
                cur.close()


@contextmanager
def _bulk(engine: Engine) -> Iterator[_Sink]:
    """One transaction with a sink on its DBAPI connection."""
    with engine.begin() as conn:
        sink = _Sink(conn)
        if sink.postgres:
            yield sink
            return
        # The unique indexes (national codes, postal codes, serials) take keys in random order; SQLite's
        # default 2 MB page cache makes a large build page in and out. The pooled connection gets its
        # default back afterwards.
        default = sink.raw.execute("PRAGMA cache_size").fetchone()[0]
        sink.raw.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
        try:
            yield sink
        finally:
            sink.raw.execute(f"PRAGMA cache_size = {int(default)}")


def _sqlite_timestamp(moment: datetime) -> object:
    # The text SQLAlchemy's SQLite DateTime writes (UTC, no offset), so ORM reads and comparisons agree.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pg_timestamp(moment: datetime) -> object:
    return moment


# ------------------------------------------------------------------------------------------ planning


@dataclass
class _Route:
    id: int
    district: int  # index into DISTRICTS
    code: str
    size: int
    rural: bool
    place: str  # the street (urban) or village (rural) the route is named after
    contractor_id: int | None


@dataclass
class _Batch:
    customer: list[Row] = field(default_factory=list)
    premises: list[Row] = field(default_factory=list)
    meter: list[Row] = field(default_factory=list)
    subscription: list[Row] = field(default_factory=list)
    meter_installation: list[Row] = field(default_factory=list)

    def tables(self) -> Iterator[tuple[str, list[Row]]]:
        # Order matters: foreign keys are checked row by row on SQLite.
        yield "customer", self.customer
        yield "premises", self.premises
        yield "meter", self.meter
        yield "subscription", self.subscription
        yield "meter_installation", self.meter_installation


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split by ``weights`` (largest remainder), at least one each when total allows it."""
    wsum = sum(weights)
    exact = [total * w / wsum for w in weights]
    counts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    if total >= len(weights):
        for i, c in enumerate(counts):
            if c == 0:
                donor = max(range(len(counts)), key=lambda j: counts[j])
                counts[donor] -= 1
                counts[i] = 1
    return counts


class _Reservoir:
    """A fixed-size uniform sample of a stream (Algorithm R), for picking work-order subjects."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.seen = 0
        self.items: list[tuple[int, str]] = []

    def offer(self, rng: random.Random, item: tuple[int, str]) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            j = rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = item


# ------------------------------------------------------------------------------------------- builder


class _Builder:
    def __init__(
        self, *, accounts: int, seed: int, clock: Clock, company_code: str, company_name: str, postgres: bool
    ) -> None:
        self.accounts = accounts
        self.rng = random.Random(seed)
        self.clock = clock
        self.now = clock.now()
        self.today = clock.today()
        self.jyear = int(to_jalali(self.today).year)
        self.company_code = company_code
        self.company_name = company_name
        self.ts = _pg_timestamp if postgres else _sqlite_timestamp
        self.names = load_names()

        self.national_codes: set[str] = set()
        self.legal_ids: set[str] = set()
        self.postal_codes: set[str] = set()

        self.tariffs = _Weighted([((g, code, demand), share) for g, code, share, demand in _TARIFFS])
        self.holders = {code: _Weighted(list(items)) for code, items in _HOLDERS.items()}
        self.demand_kw = _Weighted(_DEMAND_KW)
        self.supply_states = _Weighted(_SUPPLY_STATES)
        self.households = _Weighted(_HOUSEHOLDS)

        self.district_counts = _split(accounts, [d.weight for d in DISTRICTS])
        self.contractors: list[list[int]] = []  # contractor ids per district index
        self.contractor_names: dict[int, str] = {}
        self.contracts: set[tuple[int, int, str]] = set()  # (contractor, district index, work type)
        self.routes: list[_Route] = []
        self.active = [_Reservoir(300) for _ in DISTRICTS]
        self.disconnected = [_Reservoir(100) for _ in DISTRICTS]

        self.next_customer = 1
        self.next_meter = 1
        self.next_installation = 1
        self.next_medical = 1
        self.next_work_order = 1

    # ----------------------------------------------------------------------------- identifiers

    # barq.ids.make_national_code and friends draw digit by digit; drawing the number at once and taking the
    # check digit from barq.ids is 5-10x faster, which matters at a million accounts. The test validates
    # every identifier with barq.ids.

    def national_code(self) -> str:
        while True:
            first9 = f"{self.rng.randrange(10**9):09d}"
            code = first9 + str(national_code_check_digit(first9))
            if code not in self.national_codes and code != code[0] * 10:
                self.national_codes.add(code)
                return code

    def legal_id(self) -> str:
        while True:
            first10 = f"10{self.rng.randrange(10**8):08d}"  # real legal IDs start with 10
            code = first10 + str(legal_id_check_digit(first10))
            if code not in self.legal_ids:
                self.legal_ids.add(code)
                return code

    def postal_code(self) -> str:
        while True:
            code = str(self.rng.randrange(10**9, 10**10))  # ten digits, not starting with 0
            if code not in self.postal_codes and code != code[0] * 10:
                self.postal_codes.add(code)
                return code

    # ------------------------------------------------------------------------------ reference

    def reference(self) -> list[tuple[str, list[Row]]]:
        rng = self.rng
        tables: list[tuple[str, list[Row]]] = [
            ("company", [(1, self.company_code, self.company_name)]),
            ("climate_zone", list(ZONES.items())),
            (
                "district",
                [(i + 1, 1, d.code, d.name, d.name_en, d.zone) for i, d in enumerate(DISTRICTS)],
            ),
        ]
        contractors: list[Row] = []
        contracts: list[Row] = []
        valid_from = from_jalali(self.jyear - 1, 1, 1)  # two-year contracts, current on the demo's date
        valid_to = from_jalali(self.jyear, 12, month_length(self.jyear, 12))
        used_names: set[str] = set()
        for di, spec in enumerate(DISTRICTS):
            n = 3 if di < 2 else rng.choice((2, 2, 3))
            ids: list[int] = []
            for _ in range(n):
                cid = len(contractors) + 1
                while True:
                    kind, brand = (
                        rng.choice(self.names.contractor_kinds),
                        rng.choice(self.names.contractor_brands),
                    )
                    name = f"{kind} {brand}"
                    if name not in used_names:
                        break
                used_names.add(name)
                phone = f"0663{rng.randrange(10**7):07d}"
                contractors.append((cid, name, self.legal_id(), phone, True))
                self.contractor_names[cid] = name
                ids.append(cid)
            self.contractors.append(ids)
            # The first contractor reads meters; the second cuts, reconnects and replaces; a third (if any)
            # shares the reading routes and installs and tests.
            shares: list[tuple[int, tuple[str, ...]]] = [
                (ids[0], ("reading", "reread", "inspection")),
                (ids[1], ("disconnection", "reconnection", "removal", "meter_replacement")),
            ]
            if n == 3:
                shares.append((ids[2], ("reading", "reread", "installation", "meter_test")))
            else:
                shares[1] = (ids[1], (*shares[1][1], "installation", "meter_test"))
            for cid, types in shares:
                for work_type in types:
                    number = f"{self.jyear - 1}-{spec.code}-{len(contracts) + 1:03d}"
                    contracts.append(
                        (len(contracts) + 1, number, cid, di + 1, work_type, valid_from.isoformat(),
                         valid_to.isoformat())
                    )  # fmt: skip
                    self.contracts.add((cid, di, work_type))
        tables.append(("contractor", contractors))
        tables.append(("contract", contracts))
        tables.append(("route", self._plan_routes()))
        return tables

    def _plan_routes(self) -> list[Row]:
        rng = self.rng
        rows: list[Row] = []
        for di, (spec, n) in enumerate(zip(DISTRICTS, self.district_counts, strict=True)):
            if n == 0:
                continue
            count = max(1, round(n / ROUTE_SIZE))
            base, extra = divmod(n, count)
            rural_count = round(count * spec.rural_share)
            flags = [True] * rural_count + [False] * (count - rural_count)
            rng.shuffle(flags)
            readers = [c for c in self.contractors[di] if (c, di, "reading") in self.contracts]
            turn = 0
            for k in range(count):
                rid = len(rows) + 1
                rural = flags[k]
                if rural:
                    place = rng.choice(self.names.villages[spec.code])
                    name = f"روستای {place}"
                    cycle = 60 if rng.random() < 0.5 else 30
                else:
                    place = rng.choice(self.names.streets)
                    name = f"{spec.town} - خیابان {place}"
                    cycle = 30
                contractor: int | None = None
                if rng.random() < 0.75:
                    contractor = readers[turn % len(readers)]
                    turn += 1
                code = f"{spec.code}-R{k + 1:04d}"
                self.routes.append(_Route(rid, di, code, base + (1 if k < extra else 0), rural, place, contractor))
                rows.append((rid, di + 1, code, f"{name} ({_fa(k + 1)})", cycle, contractor))
        return rows

    # -------------------------------------------------------------------------- subscriptions

    def chunks(self) -> Iterator[_Batch]:
        """The subscriptions with their customers, premises, meters and installations, chunk by chunk."""
        batch = _Batch()
        seq_in_district = [0] * len(DISTRICTS)
        pending: dict[str, tuple[int, int]] = {}  # holder class -> (customer id, subscriptions still to take)
        district = -1
        sub_id = 0
        for route in self.routes:
            if route.district != district:
                district = route.district
                pending.clear()
            for position in range(1, route.size + 1):
                sub_id += 1
                seq_in_district[district] += 1
                self._subscription(batch, route, sub_id, position, seq_in_district[district], pending)
                if len(batch.subscription) >= CHUNK_SIZE:
                    yield batch
                    batch = _Batch()
        if batch.subscription:
            yield batch

    def _subscription(
        self,
        batch: _Batch,
        route: _Route,
        sub_id: int,
        position: int,
        seq: int,
        pending: dict[str, tuple[int, int]],
    ) -> None:
        rng = self.rng
        spec = DISTRICTS[route.district]
        district_id = route.district + 1
        group, sub_code, demand_p = self.tariffs.pick(rng)
        demand = demand_p > 0 and rng.random() < demand_p
        holder = self.holders[sub_code].pick(rng)
        if group == 5:
            sub_code = "5-ب" if demand else "5-الف"

        # dates
        connected_on = self.today - timedelta(days=30 + int(55 * 365.25 * rng.random() ** 1.5))
        created_at = datetime(connected_on.year, connected_on.month, connected_on.day, 5, 0, tzinfo=UTC)
        created_at += timedelta(minutes=rng.randrange(420), seconds=rng.randrange(60))
        state = self.supply_states.pick(rng)
        removed_on: date | None = None
        if state == "removed":
            span = (self.today - connected_on).days - 365
            if span > 1:
                removed_on = connected_on + timedelta(days=365 + rng.randrange(span))
            else:
                state = "disconnected"

        # customer
        taken = pending.get(holder)
        if taken is not None:
            customer_id, left = taken
            if left <= 1:
                del pending[holder]
            else:
                pending[holder] = (customer_id, left - 1)
        else:
            customer_id = self._customer(batch, holder, spec, district_id, created_at)
            if rng.random() < _MULTI_HOLDER_SHARE:
                pending[holder] = (customer_id, 1 if rng.random() < 0.7 else 2)

        # premises: group 3 (wells, pumps, farms) is always out of town
        rural = route.rural or group == 3
        batch.premises.append(
            (sub_id, district_id, spec.zone, self._address(route, spec, rural, group, holder),
             self.postal_code(), rural)
        )  # fmt: skip

        # capacity
        multiplier = 1
        if demand:
            kw = float(self.demand_kw.pick(rng))
            phase = 3
            amperage = math.ceil(kw * 1000 / (math.sqrt(3) * 400 * 0.9))
            multiplier = next((r for r in _CT_RATIOS if r * 5 >= amperage), _CT_RATIOS[-1])
        else:
            if group == 1:
                phase = 3 if rng.random() < 0.05 else 1
                amperage = 25 if rng.random() < 0.75 else 32
            elif group == 5 and rng.random() < 0.5:
                phase, amperage = 1, (25 if rng.random() < 0.6 else 32)
            else:
                phase, amperage = 3, rng.choice((25, 32, 32, 40))
            kw = round(0.22 * amperage * phase, 1)

        households = 1
        medical: tuple[str | None, str | None, str | None] = (None, None, None)
        if group == 1:
            households = self.households.pick(rng)
            if holder == "person" and rng.random() < _MEDICAL_SHARE:
                medical = self._medical(spec)

        # meters
        if demand:
            kind = "demand"
        elif group == 1:
            kind = "tou" if rng.random() < 0.12 else "single"
        else:
            kind = "tou" if rng.random() < 0.45 else "single"
        self._meters(batch, sub_id, connected_on, removed_on, kind, phase, multiplier, group, kw)

        number = f"{spec.code}{seq:07d}"
        file_number = f"{sub_id:08d}"
        batch.subscription.append(
            (
                sub_id, number, file_number, build_bill_id(file_number, self.company_code), customer_id,
                sub_id, district_id, route.id, position, group, sub_code, phase, amperage, kw, households,
                *medical, state, connected_on.isoformat(), removed_on.isoformat() if removed_on else None,
                self.ts(created_at),
            )
        )  # fmt: skip
        if state == "active":
            self.active[route.district].offer(rng, (sub_id, number))
        elif state == "disconnected":
            self.disconnected[route.district].offer(rng, (sub_id, number))

    def _customer(self, batch: _Batch, holder: str, spec: DistrictSpec, district_id: int, created_at: datetime) -> int:
        rng = self.rng
        names = self.names
        cid = self.next_customer
        self.next_customer += 1
        if holder == "person":
            first = rng.choice(names.male if rng.random() < 0.5 else names.female)
            mobile = make_mobile(rng) if rng.random() < 0.92 else None
            batch.customer.append(
                (cid, "person", first, rng.choice(names.last), rng.choice(names.male), self.national_code(),
                 None, None, False, None, mobile, district_id, self.ts(created_at))
            )  # fmt: skip
        else:
            template = rng.choice(names.org_templates[holder])
            org_name = template.format(
                honorific=rng.choice(names.honorifics),
                city=spec.town,
                village=rng.choice(names.villages[spec.code]),
                word=rng.choice(names.words),
                brand=rng.choice(names.brands),
            )
            mobile = make_mobile(rng) if rng.random() < 0.4 else None
            batch.customer.append(
                (cid, "organisation", None, None, None, None, org_name, self.legal_id(),
                 holder in GOVERNMENT_CATEGORIES, holder, mobile, district_id, self.ts(created_at))
            )  # fmt: skip
        return cid

    def _address(self, route: _Route, spec: DistrictSpec, rural: bool, group: int, holder: str) -> str:
        rng = self.rng
        plate = _fa(rng.randrange(1, 160))
        if rural:
            village = route.place if route.rural else rng.choice(self.names.villages[spec.code])
            if group == 3:
                return f"شهرستان {spec.name}، اراضی روستای {village}، قطعه {plate}"
            return f"شهرستان {spec.name}، روستای {village}، پلاک {plate}"
        street = route.place if rng.random() < 0.7 else rng.choice(self.names.streets)
        if holder != "person" and rng.random() < 0.7:
            return f"{spec.town}، خیابان {street}، پلاک {plate}"
        alley = f"{rng.choice(self.names.alleys)} {_fa(rng.randrange(1, 40))}"
        return f"{spec.town}، خیابان {street}، کوچه {alley}، پلاک {plate}"

    def _medical(self, spec: DistrictSpec) -> tuple[str, str, str]:
        """A medical certificate valid to the end of a Jalali year: mostly this year, some last year's."""
        rng = self.rng
        current = to_jalali(self.today)
        year = self.jyear if rng.random() < 0.8 else self.jyear - 1
        last_month = int(current.month) if year == self.jyear else 12
        month = rng.randint(1, last_month)
        day = rng.randint(1, int(current.day) if (year == self.jyear and month == last_month) else 29)
        number = f"{year}-{spec.code}-{self.next_medical:05d}"
        self.next_medical += 1
        valid_to = from_jalali(year, 12, month_length(year, 12))
        return number, from_jalali(year, month, day).isoformat(), valid_to.isoformat()

    def _meters(
        self,
        batch: _Batch,
        sub_id: int,
        connected_on: date,
        removed_on: date | None,
        kind: str,
        phase: int,
        multiplier: int,
        group: int,
        kw: float,
    ) -> None:
        """One installation, or two when the meter was replaced once; the last ends with the subscription."""
        rng = self.rng
        today = self.today
        records_start = date(1996, 1, 1)
        end = removed_on or today
        if connected_on >= records_start or (end - records_start).days < 400:
            first_on = connected_on
            initial = 0
        else:  # connected before the records begin: the first known meter was found in place
            first_on = records_start + timedelta(days=rng.randrange((end - records_start).days - 60))
            initial = rng.randrange(10**4)
        yearly_kwh = 2400 if group == 1 else 6000
        if kind == "demand":
            yearly_kwh = max(1, int(kw * 2000 / multiplier))
        span = (end - first_on).days
        replaced = span > 400 and rng.random() < (0.25 if span > 3650 else 0.05)
        if replaced:
            switch = first_on + timedelta(days=365 + rng.randrange(span - 365))
            old_kind = "demand" if kind == "demand" else "single"
            old = self._meter(batch, old_kind, phase, multiplier, first_on, "retired")
            final = (initial + int(yearly_kwh * (switch - first_on).days / 365)) % 10 ** old[1]
            batch.meter_installation.append(
                (self.next_installation, sub_id, old[0], first_on.isoformat(), switch.isoformat(), initial,
                 final, None)
            )  # fmt: skip
            self.next_installation += 1
            first_on, initial, reason = switch, 0, rng.choice(_REPLACEMENT_REASONS)
        else:
            reason = None
        meter_id, digits = self._meter(
            batch, kind, phase, multiplier, first_on, "retired" if removed_on else "installed"
        )
        final_read: int | None = None
        if removed_on is not None:
            final_read = (initial + int(yearly_kwh * (removed_on - first_on).days / 365)) % 10**digits
        batch.meter_installation.append(
            (self.next_installation, sub_id, meter_id, first_on.isoformat(),
             removed_on.isoformat() if removed_on else None, initial % 10**digits, final_read, reason)
        )  # fmt: skip
        self.next_installation += 1

    def _meter(
        self, batch: _Batch, kind: str, phase: int, multiplier: int, installed_on: date, state: str
    ) -> tuple[int, int]:
        """A meter made a little before ``installed_on`` (1995–2025); returns its id and digit count."""
        rng = self.rng
        year = max(1995, min(2025, installed_on.year - (0 if rng.random() < 0.6 else rng.randint(1, 3))))
        return self._meter_row(batch.meter, kind, phase, multiplier, year, state)

    def _meter_row(
        self, rows: list[Row], kind: str, phase: int, multiplier: int, year: int, state: str
    ) -> tuple[int, int]:
        rng = self.rng
        mid = self.next_meter
        self.next_meter += 1
        if kind == "single":
            digits = 5 if year < 2010 and rng.random() < 0.7 else 6
            accuracy = "2" if year < 2008 else "1"
        elif kind == "tou":
            digits = rng.choice((6, 7))
            accuracy = "1"
        else:
            digits = rng.choice((7, 8))
            accuracy = "0.2S" if multiplier >= 400 else "0.5S"
        maker, prefix = self.names.manufacturers.pick(rng)
        # 48271 is prime and coprime with 10^8, so the 8-digit part is distinct for every id below 10^8.
        serial = f"{prefix}{year % 100:02d}{(mid * 48271) % 10**8:08d}"
        registers = REGISTERS_BY_KIND[kind]
        rows.append((mid, serial, kind, registers, digits, multiplier, phase, accuracy, maker, year, state))
        return mid, digits

    def spare_meters(self) -> list[Row]:
        """Meters in the store: new ones waiting to be installed, and a few faulty ones waiting for a test."""
        rng = self.rng
        rows: list[Row] = []
        last_year = min(2025, self.today.year)
        for _ in range(max(20, self.accounts // 100)):
            draw = rng.random()
            kind = "single" if draw < 0.7 else ("tou" if draw < 0.95 else "demand")
            phase = 3 if kind == "demand" or rng.random() < 0.15 else 1
            multiplier = rng.choice(_CT_RATIOS[:6]) if kind == "demand" else 1
            state = "faulty" if rng.random() < 0.1 else "in_stock"
            self._meter_row(rows, kind, phase, multiplier, rng.randint(last_year - 2, last_year), state)
        return rows

    # ---------------------------------------------------------------------------- work orders

    def work_orders(self) -> list[Row]:
        rng = self.rng
        clock = self.clock
        calendar = default_calendar()
        types = _Weighted(_WORK_ORDER_TYPES)
        states = _Weighted(_WORK_ORDER_STATES)
        districts = _Weighted([(i, d.weight) for i, d in enumerate(DISTRICTS) if self.district_counts[i]])
        count = min(600, max(150, self.accounts // 100))
        rows: list[Row] = []
        for k in range(count):
            # The first orders go to each contractor of Khorramabad in turn, so every contractor login of the
            # demo has work to see; the rest are drawn by district weight.
            forced: int | None = None
            if k < 8 * len(self.contractors[0]):
                forced = self.contractors[0][k % len(self.contractors[0])]
                di = 0
                own = sorted(t for c, d, t in self.contracts if c == forced and d == 0 and t != "reading")
                type_code = own[k // len(self.contractors[0]) % len(own)]
                state = ("assigned", "in_progress", "done", "failed")[k // len(self.contractors[0]) % 4]
            else:
                di = districts.pick(rng)
                type_code = types.pick(rng)
                state = states.pick(rng)
            wo_type = get_type(type_code)
            spec = DISTRICTS[di]

            subject: tuple[int, str] | None = None
            pool = self.disconnected[di] if type_code in ("reconnection", "removal") else self.active[di]
            if not pool.items:
                pool = self.active[di]
            if pool.items and not (type_code in ("installation", "inspection") and rng.random() < 0.5):
                subject = rng.choice(pool.items)

            contractor_id: int | None = None
            team: str | None = None
            if state != "created":
                able = [c for c in self.contractors[di] if (c, di, type_code) in self.contracts]
                if forced is not None:
                    contractor_id = forced
                elif able and rng.random() < 0.85:
                    contractor_id = rng.choice(able)
                elif not (state == "cancelled" and rng.random() < 0.5):
                    team = f"اکیپ {wo_type.name if wo_type else type_code} امور {spec.name}"

            created = self.now - timedelta(minutes=rng.randrange(60 * 24 * 60))
            due = self._due(wo_type, type_code, created, clock, calendar)
            started: datetime | None = None
            finished: datetime | None = None
            result: str | None = None
            failure: str | None = None
            horizon = min(due, self.now)
            if state in ("in_progress", "done", "failed"):
                started = created + (horizon - created) * (0.1 + 0.4 * rng.random())
            if state in ("done", "failed"):
                assert started is not None
                finished = started + (horizon - started) * rng.random()
                late = due + timedelta(hours=rng.randint(2, 96))
                if rng.random() < 0.15 and late < self.now:
                    finished = late
            if state == "cancelled":
                finished = created + (self.now - created) * rng.random()
                failure = rng.choice(_CANCEL_REASONS)
            elif state == "failed":
                failure = rng.choice(_FAILURE_REASONS)
            elif state == "done":
                result = json.dumps(self._result(wo_type), ensure_ascii=False)

            wid = self.next_work_order
            self.next_work_order += 1
            title = wo_type.name if wo_type else type_code
            description = f"{title} - اشتراک {_fa(subject[1])}" if subject else f"{title} - متقاضی جدید"
            created_by = "revenue" if type_code in ("disconnection", "reconnection", "removal") else "clerk"
            rows.append(
                (wid, f"WO-{to_jalali(clock.local(created).date()).year}-{wid:06d}", type_code, state, di + 1,
                 subject[0] if subject else None, team, contractor_id, description, result, failure,
                 created_by, self.ts(created), self.ts(due), self.ts(started) if started else None,
                 self.ts(finished) if finished else None)
            )  # fmt: skip
        return rows

    @staticmethod
    def _due(
        wo_type: WorkOrderType | None, code: str, created: datetime, clock: Clock, calendar: WorkingCalendar
    ) -> datetime:
        if wo_type is None:
            return created + timedelta(hours=_FALLBACK_TARGET_HOURS[code])
        return due_at(wo_type, created, clock, calendar)

    def _result(self, wo_type: WorkOrderType | None) -> dict[str, object]:
        rng = self.rng
        values: dict[str, object] = {}
        for f in wo_type.result_fields if wo_type else ():
            if f.kind == "bool":
                values[f.name] = rng.random() < 0.9
            elif f.kind == "int":
                values[f.name] = rng.randint(-25, 25) if f.name == "error_percent" else rng.randrange(100_000)
            elif f.name == "meter_serial":
                values[f.name] = f"KI25{rng.randrange(10**8):08d}"
            elif f.name == "findings":
                values[f.name] = rng.choice(_FINDINGS)
            elif f.required:
                values[f.name] = "انجام شد"
        return values


# -------------------------------------------------------------------------------------------- logins


@dataclass(frozen=True)
class _DemoUser:
    username: str
    full_name: str
    roles: tuple[str, ...]
    scope: str  # "" (everything), "district" (Khorramabad), "contractor1" or "contractor2" (of Khorramabad)
    label: str  # what the CLI prints beside the username


_DEMO_USERS = (
    _DemoUser("admin", "مدیر سامانه", tuple(DEFAULT_ROLES), "", "admin (every role)"),
    _DemoUser("clerk", "زهرا کریمی", ("clerk",), "", "clerk"),
    _DemoUser("revenue", "علی رضایی", ("revenue_clerk",), "", "revenue clerk"),
    _DemoUser("head", "حسین بیرانوند", ("head_of_unit",), "", "head of unit"),
    _DemoUser("cashier", "مریم امیری", ("cashier",), "district", "cashier at the counter, Khorramabad"),
    _DemoUser("manager", "مجید سپهوند", ("district_manager",), "district", "district manager, Khorramabad only"),
    _DemoUser("reader1", "رضا دریکوند", ("reader",), "contractor1", "meter reader of contractor1's company"),
    _DemoUser("contractor1", "مسعود حسنوند", ("contractor",), "contractor1", "contractor (reading, Khorramabad)"),
    _DemoUser("contractor2", "فرهاد کاکاوند", ("contractor",), "contractor2", "contractor (cuts, Khorramabad)"),
    _DemoUser("inspector", "مهدی یوسفوند", ("field_staff",), "district", "field staff (inspector), Khorramabad"),
)  # fmt: skip


def demo_logins() -> list[tuple[str, str]]:
    """(what the login is for, username) of every demo login; the password of all is ``DEMO_PASSWORD``."""
    return [(user.label, user.username) for user in _DEMO_USERS]


def is_built(engine: Engine) -> bool:
    """Whether the database already holds a province (a company row), so ``barq demo`` can reuse it."""
    if not inspect(engine).has_table("company"):
        return False
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM company LIMIT 1")).first() is not None


def _logins(builder: _Builder) -> list[tuple[DemoLogin, int | None, int | None]]:
    """The demo users with their scopes: (login, district id, contractor id)."""
    khorramabad = 1
    contractor = {"contractor1": builder.contractors[0][0], "contractor2": builder.contractors[0][1]}
    result: list[tuple[DemoLogin, int | None, int | None]] = []
    for user in _DEMO_USERS:
        district_id = khorramabad if user.scope == "district" else None
        contractor_id = contractor.get(user.scope)
        if contractor_id is not None:
            scope = f"پیمانکار: {builder.contractor_names[contractor_id]}"
        elif district_id is not None:
            scope = f"امور برق {DISTRICTS[0].name}"
        else:
            scope = ""
        login = DemoLogin(user.username, DEMO_PASSWORD, user.full_name, user.roles, scope)
        result.append((login, district_id, contractor_id))
    return result


ROUTES_PER_READER = 4


def _readers(engine: Engine, builder: _Builder, clock: Clock) -> None:
    """Meter readers for every route: a contractor's routes go to that contractor's readers, the rest to
    company readers; ``reader1`` takes the first routes of contractor1. Each route gets a ten-day reading
    window (from the 1st, 8th or 15th of the month), and every subscription its route history."""
    rng = random.Random(len(builder.routes))
    password = hash_password(DEMO_PASSWORD)
    now = clock.now()
    with Session(engine) as session, session.begin():
        reader1 = session.execute(text("SELECT id, contractor_id FROM user_account WHERE username = 'reader1'")).one()
        groups: dict[tuple[int, int | None], list[int]] = {}
        for rid, district_id, contractor_id in session.execute(
            text("SELECT id, district_id, contractor_id FROM route ORDER BY id")
        ):
            groups.setdefault((district_id, contractor_id), []).append(rid)
        number = 1
        for (district_id, contractor_id), routes in groups.items():
            readers: list[int] = []
            if contractor_id == reader1.contractor_id:
                readers.append(reader1.id)
            while len(readers) * ROUTES_PER_READER < len(routes):
                number += 1
                user = User(
                    username=f"reader{number}",
                    full_name=f"{rng.choice(builder.names.male)} {rng.choice(builder.names.last)}",
                    password_hash=password,
                    district_id=None if contractor_id else district_id,
                    contractor_id=contractor_id,
                    created_at=now,
                )
                session.add(user)
                session.flush()
                session.add(UserRole(user_id=user.id, role_code="reader"))
                readers.append(user.id)
            for k, rid in enumerate(routes):
                start = 1 + (rid % 3) * 7
                session.execute(
                    text("UPDATE route SET reader_id = :u, window_start = :a, window_end = :b WHERE id = :r"),
                    {"u": readers[k // ROUTES_PER_READER], "a": start, "b": start + 9, "r": rid},
                )
        session.execute(
            text(
                "INSERT INTO route_membership (subscription_id, route_id, sequence, from_on) "
                "SELECT id, route_id, COALESCE(route_sequence, 1), COALESCE(connected_on, :d) FROM subscription "
                "WHERE route_id IS NOT NULL"
            ),
            {"d": clock.today().isoformat()},
        )


# ----------------------------------------------------------------------------------------- the verb


def build_demo(
    engine: Engine,
    *,
    accounts: int = 50_000,
    seed: int = 1405,
    progress: Callable[[int, int], None] | None = None,
    clock: Clock | None = None,
) -> DemoSummary:
    """Fill an empty, migrated schema with a synthetic Lorestan province of ``accounts`` subscriptions.

    Deterministic: the same ``seed``, ``accounts`` and clock give the same rows. The clock defaults to
    ``FixedClock()`` (not the wall clock) for that reason; dates are spread over the decades before it.
    ``progress(done, total)`` is called after each chunk of subscriptions.
    """
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    started = _time.perf_counter()
    clock = clock or FixedClock()
    settings = get_settings()
    builder = _Builder(
        accounts=accounts,
        seed=seed,
        clock=clock,
        company_code=settings.company_code,
        company_name=settings.company_name,
        postgres=engine.dialect.name == "postgresql",
    )

    with _bulk(engine) as sink:
        for table, rows in builder.reference():
            sink.insert(table, rows)
    done = 0
    if progress is not None:
        progress(done, accounts)
    for batch in builder.chunks():
        with _bulk(engine) as sink:
            for table, rows in batch.tables():
                sink.insert(table, rows)
        done += len(batch.subscription)
        if progress is not None:
            progress(done, accounts)
    with _bulk(engine) as sink:
        sink.insert("meter", builder.spare_meters())
        sink.insert("work_order", builder.work_orders())
        if sink.postgres:
            for table in _ID_TABLES:
                sink.conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )

    logins = _logins(builder)
    with Session(engine) as session, session.begin():
        ensure_roles(session)
        for login, district_id, contractor_id in logins:
            create_user(
                session,
                username=login.username,
                full_name=login.full_name,
                password=login.password,
                roles=list(login.roles),
                district_id=district_id,
                contractor_id=contractor_id,
                clock=clock,
                actor="demo",
            )

    _readers(engine, builder, clock)
    with engine.connect() as conn:
        counts = {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in _COUNTED_TABLES}
    return DemoSummary(
        accounts=accounts,
        seed=seed,
        counts=counts,
        elapsed_seconds=_time.perf_counter() - started,
        logins=tuple(login for login, _, _ in logins),
    )
