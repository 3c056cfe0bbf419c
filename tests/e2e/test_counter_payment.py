"""Issue 5 in a real browser: a cashier takes a bill's payment at the counter and prints the receipt; the
subscription's statement and the receivables dashboard show the change. Screenshots are kept in
test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.db import make_engine
from barq.tables import metadata
from tests.e2e.conftest import ARTIFACTS, serve
from tests.factories import PASSWORD, World, build_world
from tests.ledger_factories import issue_bills

_LATIN = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, World, dict[int, object]]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'e2e.db'}")
    metadata.create_all(engine)
    world = build_world(engine, FixedClock(), customers=3)
    s0, s1 = world.subscription_ids[:2]
    bills = issue_bills(world, 140508, {s0: 180, s1: 420}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))
    with serve(engine, world.clock) as base:
        yield base, world, bills
    engine.dispose()


def _rials(text: str) -> int:
    """The first amount in ``text`` (Persian or Latin digits, with separators) as an int."""
    match = re.search(r"[0-9][0-9,٬]*", text.translate(_LATIN))
    assert match, text
    return int(re.sub(r"[,٬]", "", match.group(0)))


def _shot(page: Page, name: str) -> None:
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(ARTIFACTS / f"counter-{name}.png"), full_page=True)


def test_a_counter_payment_changes_the_statement_and_the_dashboard(
    site: tuple[str, World, dict[int, object]], page: Page
) -> None:
    base, world, bills = site
    sid = world.subscription_ids[0]
    bill = bills[sid]
    with world.session() as s:
        sub = s.get(Subscription, sid)
        assert sub is not None
        bill_id = sub.bill_id
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "revenue")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="ورود").click()
    expect(page.get_by_role("heading", name="پیشخوان")).to_be_visible()

    page.goto(f"{base}/receivables")
    owed_before = _rials(page.locator(".receivables-stats .stat").first.locator("b").inner_text())
    assert owed_before == bills[world.subscription_ids[0]].payable + bills[world.subscription_ids[1]].payable
    page.goto(f"{base}/subscriptions/{sid}/statement")
    expect(page.locator(".statement-balances .owed")).to_be_visible()
    assert _rials(page.locator(".statement-balances .owed").inner_text()) == bill.payable

    # the cashier types the bill ID in Persian digits and takes the bill's payment
    page.goto(f"{base}/payments/counter")
    page.fill("input[name=bill_id]", bill_id.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")))
    page.get_by_role("button", name="نمایش بدهی").click()
    _shot(page, "1-debt")
    page.locator("form.inline button.primary").first.click()
    expect(page.locator("body")).to_contain_text("رسید")
    _shot(page, "2-receipt")
    receipt = page.locator("body").inner_text().translate(_LATIN)
    assert re.sub(r"[,٬]", "", receipt).count(str(bill.payable)) >= 1

    page.goto(f"{base}/subscriptions/{sid}/statement")
    _shot(page, "3-statement")
    assert _rials(page.locator(".statement-balances .owed").inner_text()) == 0
    expect(page.locator("table").last).to_contain_text("پرداخت")
    page.goto(f"{base}/receivables")
    _shot(page, "4-dashboard")
    assert (
        _rials(page.locator(".receivables-stats .stat").first.locator("b").inner_text()) == owed_before - bill.payable
    )
