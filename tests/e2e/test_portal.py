"""Issue 5 (portal) in a real browser: a customer pays a bill on ``/pay`` through the development gateway on
a phone-sized window (390×844), sees the receipt, and the subscription's receivable drops by the amount; a
customer who follows the e-bill's link and cancels at the bank pays nothing. Screenshots of every step are
kept in test-artifacts/portal-*.png.

World: tests/ledger_factories.py bills two subscriptions for آبان ۱۴۰۵ on the fixed test clock
(2026-11-28 06:00 UTC, ۱۴۰۵/۰۹/۰۷ ۰۹:۳۰ in Tehran).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.db import make_engine
from barq.ledger.service import balances
from barq.payments.models import GatewayPayment, Payment
from barq.tables import metadata
from tests.e2e.conftest import ARTIFACTS, serve
from tests.factories import World, build_world
from tests.ledger_factories import issue_bills

PHONE = {"width": 390, "height": 844}
FA = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
LATIN = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")


@dataclass(frozen=True)
class Due:
    sid: int
    bill_id: str
    payment_id: str
    amount: int


@pytest.fixture
def portal_site(tmp_path: Path) -> Iterator[tuple[str, World, list[Due]]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'e2e.db'}")
    metadata.create_all(engine)
    clock = FixedClock()
    world = build_world(engine, clock)
    subs = world.subscription_ids[:2]
    bills = issue_bills(world, 140508, {subs[0]: 180, subs[1]: 420}, prev=date(2026, 9, 25), cur=date(2026, 10, 25))
    with world.session() as s:
        dues = [
            Due(sid, s.get_one(Subscription, sid).bill_id, bills[sid].payment_id, bills[sid].payable) for sid in subs
        ]
    with serve(engine, clock) as base:
        yield base, world, dues
    engine.dispose()


def shot(page: Page, name: str) -> None:
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width[0]} px wide in a {width[1]} px window"


def rial(amount: int) -> str:
    return f"{amount:,}".replace(",", "٬").translate(FA) + " ریال"


def owed(world: World, sid: int) -> int:
    with world.session() as s:
        return balances(s, sid).receivable


def test_a_customer_pays_a_bill_through_the_dev_gateway(portal_site: tuple[str, World, list[Due]], page: Page) -> None:
    base, world, (due, _) = portal_site
    before = owed(world, due.sid)
    assert before >= due.amount > 0
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/pay")
    expect(page.get_by_role("heading", name="پرداخت قبض برق")).to_be_visible()
    # a mistyped check digit is refused beside the field
    page.fill("#f-bill_id", due.bill_id[:-1] + str((int(due.bill_id[-1]) + 1) % 10))
    page.fill("#f-payment_id", due.payment_id)
    page.get_by_role("button", name="ادامه").click()
    expect(page.locator("#e-bill_id")).to_have_text("رقم کنترل شناسه قبض درست نیست")
    no_sideways_scroll(page)
    shot(page, "1-refused")

    page.fill("#f-bill_id", due.bill_id.translate(FA))  # typed with Persian digits
    page.get_by_role("button", name="ادامه").click()
    expect(page.get_by_role("heading", name="تأیید پرداخت قبض برق")).to_be_visible()
    expect(page.locator("#amount")).to_have_text(rial(due.amount))
    expect(page.locator("#period")).to_have_text("آبان ۱۴۰۵")
    expect(page.locator("#owner")).to_have_text("ع*** ب***0")
    no_sideways_scroll(page)
    shot(page, "2-confirm")

    page.get_by_role("button", name=f"پرداخت {rial(due.amount)}").click()
    expect(page.get_by_role("heading", name="درگاه آزمایشی (شبیه‌ساز بانک)")).to_be_visible()
    expect(page.locator("#bank-amount")).to_have_text(rial(due.amount))
    assert "/dev-gateway/" in page.url
    no_sideways_scroll(page)
    shot(page, "3-bank")

    page.get_by_role("button", name="پرداخت", exact=True).click()
    expect(page.get_by_role("heading", name="پرداخت انجام شد")).to_be_visible()
    expect(page.locator("#outcome")).to_have_text("پرداخت انجام شد و مبلغ قبض در حساب اشتراک شما ثبت شد.")
    expect(page.locator("#paid-amount")).to_have_text(rial(due.amount))
    expect(page.locator("#paid-at")).to_have_text("۱۴۰۵/۰۹/۰۷ ۰۹:۳۰")
    trace = page.locator("#trace").inner_text().translate(LATIN)
    assert trace.startswith("DEV") and trace[3:].isdigit() and len(trace) == 15
    assert "/pay/result/" in page.url
    no_sideways_scroll(page)
    shot(page, "4-receipt")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.get_by_role("button", name="چاپ رسید")).to_be_hidden()
    expect(page.locator("#receipt")).to_be_visible()
    shot(page, "5-receipt-print")
    page.emulate_media(media="screen")

    assert owed(world, due.sid) == before - due.amount
    page.reload()  # the receipt again, and nothing posted twice
    expect(page.locator("#trace")).to_have_text(trace.translate(FA))
    with world.session() as s:
        (payment,) = s.scalars(select(Payment)).all()
        assert (payment.channel, payment.trace, payment.amount, payment.status) == (
            "portal",
            trace,
            due.amount,
            "posted",
        )
    assert owed(world, due.sid) == before - due.amount


def test_the_ebill_link_and_a_cancel_at_the_bank(portal_site: tuple[str, World, list[Due]], page: Page) -> None:
    base, world, (_, due) = portal_site
    before = owed(world, due.sid)
    page.goto(f"{base}/pay?bill={due.bill_id}&pay={due.payment_id}")  # the e-bill's link
    expect(page.locator("#f-bill_id")).to_have_value(due.bill_id)
    expect(page.locator("#f-payment_id")).to_have_value(due.payment_id)
    page.get_by_role("button", name="ادامه").click()
    page.get_by_role("button", name=f"پرداخت {rial(due.amount)}").click()
    page.get_by_role("button", name="انصراف").click()
    expect(page.get_by_role("heading", name="پرداخت انجام نشد")).to_be_visible()
    expect(page.locator("#outcome")).to_have_text("پرداخت لغو شد و مبلغی از حساب شما برداشته نشد.")
    shot(page, "6-cancelled")
    page.get_by_role("link", name="پرداخت دوباره").click()
    expect(page.locator("#f-payment_id")).to_have_value(due.payment_id)
    assert owed(world, due.sid) == before
    with world.session() as s:
        assert list(s.scalars(select(GatewayPayment.state))) == ["cancelled"]
        assert s.scalars(select(Payment)).all() == []
