"""Uploading handheld files and clearing the exception queue through the pages."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from barq.clock import FixedClock
from barq.metering.models import MeterRead, ReadingState
from barq.web.routes import reads as reads_routes
from barq.workorders.models import WorkOrder
from tests.factories import build_world
from tests.reading_factories import Reading, build_reading
from tests.web.helpers import csrf, signed_in


@pytest.fixture
def rd(engine: Engine, clock: FixedClock) -> Reading:
    return build_reading(build_world(engine, clock, customers=6))


def _file(rd: Reading, rows: list[tuple[int, str, str, str]]) -> bytes:
    lines = ["subscription,read_at,code,active"]
    for k, day, code, value in rows:
        lines.append(f"{rd.numbers[rd.world.subscription_ids[k]]},{day}T09:00,{code},{value}")
    return ("\n".join(lines) + "\n").encode()


def test_upload_reports_each_bad_row_and_is_idempotent(rd: Reading, monkeypatch: pytest.MonkeyPatch) -> None:
    client = signed_in(rd.world, "revenue")
    data = _file(
        rd, [(0, "2026-11-21", "read", "12350"), (1, "2026-11-21", "read", "-4"), (2, "2026-11-21", "door_closed", "")]
    )
    token = csrf(client, "/reading/uploads")
    r = client.post("/reading/uploads", data={"csrf_token": token}, files={"file": ("route.csv", data, "text/csv")})
    assert r.status_code == 200 and "بارگذاری" in r.text
    assert "نمی‌تواند منفی باشد" in r.text and "دریافت گزارش سطرهای رد شده" in r.text
    batch_url = str(r.url)
    report = client.get(batch_url + "/errors.csv")
    assert report.headers["content-type"].startswith("text/csv")
    lines = report.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "line,subscription,field,reason" and lines[1].startswith("3,")

    def not_again(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a file imported before is parsed again")

    monkeypatch.setattr(reads_routes, "parse_file", not_again)
    again = client.post("/reading/uploads", data={"csrf_token": token}, files={"file": ("copy.csv", data, "text/csv")})
    assert "پیش‌تر بارگذاری شده بود" in again.text
    with rd.world.session() as s:
        assert len(list(s.scalars(select(MeterRead)))) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"subscription;read_at;code\n", "ستون‌های پرونده درست نیست"),
        ("subscription,read_at,code\n".encode("utf-16"), "UTF-8"),
    ],
)
def test_upload_refuses_a_wrong_file_whole(rd: Reading, data: bytes, message: str) -> None:
    client = signed_in(rd.world, "revenue")
    token = csrf(client, "/reading/uploads")
    r = client.post("/reading/uploads", data={"csrf_token": token}, files={"file": ("x.csv", data, "text/csv")})
    assert r.status_code == 422 and message in r.text


def test_upload_needs_the_permission(rd: Reading) -> None:
    client = signed_in(rd.world, "clerk")
    assert client.get("/reading/uploads").status_code == 403
    assert client.get("/reading/exceptions").status_code == 403


def _upload(rd: Reading, rows: list[tuple[int, str, str, str]]) -> None:
    client = signed_in(rd.world, "admin")
    token = csrf(client, "/reading/uploads")
    r = client.post(
        "/reading/uploads", data={"csrf_token": token}, files={"file": ("f.csv", _file(rd, rows), "text/csv")}
    )
    assert r.status_code == 200


def _exception_ids(rd: Reading) -> dict[int, int]:
    with rd.world.session() as s:
        return {r.subscription_id: r.id for r in s.scalars(select(MeterRead).where(MeterRead.status == "exception"))}


def test_exception_queue_accept_reread_estimate(rd: Reading) -> None:
    # three exceptions: far above (1 200 kWh > 900), lower without roll-over, and zero
    _upload(
        rd, [(0, "2026-11-21", "read", "13200"), (2, "2026-11-21", "read", "11000"), (4, "2026-11-21", "read", "12000")]
    )
    ids = _exception_ids(rd)
    s0, s2, s4 = (rd.world.subscription_ids[k] for k in (0, 2, 4))
    client = signed_in(rd.world, "revenue")
    page = client.get("/reading/exceptions")
    assert page.status_code == 200
    assert "مصرف بیش از حد بالای مجاز" in page.text and "به تفکیک مسیر" in page.text
    token = csrf(client, "/reading/exceptions")
    # accepting the lower read is refused with a reason; the high one is accepted
    r = client.post(
        "/reading/exceptions", data={"csrf_token": token, "action": "accept", "read_id": [str(ids[s0]), str(ids[s2])]}
    )
    assert "۱ مورد انجام شد" in r.text and "رقم پذیرفتنی ندارد" in r.text
    r = client.post(
        "/reading/exceptions",
        data={"csrf_token": token, "action": "reread", "read_id": [str(ids[s2])], "note": "رقم مشکوک"},
    )
    assert "قرائت مجدد: ۱ مورد انجام شد" in r.text
    r = client.post("/reading/exceptions", data={"csrf_token": token, "action": "estimate", "read_id": [str(ids[s4])]})
    assert "۱ مورد انجام شد" in r.text
    with rd.world.session() as s:
        accepted = s.get_one(MeterRead, ids[s0])
        assert (accepted.status, accepted.resolution, accepted.kwh, accepted.reason) == (
            "valid",
            "accept",
            1200,
            "above_high",
        )
        assert s.get_one(ReadingState, s0).last_value == 13_200
        reread = s.get_one(MeterRead, ids[s2])
        assert (reread.status, reread.resolution) == ("rejected", "reread")
        wo = s.get_one(WorkOrder, reread.work_order_id)
        assert (wo.type_code, wo.subscription_id, wo.state) == (
            "reread",
            s2,
            "created",
        ) and "رقم مشکوک" in wo.description
        est = s.scalars(select(MeterRead).where(MeterRead.subscription_id == s4, MeterRead.source == "estimate")).one()
        assert (est.kwh, est.estimated, est.read_on) == (300, True, date(2026, 11, 21))
        state = s.get_one(ReadingState, s4)
        assert (state.estimated_kwh, state.last_value, state.last_on) == (300, 12_000, date(2026, 11, 21))
    assert "استثنای بازی نیست" in client.get("/reading/exceptions").text


def test_exception_queue_is_scoped(rd: Reading) -> None:
    _upload(rd, [(0, "2026-11-21", "read", "13200"), (1, "2026-11-21", "read", "13200")])
    ids = _exception_ids(rd)
    s1 = rd.world.subscription_ids[1]  # district 12
    client = signed_in(rd.world, "manager12")
    page = client.get("/reading/exceptions")
    assert rd.numbers[s1] in page.text.translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789"))
    assert rd.numbers[rd.world.subscription_ids[0]] not in page.text.translate(
        str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")
    )
    token = csrf(client, "/reading/exceptions")
    other = ids[rd.world.subscription_ids[0]]
    r = client.post("/reading/exceptions", data={"csrf_token": token, "action": "accept", "read_id": [str(other)]})
    assert "در حوزهٔ شما نیست" in r.text


def test_queue_and_uploads_export_to_excel(rd: Reading) -> None:
    import io

    from openpyxl import load_workbook

    _upload(rd, [(0, "2026-11-21", "read", "13200"), (2, "2026-11-21", "read", "12350")])
    client = signed_in(rd.world, "revenue")
    sheet = load_workbook(io.BytesIO(client.get("/reading/exceptions?format=xlsx").content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "اشتراک" and len(rows) == 2
    assert rows[1][0] == rd.numbers[rd.world.subscription_ids[0]] and rows[1][6] == 1200
    assert rows[1][8] == "مصرف بیش از حد بالای مجاز"
    uploads = load_workbook(io.BytesIO(client.get("/reading/uploads?format=xlsx").content)).active
    assert uploads is not None
    assert list(uploads.iter_rows(values_only=True))[1][4:6] == (2, 2)
