"""Reader scorecards in a real browser: the head of unit opens Aban's scorecard from the menu, picks a
district, follows a reader to their twelve-cycle chart, and downloads the Excel file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from barq.clock import FixedClock
from barq.db import make_engine
from barq.tables import metadata
from tests.e2e.conftest import ARTIFACTS, serve
from tests.factories import PASSWORD, build_world
from tests.reading_factories import build_reading
from tests.scorecard_factories import build_aban


@pytest.fixture
def scorecard_site(tmp_path: Path) -> Iterator[str]:
    engine = make_engine(f"sqlite:///{tmp_path / 'scorecards.db'}")
    metadata.create_all(engine)
    clock = FixedClock()
    build_aban(build_reading(build_world(engine, clock, customers=6)))
    with serve(engine, clock) as base:
        yield base
    engine.dispose()


def test_head_of_unit_reads_the_scorecards(scorecard_site: str, page: Page) -> None:
    base = scorecard_site
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "head")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="ورود").click()
    page.get_by_role("link", name="کارنامهٔ ماموران").click()
    expect(page.locator("h1")).to_have_text("کارنامهٔ ماموران قرائت — آبان ۱۴۰۵")
    readers = page.locator("table.scorecard").first
    expect(readers.locator("tbody tr")).to_have_count(5)
    expect(readers.locator("tbody tr").first.locator(".score")).to_have_text("۹۲٫۹")
    page.screenshot(path=str(ARTIFACTS / "reader-scorecards.png"), full_page=True)

    page.select_option("#f-district", label="بروجرد")
    page.get_by_role("button", name="نمایش").click()
    expect(page.locator("h1")).to_have_text("کارنامهٔ ماموران قرائت — آبان ۱۴۰۵ · امور بروجرد")
    expect(readers.locator("tbody tr")).to_have_count(1)
    with page.expect_download() as download:
        page.get_by_role("link", name="خروجی اکسل").click()
    assert download.value.suggested_filename == "کارنامه-ماموران-140508-بروجرد.xlsx"

    page.get_by_role("link", name="مامور reader_c").click()
    expect(page.locator("h1")).to_have_text("کارنامهٔ مامور reader_c")
    chart = page.locator("svg.trend-chart")
    expect(chart.locator("circle")).to_have_count(12)
    # the newest cycle is drawn leftmost, the oldest rightmost
    newest = chart.locator("circle").last.bounding_box()
    oldest = chart.locator("circle").first.bounding_box()
    assert newest is not None and oldest is not None and newest["x"] < oldest["x"]
    page.screenshot(path=str(ARTIFACTS / "reader-scorecard-trend.png"), full_page=True)
