"""The payment channels (banks, the counter, the portal), from ``data/banks.toml`` or the file
``BARQ_BANKS_FILE`` names."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from barq.errors import PermissionDenied, ValidationError
from barq.settings import get_settings


class UnknownChannel(ValidationError):
    code = "unknown_bank"


class WrongBank(PermissionDenied):
    """An API key bound to one bank used for another bank's payment."""

    code = "wrong_bank"


@dataclass(frozen=True)
class Channel:
    code: str
    name_fa: str
    kind: str  # bank, counter, portal


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Channel]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Channel] = {}
    for i, row in enumerate(data.get("channel", []), start=1):
        code, name, kind = row.get("code"), row.get("name_fa"), row.get("kind")
        if not isinstance(code, str) or not code.isascii() or not 1 <= len(code) <= 16 or not isinstance(name, str):
            raise ValidationError(f"در فهرست بانک‌ها، ردیف {i} کد یا نام درست ندارد", field=f"channel[{i}]")
        if kind not in ("bank", "counter", "portal"):
            raise ValidationError(f"در فهرست بانک‌ها، نوع ردیف {i} نادرست است", field=f"channel[{i}].kind")
        out[code] = Channel(code, name, kind)
    return out


def channels() -> dict[str, Channel]:
    settings = get_settings()
    return _load(settings.banks_file or settings.data_dir / "banks.toml")


def banks() -> list[Channel]:
    return [c for c in channels().values() if c.kind == "bank"]


def channel(code: str, *, kind: str | None = None) -> Channel:
    """The channel of ``code`` (of ``kind`` when given), or a 422 ``unknown_bank`` naming it."""
    found = channels().get(code)
    if found is None or (kind is not None and found.kind != kind):
        raise UnknownChannel(f"بانک «{code}» شناخته نیست", field="bank", detail=f"unknown bank {code!r}")
    return found
