"""Reader scorecard pages through the test client: the cycle's tables, the Excel export, scopes, the
reader's twelve-cycle page with its chart."""

from __future__ import annotations

import io
import re
from fractions import Fraction

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from barq.clock import FixedClock
from barq.reading.config import reading_config
from barq.reading.scorecard import Counts, Line, ReaderInfo, Trend, make_line
from barq.web.routes.scorecards import trend_chart
from tests.factories import build_world
from tests.reading_factories import build_reading
from tests.scorecard_factories import RULES, WEIGHTS, ScorecardData, build_aban
from tests.web.helpers import signed_in

_ROW = re.compile(r'<a href="/reading/scorecards/readers/(\d+)\?cycle=140508">([^<]+)</a>')
_SCORE = re.compile(r'<span class="badge [a-z_]* score">([^<]+)</span>')


@pytest.fixture
def data(engine: Engine, clock: FixedClock) -> ScorecardData:
    assert reading_config().weights == WEIGHTS, "these pages are checked against the shipped weights"
    return build_aban(build_reading(build_world(engine, clock, customers=6)))


def _tables(html: str) -> tuple[str, str]:
    readers, contractors = html.split("<h2>پیمانکاران</h2>", 1)
    return readers, contractors


def test_the_cycle_page_ranks_readers_and_contractors(data: ScorecardData) -> None:
    client = signed_in(data.world, "head")
    page = client.get("/reading/scorecards?cycle=1405/08")
    assert page.status_code == 200
    html = page.text
    assert "کارنامهٔ ماموران قرائت — آبان ۱۴۰۵" in html
    readers, contractors = _tables(html)
    assert [name for _, name in _ROW.findall(readers)] == [
        "مامور reader_a2",
        "مامور reader_co",
        "مامور reader_c",
        "مامور reader_a",
        "مامور reader_b",
    ]
    assert _SCORE.findall(readers) == ["۹۲٫۹", "۹۲٫۹", "۷۴٫۵", "۵۱٫۷", "۰٫۰"]
    assert _SCORE.findall(contractors.split("وزن‌ها و شیوهٔ امتیاز")[0]) == ["۹۲٫۹", "۷۴٫۵", "۴۸٫۸", "۰٫۰"]
    # reader_c's row: 3 ordered, 10 visits, 90 % on time, 10 % door closed, 100 complaints per 1,000
    row_c = readers.split(">مامور reader_c</a>")[1].split("</tr>")[0]
    for figure in ("۱۰۰٫۰٪", "۹۰٫۰٪", "۱۰٫۰٪", "۲۰٫۰٪", "۱۰۰٫۰", "۸۰٫۰٪", "۳ از ۳"):
        assert figure in row_c, figure
    assert '<span class="ltr">R۱۲</span>' in row_c
    # the weights and how each factor becomes points
    assert "۱۰۰ در صفر، کاهش خطی تا صفر در ۲۰٪" in html and "کاهش خطی تا صفر در ۵۰ در هزار" in html
    assert "جمع وزن‌ها" in html and ">۱۰۰</td>" in html


def test_cycle_in_persian_digits_and_a_bad_cycle(data: ScorecardData) -> None:
    client = signed_in(data.world, "head")
    assert "آبان ۱۴۰۵" in client.get("/reading/scorecards?cycle=۱۴۰۵/۰۸").text
    bad = client.get("/reading/scorecards?cycle=1405/13")
    assert bad.status_code == 422
    # no cycle: the month before today (the clock stands in Azar 1405)
    assert "کارنامهٔ ماموران قرائت — آبان ۱۴۰۵" in client.get("/reading/scorecards").text


def test_excel_export(data: ScorecardData) -> None:
    client = signed_in(data.world, "head")
    response = client.get("/reading/scorecards?cycle=1405/08&format=xlsx")
    assert response.status_code == 200
    assert 'filename="reader-scorecards-140508.xlsx"' in response.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(response.content))
    assert wb.sheetnames == ["ماموران", "پیمانکاران", "وزن‌ها"]
    rows = list(wb["ماموران"].iter_rows(values_only=True))
    assert rows[0][:7] == ("رتبه", "مامور", "پیمانکار", "مسیرها", "سفارش", "بازدید", "اشتراک بازدیدشده")
    assert rows[0][-1] == "امتیاز"
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name["مامور reader_c"] == (
        2, "مامور reader_c", "پیمانکار پ", "R12", 3, 10,
        3, 9, 1, 2, 0, 1, 8,  # counts
        100.0, 90.0, 10.0, 20.0, 0.0, 100.0, 80.0,  # measures: percents, per 1,000
        74.5,
    )  # fmt: skip
    assert by_name["مامور reader_b"][13:] == (0.0, None, None, None, None, None, None, 0.0)
    contractors = list(wb["پیمانکاران"].iter_rows(values_only=True))
    assert [(r[0], r[1], r[2], r[-1]) for r in contractors[1:]] == [
        (1, "شرکت", 1, 92.9),
        (2, "پیمانکار پ", 1, 74.5),
        (3, "پیمانکار الف", 2, 48.8),
        (4, "پیمانکار ب", 1, 0.0),
    ]
    weights = list(wb["وزن‌ها"].iter_rows(values_only=True))
    assert [(r[0], r[2]) for r in weights[1:]] == [
        ("تکمیل", 30),
        ("به‌موقع", 20),
        ("درِ بسته", 15),
        ("استثنا", 10),
        ("قرائت نادرست", 15),
        ("شکایت", 5),
        ("عکس", 5),
    ]


def test_district_and_contractor_users_see_their_own(data: ScorecardData) -> None:
    world = data.world
    clerk = signed_in(world, "clerk11")
    html = clerk.get("/reading/scorecards?cycle=1405/08").text
    names = [name for _, name in _ROW.findall(_tables(html)[0])]
    assert names == ["مامور reader_a2", "مامور reader_co", "مامور reader_a", "مامور reader_b"]
    assert 'name="district"' not in html  # a district user has no district to choose
    other = clerk.get(f"/reading/scorecards?cycle=1405/08&district={world.district_ids['12']}")
    assert other.status_code == 403
    xlsx = load_workbook(io.BytesIO(clerk.get("/reading/scorecards?cycle=1405/08&format=xlsx").content))
    assert sorted(r[1] for r in list(xlsx["ماموران"].iter_rows(values_only=True))[1:]) == sorted(names)
    contractor = signed_in(world, "contrb")
    html = contractor.get("/reading/scorecards?cycle=1405/08").text
    assert [name for _, name in _ROW.findall(_tables(html)[0])] == ["مامور reader_b"]
    head = signed_in(world, "head")
    html = head.get(f"/reading/scorecards?cycle=1405/08&district={world.district_ids['12']}").text
    assert [name for _, name in _ROW.findall(_tables(html)[0])] == ["مامور reader_c"]
    assert "· امور بروجرد" in html


def test_without_reading_view_the_pages_are_refused(data: ScorecardData) -> None:
    client = signed_in(data.world, "field")
    assert client.get("/reading/scorecards").status_code == 403
    assert client.get(f"/reading/scorecards/readers/{data.users['reader_c']}").status_code == 403


def test_reader_page_with_trend_chart(data: ScorecardData) -> None:
    client = signed_in(data.world, "manager12")
    page = client.get(f"/reading/scorecards/readers/{data.users['reader_c']}?cycle=1405/09")
    assert page.status_code == 200
    html = page.text
    assert "کارنامهٔ مامور reader_c" in html
    assert "دوازده دوره از دی ۱۴۰۴ تا آذر ۱۴۰۵" in html
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    # every cycle ordered R12's three subscriptions: twelve points, one unbroken line
    assert svg.count("<circle") == 12 and svg.count("<polyline") == 1
    assert "<title>آبان ۱۴۰۵: ۷۴٫۵</title>" in svg and "<title>مهر ۱۴۰۵: ۷۵٫۰</title>" in svg
    assert "<title>آذر ۱۴۰۵: ۰٫۰</title>" in svg
    # the table: newest first
    table = html.split("شاخص‌ها در هر دوره", 1)[1]
    assert table.index("آذر ۱۴۰۵") < table.index("آبان ۱۴۰۵") < table.index("دی ۱۴۰۴")
    assert '?cycle=140409">دوازده دورهٔ پیش‌تر' in html
    assert "دوازده دورهٔ پس‌تر" not in html  # nothing after today's cycle
    xlsx = client.get(f"/reading/scorecards/readers/{data.users['reader_c']}?cycle=1405/09&format=xlsx")
    rows = list(load_workbook(io.BytesIO(xlsx.content))["کارنامه"].iter_rows(values_only=True))
    assert [(r[0], r[-1]) for r in rows[1:4]] == [("آذر ۱۴۰۵", 0.0), ("آبان ۱۴۰۵", 74.5), ("مهر ۱۴۰۵", 75.0)]


def test_reader_page_outside_the_scope_is_not_found(data: ScorecardData) -> None:
    client = signed_in(data.world, "manager12")
    assert client.get(f"/reading/scorecards/readers/{data.users['reader_a']}?cycle=1405/08").status_code == 404
    assert client.get("/reading/scorecards/readers/999999").status_code == 404


def _trend(scores: dict[int, Fraction | None]) -> Trend:
    cycles = sorted(scores)
    lines: dict[int, Line] = {}
    for cycle, score in scores.items():
        if score is not None:
            line = make_line(
                cycle=cycle,
                key=1,
                name="x",
                contractor_id=None,
                contractor_name="شرکت",
                counts=Counts(ordered=1),
                rules=RULES,
            )
            lines[cycle] = Line(**{**line.__dict__, "score": score})
    return Trend(reader=ReaderInfo(1, "x", None, "شرکت", ()), rules=RULES, cycles=cycles, lines=lines)


def test_chart_runs_right_to_left_and_breaks_at_missing_cycles() -> None:
    chart = trend_chart(
        _trend({140501: Fraction(100), 140502: Fraction(50), 140503: None, 140504: Fraction(0), 140505: Fraction(25)})
    )
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs, reverse=True)  # the oldest cycle on the right
    assert [p.y for p in chart.points] == [chart.top, (chart.top + chart.bottom) / 2, chart.bottom, 177.0]
    assert len(chart.lines) == 2  # the missing cycle breaks the line
    assert [t[1] for t in chart.ticks] == ["فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد"]
    assert [p.score for p in chart.points] == ["۱۰۰٫۰", "۵۰٫۰", "۰٫۰", "۲۵٫۰"]
