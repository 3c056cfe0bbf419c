"""The reader's page through the test client (issue 4, «reader page»): routes, the route in sequence, one
subscription's form, and reads recorded through the pipeline with exact outcomes.

World: tests/reading_factories.py: reader_a reads route R11A (subscriptions 0 and 4, sequence 10 and 20);
each meter's last actual read is 12 000 on 2026-10-22 with 10 kWh a day expected. The clock here stands
on 2026-11-21, 30 days later: 300 kWh expected, limits 75 and 900.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from barq.clock import FixedClock
from barq.db import Base
from barq.metering.models import Meter, MeterRead, ReadBatch, ReadingState, ReadPhoto
from barq.reading.config import reading_config
from tests.factories import build_world
from tests.reading_factories import Reading, build_reading
from tests.web.helpers import csrf, signed_in

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
DAY_30 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)  # 30 days after the last read


@pytest.fixture
def rd(engine: Engine) -> Reading:
    return build_reading(build_world(engine, FixedClock(moment=DAY_30), customers=6))


@pytest.fixture
def reader(rd: Reading) -> TestClient:
    return signed_in(rd.world, "reader_a")


def _stop_url(rd: Reading, route: str, k: int) -> str:
    return f"/reader/routes/{rd.route_ids[route]}/subscriptions/{rd.subs_on(route)[k]}"


def _post(
    client: TestClient,
    url: str,
    data: dict[str, str],
    photo: tuple[str, bytes, str] | None = None,
) -> httpx.Response:
    token = csrf(client, url)
    files = {"photo": photo or ("", b"", "application/octet-stream")}
    return client.post(url, data={"csrf_token": token, **data}, files=files, follow_redirects=False)


def _reads(rd: Reading, sub_id: int) -> list[MeterRead]:
    with rd.world.session() as s:
        return list(s.scalars(select(MeterRead).where(MeterRead.subscription_id == sub_id).order_by(MeterRead.id)))


def _count(rd: Reading, model: type[Base]) -> int:
    with rd.world.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _field_error(html: str, name: str) -> str:
    match = re.search(rf'<small class="field-error" id="e-{name}" role="alert">([^<]*)</small>', html)
    assert match, f"no error beside {name}"
    return match.group(1)


def _outcome(html: str) -> str:
    match = re.search(r'<div id="outcome" class="outcome (\w+)" role="status">(.*?)</div>', html, re.S)
    assert match, "no outcome on the page"
    return match.group(1) + ": " + " ".join(re.sub(r"<[^>]+>", " ", match.group(2)).split())


# ------------------------------------------------------------------------------------------ lists


def test_a_reader_sees_only_their_routes(rd: Reading, reader: TestClient) -> None:
    page = reader.get("/reader")
    assert page.status_code == 200
    assert "R11A" in page.text and "R11B" not in page.text and "R12" not in page.text
    assert "دورهٔ آبان ۱۴۰۵" in page.text  # 2026-11-21 is 1405/08/30
    assert "بازهٔ قرائت گذشته است" in page.text  # the window is days 1–25
    assert "۰ از ۲ اشتراک قرائت شده" in page.text
    # another reader's route and its subscriptions are not found
    assert reader.get(f"/reader/routes/{rd.route_ids['R11B']}").status_code == 404
    assert reader.get(_stop_url(rd, "R11B", 0)).status_code == 404
    # a subscription of another route is not found under the reader's route either
    other = rd.subs_on("R11B")[0]
    assert reader.get(f"/reader/routes/{rd.route_ids['R11A']}/subscriptions/{other}").status_code == 404


def test_the_route_lists_its_subscriptions_in_sequence(rd: Reading, reader: TestClient) -> None:
    page = reader.get(f"/reader/routes/{rd.route_ids['R11A']}")
    assert page.status_code == 200
    first, second = rd.subs_on("R11A")
    numbers = re.findall(r'data-subscription="(\d+)"', page.text)
    assert numbers == [rd.numbers[first], rd.numbers[second]]
    with rd.world.session() as s:
        serials = [s.get_one(Meter, rd.meter_ids[sid]).serial for sid in (first, second)]
    for serial in serials:
        assert serial in page.text
    assert page.text.count("آخرین رقم ۱۲٬۰۰۰ (۱۴۰۵/۰۷/۳۰)") == 2
    assert page.text.count("قرائت نشده") == 2
    assert "خیابان" in page.text  # the address
    assert f'href="{_stop_url(rd, "R11A", 0)}">ادامه از ردیف ۱۰' in page.text


def test_the_page_needs_the_permission_to_enter_reads(rd: Reading) -> None:
    clerk = signed_in(rd.world, "clerk11")
    assert clerk.get("/reader").status_code == 403
    assert clerk.get(f"/reader/routes/{rd.route_ids['R11A']}").status_code == 403


# ------------------------------------------------------------------------------------------ recording


def test_a_read_is_recorded_and_the_next_subscription_opens(rd: Reading, reader: TestClient) -> None:
    first, second = rd.subs_on("R11A")
    done = _post(
        reader,
        _stop_url(rd, "R11A", 0),
        {"code": "read", "active": "۱۲٬۳۵۰", "lat": "33.487123", "lon": "48.355678"},
        photo=("meter.png", PNG, "image/png"),
    )
    assert done.status_code == 303
    (read,) = _reads(rd, first)
    assert (read.status, read.reason, read.kwh, read.estimated) == ("valid", "ok", 350, False)
    assert (read.code, read.source, read.active, read.read_on) == ("read", "reader", 12_350, date(2026, 11, 21))
    assert read.reader_id == rd.world.users["reader_a"]
    assert (read.lat_e6, read.lon_e6) == (33_487_123, 48_355_678)
    assert read.photo_id is not None
    with rd.world.session() as s:
        assert s.get_one(ReadPhoto, read.photo_id).content_type == "image/png"
        assert s.get_one(ReadingState, first).last_value == 12_350
    location = done.headers["location"]
    assert location == f"/reader/routes/{rd.route_ids['R11A']}/subscriptions/{second}?done={read.id}"
    page = reader.get(location)
    assert _outcome(page.text) == f"ok: اشتراک {_fa(rd.numbers[first])}: قرائت ثبت شد؛ مصرف ۳۵۰ کیلووات‌ساعت."
    assert f"اشتراک {_fa(rd.numbers[second])}</h1>" in page.text


def test_door_closed_is_estimated_and_the_last_one_returns_to_the_route(rd: Reading, reader: TestClient) -> None:
    second = rd.subs_on("R11A")[1]
    done = _post(reader, _stop_url(rd, "R11A", 1), {"code": "door_closed"})
    assert done.status_code == 303
    (read,) = _reads(rd, second)
    assert (read.status, read.estimated, read.kwh, read.active) == ("valid", True, 300, None)
    location = done.headers["location"]
    assert location == f"/reader/routes/{rd.route_ids['R11A']}?done={read.id}"  # the last in sequence
    page = reader.get(location)
    assert _outcome(page.text) == (
        f"estimated: اشتراک {_fa(rd.numbers[second])}: «در بسته» ثبت شد؛ مصرف علی‌الحساب ۳۰۰ کیلووات‌ساعت برآورد شد."
    )
    assert "در بسته · علی‌الحساب" in page.text
    assert "۱ از ۲ اشتراک این دوره قرائت شده" in page.text


def test_an_outcome_is_shown_only_to_those_who_may_see_its_read(rd: Reading, reader: TestClient) -> None:
    done = _post(reader, _stop_url(rd, "R11A", 0), {"code": "read", "active": "12350"})
    (read,) = _reads(rd, rd.subs_on("R11A")[0])
    other = signed_in(rd.world, "reader_b")
    page = other.get(f"/reader/routes/{rd.route_ids['R11B']}?done={read.id}")
    assert page.status_code == 200 and 'id="outcome"' not in page.text
    assert 'id="outcome"' in reader.get(done.headers["location"]).text


def test_a_read_outside_the_limits_goes_to_the_office(rd: Reading, reader: TestClient) -> None:
    first = rd.subs_on("R11A")[0]
    done = _post(reader, _stop_url(rd, "R11A", 0), {"code": "read", "active": "13500"})
    (read,) = _reads(rd, first)
    assert (read.status, read.reason, read.kwh) == ("exception", "above_high", None)
    page = reader.get(done.headers["location"])
    assert _outcome(page.text).startswith(
        f"review: اشتراک {_fa(rd.numbers[first])}: برای بررسی به دفتر فرستاده شد: مصرف بیش از حد بالای مجاز."
    )
    route = reader.get(f"/reader/routes/{rd.route_ids['R11A']}")
    assert "در انتظار بررسی دفتر" in route.text


def test_a_tamper_code_goes_to_the_office_with_its_value(rd: Reading, reader: TestClient) -> None:
    first = rd.subs_on("R11A")[0]
    _post(reader, _stop_url(rd, "R11A", 0), {"code": "tamper", "active": "12300"})
    (read,) = _reads(rd, first)
    assert (read.code, read.status, read.reason, read.active) == ("tamper", "exception", "tamper", 12_300)


def test_the_same_read_twice_changes_nothing(rd: Reading, reader: TestClient) -> None:
    first = rd.subs_on("R11A")[0]
    url = _stop_url(rd, "R11A", 0)
    _post(reader, url, {"code": "read", "active": "12350"})
    photos = _count(rd, ReadPhoto)
    again = _post(reader, url, {"code": "read", "active": "12350"}, photo=("m.png", PNG, "image/png"))
    (read,) = _reads(rd, first)
    assert again.headers["location"].endswith(f"?done={read.id}&dup=1")
    assert _count(rd, ReadPhoto) == photos  # the second photo is not kept
    page = reader.get(again.headers["location"])
    assert "duplicate: " in _outcome(page.text) and "پیش‌تر ثبت شده بود" in _outcome(page.text)


def test_a_different_read_the_same_day_is_refused_and_nothing_is_kept(rd: Reading, reader: TestClient) -> None:
    first = rd.subs_on("R11A")[0]
    url = _stop_url(rd, "R11A", 0)
    _post(reader, url, {"code": "read", "active": "12350"})
    batches, photos = _count(rd, ReadBatch), _count(rd, ReadPhoto)
    refused = _post(reader, url, {"code": "read", "active": "12360"}, photo=("m.png", PNG, "image/png"))
    assert refused.status_code == 422
    assert "برای این اشتراک در این روز قرائت دیگری از همین منبع ثبت شده است" in refused.text
    assert [r.active for r in _reads(rd, first)] == [12_350]
    assert (_count(rd, ReadBatch), _count(rd, ReadPhoto)) == (batches, photos)  # rolled back


# ------------------------------------------------------------------------------------------ refusals


def test_a_read_outside_the_readers_routes_is_refused(rd: Reading, reader: TestClient) -> None:
    other = rd.subs_on("R11B")[0]
    token = csrf(reader, _stop_url(rd, "R11A", 0))
    for url in (
        f"/reader/routes/{rd.route_ids['R11B']}/subscriptions/{other}",
        f"/reader/routes/{rd.route_ids['R11A']}/subscriptions/{other}",
    ):
        response = reader.post(
            url, data={"csrf_token": token, "code": "read", "active": "12350"}, files={"photo": ("", b"", "")}
        )
        assert response.status_code == 404, url
    assert _reads(rd, other) == []
    assert _count(rd, ReadBatch) == 0


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"code": "read", "active": "-12350"}, "active", "رقم کنتور نمی‌تواند منفی باشد"),
        ({"code": "read", "active": "۱۲۳۵o"}, "active", "رقم کنتور باید عدد صحیح باشد"),
        ({"code": "read", "active": ""}, "active", "رقم کنتور را وارد کنید"),
        ({"code": "read", "active": "123456"}, "active", "رقم بیش از ۵ رقمِ کنتور است"),
        ({"code": "door_closed", "active": "12350"}, "active", "با کد «در بسته» رقمی ثبت نمی‌شود؛ آن را پاک کنید"),
    ],
)
def test_a_bad_value_is_refused_beside_its_field(
    rd: Reading, reader: TestClient, data: dict[str, str], field: str, message: str
) -> None:
    response = _post(reader, _stop_url(rd, "R11A", 0), data)
    assert response.status_code == 422
    assert _field_error(response.text, field) == message
    assert "ثبت نشد" in response.text
    assert _count(rd, MeterRead) == 0 and _count(rd, ReadBatch) == 0


def test_a_bad_photo_is_refused_with_its_message(rd: Reading, reader: TestClient) -> None:
    url = _stop_url(rd, "R11A", 0)
    not_image = _post(
        reader, url, {"code": "read", "active": "12350"}, photo=("meter.jpg", b"%PDF-1.7 ...", "image/jpeg")
    )
    assert not_image.status_code == 422
    assert _field_error(not_image.text, "photo") == "پرونده عکس نیست؛ فقط JPEG، PNG یا WebP پذیرفته می‌شود"
    limit = reading_config().photo_max_bytes
    big = b"\xff\xd8\xff" + bytes(limit)
    too_large = _post(reader, url, {"code": "read", "active": "12350"}, photo=("meter.jpg", big, "image/jpeg"))
    assert too_large.status_code == 422
    assert _field_error(too_large.text, "photo") == "عکس بزرگ‌تر از حد مجاز است (۲٬۰۰۰ کیلوبایت؛ حداکثر ۲٬۰۰۰ کیلوبایت)"
    # the value typed is kept in the form
    assert 'value="12350"' in too_large.text
    assert _count(rd, MeterRead) == 0 and _count(rd, ReadPhoto) == 0 and _count(rd, ReadBatch) == 0


def test_a_request_larger_than_any_photo_is_not_read(rd: Reading, reader: TestClient) -> None:
    limit = reading_config().photo_max_bytes
    response = _post(
        reader,
        _stop_url(rd, "R11A", 0),
        {"code": "read", "active": "12350"},
        photo=("m.jpg", bytes(limit + 70_000), ""),
    )
    assert response.status_code == 413
    assert _field_error(response.text, "photo") == "عکس بزرگ‌تر از حد مجاز است (حداکثر ۲٬۰۰۰ کیلوبایت)"
    assert _count(rd, MeterRead) == 0


def test_a_form_without_its_token_is_refused(rd: Reading, reader: TestClient) -> None:
    response = reader.post(
        _stop_url(rd, "R11A", 0), data={"code": "read", "active": "12350"}, files={"photo": ("", b"", "")}
    )
    assert response.status_code == 403
    assert _count(rd, MeterRead) == 0


def test_a_time_of_use_meter_needs_its_peak_and_offpeak(rd: Reading, reader: TestClient) -> None:
    first = rd.subs_on("R11A")[0]
    with rd.world.session() as s:
        meter = s.get_one(Meter, rd.meter_ids[first])
        meter.kind, meter.registers = "tou", "peak,mid,offpeak"
        s.commit()
    url = _stop_url(rd, "R11A", 0)
    form = reader.get(url)
    assert 'name="peak"' in form.text and 'name="offpeak"' in form.text and "چندتعرفه" in form.text
    missing = _post(reader, url, {"code": "read", "active": "12350"})
    assert missing.status_code == 422
    assert _field_error(missing.text, "peak") == "کنتور چندتعرفه است: رقم اوج‌بار را هم وارد کنید"
    assert _field_error(missing.text, "offpeak") == "کنتور چندتعرفه است: رقم کم‌بار را هم وارد کنید"
    _post(reader, url, {"code": "read", "active": "12350", "peak": "2100", "offpeak": "6300"})
    (read,) = _reads(rd, first)
    assert (read.status, read.kwh, read.peak, read.offpeak) == ("valid", 350, 2100, 6300)


def test_other_users_who_enter_reads_see_the_routes_of_their_scope(rd: Reading) -> None:
    """A district manager sees the district's routes; a contractor's user the contractor's routes."""
    manager = signed_in(rd.world, "manager12").get("/reader")
    assert manager.status_code == 200
    assert "R12" in manager.text and "R11A" not in manager.text and "R11B" not in manager.text
    contractor = signed_in(rd.world, "contra").get("/reader")
    assert "R11A" in contractor.text and "R11B" not in contractor.text and "R12" not in contractor.text


def _fa(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
