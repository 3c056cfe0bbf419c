"""Tariff books: effective-dated, versioned price data loaded from TOML files (domain.md §3).

A book is read from a TOML file (format: ``barq/data/tariffs/README.md``) and validated into frozen
dataclasses. Every rate is an exact ``Fraction``: the file gives an integer or a string holding a
decimal ("456.5") or a fraction ("100/3"); a TOML float is refused because 0.09 is not exact in
binary. (``Decimal`` cannot hold 100/3 either, so books use ``Fraction``; amounts are rounded to
whole rials only when a bill line is made.)

A malformed book is refused with a ``ValidationError`` whose ``field`` is the path of the offending
value, e.g. ``groups.1.tables.high_user.steps[2].rate`` (list indexes count from 0), and whose
``message_fa`` says what is wrong.

Pure module: no database, no web framework.
"""

from __future__ import annotations

import bisect
import functools
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, cast

import jdatetime

from barq.errors import ValidationError

Season = Literal["non_warm", "warm"]
TableClass = Literal["within_pattern", "high_user", "base"]
GroupKind = Literal["residential", "general"]

SEASONS: Final[tuple[Season, ...]] = ("non_warm", "warm")
TABLE_CLASSES: Final[tuple[TableClass, ...]] = ("within_pattern", "high_user", "base")
GROUP_KINDS: Final[tuple[GroupKind, ...]] = ("residential", "general")
MAX_STEPS: Final = 10
"""A table has at most this many steps (so a medical composite has at most 2 × MAX_STEPS)."""

_RATE_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(/[0-9]+)?$")
_JALALI_RE = re.compile(r"^([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})$")
_HOURS_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$")

# Persian messages (one place, so the wording stays consistent).
MSG_REQUIRED = "الزامی است"
MSG_UNKNOWN_KEY = "کلید ناشناخته است"
MSG_NON_NEGATIVE = "باید عدد نامنفی باشد"
MSG_FLOAT = 'باید عدد نامنفی باشد؛ عدد اعشاری را در گیومه بنویسید (مثلاً "0.09" یا "9/100")'
MSG_POSITIVE_INT = "باید عدد صحیح مثبت باشد"
MSG_TEXT = "باید متن باشد"
MSG_BOOL = "باید true یا false باشد"
MSG_TABLE = "باید جدول باشد"
MSG_LIST = "باید فهرست باشد"
MSG_DATE = "تاریخ شمسی نادرست است (قالب ۱۴۰۰/۰۱/۰۱)"
MSG_STEPS_INCREASING = "حد پله‌ها باید صعودی باشد"


def _fail(path: str, message_fa: str) -> ValidationError:
    return ValidationError(message_fa, field=path, detail=f"{path}: {message_fa}")


# --------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Step:
    """A step of a rate table: ``upto`` is the step's upper limit on the 30-day average (kWh), or
    ``None`` for the open last step; ``rate`` is rial per kWh."""

    upto: int | None
    rate: Fraction


@dataclass(frozen=True)
class Band:
    """A step with both its limits: kWh of the 30-day average in [lo, hi) at ``rate``.

    ``number`` is the step's 1-based number on the bill (line code ``energy_step_<number>``).
    """

    number: int
    lo: int
    hi: int | None
    rate: Fraction


@dataclass(frozen=True)
class When:
    """One condition under which a table applies; ``None`` matches every value."""

    sub_codes: frozenset[str] | None = None
    zones: frozenset[str] | None = None
    seasons: frozenset[str] | None = None

    def matches(self, sub_code: str, zone: str, season: Season) -> bool:
        return (
            (self.sub_codes is None or sub_code in self.sub_codes)
            and (self.zones is None or zone in self.zones)
            and (self.seasons is None or season in self.seasons)
        )


@dataclass(frozen=True)
class RateTable:
    """A named table of steps (residential) or one open step holding the base rate (groups 2–5)."""

    name: str
    table_class: TableClass
    when: tuple[When, ...]
    steps: tuple[Step, ...]

    def applies(self, sub_code: str, zone: str, season: Season) -> bool:
        return any(w.matches(sub_code, zone, season) for w in self.when)

    @property
    def bands(self) -> tuple[Band, ...]:
        out: list[Band] = []
        lo = 0
        for i, step in enumerate(self.steps):
            out.append(Band(number=i + 1, lo=lo, hi=step.upto, rate=step.rate))
            if step.upto is not None:
                lo = step.upto
        return tuple(out)

    @property
    def first_rate(self) -> Fraction:
        return self.steps[0].rate

    @property
    def limit(self) -> int | None:
        """The last step's upper limit, or ``None`` when the table is open."""
        return self.steps[-1].upto


@dataclass(frozen=True)
class Zone:
    code: str
    name_fa: str
    warm_months: frozenset[int]
    pattern_non_warm: int
    pattern_warm: int
    tou_warm_scale: Fraction

    def season_of_month(self, jalali_month: int) -> Season:
        return "warm" if jalali_month in self.warm_months else "non_warm"

    def pattern(self, season: Season) -> int:
        return self.pattern_warm if season == "warm" else self.pattern_non_warm

    def tou_scale(self, season: Season) -> Fraction:
        return self.tou_warm_scale if season == "warm" else Fraction(1)


@dataclass(frozen=True)
class SubCode:
    code: str
    name_fa: str
    demand: bool = False


@dataclass(frozen=True)
class DemandRules:
    """Demand-customer charges (rates per kW per 30 days, prorated by days)."""

    rate_per_kw: Fraction
    minimum_share: Fraction
    excess_penalty_factor: Fraction
    seasonal_peak_rate: Fraction
    pf_free_ratio: Fraction
    pf_penalty_slope: Fraction


@dataclass(frozen=True)
class Group:
    number: int
    name_fa: str
    kind: GroupKind
    default_sub_code: str
    sub_codes: Mapping[str, SubCode]
    tables: Mapping[str, RateTable]
    demand: DemandRules | None = None

    def table(self, sub_code: str, zone: str, season: Season, table_class: TableClass) -> RateTable:
        """The one table of ``table_class`` that applies (validation guarantees exactly one)."""
        for t in self.tables.values():
            if t.table_class == table_class and t.applies(sub_code, zone, season):
                return t
        raise _fail(f"groups.{self.number}.tables", f"جدولی برای {sub_code}، {zone}، {season} نیست")

    def medical_bands(self, sub_code: str, zone: str, season: Season) -> tuple[Band, ...]:
        """Medical exemption (domain.md §3, decision): the within-pattern steps, then the kWh beyond
        the within-pattern table's last step at the high-user table's rates for those kWh."""
        within = self.table(sub_code, zone, season, "within_pattern")
        limit = within.limit
        bands = list(within.bands)
        if limit is None:
            return tuple(bands)
        number = len(bands)
        for b in self.table(sub_code, zone, season, "high_user").bands:
            if b.hi is not None and b.hi <= limit:
                continue
            number += 1
            bands.append(Band(number=number, lo=max(b.lo, limit), hi=b.hi, rate=b.rate))
        return tuple(bands)


@dataclass(frozen=True)
class Charges:
    fixed_charge: Fraction
    fixed_charge_days: int
    levy_rate: Fraction
    vat_rate: Fraction
    insurance_per_day: Fraction

    @property
    def fixed_charge_per_day(self) -> Fraction:
        return self.fixed_charge / self.fixed_charge_days


@dataclass(frozen=True)
class Household:
    k: Fraction
    cap: Fraction

    def factor(self, households: int) -> Fraction:
        """f = min(cap, 1 + (N − 1)·k)."""
        return min(self.cap, 1 + (households - 1) * self.k)


@dataclass(frozen=True)
class MedicalRule:
    never_high_user: bool
    beyond_within_pattern: Literal["high_user_rates"]


@dataclass(frozen=True)
class TouHours:
    months: frozenset[int]
    peak: str
    mid: str
    offpeak: str


@dataclass(frozen=True)
class TouRules:
    residential_peak_surcharge: Fraction
    residential_offpeak_discount: Fraction
    general_peak_factor: Fraction
    general_offpeak_factor: Fraction
    hours: tuple[TouHours, ...] = ()


@dataclass(frozen=True)
class Rounding:
    line: Literal["half_up"]
    payable: Literal["truncate"]
    payable_unit: int


@dataclass(frozen=True)
class TariffBook:
    version: str
    title_fa: str
    effective_from: date
    effective_to: date | None
    example: bool
    note: str
    rounding: Rounding
    charges: Charges
    household: Household
    medical: MedicalRule
    tou: TouRules
    zones: Mapping[str, Zone]
    groups: Mapping[int, Group]
    source: str = field(default="<memory>", compare=False)

    def group(self, number: int) -> Group:
        try:
            return self.groups[number]
        except KeyError:
            raise _fail("group", f"گروه تعرفه {number} در کتاب {self.version} نیست") from None

    def zone(self, code: str) -> Zone:
        try:
            return self.zones[code]
        except KeyError:
            raise _fail("zone", f"منطقه اقلیمی «{code}» در کتاب {self.version} نیست") from None

    def sub_code(self, group: int, code: str | None) -> SubCode:
        g = self.group(group)
        key = g.default_sub_code if code is None else code
        try:
            return g.sub_codes[key]
        except KeyError:
            raise _fail("sub_code", f"زیرگروه «{key}» در گروه {group} کتاب {self.version} نیست") from None

    def find_sub_code(self, code: str) -> tuple[Group, SubCode]:
        """The group that holds sub-code ``code`` (sub-codes are unique in a book)."""
        for g in self.groups.values():
            if code in g.sub_codes:
                return g, g.sub_codes[code]
        raise _fail("sub_code", f"زیرگروه «{code}» در کتاب {self.version} نیست")


# --------------------------------------------------------------------------------------------- parsing


class _Node:
    """A TOML table being read, with its path for error messages and a record of keys used."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self.used.add(key)
        if key not in self.data:
            raise _fail(self.sub(key), MSG_REQUIRED)
        return self.data[key]

    def node(self, key: str) -> _Node:
        value = self.raw(key)
        if not isinstance(value, dict):
            raise _fail(self.sub(key), MSG_TABLE)
        return _Node(value, self.sub(key))

    def text(self, key: str, default: str | None = None) -> str:
        if default is not None and key not in self.data:
            self.used.add(key)
            return default
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            raise _fail(self.sub(key), MSG_TEXT)
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        if default is not None and key not in self.data:
            self.used.add(key)
            return default
        value = self.raw(key)
        if not isinstance(value, bool):
            raise _fail(self.sub(key), MSG_BOOL)
        return value

    def positive_int(self, key: str) -> int:
        return _positive_int(self.raw(key), self.sub(key))

    def rate(self, key: str) -> Fraction:
        return _rate(self.raw(key), self.sub(key))

    def jalali(self, key: str) -> date:
        return _jalali(self.raw(key), self.sub(key))

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self.raw(key)
        if value not in allowed:
            raise _fail(self.sub(key), "باید یکی از این‌ها باشد: " + "، ".join(allowed))
        return cast(str, value)

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self.data.items())

    def done(self) -> None:
        for key in self.data:
            if key not in self.used:
                raise _fail(self.sub(key), MSG_UNKNOWN_KEY)


def _positive_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(path, MSG_POSITIVE_INT)
    return value


def _rate(value: Any, path: str) -> Fraction:
    if isinstance(value, bool):
        raise _fail(path, MSG_NON_NEGATIVE)
    if isinstance(value, float):
        raise _fail(path, MSG_FLOAT)
    if isinstance(value, int):
        if value < 0:
            raise _fail(path, MSG_NON_NEGATIVE)
        return Fraction(value)
    if isinstance(value, str) and _RATE_RE.match(value.strip()):
        text = value.strip()
        num, _, den = text.partition("/")
        if den and int(den) == 0:
            raise _fail(path, MSG_NON_NEGATIVE)
        return Fraction(num) / (Fraction(den) if den else 1)
    raise _fail(path, MSG_NON_NEGATIVE)


def _jalali(value: Any, path: str) -> date:
    m = _JALALI_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise _fail(path, MSG_DATE)
    try:
        g = jdatetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).togregorian()
    except ValueError:
        raise _fail(path, MSG_DATE) from None
    return date(g.year, g.month, g.day)


def _months(value: Any, path: str) -> frozenset[int]:
    if not isinstance(value, list):
        raise _fail(path, MSG_LIST)
    out: set[int] = set()
    for i, m in enumerate(value):
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 12:
            raise _fail(f"{path}[{i}]", "ماه شمسی باید عددی از ۱ تا ۱۲ باشد")
        if m in out:
            raise _fail(f"{path}[{i}]", "ماه تکراری است")
        out.add(m)
    return frozenset(out)


def _names(value: Any, path: str, known: Iterable[str], what: str) -> frozenset[str]:
    known_set = set(known)
    if not isinstance(value, list) or not value:
        raise _fail(path, "باید فهرستی ناتهی باشد")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise _fail(f"{path}[{i}]", MSG_TEXT)
        if v not in known_set:
            raise _fail(f"{path}[{i}]", f"{what} ناشناخته است: {v}")
    return frozenset(cast(list[str], value))


def _parse_zone(code: str, node: _Node) -> Zone:
    warm = _months(node.raw("warm_months"), node.sub("warm_months"))
    pattern = node.node("pattern")
    zone = Zone(
        code=code,
        name_fa=node.text("name_fa"),
        warm_months=warm,
        pattern_non_warm=pattern.positive_int("non_warm"),
        pattern_warm=pattern.positive_int("warm"),
        tou_warm_scale=node.rate("tou_warm_scale"),
    )
    pattern.done()
    node.done()
    return zone


def _parse_steps(node: _Node, table_class: TableClass) -> tuple[Step, ...]:
    if table_class == "base":
        if node.has("steps"):
            raise _fail(node.sub("steps"), "جدول پایه فقط `rate` دارد، نه `steps`")
        return (Step(upto=None, rate=node.rate("rate")),)
    if node.has("rate"):
        raise _fail(node.sub("rate"), "جدول پله‌ای `steps` دارد، نه `rate`")
    raw = node.raw("steps")
    path = node.sub("steps")
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "باید فهرستی ناتهی باشد")
    if len(raw) > MAX_STEPS:
        raise _fail(path, f"بیش از {MAX_STEPS} پله مجاز نیست")
    steps: list[Step] = []
    prev = 0
    for i, item in enumerate(raw):
        spath = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise _fail(spath, MSG_TABLE)
        s = _Node(item, spath)
        rate = s.rate("rate")
        upto: int | None = None
        if s.has("upto"):
            upto = s.positive_int("upto")
            if upto <= prev:
                raise _fail(s.sub("upto"), MSG_STEPS_INCREASING)
            prev = upto
        elif i != len(raw) - 1:
            raise _fail(s.sub("upto"), "فقط پله آخر می‌تواند بی‌حد باشد")
        s.done()
        steps.append(Step(upto=upto, rate=rate))
    if table_class == "high_user" and steps[-1].upto is not None:
        raise _fail(f"{path}[{len(raw) - 1}].upto", "پله آخر جدول پرمصرف باید بی‌حد باشد")
    return tuple(steps)


def _parse_table(name: str, node: _Node, kind: GroupKind, sub_codes: Iterable[str], zones: Iterable[str]) -> RateTable:
    allowed: tuple[str, ...] = ("within_pattern", "high_user") if kind == "residential" else ("base",)
    table_class = cast(TableClass, node.choice("class", allowed))
    raw_when = node.raw("when")
    wpath = node.sub("when")
    if not isinstance(raw_when, list) or not raw_when:
        raise _fail(wpath, "باید فهرستی ناتهی باشد")
    whens: list[When] = []
    for i, item in enumerate(raw_when):
        ipath = f"{wpath}[{i}]"
        if not isinstance(item, dict):
            raise _fail(ipath, MSG_TABLE)
        w = _Node(item, ipath)
        whens.append(
            When(
                sub_codes=_names(w.raw("sub_codes"), w.sub("sub_codes"), sub_codes, "زیرگروه")
                if w.has("sub_codes")
                else None,
                zones=_names(w.raw("zones"), w.sub("zones"), zones, "منطقه") if w.has("zones") else None,
                seasons=_names(w.raw("seasons"), w.sub("seasons"), SEASONS, "فصل") if w.has("seasons") else None,
            )
        )
        w.done()
    steps = _parse_steps(node, table_class)
    node.done()
    return RateTable(name=name, table_class=table_class, when=tuple(whens), steps=steps)


def _parse_demand(node: _Node) -> DemandRules:
    rules = DemandRules(
        rate_per_kw=node.rate("rate_per_kw"),
        minimum_share=node.rate("minimum_share"),
        excess_penalty_factor=node.rate("excess_penalty_factor"),
        seasonal_peak_rate=node.rate("seasonal_peak_rate"),
        pf_free_ratio=node.rate("pf_free_ratio"),
        pf_penalty_slope=node.rate("pf_penalty_slope"),
    )
    if rules.minimum_share > 1:
        raise _fail(node.sub("minimum_share"), "باید بین ۰ و ۱ باشد")
    node.done()
    return rules


def _parse_group(number: int, node: _Node, zones: Mapping[str, Zone]) -> Group:
    kind = cast(GroupKind, node.choice("kind", GROUP_KINDS))
    subs_node = node.node("sub_codes")
    sub_codes: dict[str, SubCode] = {}
    for code, raw in subs_node.items():
        subs_node.used.add(code)
        spath = subs_node.sub(code)
        if not isinstance(raw, dict):
            raise _fail(spath, MSG_TABLE)
        s = _Node(raw, spath)
        sub = SubCode(code=code, name_fa=s.text("name_fa"), demand=s.boolean("demand", default=False))
        if sub.demand and kind == "residential":
            raise _fail(s.sub("demand"), "گروه خانگی دیماندی ندارد")
        s.done()
        sub_codes[code] = sub
    if not sub_codes:
        raise _fail(subs_node.path, "دست‌کم یک زیرگروه لازم است")
    default_sub_code = node.text("default_sub_code")
    if default_sub_code not in sub_codes:
        raise _fail(node.sub("default_sub_code"), f"زیرگروه ناشناخته است: {default_sub_code}")

    tables_node = node.node("tables")
    tables: dict[str, RateTable] = {}
    for name, raw in tables_node.items():
        tables_node.used.add(name)
        if not isinstance(raw, dict):
            raise _fail(tables_node.sub(name), MSG_TABLE)
        tables[name] = _parse_table(name, _Node(raw, tables_node.sub(name)), kind, sub_codes, zones)

    demand: DemandRules | None = None
    if node.has("demand"):
        demand = _parse_demand(node.node("demand"))
    for sub in sub_codes.values():
        if sub.demand and demand is None:
            raise _fail(node.sub("demand"), f"زیرگروه دیماندی {sub.code} جدول قدرت گروه را لازم دارد")

    group = Group(
        number=number,
        name_fa=node.text("name_fa"),
        kind=kind,
        default_sub_code=default_sub_code,
        sub_codes=MappingProxyType(sub_codes),
        tables=MappingProxyType(tables),
        demand=demand,
    )
    node.done()
    _check_coverage(group, zones, tables_node.path)
    return group


def _check_coverage(group: Group, zones: Mapping[str, Zone], path: str) -> None:
    """Every (sub-code, zone, season) has exactly one table of each class the group needs, and a
    residential within-pattern table reaches at least the pattern."""
    classes: tuple[TableClass, ...] = ("within_pattern", "high_user") if group.kind == "residential" else ("base",)
    season_fa = {"warm": "گرم", "non_warm": "غیرگرم"}
    for sub in group.sub_codes:
        for zone in zones.values():
            for season in SEASONS:
                for cls in classes:
                    found = [
                        t.name
                        for t in group.tables.values()
                        if t.table_class == cls and t.applies(sub, zone.code, season)
                    ]
                    where = f"زیرگروه {sub}، منطقه {zone.code}، فصل {season_fa[season]}، جدول {cls}"
                    if not found:
                        raise _fail(path, f"برای {where} جدولی تعریف نشده است")
                    if len(found) > 1:
                        raise _fail(path, f"برای {where} بیش از یک جدول هست: " + "، ".join(sorted(found)))
                    table = group.tables[found[0]]
                    limit = table.limit
                    if cls == "within_pattern" and limit is not None and limit < zone.pattern(season):
                        raise _fail(
                            f"{path}.{table.name}.steps",
                            f"حد پله آخر ({limit}) از الگوی منطقه {zone.code} ({zone.pattern(season)}) کمتر است",
                        )


def _parse_tou(node: _Node) -> TouRules:
    hours: list[TouHours] = []
    if node.has("hours"):
        raw = node.raw("hours")
        if not isinstance(raw, list):
            raise _fail(node.sub("hours"), MSG_LIST)
        seen: set[int] = set()
        for i, item in enumerate(raw):
            hpath = f"{node.sub('hours')}[{i}]"
            if not isinstance(item, dict):
                raise _fail(hpath, MSG_TABLE)
            h = _Node(item, hpath)
            months = _months(h.raw("months"), h.sub("months"))
            if months & seen:
                raise _fail(h.sub("months"), "ماه تکراری است")
            seen |= months
            spans: dict[str, str] = {}
            for key in ("peak", "mid", "offpeak"):
                value = h.text(key)
                if not _HOURS_RE.match(value):
                    raise _fail(h.sub(key), "بازه ساعت نادرست است (قالب 19:00-23:00)")
                spans[key] = value
            h.done()
            hours.append(TouHours(months=months, peak=spans["peak"], mid=spans["mid"], offpeak=spans["offpeak"]))
    rules = TouRules(
        residential_peak_surcharge=node.rate("residential_peak_surcharge"),
        residential_offpeak_discount=node.rate("residential_offpeak_discount"),
        general_peak_factor=node.rate("general_peak_factor"),
        general_offpeak_factor=node.rate("general_offpeak_factor"),
        hours=tuple(hours),
    )
    node.done()
    return rules


def parse_book(data: Mapping[str, Any], *, source: str = "<memory>") -> TariffBook:
    """Validate a parsed TOML document into a ``TariffBook`` (raises ``ValidationError``)."""
    root = _Node(data, "")

    b = root.node("book")
    version = b.text("version")
    title_fa = b.text("title_fa")
    effective_from = b.jalali("effective_from")
    effective_to = b.jalali("effective_to") if b.has("effective_to") else None
    if effective_to is not None and effective_to < effective_from:
        raise _fail(b.sub("effective_to"), "پایان اعتبار پیش از آغاز آن است")
    example = b.boolean("example", default=False)
    note = b.text("note") if b.has("note") else ""
    b.done()

    r = root.node("rounding")
    rounding = Rounding(
        line=cast(Literal["half_up"], r.choice("line", ("half_up",))),
        payable=cast(Literal["truncate"], r.choice("payable", ("truncate",))),
        payable_unit=r.positive_int("payable_unit"),
    )
    r.done()

    c = root.node("charges")
    charges = Charges(
        fixed_charge=c.rate("fixed_charge"),
        fixed_charge_days=c.positive_int("fixed_charge_days"),
        levy_rate=c.rate("levy_rate"),
        vat_rate=c.rate("vat_rate"),
        insurance_per_day=c.rate("insurance_per_day"),
    )
    c.done()

    h = root.node("household")
    household = Household(k=h.rate("k"), cap=h.rate("cap"))
    if household.cap < 1:
        raise _fail(h.sub("cap"), "باید دست‌کم ۱ باشد")
    h.done()

    m = root.node("medical")
    medical = MedicalRule(
        never_high_user=m.boolean("never_high_user"),
        beyond_within_pattern=cast(Literal["high_user_rates"], m.choice("beyond_within_pattern", ("high_user_rates",))),
    )
    m.done()

    tou = _parse_tou(root.node("tou"))

    zones_node = root.node("zones")
    zones: dict[str, Zone] = {}
    for code, raw in zones_node.items():
        zones_node.used.add(code)
        if not isinstance(raw, dict):
            raise _fail(zones_node.sub(code), MSG_TABLE)
        zones[code] = _parse_zone(code, _Node(raw, zones_node.sub(code)))
    if not zones:
        raise _fail("zones", "دست‌کم یک منطقه لازم است")

    groups_node = root.node("groups")
    groups: dict[int, Group] = {}
    sub_owner: dict[str, int] = {}
    for key, raw in groups_node.items():
        groups_node.used.add(key)
        gpath = groups_node.sub(key)
        if not key.isdigit() or not 1 <= int(key) <= 9:
            raise _fail(gpath, "شماره گروه باید عددی از ۱ تا ۹ باشد")
        if not isinstance(raw, dict):
            raise _fail(gpath, MSG_TABLE)
        group = _parse_group(int(key), _Node(raw, gpath), zones)
        for sub in group.sub_codes:
            if sub in sub_owner:
                raise _fail(f"{gpath}.sub_codes.{sub}", f"زیرگروه در گروه {sub_owner[sub]} هم آمده است")
            sub_owner[sub] = group.number
        groups[group.number] = group
    if not groups:
        raise _fail("groups", "دست‌کم یک گروه لازم است")
    root.done()

    return TariffBook(
        version=version,
        title_fa=title_fa,
        effective_from=effective_from,
        effective_to=effective_to,
        example=example,
        note=note,
        rounding=rounding,
        charges=charges,
        household=household,
        medical=medical,
        tou=tou,
        zones=MappingProxyType(zones),
        groups=MappingProxyType(dict(sorted(groups.items()))),
        source=source,
    )


def load_book(path: str | Path) -> TariffBook:
    """Read and validate one tariff book file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ValidationError("پرونده پیدا نشد", field="file", detail=f"{p}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"TOML نادرست است: {exc}", field="file", detail=f"{p}: {exc}") from None
    return parse_book(data, source=str(p))


# --------------------------------------------------------------------------------------------- library


class TariffLibrary:
    """All tariff books, ordered by the day they take effect; no two may overlap.

    A book without ``effective_to`` is in force until the day before the next book's
    ``effective_from`` (or for ever, if it is the last one).
    """

    def __init__(self, books: Sequence[TariffBook]) -> None:
        if not books:
            raise ValidationError("هیچ کتاب تعرفه‌ای نیست", field="books")
        ordered = sorted(books, key=lambda b: b.effective_from)
        versions: set[str] = set()
        for book in ordered:
            if book.version in versions:
                raise _fail("book.version", f"نسخه {book.version} دو بار آمده است ({book.source})")
            versions.add(book.version)
        ends: list[date | None] = []
        for i, book in enumerate(ordered):
            nxt = ordered[i + 1] if i + 1 < len(ordered) else None
            end = book.effective_to
            if nxt is not None:
                if nxt.effective_from == book.effective_from or (end is not None and end >= nxt.effective_from):
                    raise ValidationError(
                        f"بازه اعتبار کتاب {nxt.version} با کتاب {book.version} هم‌پوشانی دارد",
                        field="book.effective_from",
                        detail=f"book.effective_from: {nxt.source} overlaps {book.source}",
                    )
                if end is None:
                    end = nxt.effective_from - timedelta(days=1)
            ends.append(end)
        self.books: tuple[TariffBook, ...] = tuple(ordered)
        self._starts = [b.effective_from for b in ordered]
        self._ends: tuple[date | None, ...] = tuple(ends)

    def __iter__(self) -> Iterator[TariffBook]:
        return iter(self.books)

    def __len__(self) -> int:
        return len(self.books)

    def effective_range(self, book: TariffBook) -> tuple[date, date | None]:
        """(first day, last day or ``None`` when open) of ``book`` in this library."""
        i = self.books.index(book)
        return book.effective_from, self._ends[i]

    def find(self, day: date) -> TariffBook | None:
        i = bisect.bisect_right(self._starts, day) - 1
        if i < 0:
            return None
        end = self._ends[i]
        if end is not None and day > end:
            return None
        return self.books[i]

    def version_for(self, day: date) -> TariffBook:
        """The book in force on ``day`` (Gregorian); ``ValidationError`` when none is."""
        book = self.find(day)
        if book is None:
            j = jdatetime.date.fromgregorian(date=day)
            raise ValidationError(
                f"برای تاریخ {j.year:04d}/{j.month:02d}/{j.day:02d} کتاب تعرفه‌ای نیست",
                field="date",
                detail=f"no tariff book in force on {day.isoformat()}",
            )
        return book

    def get(self, version: str) -> TariffBook:
        for b in self.books:
            if b.version == version:
                return b
        raise ValidationError(f"نسخه تعرفه {version} نیست", field="version")


def load_books(directory: str | Path) -> TariffLibrary:
    """Load every ``*.toml`` book in ``directory`` into a ``TariffLibrary``."""
    d = Path(directory)
    if not d.is_dir():
        raise ValidationError("پوشه کتاب‌های تعرفه پیدا نشد", field="directory", detail=f"{d}: not a directory")
    files = sorted(d.glob("*.toml"))
    if not files:
        raise ValidationError("هیچ کتاب تعرفه‌ای در پوشه نیست", field="directory", detail=f"{d}: no *.toml")
    return TariffLibrary([load_book(f) for f in files])


def default_books_dir() -> Path:
    """The example books shipped with barq (``barq/data/tariffs``)."""
    return Path(str(resources.files("barq").joinpath("data", "tariffs")))


@functools.lru_cache(maxsize=1)
def load_default_library() -> TariffLibrary:
    """The shipped books, read once per process (books are versioned data: a new one means a restart)."""
    return load_books(default_books_dir())
