"""Tariff book pages (staff only, ``tariffs.view``): the loaded book versions and everything one book says.

``/tariffs`` lists every version with the days it prices (Jalali) and whether it is an example book;
``/tariffs/{version}`` shows its zones, groups, sub-codes, rate tables with their conditions, TOU,
demand and add-on rules, in Persian with Persian digits. The pages only read the tariff library.

The library is loaded once per application and kept on ``app.state.tariff_library`` (an application may
put its own there); :func:`tariff_library` is shared with the public bill calculator. The display
helpers (:class:`TariffFormat`) are shared with it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from barq.auth import permissions as P
from barq.calendar import MONTH_NAMES, fa_digits, fa_number, format_jalali
from barq.errors import NotFound
from barq.rating.book import Band, Group, RateTable, TariffBook, TariffLibrary, When, load_default_library
from barq.web.deps import PageDep

router = APIRouter(include_in_schema=False)

EXAMPLE_LABEL = "نمونه — تا بارگذاری بخشنامه شرکت"
CLASS_NAMES = {"within_pattern": "متعارف (داخل الگو)", "high_user": "پرمصرف", "base": "نرخ پایه"}
SEASON_NAMES = {"warm": "ماه‌های گرم", "non_warm": "ماه‌های غیرگرم"}
KIND_NAMES = {"residential": "پلکانی (خانگی)", "general": "نرخ پایه، زمان‌دار و دیماندی"}

_FA_DECIMAL = "\u066b"  # ARABIC DECIMAL SEPARATOR «٫»
_LRE, _PDF = "\u202a", "\u202c"  # keep a minus sign on the left of its number in right-to-left text


def tariff_library(request: Request) -> TariffLibrary:
    """The application's tariff library: ``app.state.tariff_library``, loaded from the shipped books once."""
    library: TariffLibrary | None = getattr(request.app.state, "tariff_library", None)
    if library is None:
        library = load_default_library()
        request.app.state.tariff_library = library
    return library


def _terminates(value: Fraction) -> bool:
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


class TariffFormat:
    """Numbers, months, hours, step limits and table conditions as Persian text (Persian digits)."""

    @staticmethod
    def number(value: Fraction | Decimal | int) -> str:
        """An exact number: «۱٬۰۶۱»، «۴۵۶٫۵»؛ a fraction that has no finite decimal stays a fraction: «۱۰۰/۳»."""
        frac = Fraction(value)
        if frac < 0:
            return f"{_LRE}-{TariffFormat.number(-frac)}{_PDF}"
        if not _terminates(frac):
            return f"{fa_number(frac.numerator)}/{fa_number(frac.denominator)}"
        whole = frac.numerator // frac.denominator
        rest = frac - whole
        text = fa_number(whole)
        if rest:
            digits = ""
            while rest:
                rest *= 10
                digit = rest.numerator // rest.denominator
                digits += str(digit)
                rest -= digit
            text += _FA_DECIMAL + fa_digits(digits)
        return text

    @staticmethod
    def percent(value: Fraction | Decimal) -> str:
        """A share as a percentage: 1/10 → «۱۰٪»."""
        return f"{TariffFormat.number(Fraction(value) * 100)}٪"

    @staticmethod
    def months(months: frozenset[int]) -> str:
        return "، ".join(MONTH_NAMES[m - 1] for m in sorted(months)) or "—"

    @staticmethod
    def hours(span: str) -> str:
        """«19:00-23:00» → «۱۹:۰۰ تا ۲۳:۰۰»."""
        start, _, end = span.partition("-")
        return f"{fa_digits(start)} تا {fa_digits(end)}"

    @staticmethod
    def band(band: Band) -> str:
        """A step's limits on the 30-day average: «۰ تا ۱۰۰»، «بیش از ۶۰۰»."""
        if band.hi is None:
            return f"بیش از {fa_number(band.lo)}"
        return f"{fa_number(band.lo)} تا {fa_number(band.hi)}"

    @staticmethod
    def jdate(value: date | None) -> str:
        return format_jalali(value) if value is not None else "—"


FMT = TariffFormat()


def condition_text(when: When, book: TariffBook) -> str:
    """One ``when`` entry in words: «زیرگروه ۵-الف؛ منطقه عادی؛ همه فصل‌ها»."""
    parts: list[str] = []
    if when.sub_codes is not None:
        parts.append("زیرگروه " + "، ".join(fa_digits(s) for s in sorted(when.sub_codes)))
    if when.zones is None:
        parts.append("همه مناطق")
    else:
        names = [book.zones[z].name_fa if z in book.zones else z for z in book.zones if z in when.zones]
        parts.append(("منطقه " if len(names) == 1 else "مناطق ") + "، ".join(names))
    if when.seasons is None:
        parts.append("همه فصل‌ها")
    else:
        parts.append("، ".join(SEASON_NAMES[s] for s in ("non_warm", "warm") if s in when.seasons))
    return "؛ ".join(parts)


@dataclass(frozen=True)
class TableView:
    table: RateTable
    anchor: str
    class_name: str
    conditions: tuple[str, ...]
    sub_codes: tuple[str, ...]

    @property
    def base_rate(self) -> Fraction | None:
        return self.table.steps[0].rate if self.table.table_class == "base" else None


@dataclass(frozen=True)
class GroupView:
    group: Group
    tables: tuple[TableView, ...]
    tables_of: dict[str, tuple[TableView, ...]]  # sub-code -> the tables that apply to it


def group_view(book: TariffBook, group: Group) -> GroupView:
    order = {"within_pattern": 0, "high_user": 1, "base": 2}
    tables: list[TableView] = []
    for name, table in group.tables.items():
        subs = tuple(s for s in group.sub_codes if any(w.sub_codes is None or s in w.sub_codes for w in table.when))
        tables.append(
            TableView(
                table=table,
                anchor=f"g{group.number}-{name}",
                class_name=CLASS_NAMES[table.table_class],
                conditions=tuple(condition_text(w, book) for w in table.when),
                sub_codes=subs,
            )
        )
    if group.kind == "residential":  # by the first zone a table serves (in the book's order), within before high
        zone_index = {z: i for i, z in enumerate(book.zones)}

        def first_zone(t: TableView) -> int:
            return min(-1 if w.zones is None else min(zone_index[z] for z in w.zones) for w in t.table.when)

        tables.sort(key=lambda t: (first_zone(t), order[t.table.table_class]))
    tables_of = {s: tuple(t for t in tables if s in t.sub_codes) for s in group.sub_codes}
    return GroupView(group=group, tables=tuple(tables), tables_of=tables_of)


@router.get("/tariffs", response_class=HTMLResponse)
def tariff_list(page: PageDep, request: Request) -> Response:
    page.principal.require(P.TARIFFS_VIEW)
    library = tariff_library(request)
    today = page.clock.today()
    in_force = library.find(today)
    rows = []
    for book in reversed(library.books):
        first, last = library.effective_range(book)
        rows.append(
            {
                "book": book,
                "first": first,
                "last": last,
                "current": book is in_force,
                "sub_codes": sum(len(g.sub_codes) for g in book.groups.values()),
                "tables": sum(len(g.tables) for g in book.groups.values()),
            }
        )
    return page.render("tariffs/list.html", rows=rows, fmt=FMT, example_label=EXAMPLE_LABEL)


@router.get("/tariffs/{version}", response_class=HTMLResponse)
def tariff_detail(page: PageDep, request: Request, version: str) -> Response:
    page.principal.require(P.TARIFFS_VIEW)
    library = tariff_library(request)
    book = next((b for b in library.books if b.version == version), None)
    if book is None:
        raise NotFound(f"نسخه تعرفه «{fa_digits(version)}» بارگذاری نشده است", detail=f"no tariff book {version!r}")
    first, last = library.effective_range(book)
    return page.render(
        "tariffs/detail.html",
        book=book,
        first=first,
        last=last,
        current=library.find(page.clock.today()) is book,
        groups=[group_view(book, g) for g in book.groups.values()],
        fmt=FMT,
        example_label=EXAMPLE_LABEL,
        kind_names=KIND_NAMES,
        season_names=SEASON_NAMES,
    )
