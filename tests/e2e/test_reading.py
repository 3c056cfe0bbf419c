"""Issue 4 in a real browser on a phone-sized window (390×844): a reader works a route (a read, then a
door-closed code, with the phone's position and a camera photo), and a customer sends a self-read whose
photo is too large until the page shrinks it. Screenshots of every step are kept in test-artifacts/.

World: tests/reading_factories.py on the fixed test clock (2026-11-28, 1405/09/07): reader_a reads route
R11A (two subscriptions); each meter's last read is 12 000 on 2026-10-22, 10 kWh a day expected, so 37
days later a read of 12 350 is valid (350 kWh) and a closed door is estimated at 370 kWh.

To extend (the office clearing an exception, for example): ``reading_site`` yields the address and the
world; ``sign_in`` signs anyone in on the phone-sized page; ``record`` fills and sends one subscription's
form. A later step can sign a clerk in on the same page after the reader's steps.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.db import make_engine
from barq.metering.models import MeterRead, ReadPhoto
from barq.reading.config import reading_config
from barq.tables import metadata
from tests.e2e.conftest import ARTIFACTS, serve
from tests.factories import PASSWORD, build_world
from tests.reading_factories import Reading, build_reading

PHONE = {"width": 390, "height": 844}
POSITION = {"latitude": 33.487123, "longitude": 48.355678}
FA = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def reading_site(tmp_path: Path) -> Iterator[tuple[str, Reading]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'e2e.db'}")
    metadata.create_all(engine)
    clock = FixedClock()
    rd = build_reading(build_world(engine, clock, customers=6))
    with serve(engine, clock) as base:
        yield base, rd
    engine.dispose()


def phone(page: Page, base: str) -> None:
    """The page as a phone: 390×844, the position granted to the site."""
    page.set_viewport_size(PHONE)
    page.context.grant_permissions(["geolocation"], origin=base)
    page.context.set_geolocation(POSITION)


def shot(page: Page, name: str) -> None:
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(ARTIFACTS / f"reading-{name}.png"), full_page=True)


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width[0]} px wide in a {width[1]} px window"


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="ورود").click()
    expect(page.get_by_role("heading", name="پیشخوان")).to_be_visible()


def record(page: Page, *, value: str | None = None, code: str = "ثبت رقم", photo: bytes | None = None) -> None:
    """Fill and send the open subscription's form: a register value with «ثبت رقم», or a no-read code."""
    expect(page.locator(".gps")).to_contain_text("موقعیت با قرائت ثبت می‌شود")  # the position has arrived
    if value is not None:
        page.fill("#f-active", value)
    if photo is not None:
        page.set_input_files("#f-photo", files=[{"name": "meter.png", "mimeType": "image/png", "buffer": photo}])
    page.get_by_role("button", name=code, exact=True).click()


def png(width: int, height: int, *, noise: int = 0, seed: int = 1) -> bytes:
    """A PNG made with the standard library: a grey gradient, with random noise of ``noise`` levels."""
    rng = random.Random(seed)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        base = 60 + 120 * y // max(height - 1, 1)
        if noise:
            rows.extend(min(255, base + rng.randrange(noise)) for _ in range(width * 3))
        else:
            rows.extend(bytes([base]) * (width * 3))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")
    )


def test_reader_works_a_route_on_a_phone(reading_site: tuple[str, Reading], page: Page) -> None:
    base, rd = reading_site
    first, second = rd.subs_on("R11A")
    phone(page, base)
    sign_in(page, base, "reader_a")
    page.get_by_role("link", name="قرائت امروز").click()
    expect(page.get_by_role("heading", name="قرائت امروز")).to_be_visible()
    expect(page.locator("a.tile")).to_have_count(1)  # only reader_a's route
    expect(page.locator("a.tile")).to_contain_text("۰ از ۲ اشتراک قرائت شده")
    no_sideways_scroll(page)
    shot(page, "1-routes")

    page.locator("a.tile", has_text="R11A").click()
    expect(page.locator("#stops a.stop")).to_have_count(2)
    expect(page.locator("#stops a.stop").first).to_contain_text(rd.numbers[first].translate(FA))
    no_sideways_scroll(page)
    shot(page, "2-route")

    page.get_by_role("link", name="ادامه از ردیف ۱۰").click()
    expect(page.get_by_role("heading", name=f"اشتراک {rd.numbers[first].translate(FA)}")).to_be_visible()
    no_sideways_scroll(page)
    shot(page, "3-form")
    record(page, value="12350", photo=png(40, 30))
    expect(page.locator("#outcome")).to_have_text(
        f"اشتراک {rd.numbers[first].translate(FA)}: قرائت ثبت شد؛ مصرف ۳۵۰ کیلووات‌ساعت."
    )
    expect(page.get_by_role("heading", name=f"اشتراک {rd.numbers[second].translate(FA)}")).to_be_visible()
    no_sideways_scroll(page)
    shot(page, "4-read-recorded")

    record(page, code="در بسته")
    expect(page.locator("#outcome")).to_have_text(
        f"اشتراک {rd.numbers[second].translate(FA)}: «در بسته» ثبت شد؛ مصرف علی‌الحساب ۳۷۰ کیلووات‌ساعت برآورد شد."
    )
    stops = page.locator("#stops a.stop")
    expect(stops.nth(0)).to_contain_text("قرائت شد")
    expect(stops.nth(1)).to_contain_text("در بسته · علی‌الحساب")
    expect(page.locator("main")).to_contain_text("۲ از ۲ اشتراک این دوره قرائت شده")
    no_sideways_scroll(page)
    shot(page, "5-route-done")

    with rd.world.session() as s:
        read, closed = (
            s.scalars(select(MeterRead).where(MeterRead.subscription_id == sid)).one() for sid in (first, second)
        )
        assert (read.status, read.kwh, read.source, read.reader_id) == (
            "valid",
            350,
            "reader",
            rd.world.users["reader_a"],
        )
        assert (read.lat_e6, read.lon_e6) == (33_487_123, 48_355_678)
        assert read.photo_id is not None and s.get_one(ReadPhoto, read.photo_id).content_type == "image/png"
        assert (closed.code, closed.estimated, closed.kwh) == ("door_closed", True, 370)


def test_reader_sees_a_refusal_beside_the_field_on_a_phone(reading_site: tuple[str, Reading], page: Page) -> None:
    base, rd = reading_site
    phone(page, base)
    sign_in(page, base, "reader_a")
    page.goto(f"{base}/reader/routes/{rd.route_ids['R11A']}/subscriptions/{rd.subs_on('R11A')[0]}")
    record(page, value="-12350")
    expect(page.locator("#e-active")).to_have_text("رقم کنتور نمی‌تواند منفی باشد")
    record(page, value="12350", photo=b"%PDF-1.7 not a photo")
    expect(page.locator("#e-photo")).to_have_text("پرونده عکس نیست؛ فقط JPEG، PNG یا WebP پذیرفته می‌شود")
    no_sideways_scroll(page)
    shot(page, "6-refused")


def test_customer_self_reads_on_a_phone_and_a_large_photo_is_shrunk(
    reading_site: tuple[str, Reading], page: Page
) -> None:
    base, rd = reading_site
    sid = rd.world.subscription_ids[1]
    with rd.world.session() as s:
        bill_id = s.get_one(Subscription, sid).bill_id
    photo = png(2400, 1200, noise=24)
    limit = reading_config().photo_max_bytes
    assert len(photo) > limit  # as a phone's camera makes them
    phone(page, base)
    page.goto(f"{base}/self-read")
    expect(page.get_by_role("heading", name="خوداظهاری رقم کنتور برق")).to_be_visible()
    no_sideways_scroll(page)
    shot(page, "7-self-read")
    page.fill("#f-bill_id", bill_id)
    page.fill("#f-active", "۱۲۳۵۰")
    page.set_input_files("#f-photo", files=[{"name": "meter.png", "mimeType": "image/png", "buffer": photo}])
    page.wait_for_function(
        f"document.querySelector('#f-photo').files[0].size <= {limit}"
        " && !document.querySelector('form button[type=submit]').disabled"
    )
    page.get_by_role("button", name="ارسال رقم کنتور").click()
    expect(page.locator("#receipt")).to_have_text("رقم کنتور شما دریافت شد و همین رقم برای صورتحساب به کار می‌رود.")
    no_sideways_scroll(page)
    shot(page, "8-self-read-done")
    with rd.world.session() as s:
        read = s.scalars(select(MeterRead).where(MeterRead.subscription_id == sid)).one()
        assert (read.code, read.source, read.status, read.kwh) == ("self", "self", "valid", 350)
        stored = s.get_one(ReadPhoto, read.photo_id)
        assert stored.content_type == "image/jpeg" and len(stored.data) <= limit


def test_reader_sends_an_odd_read_and_a_clerk_clears_it(reading_site: tuple[str, Reading], page: Page) -> None:
    """The whole loop of issue 4: a route read on a phone (an odd read and a closed door), then the office
    accepting the odd read from the exception queue, which bills it."""
    base, rd = reading_site
    first, second = rd.subs_on("R11A")
    phone(page, base)
    sign_in(page, base, "reader_a")
    page.goto(f"{base}/reader/routes/{rd.route_ids['R11A']}/subscriptions/{first}")
    record(page, value="13500")  # 1 500 kWh in 37 days: above 3 × 370 expected
    expect(page.locator("#outcome")).to_have_class("outcome review")
    expect(page.locator("#outcome")).to_contain_text("کارشناس دفتر")
    record(page, code="در بسته")
    expect(page.locator("#outcome")).to_contain_text("در بسته")
    page.get_by_role("button", name="خروج").click()

    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base, "revenue")
    page.get_by_role("link", name="استثناهای قرائت").click()
    row = page.locator("table.list tbody tr", has_text=rd.numbers[first].translate(FA))
    expect(row).to_contain_text("مصرف بیش از حد بالای مجاز")
    expect(row).to_contain_text("۱٬۵۰۰")
    expect(page.locator("section.card", has_text="به تفکیک مامور")).to_contain_text("مامور reader_a")
    shot(page, "9-exception-queue")
    row.get_by_role("checkbox").check()
    page.get_by_role("button", name="پذیرش قرائت").click()
    expect(page.locator(".flash").first).to_contain_text("پذیرش قرائت: ۱ مورد انجام شد")
    expect(page.locator("table.list").last).to_contain_text("استثنای بازی نیست")
    shot(page, "10-exception-cleared")
    with rd.world.session() as s:
        read = s.scalars(select(MeterRead).where(MeterRead.subscription_id == first)).one()
        assert (read.status, read.resolution, read.kwh, read.reason) == ("valid", "accept", 1500, "above_high")
        closed = s.scalars(select(MeterRead).where(MeterRead.subscription_id == second)).one()
        assert (closed.code, closed.estimated, closed.kwh) == ("door_closed", True, 370)
