"""The meter-reading rules a company may change: limits, estimate sources, photo size, scorecard weights.

They are read from ``data/reading.toml`` or from the file ``BARQ_READING_CONFIG`` names; a wrong file is
refused whole with a message naming the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from barq.errors import ValidationError
from barq.metering.estimates import EstimateRules
from barq.metering.validation import ValidationLimits
from barq.settings import get_settings

SCORE_FACTORS = ("completion", "on_time", "door_closed", "exceptions", "proven_wrong", "complaints", "photo")
ZERO_AT_KEYS = ("door_closed_percent", "exceptions_percent", "proven_wrong_per_1000", "complaints_per_1000")


@dataclass(frozen=True)
class ReadingConfig:
    limits: ValidationLimits
    rules: EstimateRules
    default_kwh_per_30_days: dict[str, int]
    photo_max_bytes: int
    weights: dict[str, int]
    zero_at: dict[str, int]


def _int(data: dict[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"در پیکربندی قرائت، «{where}.{key}» باید عدد صحیح نامنفی باشد", field=f"{where}.{key}")
    return value


def parse_config(data: dict[str, Any]) -> ReadingConfig:
    limits = data.get("limits", {})
    est = data.get("estimates", {})
    defaults = est.get("default_kwh_per_30_days", {})
    weights = data.get("scorecard", {}).get("weights", {})
    unknown = set(weights) - set(SCORE_FACTORS)
    if unknown:
        raise ValidationError(f"وزن ناشناخته در کارنامه: {', '.join(sorted(unknown))}", field="scorecard.weights")
    parsed_weights = {k: _int(weights, k, "scorecard.weights") for k in SCORE_FACTORS}
    zero_at = data.get("scorecard", {}).get("zero_at", {})
    unknown = set(zero_at) - set(ZERO_AT_KEYS)
    if unknown:
        raise ValidationError(f"آستانهٔ ناشناخته در کارنامه: {', '.join(sorted(unknown))}", field="scorecard.zero_at")
    parsed_zero_at = {k: _int(zero_at, k, "scorecard.zero_at") for k in ZERO_AT_KEYS}
    for k, v in parsed_zero_at.items():
        if v == 0:
            raise ValidationError(f"«scorecard.zero_at.{k}» باید بیش از صفر باشد", field=f"scorecard.zero_at.{k}")
    if sum(parsed_weights.values()) == 0:
        raise ValidationError("دست‌کم یکی از وزن‌های کارنامه باید بیش از صفر باشد", field="scorecard.weights")
    return ReadingConfig(
        limits=ValidationLimits(
            low_permille=_int(limits, "low_permille", "limits"), high_permille=_int(limits, "high_permille", "limits")
        ),
        rules=EstimateRules(
            recent_days=_int(est, "recent_days", "estimates"),
            season_half_days=_int(est, "season_half_days", "estimates"),
            reads=_int(est, "reads", "estimates"),
        ),
        default_kwh_per_30_days={str(k): _int(defaults, k, "estimates.default_kwh_per_30_days") for k in defaults},
        photo_max_bytes=_int(data.get("photos", {}), "max_bytes", "photos"),
        weights=parsed_weights,
        zero_at=parsed_zero_at,
    )


def load_config(path: Path) -> ReadingConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(f"پرونده پیکربندی قرائت خوانده نشد: {path}", field="reading_config") from exc
    return parse_config(data)


@lru_cache(maxsize=4)
def _cached(path: str) -> ReadingConfig:
    return load_config(Path(path))


def reading_config() -> ReadingConfig:
    settings = get_settings()
    path = settings.reading_config or settings.data_dir / "reading.toml"
    return _cached(str(path))
