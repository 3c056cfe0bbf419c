"""``POST /api/v1/reads`` and ``barq import-reads``: the same pipeline as the upload page."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from barq.clock import FixedClock
from barq.metering.models import MeterRead, ReadBatch, ReadPhoto
from barq.settings import Settings, get_settings
from barq.web.app import create_app
from tests.factories import COMPANY_CODE, build_world
from tests.reading_factories import Reading, build_reading
from tests.web.test_api import assert_problem, make_key

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def rd(engine: Engine, clock: FixedClock) -> Reading:
    return build_reading(build_world(engine, clock, customers=6))


def _client(rd: Reading, username: str) -> TestClient:
    app = create_app(
        Settings(database_url="sqlite://", company_code=COMPANY_CODE), engine=rd.world.engine, clock=rd.world.clock
    )
    return TestClient(app, headers={"X-API-Key": make_key(rd.world, username)})


def _number(rd: Reading, k: int) -> str:
    return rd.numbers[rd.world.subscription_ids[k]]


def test_reads_api_records_reports_and_is_idempotent(rd: Reading) -> None:
    api = _client(rd, "reader_a")
    body = {
        "reads": [
            {
                "subscription": _number(rd, 0),
                "read_at": "2026-11-21T09:30",
                "code": "read",
                "active": 12350,
                "lat": "33.48",
                "lon": "48.35",
                "photo_base64": base64.b64encode(PNG).decode(),
            },
            {"subscription": _number(rd, 4), "read_at": "2026-11-21T09:40", "code": "door_closed"},
            {"subscription": _number(rd, 1), "read_at": "2026-11-21T09:50", "code": "read", "active": 12350},
            {"subscription": _number(rd, 4), "read_at": "2026-11-21T09:55", "code": "read", "active": "-3"},
            {
                "subscription": _number(rd, 0),
                "read_at": "2026-11-21T09:56",
                "code": "read",
                "active": 1,
                "photo_base64": base64.b64encode(b"GIF89a").decode(),
            },
        ]
    }
    r = api.post("/api/v1/reads", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["stored"], out["refused"], out["estimated"]) == (2, 3, 1)
    assert [(e["line"], e["field"]) for e in out["errors"]] == [(3, "subscription"), (4, "active"), (5, "photo")]
    assert out["errors"][0]["message_fa"] == "این اشتراک در حوزهٔ شما نیست"
    assert "JPEG" in out["errors"][2]["message_fa"]
    results = {x["line"]: x for x in out["results"]}
    assert (results[1]["status"], results[1]["kwh"], results[1]["estimated"]) == ("valid", 350, False)
    assert (results[2]["kwh"], results[2]["estimated"]) == (300, True)
    with rd.world.session() as s:
        read = s.scalars(select(MeterRead).where(MeterRead.code == "read")).one()
        assert (read.lat_e6, read.lon_e6, read.reader_id, read.source) == (
            33_480_000,
            48_350_000,
            rd.world.users["reader_a"],
            "api",
        )
        assert s.get_one(ReadPhoto, read.photo_id).content_type == "image/png"
    again = api.post("/api/v1/reads", json={"reads": body["reads"][:2]}).json()
    assert (again["stored"], again["duplicate"]) == (0, 2)
    assert [x["status"] for x in again["results"]] == ["duplicate", "duplicate"]


def test_reads_api_bad_bodies(rd: Reading) -> None:
    api = _client(rd, "reader_a")
    assert_problem(api.post("/api/v1/reads", json={"reads": []}), 422, "validation_error")
    bad = assert_problem(
        api.post(
            "/api/v1/reads", json={"reads": [{"subscription": "1", "read_at": "x", "code": "read", "colour": "red"}]}
        ),
        422,
        "validation_error",
    )
    assert "colour" in str(bad)
    assert_problem(_client(rd, "clerk").post("/api/v1/reads", json={"reads": [{"a": 1}]}), 403, "permission_denied")


def test_import_reads_command(rd: Reading, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if rd.world.engine.dialect.name != "sqlite":
        pytest.skip("the command runs against the SQLite file here; the pipeline itself runs on both")
    from barq.cli import reads as cli_reads
    from barq.cli.main import app

    monkeypatch.setenv("BARQ_DATABASE_URL", rd.world.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        good = tmp_path / "route.csv"
        good.write_text(
            "subscription,read_at,code,active\n"
            f"{_number(rd, 0)},2026-11-21T09:00,read,12350\n{_number(rd, 2)},2026-11-21,read,x\n",
            encoding="utf-8",
        )
        report = tmp_path / "refused.csv"
        runner = CliRunner()
        first = runner.invoke(app, ["import-reads", str(good), "--report", str(report)])
        assert first.exit_code == 0, first.output
        assert "1 stored" in first.output and "1 refused" in first.output
        assert report.read_text(encoding="utf-8").splitlines()[1].startswith("3,")
        with monkeypatch.context() as patch:  # the file sent again is not parsed again
            patch.setattr(cli_reads, "parse_file", lambda *_a, **_k: pytest.fail("parsed again"))
            second = runner.invoke(app, ["import-reads", str(good)])
        assert second.exit_code == 0 and "imported before" in second.output
        wrong = tmp_path / "wrong.csv"
        wrong.write_text("a,b\n1,2\n", encoding="utf-8")
        refused = runner.invoke(app, ["import-reads", str(wrong)])
        assert refused.exit_code != 0
        with rd.world.session() as s:
            assert s.scalar(select(func.count()).select_from(ReadBatch)) == 1
            assert s.scalar(select(func.count()).select_from(MeterRead)) == 1
    finally:
        get_settings.cache_clear()
