"""Reader scorecard pages (docs/reader-scorecard.md): a cycle's readers and contractors ranked, with the
weights and an Excel export; one reader's figures over twelve cycles with a server-drawn trend chart."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from barq.auth import permissions as P
from barq.billing.service import cycle_of, previous_cycle
from barq.calendar import MONTH_NAMES, fa_digits
from barq.network.service import district_names
from barq.reading.config import SCORE_FACTORS
from barq.reading.scorecard import (
    FACTOR_NAMES,
    LOWER_IS_BETTER,
    PER_THOUSAND,
    TREND_CYCLES,
    Line,
    Rules,
    Trend,
    configured_rules,
    cycle_name,
    default_cycle,
    fa_measure,
    fa_one_decimal,
    one_decimal,
    parse_cycle,
    reader_scorecard,
    reader_trend,
    recent_cycles,
)
from barq.reports.excel import sheets_to_xlsx
from barq.web.deps import Page, PageDep, district_filter, xlsx_download

router = APIRouter(include_in_schema=False)

COUNT_TITLES = {
    "completion": "اشتراک بازدیدشده",
    "on_time": "بازدید به‌موقع",
    "door_closed": "درِ بسته",
    "exceptions": "استثنا",
    "proven_wrong": "قرائت نادرست",
    "complaints": "شکایت",
    "photo": "با عکس",
}
MEASURE_TITLES = {
    "completion": "تکمیل ٪",
    "on_time": "به‌موقع ٪",
    "door_closed": "درِ بسته ٪",
    "exceptions": "استثنا ٪",
    "proven_wrong": "قرائت نادرست در هزار",
    "complaints": "شکایت در هزار",
    "photo": "با عکس ٪",
}
FACTOR_RULES = {
    "completion": "اشتراک‌های بازدیدشده از سفارش دوره",
    "on_time": "بازدیدهای درون بازهٔ قرائت مسیر",
    "door_closed": "سهم بازدیدهای درِ بسته",
    "exceptions": "سهم بازدیدهایی که به صف استثنا رفتند",
    "proven_wrong": "استثناهایی که به قرائت مجدد یا علی‌الحساب انجامیدند، در هزار بازدید",
    "complaints": "دستورکار قرائت مجدد به شکایت مشترک، در هزار بازدید",
    "photo": "سهم بازدیدهای دارای عکس کنتور",
}


def _score_class(score: Fraction | None) -> str:
    if score is None:
        return ""
    return "done" if score >= 80 else ("in_progress" if score >= 50 else "failed")


def _zero_at_text(rules: Rules, factor: str) -> str:
    """How a factor becomes points, in words."""
    if factor not in LOWER_IS_BETTER:
        return "امتیاز = درصد"
    limit = rules.zero_at.threshold(factor)
    shown = fa_digits(int(limit)) + " در هزار" if factor in PER_THOUSAND else fa_digits(int(limit * 100)) + "٪"
    return f"۱۰۰ در صفر، کاهش خطی تا صفر در {shown}"


def _context(rules: Rules) -> dict[str, Any]:
    weight_total = sum(rules.weights.values())
    return {
        "factors": SCORE_FACTORS,
        "factor_names": FACTOR_NAMES,
        "per_thousand": PER_THOUSAND,
        "factor_rules": FACTOR_RULES,
        "zero_at_text": {f: _zero_at_text(rules, f) for f in SCORE_FACTORS},
        "weights": rules.weights,
        "weight_total": weight_total,
        "measure": fa_measure,
        "dec": fa_one_decimal,
        "cycle_name": cycle_name,
        "score_class": _score_class,
    }


# ----------------------------------------------------------------------------------------------- Excel


def _num(value: Fraction | None) -> float | None:
    """A figure for Excel: one decimal (rounded as on the page), a number Excel can sum."""
    return None if value is None else float(one_decimal(value))


def _measure_cell(factor: str, value: Fraction | None) -> float | None:
    return _num(None if value is None else (value if factor in PER_THOUSAND else 100 * value))


def _figure_headers() -> list[str]:
    return (
        ["سفارش", "بازدید"]
        + [COUNT_TITLES[f] for f in SCORE_FACTORS]
        + [MEASURE_TITLES[f] for f in SCORE_FACTORS]
        + ["امتیاز"]
    )


def _figures(line: Line) -> list[Any]:
    return (
        [line.counts.ordered, line.counts.visits]
        + [line.counts.numerator(f) for f in SCORE_FACTORS]
        + [_measure_cell(f, line.measures[f]) for f in SCORE_FACTORS]
        + [_num(line.score)]
    )


def _weights_sheet(rules: Rules) -> tuple[str, list[str], list[list[Any]]]:
    rows: list[list[Any]] = [
        [FACTOR_NAMES[f], FACTOR_RULES[f], rules.weights[f], _zero_at_text(rules, f)] for f in SCORE_FACTORS
    ]
    return "وزن‌ها", ["عامل", "تعریف", "وزن", "تبدیل به امتیاز"], rows


# ----------------------------------------------------------------------------------------------- pages


def _cycle(page: Page, raw: str) -> int:
    return parse_cycle(raw) if raw.strip() else default_cycle(page.clock)


@router.get("/reading/scorecards", response_class=HTMLResponse)
def scorecards(page: PageDep, cycle: str = "", district: str = "", format: str = "") -> Response:
    page.principal.require(P.READING_VIEW)
    chosen = _cycle(page, cycle)
    card = reader_scorecard(
        page.db,
        principal=page.principal,
        clock=page.clock,
        cycle=chosen,
        district_id=district_filter(district),
        rules=configured_rules(),
    )
    districts = district_names(page.db)
    if format == "xlsx":
        readers = [
            [line.rank, line.name, line.contractor_name, "، ".join(line.routes), *_figures(line)]
            for line in card.readers
        ]
        contractors = [[line.rank, line.name, line.readers, *_figures(line)] for line in card.contractors]
        data = sheets_to_xlsx(
            [
                ("ماموران", ["رتبه", "مامور", "پیمانکار", "مسیرها", *_figure_headers()], readers),
                ("پیمانکاران", ["رتبه", "پیمانکار", "ماموران", *_figure_headers()], contractors),
                _weights_sheet(card.rules),
            ]
        )
        suffix = f"-{districts[card.district_id]}" if card.district_id in districts else ""
        return xlsx_download(data, f"reader-scorecards-{chosen}.xlsx", f"کارنامه-ماموران-{chosen}{suffix}.xlsx")
    cycles = recent_cycles(page.clock)
    if chosen not in cycles:
        cycles = sorted([*cycles, chosen], reverse=True)
    return page.render(
        "reading/scorecards/index.html",
        card=card,
        cycles=cycles,
        districts=districts,
        district_fixed=page.principal.district_id is not None,
        params={"cycle": chosen, "district": card.district_id or ""},
        **_context(card.rules),
    )


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    label: str
    score: str


@dataclass(frozen=True)
class Chart:
    """A line chart of scores drawn on the server. Time runs right to left, as the page reads: the
    oldest cycle on the right, the newest on the left; the 0–100 axis is on the right."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    grid: list[tuple[float, str]]
    ticks: list[tuple[float, str, str]]
    lines: list[str]
    points: list[ChartPoint]


def trend_chart(trend: Trend, *, width: int = 760, height: int = 280) -> Chart:
    left, right, top, bottom = 8, width - 40, 24, height - 52
    inset = 24  # room for the first and last points' labels
    n = len(trend.cycles)
    step = (right - left - 2 * inset) / max(n - 1, 1)

    def x(i: int) -> float:
        return round(right - inset - i * step, 1)

    def y(score: Fraction) -> float:
        return round(bottom - float(score) * (bottom - top) / 100, 1)

    grid = [(y(Fraction(v)), fa_digits(v)) for v in (0, 25, 50, 75, 100)]
    ticks = []
    for i, cycle in enumerate(trend.cycles):
        year, month = divmod(cycle, 100)
        ticks.append((x(i), MONTH_NAMES[month - 1], fa_digits(year)))
    points: list[ChartPoint] = []
    lines: list[str] = []
    run: list[str] = []
    for i, cycle in enumerate(trend.cycles):
        line = trend.lines.get(cycle)
        if line is None or line.score is None:
            if len(run) > 1:
                lines.append(" ".join(run))
            run = []
            continue
        px, py = x(i), y(line.score)
        run.append(f"{px},{py}")
        points.append(ChartPoint(px, py, cycle_name(cycle), fa_one_decimal(line.score)))
    if len(run) > 1:
        lines.append(" ".join(run))
    return Chart(width, height, left, right, top, bottom, grid, ticks, lines, points)


@router.get("/reading/scorecards/readers/{user_id}", response_class=HTMLResponse)
def reader_page(page: PageDep, user_id: int, cycle: str = "", format: str = "") -> Response:
    page.principal.require(P.READING_VIEW)
    last = _cycle(page, cycle)
    trend = reader_trend(
        page.db,
        principal=page.principal,
        clock=page.clock,
        reader_id=user_id,
        last_cycle=last,
        rules=configured_rules(),
    )
    newest_first = [(c, trend.lines.get(c)) for c in reversed(trend.cycles)]
    if format == "xlsx":
        rows = [[cycle_name(c), *_figures(line)] for c, line in newest_first if line is not None]
        data = sheets_to_xlsx([("کارنامه", ["دوره", *_figure_headers()], rows), _weights_sheet(trend.rules)])
        return xlsx_download(data, f"reader-{user_id}-{last}.xlsx", f"کارنامه-{trend.reader.name}-{last}.xlsx")
    return page.render(
        "reading/scorecards/reader.html",
        trend=trend,
        rows=newest_first,
        chart=trend_chart(trend),
        last=last,
        earlier=previous_cycle(trend.cycles[0]),
        later=later if (later := previous_cycle(last, -TREND_CYCLES)) <= cycle_of(page.clock.today()) else None,
        **_context(trend.rules),
    )
