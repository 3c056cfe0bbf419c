"""Self-reading (خوداظهاری): the public page ``/self-read`` and ``POST /api/v1/self-reads``, without signing in.

World: tests/reading_factories.py: every meter's last actual read is 12 000 on 2026-10-22 with 10 kWh a
day expected; the test clock stands on 2026-11-28, 37 days later: 370 kWh expected, limits 92 and 1 110.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.db import Base
from barq.ids import build_bill_id
from barq.metering.models import Meter, MeterRead, ReadBatch, ReadingState, ReadPhoto
from barq.reading.config import reading_config
from barq.web.routes.selfread import CSRF_COOKIE, AttemptLimiter, SelfReadLimits
from tests.factories import COMPANY_CODE, build_world
from tests.reading_factories import Reading, build_reading
from tests.web.helpers import form_token, make_app_client

PROBLEM = "application/problem+json"
JPEG = b"\xff\xd8\xff\xe0" + bytes(300)
JPEG64 = base64.b64encode(JPEG).decode()


@pytest.fixture
def rd(engine: Engine, clock: FixedClock) -> Reading:
    return build_reading(build_world(engine, clock, customers=6))


@pytest.fixture
def client(rd: Reading) -> TestClient:
    return make_app_client(rd.world)


def _bill(rd: Reading, k: int) -> tuple[int, str]:
    sid = rd.world.subscription_ids[k]
    with rd.world.session() as s:
        return sid, s.get_one(Subscription, sid).bill_id


def _wrong_check_digit(bill_id: str) -> str:
    return bill_id[:-1] + str((int(bill_id[-1]) + 1) % 10)


def _reads(rd: Reading, sid: int) -> list[MeterRead]:
    with rd.world.session() as s:
        return list(s.scalars(select(MeterRead).where(MeterRead.subscription_id == sid).order_by(MeterRead.id)))


def _count(rd: Reading, model: type[Base]) -> int:
    with rd.world.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _make_tou(rd: Reading, sid: int) -> None:
    with rd.world.session() as s:
        meter = s.get_one(Meter, rd.meter_ids[sid])
        meter.kind, meter.registers = "tou", "peak,mid,offpeak"
        s.commit()


# ------------------------------------------------------------------------------------------ the page


def _submit(
    client: TestClient, data: dict[str, str], photo: tuple[str, bytes, str] | None = ("meter.jpg", JPEG, "image/jpeg")
) -> httpx.Response:
    form = client.get("/self-read")
    assert form.status_code == 200
    files = {"photo": photo or ("", b"", "application/octet-stream")}
    return client.post("/self-read", data={"csrf_token": form_token(form.text), **data}, files=files)


def _field_error(html: str, name: str) -> str:
    match = re.search(rf'<small class="field-error" id="e-{name}" role="alert">([^<]*)</small>', html)
    assert match, f"no error beside {name}"
    return match.group(1)


def test_the_form_is_public_and_sets_its_csrf_cookie(client: TestClient) -> None:
    page = client.get("/self-read")
    assert page.status_code == 200
    assert "خوداظهاری رقم کنتور برق" in page.text and "خروج" not in page.text
    for name in ("bill_id", "active", "peak", "offpeak", "photo"):
        assert f'name="{name}"' in page.text, name
    assert 'capture="environment"' in page.text
    assert client.cookies.get(CSRF_COOKIE) == form_token(page.text)
    assert "SameSite=strict" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]


def test_a_self_read_within_the_limits_is_used_as_is(rd: Reading, client: TestClient) -> None:
    sid, bill = _bill(rd, 0)
    done = _submit(client, {"bill_id": bill.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")), "active": "12350"})
    assert done.status_code == 200, done.text
    assert "رقم کنتور شما دریافت شد و همین رقم برای صورتحساب به کار می‌رود." in done.text
    assert "خوانا" not in done.text and "کیلووات" not in done.text  # no consumption is shown to the public
    (read,) = _reads(rd, sid)
    assert (read.code, read.source, read.status, read.kwh, read.active) == ("self", "self", "valid", 350, 12_350)
    assert read.reader_id is None and read.photo_id is not None
    with rd.world.session() as s:
        assert s.get_one(ReadPhoto, read.photo_id).data == JPEG
        assert s.get_one(ReadingState, sid).last_value == 12_350
        batch = s.get_one(ReadBatch, read.batch_id)
        assert (batch.source, batch.created_by) == ("self", None)


def test_a_self_read_outside_the_limits_is_reviewed_by_the_office(rd: Reading, client: TestClient) -> None:
    sid, bill = _bill(rd, 1)
    done = _submit(client, {"bill_id": bill, "active": "13500"})
    assert done.status_code == 200
    assert (
        "رقم کنتور شما دریافت شد و پیش از به‌کارگیری، کارشناسان امور برق آن را بررسی می‌کنند "
        "(علت: مصرف بیش از حد بالای مجاز)." in done.text
    )
    (read,) = _reads(rd, sid)
    assert (read.status, read.reason, read.kwh) == ("exception", "above_high", None)


def test_a_bad_check_digit_is_refused_beside_the_bill_id(rd: Reading, client: TestClient) -> None:
    _, bill = _bill(rd, 0)
    refused = _submit(client, {"bill_id": _wrong_check_digit(bill), "active": "12350"})
    assert refused.status_code == 422
    assert _field_error(refused.text, "bill_id") == "رقم کنترل شناسه قبض درست نیست"
    assert _field_error(refused.text, "photo") == "عکس را دوباره برگزینید (فرم پس از خطا عکس را نگه نمی‌دارد)"
    assert f'value="{_wrong_check_digit(bill)}"' in refused.text  # typed values are kept
    assert _count(rd, MeterRead) == 0 and _count(rd, ReadPhoto) == 0 and _count(rd, ReadBatch) == 0


@pytest.mark.parametrize(
    ("data", "photo", "field", "message"),
    [
        ({"active": "-5"}, ("m.jpg", JPEG, "image/jpeg"), "active", "رقم کنتور نمی‌تواند منفی باشد"),
        ({"active": "دوازده"}, ("m.jpg", JPEG, "image/jpeg"), "active", "رقم کنتور باید عدد صحیح باشد"),
        ({"active": "12350"}, None, "photo", "عکس کنتور را پیوست کنید؛ رقم بدون عکس پذیرفته نمی‌شود"),
        (
            {"active": "12350"},
            ("m.jpg", b"GIF89a....", "image/jpeg"),
            "photo",
            "پرونده عکس نیست؛ فقط JPEG، PNG یا WebP پذیرفته می‌شود",
        ),
    ],
)
def test_bad_input_is_refused_beside_its_field(
    rd: Reading,
    client: TestClient,
    data: dict[str, str],
    photo: tuple[str, bytes, str] | None,
    field: str,
    message: str,
) -> None:
    _, bill = _bill(rd, 0)
    refused = _submit(client, {"bill_id": bill, **data}, photo=photo)
    assert refused.status_code == 422
    assert _field_error(refused.text, field) == message
    assert _count(rd, MeterRead) == 0 and _count(rd, ReadPhoto) == 0


def test_the_page_asks_again_for_the_registers_of_a_time_of_use_meter(rd: Reading, client: TestClient) -> None:
    sid, bill = _bill(rd, 0)
    _make_tou(rd, sid)
    first = client.get("/self-read")
    assert '<details class="tou">' in first.text  # closed until the meter is known to be one
    asked = _submit(client, {"bill_id": bill, "active": "12350"})
    assert asked.status_code == 422
    assert '<details class="tou" open>' in asked.text
    assert _field_error(asked.text, "peak") == "کنتور شما چندتعرفه است: رقم اوج‌بار را هم از صفحهٔ کنتور وارد کنید"
    assert _count(rd, MeterRead) == 0
    done = _submit(client, {"bill_id": bill, "active": "12350", "peak": "۲۱۰۰", "offpeak": "6300"})
    assert done.status_code == 200
    (read,) = _reads(rd, sid)
    assert (read.status, read.kwh, read.peak, read.offpeak) == ("valid", 350, 2100, 6300)


def test_peak_and_offpeak_of_a_single_register_meter_are_ignored(rd: Reading, client: TestClient) -> None:
    sid, bill = _bill(rd, 0)
    assert _submit(client, {"bill_id": bill, "active": "12350", "peak": "1", "offpeak": "2"}).status_code == 200
    (read,) = _reads(rd, sid)
    assert (read.active, read.peak, read.offpeak) == (12_350, None, None)


def test_a_post_without_the_matching_cookie_is_refused(rd: Reading) -> None:
    _, bill = _bill(rd, 0)
    token = form_token(make_app_client(rd.world).get("/self-read").text)  # a token someone else was given
    no_cookie = make_app_client(rd.world)
    own_cookie = make_app_client(rd.world)
    own_cookie.get("/self-read")
    for c in (no_cookie, own_cookie):
        refused = c.post(
            "/self-read",
            data={"csrf_token": token, "bill_id": bill, "active": "12350"},
            files={"photo": ("m.jpg", JPEG, "image/jpeg")},
        )
        assert refused.status_code == 400
        assert "فرم کهنه شده است" in refused.text
        assert form_token(refused.text) != token  # a fresh token comes with the form
    assert _count(rd, MeterRead) == 0


def test_a_different_second_self_read_the_same_day_is_refused(rd: Reading, client: TestClient) -> None:
    sid, bill = _bill(rd, 0)
    assert _submit(client, {"bill_id": bill, "active": "12350"}).status_code == 200
    again = _submit(client, {"bill_id": bill, "active": "12350"})
    assert again.status_code == 200 and "همین رقم پیش‌تر برای امروز دریافت شده بود" in again.text
    other = _submit(client, {"bill_id": bill, "active": "12360"})
    assert other.status_code == 409
    assert "برای این اشتراک امروز رقم دیگری خوداظهاری شده است" in other.text
    assert [r.active for r in _reads(rd, sid)] == [12_350]
    assert _count(rd, ReadPhoto) == 1  # neither the duplicate's photo nor the refused one is kept


def test_submissions_are_limited_per_client_and_per_bill_id(rd: Reading, client: TestClient) -> None:
    _, bill = _bill(rd, 0)
    _, other_bill = _bill(rd, 1)
    clock = [0.0]
    client.app.state.self_read_limits = SelfReadLimits(  # type: ignore[attr-defined]
        per_client=AttemptLimiter(4, 600, now=lambda: clock[0]),
        per_bill=AttemptLimiter(2, 3600, now=lambda: clock[0]),
    )
    assert _submit(client, {"bill_id": bill, "active": "-1"}).status_code == 422
    assert _submit(client, {"bill_id": bill, "active": "-1"}).status_code == 422
    limited = _submit(client, {"bill_id": bill, "active": "12350"})  # the same bill ID a third time
    assert limited.status_code == 429
    assert "ارسال‌ها بیش از حد مجاز است؛ ۶۰ دقیقهٔ دیگر دوباره بکوشید" in limited.text
    assert limited.headers["retry-after"] == "3601"
    assert _submit(client, {"bill_id": other_bill, "active": "12350"}).status_code == 200  # the fourth from here
    assert _submit(client, {"bill_id": other_bill, "active": "12350"}).status_code == 429  # the client's limit
    clock[0] = 601.0  # the client's window has passed; the bill ID's has not
    assert _submit(client, {"bill_id": bill, "active": "12350"}).status_code == 429
    clock[0] = 3601.0
    assert _submit(client, {"bill_id": bill, "active": "12350"}).status_code == 200
    assert _count(rd, MeterRead) == 2


def test_a_request_larger_than_any_photo_is_not_read(rd: Reading, client: TestClient) -> None:
    _, bill = _bill(rd, 0)
    huge = bytes(reading_config().photo_max_bytes + 70_000)
    refused = _submit(client, {"bill_id": bill, "active": "12350"}, photo=("m.jpg", huge, "image/jpeg"))
    assert refused.status_code == 413
    assert _field_error(refused.text, "photo") == "عکس بزرگ‌تر از حد مجاز است (حداکثر ۲٬۰۰۰ کیلوبایت)"
    assert _count(rd, MeterRead) == 0


# ------------------------------------------------------------------------------------------ the API


def _api(client: TestClient, **body: Any) -> httpx.Response:
    return client.post("/api/v1/self-reads", json={"photo_base64": JPEG64, **body})


def _errors(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "validation_error"
    return [(e["field"], e["code"]) for e in body["errors"]]


def test_api_records_a_self_read_without_an_api_key(rd: Reading, client: TestClient) -> None:
    sid, bill = _bill(rd, 0)
    created = _api(client, bill_id=bill, active=12_350)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "status": "accepted",
        "reason": None,
        "reason_fa": None,
        "message_fa": "رقم کنتور شما دریافت شد و همین رقم برای صورتحساب به کار می‌رود.",
        "read_on": "2026-11-28",
        "tou": False,
    }
    (read,) = _reads(rd, sid)
    assert (read.code, read.source, read.status, read.kwh) == ("self", "self", "valid", 350)
    again = _api(client, bill_id=bill, active="۱۲۳۵۰")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    conflict = _api(client, bill_id=bill, active=12_360)
    assert conflict.status_code == 409 and conflict.json()["code"] == "conflict"
    assert len(_reads(rd, sid)) == 1 and _count(rd, ReadPhoto) == 1


def test_api_review_says_why(rd: Reading, client: TestClient) -> None:
    sid, bill = _bill(rd, 0)
    low = _api(client, bill_id=bill, active=12_050, read_at="1405/09/06")
    assert low.status_code == 201
    body = low.json()
    assert (body["status"], body["reason"], body["reason_fa"], body["read_on"]) == (
        "review",
        "below_low",
        "مصرف کمتر از حد پایین مجاز",
        "2026-11-27",
    )
    (read,) = _reads(rd, sid)
    assert (read.status, read.reason, read.read_on.isoformat()) == ("exception", "below_low", "2026-11-27")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"bill_id": "CHECK"}, [("bill_id", "check_digit")]),
        ({"bill_id": "123"}, [("bill_id", "format")]),
        ({"bill_id": build_bill_id(99_999, COMPANY_CODE)}, [("bill_id", "unknown")]),
        ({"active": -5}, [("active", "negative")]),
        ({"active": "12a50"}, [("active", "not_a_number")]),
        ({"active": "1234567890"}, [("active", "too_long")]),
        ({"active": 123_456}, [("active", "over_digits")]),
        ({"read_at": "2026-11-29T08:00"}, [("read_at", "future")]),
        ({"read_at": "1405/08/20"}, [("read_at", "too_old")]),
        ({"read_at": "yesterday"}, [("read_at", "format")]),
        ({"photo_base64": base64.b64encode(b"plain text").decode()}, [("photo_base64", "not_image")]),
        ({"photo_base64": "***"}, [("photo_base64", "not_base64")]),
        (
            {"bill_id": "CHECK", "active": "x", "photo_base64": "***"},
            [("bill_id", "check_digit"), ("active", "not_a_number"), ("photo_base64", "not_base64")],
        ),
    ],
)
def test_api_refuses_bad_input_with_a_stable_code_and_the_field(
    rd: Reading, client: TestClient, body: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    _, bill = _bill(rd, 0)
    if body.get("bill_id") == "CHECK":
        body["bill_id"] = _wrong_check_digit(bill)
    refused = _api(client, **({"bill_id": bill, "active": 12_350} | body))
    assert _errors(refused) == expected
    assert all(e["message_fa"] for e in refused.json()["errors"])
    assert _count(rd, MeterRead) == 0 and _count(rd, ReadPhoto) == 0 and _count(rd, ReadBatch) == 0


def test_api_refuses_a_photo_above_the_limit(rd: Reading, client: TestClient) -> None:
    _, bill = _bill(rd, 0)
    limit = reading_config().photo_max_bytes
    big = base64.b64encode(b"\xff\xd8\xff" + bytes(limit)).decode()
    refused = _api(client, bill_id=bill, active=12_350, photo_base64=big)
    assert _errors(refused) == [("photo_base64", "too_large")]
    assert refused.json()["errors"][0]["message_fa"] == (
        "عکس بزرگ‌تر از حد مجاز است (۲٬۰۰۰ کیلوبایت؛ حداکثر ۲٬۰۰۰ کیلوبایت)"
    )
    huge = base64.b64encode(bytes(2 * limit)).decode()
    too_big = _api(client, bill_id=bill, active=12_350, photo_base64=huge)
    assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"


def test_api_time_of_use_meter_needs_peak_and_offpeak(rd: Reading, client: TestClient) -> None:
    sid, bill = _bill(rd, 0)
    _make_tou(rd, sid)
    assert _errors(_api(client, bill_id=bill, active=12_350)) == [("peak", "tou_required"), ("offpeak", "tou_required")]
    done = _api(client, bill_id=bill, active=12_350, peak=2100, offpeak="6300")
    assert done.status_code == 201 and done.json()["tou"] is True


def test_api_schema_errors_name_the_field(client: TestClient) -> None:
    for body, field in (
        ({"bill_id": "112321", "active": True, "photo_base64": JPEG64}, "active"),
        ({"bill_id": "112321", "active": 1.5, "photo_base64": JPEG64}, "active"),
        ({"bill_id": "112321", "active": 1, "photo_base64": JPEG64, "name": "x"}, "name"),
        ({"active": 1, "photo_base64": JPEG64}, "bill_id"),
    ):
        response = client.post("/api/v1/self-reads", json=body)
        assert response.status_code == 422 and response.json()["code"] == "validation_error", body
        assert [e["field"] for e in response.json()["errors"]] == [field], body
    not_json = client.post("/api/v1/self-reads", content=b"bill_id=1", headers={"content-type": "text/plain"})
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["field"] == "body"


def test_api_is_rate_limited_with_retry_after(rd: Reading, client: TestClient) -> None:
    _, bill = _bill(rd, 0)
    client.app.state.self_read_limits = SelfReadLimits(per_client=AttemptLimiter(1, 600))  # type: ignore[attr-defined]
    assert _api(client, bill_id=bill, active=12_350).status_code == 201
    limited = _api(client, bill_id=bill, active=12_350)
    assert limited.status_code == 429
    assert limited.json()["code"] == "too_many_attempts" and limited.headers["content-type"] == PROBLEM
    assert 590 <= int(limited.headers["retry-after"]) <= 601


def test_api_is_documented_as_public(client: TestClient) -> None:
    operation = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/self-reads"]["post"]
    assert operation["security"] == []
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"bill_id", "active", "photo_base64"}
    assert {"201", "200", "409", "413", "422", "429"} <= set(operation["responses"])


# ------------------------------------------------------------------------------------------ the limiter


def test_the_limiter_slides_its_window_and_forgets_the_least_recent_key() -> None:
    now = [0.0]
    limiter = AttemptLimiter(2, 10, now=lambda: now[0], max_keys=2)
    assert limiter.hit("a") == 0
    now[0] = 5.0
    assert (limiter.hit("a"), limiter.hit("a")) == (0, 10 - 5)
    now[0] = 6.0
    assert limiter.hit("a") == 4  # a refused attempt is not counted
    now[0] = 10.0
    assert limiter.hit("a") == 0  # the attempt at 0 left the window; those at 5 and 10 remain
    now[0] = 11.0
    assert limiter.hit("a") == 4
    limiter.hit("b")
    limiter.hit("c")  # three keys: "a", the least recently used, is forgotten
    assert limiter.hit("a") == 0
