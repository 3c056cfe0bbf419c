"""Subscription use cases: open and edit a subscription (اشتراک), its numbers, tariff and supply state.

The subscription number carries its district's code as a prefix; the bill ID is built from the file
number and the company code and never changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.clock import Clock
from barq.connections.models import SUPPLY_STATES, Subscription
from barq.customers.service import get_customer, get_premises
from barq.errors import NotFound
from barq.ids import build_bill_id
from barq.inputs import Inputs
from barq.network.models import District, Route

SUPPLY_STATE_NAMES = {
    "pending": "در انتظار نصب",
    "active": "برقرار",
    "disconnected": "قطع",
    "removed": "جمع‌آوری‌شده",
}
TARIFF_GROUP_NAMES = {1: "خانگی", 2: "عمومی", 3: "آب و کشاورزی", 4: "صنعت و معدن", 5: "سایر مصارف"}
# The sub-codes of the tariff books in data/tariffs (a test keeps the two in step).
SUB_CODES: dict[int, tuple[str, ...]] = {
    1: ("1",),
    2: ("2-الف-1", "2-الف-2", "2-ب"),
    3: ("3-الف", "3-ب", "3-ج-1", "3-ج-2"),
    4: ("4-الف-1", "4-الف-2", "4-ب"),
    5: ("5-الف", "5-ب"),
}
_FIELDS = (
    "customer_id",
    "premises_id",
    "district_id",
    "route_id",
    "route_sequence",
    "tariff_group",
    "tariff_sub_code",
    "phase",
    "amperage",
    "contract_kw",
    "households",
    "medical_certificate",
    "medical_valid_from",
    "medical_valid_to",
    "supply_state",
    "connected_on",
)


def subscription_scope(principal: Principal) -> ColumnElement[bool]:
    if principal.district_id is None:
        return true()
    return Subscription.district_id == principal.district_id


def _parse(
    session: Session, principal: Principal, data: Mapping[str, Any], current: Subscription | None
) -> dict[str, Any]:
    form = Inputs(data)
    values: dict[str, Any] = {}
    customer_id = form.integer("customer_id", "مشترک")
    premises_id = form.integer("premises_id", "محل")
    group = form.integer("tariff_group", "گروه تعرفه", min_value=1, max_value=5)
    sub_code = form.text("tariff_sub_code", "کد تعرفه", max_len=12)
    if group is not None and sub_code is not None and sub_code not in SUB_CODES[group]:
        form.error("tariff_sub_code", f"کد تعرفه «{sub_code}» در گروه {group} تعریف نشده است")
    phase = form.choice("phase", "فاز", ("1", "3"))
    amperage = form.integer("amperage", "آمپراژ", min_value=5, max_value=5000)
    contract_kw = form.decimal("contract_kw", "قدرت قراردادی (کیلووات)", min_value=Decimal(0))
    households = form.integer("households", "تعداد خانوار", required=False, min_value=1, max_value=20) or 1
    if households > 1 and group not in (None, 1):
        form.error("households", "کد خانوار فقط برای تعرفه خانگی است")
    cert = form.text("medical_certificate", "شماره گواهی پزشکی", required=False, max_len=40)
    valid_from = form.jalali_date("medical_valid_from", "آغاز اعتبار گواهی", required=cert is not None)
    valid_to = form.jalali_date("medical_valid_to", "پایان اعتبار گواهی", required=cert is not None)
    if valid_from and valid_to and valid_to < valid_from:
        form.error("medical_valid_to", "پایان اعتبار گواهی پیش از آغاز آن است")
    route_id = form.integer("route_id", "مسیر قرائت", required=False)
    route_sequence = form.integer("route_sequence", "ردیف در مسیر", required=False, min_value=1)
    supply_state = form.choice("supply_state", "وضعیت برق", SUPPLY_STATES, required=False) or "active"
    connected_on = form.jalali_date("connected_on", "تاریخ برقراری", required=False)

    premises = None
    if customer_id is not None:
        try:
            get_customer(session, principal=principal, customer_id=customer_id)
        except NotFound:
            form.error("customer_id", "مشترک پیدا نشد")
    if premises_id is not None:
        try:
            premises = get_premises(session, principal=principal, premises_id=premises_id)
        except NotFound:
            form.error("premises_id", "محل پیدا نشد")
    if route_id is not None:
        route = session.get(Route, route_id)
        if route is None or (premises is not None and route.district_id != premises.district_id):
            form.error("route_id", "مسیر در امور این محل نیست")
    form.done()
    assert premises is not None and phase is not None
    values.update(
        customer_id=customer_id,
        premises_id=premises_id,
        district_id=premises.district_id,
        route_id=route_id,
        route_sequence=route_sequence,
        tariff_group=group,
        tariff_sub_code=sub_code,
        phase=int(phase),
        amperage=amperage,
        contract_kw=contract_kw,
        households=households,
        medical_certificate=cert,
        medical_valid_from=valid_from if cert else None,
        medical_valid_to=valid_to if cert else None,
        supply_state=supply_state,
        connected_on=connected_on,
    )
    return values


def _next_numbers(session: Session, district: District) -> tuple[str, str]:
    prefix = district.code
    last = session.scalar(
        select(func.max(Subscription.subscription_number)).where(Subscription.subscription_number.like(f"{prefix}%"))
    )
    seq = int(last[len(prefix) :]) + 1 if last else 1
    last_file = session.scalar(select(func.max(Subscription.file_number)))
    file_no = int(last_file) + 1 if last_file else 1
    return f"{prefix}{seq:07d}", f"{file_no:08d}"


def open_subscription(
    session: Session, *, principal: Principal, clock: Clock, data: Mapping[str, Any], company_code: str
) -> Subscription:
    principal.require(P.SUBSCRIPTIONS_EDIT)
    values = _parse(session, principal, data, None)
    district = session.get(District, values["district_id"])
    assert district is not None
    number, file_no = _next_numbers(session, district)
    sub = Subscription(
        **values,
        subscription_number=number,
        file_number=file_no,
        bill_id=build_bill_id(file_no, company_code),
        created_at=clock.now(),
    )
    session.add(sub)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="subscription.open",
        subject_type="subscription",
        subject_id=sub.id,
        at=clock.now(),
        after=audit.snapshot(sub, _FIELDS) | {"bill_id": sub.bill_id, "number": number},
    )
    return sub


def update_subscription(
    session: Session, *, principal: Principal, clock: Clock, subscription_id: int, data: Mapping[str, Any]
) -> Subscription:
    principal.require(P.SUBSCRIPTIONS_EDIT)
    sub = get_subscription(session, principal=principal, subscription_id=subscription_id)
    audit.record_update(
        session,
        sub,
        _parse(session, principal, data, sub),
        fields=_FIELDS,
        actor=principal.username,
        action="subscription.update",
        subject_type="subscription",
        at=clock.now(),
    )
    return sub


def get_subscription(session: Session, *, principal: Principal, subscription_id: int) -> Subscription:
    principal.require(P.SUBSCRIPTIONS_VIEW)
    sub = session.scalar(select(Subscription).where(Subscription.id == subscription_id, subscription_scope(principal)))
    if sub is None:
        raise NotFound("اشتراک پیدا نشد")
    return sub


def subscriptions_of_customer(session: Session, *, principal: Principal, customer_id: int) -> list[Subscription]:
    if not principal.can(P.SUBSCRIPTIONS_VIEW):
        return []
    stmt = (
        select(Subscription)
        .where(Subscription.customer_id == customer_id, subscription_scope(principal))
        .order_by(Subscription.subscription_number)
    )
    return list(session.scalars(stmt))
