"""Meter use cases: register and edit meters (the stock of the company)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.clock import Clock
from barq.connections.service import get_subscription
from barq.errors import NotFound
from barq.inputs import Inputs
from barq.metering.models import METER_KINDS, REGISTERS_BY_KIND, Meter, MeterInstallation

KIND_NAMES = {"single": "تک‌تعرفه", "tou": "چندتعرفه (زمان‌دار)", "demand": "دیماندی"}
STATE_NAMES = {"in_stock": "در انبار", "installed": "نصب‌شده", "faulty": "معیوب", "retired": "اسقاط"}
ACCURACY_CLASSES = ("0.2S", "0.5S", "1", "2")
_FIELDS = (
    "serial",
    "kind",
    "registers",
    "digits",
    "multiplier",
    "phase",
    "accuracy_class",
    "manufacturer",
    "manufacture_year",
    "state",
)


def _parse(session: Session, data: Mapping[str, Any], current: Meter | None, this_year: int) -> dict[str, Any]:
    form = Inputs(data)
    serial = form.text("serial", "سریال کنتور", max_len=20)
    if serial:
        serial = serial.upper().replace(" ", "")
        other = session.scalar(select(Meter.id).where(Meter.serial == serial))
        if other is not None and (current is None or other != current.id):
            form.error("serial", "کنتوری با این سریال پیش‌تر ثبت شده است")
    kind = form.choice("kind", "نوع کنتور", METER_KINDS)
    values = {
        "serial": serial,
        "kind": kind,
        "registers": REGISTERS_BY_KIND.get(kind or "single", "active"),
        "digits": form.integer("digits", "تعداد ارقام", min_value=4, max_value=9),
        "multiplier": form.integer("multiplier", "ضریب کنتور", min_value=1, max_value=100000),
        "phase": form.choice("phase", "فاز", ("1", "3")),
        "accuracy_class": form.choice("accuracy_class", "کلاس دقت", ACCURACY_CLASSES),
        "manufacturer": form.text("manufacturer", "سازنده", required=False, max_len=60),
        "manufacture_year": form.integer("manufacture_year", "سال ساخت (میلادی)", min_value=1950, max_value=this_year),
    }
    if values["phase"] is not None:
        values["phase"] = int(values["phase"])
    form.done()
    return values


def create_meter(session: Session, *, principal: Principal, clock: Clock, data: Mapping[str, Any]) -> Meter:
    principal.require(P.METERS_EDIT)
    meter = Meter(**_parse(session, data, None, clock.today().year), state="in_stock")
    session.add(meter)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="meter.create",
        subject_type="meter",
        subject_id=meter.id,
        at=clock.now(),
        after=audit.snapshot(meter, _FIELDS),
    )
    return meter


def update_meter(
    session: Session, *, principal: Principal, clock: Clock, meter_id: int, data: Mapping[str, Any]
) -> Meter:
    principal.require(P.METERS_EDIT)
    meter = get_meter(session, principal=principal, meter_id=meter_id)
    audit.record_update(
        session,
        meter,
        _parse(session, data, meter, clock.today().year),
        fields=_FIELDS,
        actor=principal.username,
        action="meter.update",
        subject_type="meter",
        at=clock.now(),
    )
    return meter


def get_meter(session: Session, *, principal: Principal, meter_id: int) -> Meter:
    principal.require(P.METERS_VIEW)
    meter = session.get(Meter, meter_id)
    if meter is None:
        raise NotFound("کنتور پیدا نشد")
    return meter


def find_meter_by_serial(session: Session, serial: str) -> Meter | None:
    return session.scalar(select(Meter).where(Meter.serial == serial.strip().upper()))


def current_installation(session: Session, *, subscription_id: int) -> MeterInstallation | None:
    stmt = (
        select(MeterInstallation)
        .where(MeterInstallation.subscription_id == subscription_id, MeterInstallation.removed_on.is_(None))
        .order_by(MeterInstallation.id.desc())
    )
    return session.scalars(stmt).first()


def installations(session: Session, *, subscription_id: int) -> list[tuple[MeterInstallation, Meter]]:
    stmt = (
        select(MeterInstallation, Meter)
        .join(Meter, Meter.id == MeterInstallation.meter_id)
        .where(MeterInstallation.subscription_id == subscription_id)
        .order_by(MeterInstallation.installed_on.desc(), MeterInstallation.id.desc())
    )
    return [(i, m) for i, m in session.execute(stmt)]


def install_meter(
    session: Session, *, principal: Principal, clock: Clock, subscription_id: int, data: Mapping[str, Any]
) -> MeterInstallation:
    """Put a meter from stock on a subscription; the meter it replaces is removed with its final read."""
    principal.require(P.METERS_EDIT)
    sub = get_subscription(session, principal=principal, subscription_id=subscription_id)
    form = Inputs(data)
    serial = form.text("serial", "سریال کنتور", max_len=20)
    installed_on = form.jalali_date("installed_on", "تاریخ نصب")
    initial_read = form.integer("initial_read", "رقم اولیه", min_value=0)
    reason = form.text("reason", "علت", required=False, max_len=120)
    meter = find_meter_by_serial(session, serial) if serial else None
    if serial and meter is None:
        form.error("serial", "کنتوری با این سریال در انبار نیست")
    elif meter is not None and meter.state != "in_stock":
        form.error("serial", f"این کنتور «{STATE_NAMES[meter.state]}» است و نصب‌شدنی نیست")
    if meter is not None and initial_read is not None and initial_read >= 10**meter.digits:
        form.error("initial_read", f"رقم اولیه از {meter.digits} رقم کنتور بیشتر است")
    old = current_installation(session, subscription_id=sub.id)
    final_read = None
    if old is not None:
        final_read = form.integer("final_read", "رقم پایانی کنتور قبلی", min_value=0)
        if installed_on is not None and installed_on < old.installed_on:
            form.error("installed_on", "تاریخ نصب پیش از نصب کنتور قبلی است")
    form.done()
    assert meter is not None and installed_on is not None and initial_read is not None
    if old is not None:
        old.removed_on = installed_on
        old.final_read = final_read
        old_meter = session.get(Meter, old.meter_id)
        if old_meter is not None:
            old_meter.state = "retired"
    meter.state = "installed"
    inst = MeterInstallation(
        subscription_id=sub.id,
        meter_id=meter.id,
        installed_on=installed_on,
        initial_read=initial_read,
        reason=reason,
    )
    session.add(inst)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="meter.install",
        subject_type="subscription",
        subject_id=sub.id,
        at=clock.now(),
        before={"meter_installation_id": old.id, "final_read": final_read} if old else None,
        after={
            "serial": meter.serial,
            "installed_on": installed_on.isoformat(),
            "initial_read": initial_read,
        },
    )
    return inst
