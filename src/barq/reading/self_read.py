"""Self-reading (خوداظهاری, domain.md §4): a customer reports the register of their own meter, with a photo
of it, identified by the bill ID (شناسه قبض) printed on every bill. The public page ``/self-read`` and the
public API ``POST /api/v1/self-reads`` both call ``record_self_read``; docs/self-reading.md describes both.

The read becomes a ``meter_read`` with code ``self`` and source ``self`` through the read pipeline
(``pipeline.import_reads``, principal ``SYSTEM``), so it is checked by the same validation as a reader's:
within the limits it is used as is (a valid read that a bill run prices); outside them, or dated before
the last read, it goes to the office's exception queue. A self-read settles earlier estimates as any
actual read does.

Everything a customer can get wrong is refused before anything is written, with one Persian message and
one stable code per field (``SelfReadRefused.codes``): the bill ID (``required``, ``format``,
``check_digit``, ``unknown``, ``no_meter``), the registers (``required``, ``negative``, ``not_a_number``,
``too_long``, ``over_digits``, ``tou_required``), the time (``format``, ``future``, ``too_old``) and the
photo (``required``, ``not_base64``, ``empty``, ``too_large``, ``not_image``). A different self-read of the
same subscription on the same day is a ``Conflict`` (the first one stands; the office can be asked to
correct it); the same self-read again is answered ``duplicate`` and stores nothing.

Peak and off-peak registers are asked for time-of-use meters only; sent for a single-register meter they
are ignored (not stored). The answer never shows personal data or the consumption: whoever knows a bill
ID can send a read, but learns only whether it was received and whether the office will review it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from barq.auth.service import SYSTEM
from barq.calendar import fa_number
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.errors import Conflict, ValidationError
from barq.ids import validate_bill_id
from barq.metering.models import Meter, MeterInstallation
from barq.reading.config import ReadingConfig, reading_config
from barq.reading.incoming import FIELD_TITLES, parse_moment, parse_records
from barq.reading.photos import check_photo, store_photo
from barq.reading.pipeline import REASON_TITLES_FA, import_reads
from barq.reading.worklist import TOU_KINDS, parse_register

MAX_AGE_DAYS: Final = 7
"""A self-read may be dated at most this many days before today (a read is reported when it is taken)."""
Status = Literal["accepted", "review", "duplicate"]
FIELDS: Final = ("bill_id", "active", "peak", "offpeak", "read_at", "photo")
STATUS_FA: Final = {
    "accepted": "رقم کنتور شما دریافت شد و همین رقم برای صورتحساب به کار می‌رود.",
    "review": "رقم کنتور شما دریافت شد و پیش از به‌کارگیری، کارشناسان امور برق آن را بررسی می‌کنند.",
    "duplicate": "همین رقم پیش‌تر برای امروز دریافت شده بود؛ نیازی به ارسال دوباره نیست.",
}


class SelfReadRefused(ValidationError):
    """A self-read refused before anything was stored: a Persian message and a stable code per field."""

    def __init__(self, problems: dict[str, tuple[str, str]]) -> None:
        problems = dict(sorted(problems.items(), key=lambda kv: FIELDS.index(kv[0]) if kv[0] in FIELDS else 99))
        self.problems = problems
        self.codes = {name: code for name, (code, _) in problems.items()}
        field, (_, message) = next(iter(problems.items()))
        super().__init__(
            message,
            field=field,
            errors={name: msg for name, (_, msg) in problems.items()},
            detail="; ".join(f"{name}: {code}" for name, code in self.codes.items()),
        )

    def merged(self, other: SelfReadRefused) -> SelfReadRefused:
        """This refusal with ``other``'s fields added (``other`` wins where both name a field)."""
        return SelfReadRefused(self.problems | other.problems)


@dataclass(frozen=True)
class SelfRead:
    """What a customer sends. Registers as typed (Persian digits allowed) or as numbers; ``read_at`` an ISO
    local time or a Jalali date, empty for now; ``photo`` the image's bytes (None when absent)."""

    bill_id: str
    active: str | int | None
    peak: str | int | None = None
    offpeak: str | int | None = None
    read_at: str | None = None
    photo: bytes | None = None


@dataclass(frozen=True)
class Receipt:
    """The answer to a customer: received, and used as is (``accepted``), reviewed by the office
    (``review``, with the reason), or received before (``duplicate``)."""

    status: Status
    reason: str | None
    read_on: date
    tou: bool

    @property
    def reason_fa(self) -> str | None:
        return REASON_TITLES_FA.get(self.reason, self.reason) if self.reason else None

    @property
    def message_fa(self) -> str:
        text = STATUS_FA[self.status]
        if self.status == "review" and self.reason_fa:
            text = text.removesuffix(".") + f" (علت: {self.reason_fa})."
        return text


@dataclass(frozen=True)
class MeterOf:
    """The subscription a bill ID names and the meter installed on it now (None: no meter)."""

    subscription_id: int
    number: str
    meter_kind: str | None
    digits: int | None

    @property
    def tou(self) -> bool:
        return self.meter_kind in TOU_KINDS


def decode_photo(text: str) -> bytes:
    """A photo sent as base64 (a ``data:image/...;base64,`` prefix is allowed); SelfReadRefused otherwise."""
    body = text.strip()
    if body.startswith("data:") and "," in body:
        body = body.split(",", 1)[1]
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SelfReadRefused(
            {"photo": ("not_base64", "عکس باید با base64 فرستاده شود؛ آنچه آمد base64 درستی نیست")}
        ) from None


def find_meter(session: Session, bill_id: str) -> MeterOf | None:
    """The subscription of a (validated) bill ID and its current meter."""
    row = session.execute(
        select(Subscription.id, Subscription.subscription_number, Meter.kind, Meter.digits)
        .outerjoin(
            MeterInstallation,
            and_(MeterInstallation.subscription_id == Subscription.id, MeterInstallation.removed_on.is_(None)),
        )
        .outerjoin(Meter, Meter.id == MeterInstallation.meter_id)
        .where(Subscription.bill_id == bill_id)
    ).first()
    if row is None:
        return None
    return MeterOf(subscription_id=int(row[0]), number=row[1], meter_kind=row[2], digits=row[3])


def _register(raw: str | int | None, name: str) -> tuple[int | None, tuple[str, str] | None]:
    if raw is None:
        return None, None
    return parse_register(str(raw), name)


def _photo_problem(photo: bytes | None, config: ReadingConfig) -> tuple[str, str] | None:
    if photo is None:
        return "required", "عکس کنتور را پیوست کنید؛ رقم بدون عکس پذیرفته نمی‌شود"
    try:
        check_photo(photo, config)
    except ValidationError as exc:
        if not photo:
            return "empty", exc.message_fa
        return ("too_large" if len(photo) > config.photo_max_bytes else "not_image"), exc.message_fa
    return None


def check_self_read(
    session: Session, *, clock: Clock, data: SelfRead, config: ReadingConfig
) -> tuple[MeterOf, dict[str, int], datetime]:
    """The subscription, the register values to store and the read time; SelfReadRefused naming every
    field at fault otherwise. Reads the database, writes nothing."""
    problems: dict[str, tuple[str, str]] = {}
    bill_id = ""
    if not str(data.bill_id or "").strip():
        problems["bill_id"] = ("required", "شناسه قبض را وارد کنید")
    else:
        try:
            bill_id = validate_bill_id(str(data.bill_id))
        except ValidationError as exc:
            problems["bill_id"] = ("check_digit" if "check digit" in exc.detail else "format", exc.message_fa)
    values: dict[str, int] = {}
    for name, raw in (("active", data.active), ("peak", data.peak), ("offpeak", data.offpeak)):
        value, problem = _register(raw, name)
        if problem is not None:
            problems[name] = problem
        elif value is not None:
            values[name] = value
    if "active" not in values and "active" not in problems:
        problems["active"] = ("required", "رقم کنتور را وارد کنید")
    now = clock.local(clock.now())
    read_at = now
    if data.read_at is not None and str(data.read_at).strip():
        try:
            moment = parse_moment(str(data.read_at), clock.tz)
        except ValueError:
            problems["read_at"] = ("format", f"زمان قرائت «{data.read_at}» خوانا نیست (مثال: 2026-11-28T09:30)")
        else:
            day = moment.astimezone(clock.tz).date()
            if day > now.date():
                problems["read_at"] = ("future", "زمان قرائت در آینده است")
            elif day < now.date() - timedelta(days=MAX_AGE_DAYS):
                problems["read_at"] = (
                    "too_old",
                    f"رقمِ بیش از {fa_number(MAX_AGE_DAYS)} روز پیش پذیرفته نمی‌شود؛ رقم امروز را بفرستید",
                )
            else:
                read_at = moment
    photo = _photo_problem(data.photo, config)
    if photo is not None:
        problems["photo"] = photo
    meter: MeterOf | None = None
    if bill_id:
        meter = find_meter(session, bill_id)
        if meter is None:
            problems["bill_id"] = ("unknown", "اشتراکی با این شناسه قبض در این شرکت نیست")
        elif meter.meter_kind is None:
            problems["bill_id"] = ("no_meter", "برای این اشتراک کنتوری ثبت نیست؛ با امور برق تماس بگیرید")
    if meter is not None and meter.meter_kind is not None:
        if meter.tou:
            for name in ("peak", "offpeak"):
                if name not in values and name not in problems:
                    problems[name] = (
                        "tou_required",
                        f"کنتور شما چندتعرفه است: {FIELD_TITLES[name]} را هم از صفحهٔ کنتور وارد کنید",
                    )
        else:
            values.pop("peak", None)
            values.pop("offpeak", None)
            problems.pop("peak", None)
            problems.pop("offpeak", None)
        for name, value in values.items():
            if meter.digits and value >= 10**meter.digits and name not in problems:
                problems[name] = ("over_digits", f"{FIELD_TITLES[name]} بیش از {fa_number(meter.digits)} رقم کنتور است")
    if problems:
        raise SelfReadRefused(problems)
    assert meter is not None
    return meter, values, read_at


def record_self_read(session: Session, *, clock: Clock, data: SelfRead, config: ReadingConfig | None = None) -> Receipt:
    """Check and store a customer's self-read (module doc). Raises SelfReadRefused for bad input (nothing
    written) and Conflict when another self-read of the subscription is stored for the same day (the
    caller's transaction then holds the photo and must be rolled back, as every error rolls it back)."""
    cfg = config or reading_config()
    meter, values, read_at = check_self_read(session, clock=clock, data=data, config=cfg)
    assert data.photo is not None
    photo = store_photo(session, data.photo, clock=clock, config=cfg)
    stamp = read_at.isoformat(timespec="seconds")
    row = {"subscription": meter.number, "read_at": stamp, "code": "self"} | {k: str(v) for k, v in values.items()}
    incoming = parse_records([row], tz=clock.tz, photo_ids=[photo.id])
    result = import_reads(session, principal=SYSTEM, clock=clock, incoming=incoming, source="self")
    refused = result.errors  # with the rows the parser refused
    if refused:
        first = refused[0]
        if first.field == "read_at":
            raise Conflict(
                "برای این اشتراک امروز رقم دیگری خوداظهاری شده است؛ برای اصلاح آن با امور برق تماس بگیرید",
                field="read_at",
                detail="another self-read of this subscription is stored for this day",
            )
        raise ValidationError(first.message, field=first.field, detail=f"refused by the read pipeline: {first.field}")
    (outcome,) = result.outcomes
    read_on = read_at.astimezone(clock.tz).date()
    if outcome.status == "duplicate":
        session.delete(photo)
        session.flush()
        return Receipt(status="duplicate", reason=None, read_on=read_on, tou=meter.tou)
    if outcome.status == "valid":
        return Receipt(status="accepted", reason=None, read_on=read_on, tou=meter.tou)
    return Receipt(status="review", reason=outcome.reason, read_on=read_on, tou=meter.tou)
