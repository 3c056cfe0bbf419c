"""The meter-reading configuration: the shipped file parses, and a wrong one is refused naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from barq.errors import ValidationError
from barq.reading.config import load_config, parse_config
from barq.settings import get_settings

SHIPPED = get_settings().data_dir / "reading.toml"


def _shipped() -> dict[str, Any]:
    return tomllib.loads(SHIPPED.read_text(encoding="utf-8"))


def test_shipped_file() -> None:
    cfg = load_config(SHIPPED)
    assert (cfg.limits.low_permille, cfg.limits.high_permille) == (250, 3000)
    assert cfg.default_kwh_per_30_days["1"] == 200
    assert sum(cfg.weights.values()) == 100
    assert cfg.zero_at["door_closed_percent"] == 20


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["limits"].update(low_permille=-1), "limits.low_permille"),
        (lambda d: d["limits"].update(low_permille=4000), "limits"),
        (lambda d: d["scorecard"]["weights"].update(speed=3), "scorecard.weights"),
        (lambda d: d["scorecard"]["weights"].update({k: 0 for k in d["scorecard"]["weights"]}), "scorecard.weights"),
        (lambda d: d["scorecard"]["zero_at"].update(complaints_per_1000=0), "scorecard.zero_at.complaints_per_1000"),
        (lambda d: d["photos"].update(max_bytes="big"), "photos.max_bytes"),
    ],
)
def test_wrong_values_are_refused(change: Any, field: str) -> None:
    data = _shipped()
    change(data)
    with pytest.raises(ValidationError) as exc:
        parse_config(data)
    assert exc.value.field == field


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "reading.toml"
    bad.write_text("[limits\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_config(bad)
