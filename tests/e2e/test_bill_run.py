"""Issue 3 in a real browser, on a small demo province: run the month's bills, approve them, open a bill
and its PDF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from barq.billing.models import Bill, issued_bills
from barq.clock import FixedClock
from barq.db import make_engine, make_sessionmaker
from barq.demo.generator import DEMO_PASSWORD, build_demo
from barq.demo.history import build_history
from barq.tables import metadata
from tests.e2e.conftest import ARTIFACTS, serve

CYCLE = 140508  # the demo reads Aban 1405 but leaves its bill run to the office


@pytest.fixture
def demo_site(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    clock = FixedClock()
    build_demo(engine, accounts=1200, seed=11, clock=clock)
    build_history(engine, clock=clock, months=2, seed=11)
    with serve(engine, clock) as base:
        yield base, url
    engine.dispose()


def test_office_runs_reviews_and_issues_the_month(demo_site: tuple[str, str], page: Page) -> None:
    base, url = demo_site
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "revenue")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.get_by_role("button", name="ورود").click()
    page.get_by_role("link", name="صورتحساب دوره").click()
    page.select_option("#f-cycle", str(CYCLE))
    page.get_by_role("button", name="شروع محاسبه").click()
    expect(page.locator("#progress .badge")).to_have_text("بازبینی", timeout=60_000)  # the page refreshes itself
    expect(page.locator("nav.tabs")).to_contain_text("علی‌الحساب")  # door-closed estimates wait for review
    page.screenshot(path=str(ARTIFACTS / "bill-run-review.png"), full_page=True)

    # a revenue clerk may run bills but not approve them
    expect(page.get_by_role("button", name="تأیید و صدور صورتحساب‌ها")).to_have_count(0)
    page.get_by_role("button", name="خروج").click()
    page.fill("input[name=username]", "head")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.get_by_role("button", name="ورود").click()
    page.goto(f"{base}/bill-runs")
    page.locator("table.list a").first.click()
    page.get_by_role("button", name="تأیید و صدور صورتحساب‌ها").click()
    expect(page.locator(".flash")).to_contain_text("صورتحساب صادر شد.")
    expect(page.locator("#progress .badge")).to_have_text("صادر شده")

    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        bill = s.scalars(select(Bill).where(Bill.cycle == CYCLE, issued_bills()).order_by(Bill.id)).first()
        assert bill is not None
        bill_id = bill.id
    engine.dispose()
    page.goto(f"{base}/bills/{bill_id}")
    expect(page.locator("h1")).to_contain_text("آبان ۱۴۰۵")
    expect(page.locator("main")).to_contain_text("بهای انرژی")
    expect(page.locator("main")).to_contain_text("شناسه پرداخت")
    page.screenshot(path=str(ARTIFACTS / "bill.png"), full_page=True)
    pdf_href = page.get_by_role("link", name="قبض PDF").get_attribute("href")
    assert pdf_href is not None
    response = page.request.get(f"{base}{pdf_href}")  # the browser's own session
    assert response.ok and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")
