"""Photos of a meter's face sent with a read: JPEG, PNG or WebP, recognised by their first bytes (not by
the name or the declared type), at most ``ReadingConfig.photo_max_bytes``."""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from barq.calendar import fa_number
from barq.clock import Clock
from barq.errors import ValidationError
from barq.metering.models import ReadPhoto
from barq.reading.config import ReadingConfig, reading_config


def image_type(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_photo(data: bytes, config: ReadingConfig | None = None, *, field: str = "photo") -> str:
    """The photo's content type, or a clear refusal: empty, not an image, or too large."""
    limit = (config or reading_config()).photo_max_bytes
    if not data:
        raise ValidationError("پروندهٔ عکس خالی است", field=field)
    if len(data) > limit:
        raise ValidationError(
            f"عکس بزرگ‌تر از حد مجاز است ({fa_number(len(data) // 1000)} کیلوبایت؛ "
            f"حداکثر {fa_number(limit // 1000)} کیلوبایت)",
            field=field,
        )
    kind = image_type(data)
    if kind is None:
        raise ValidationError("پرونده عکس نیست؛ فقط JPEG، PNG یا WebP پذیرفته می‌شود", field=field)
    return kind


def store_photo(session: Session, data: bytes, *, clock: Clock, config: ReadingConfig | None = None) -> ReadPhoto:
    kind = check_photo(data, config)
    photo = ReadPhoto(content_type=kind, sha256=hashlib.sha256(data).hexdigest(), data=data, created_at=clock.now())
    session.add(photo)
    session.flush()
    return photo
