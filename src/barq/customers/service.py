"""Customer use cases: register and edit persons and organisations, their contacts and premises.

Every function takes the acting ``principal`` and applies its district scope (architecture rule 10).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, column, or_, select, table, true
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.clock import Clock
from barq.customers.models import Contact, Customer, Premises
from barq.errors import NotFound
from barq.ids import validate_legal_id, validate_mobile, validate_national_code, validate_postal_code
from barq.inputs import Inputs
from barq.network.models import District

ORG_CATEGORIES = {
    "education": "آموزش و پرورش",
    "health": "بهداشت و درمان",
    "water": "آب و فاضلاب",
    "municipality": "شهرداری و دهیاری",
    "military": "نظامی و انتظامی",
    "religious": "مذهبی",
    "other_government": "سایر دستگاه‌های دولتی",
    "company": "شرکت و بنگاه خصوصی",
}
CUSTOMER_KINDS = {"person": "شخص حقیقی", "organisation": "شخص حقوقی"}
ZONE_CODES = ("normal", "tropical1", "tropical2", "tropical3", "tropical4")

_CUSTOMER_FIELDS = (
    "kind",
    "first_name",
    "last_name",
    "father_name",
    "national_code",
    "org_name",
    "legal_id",
    "is_government",
    "org_category",
    "mobile",
    "district_id",
)


# The subscription table, named without importing its capability (connections sits above customers).
_subscriptions = table("subscription", column("customer_id"), column("district_id"))


def customer_scope(principal: Principal) -> ColumnElement[bool]:
    """A district user sees the customers whose file its district keeps, those of the head office (no
    district), and those holding a subscription in its district."""
    if principal.district_id is None:
        return true()
    return or_(
        Customer.district_id == principal.district_id,
        Customer.district_id.is_(None),
        Customer.id.in_(
            select(_subscriptions.c.customer_id).where(_subscriptions.c.district_id == principal.district_id)
        ),
    )


def _parse_customer(
    session: Session, data: Mapping[str, Any], principal: Principal, current: Customer | None
) -> dict[str, Any]:
    form = Inputs(data)
    kind = form.choice("kind", "نوع مشترک", CUSTOMER_KINDS)
    values: dict[str, Any] = {"kind": kind}
    if kind == "person":
        values["first_name"] = form.text("first_name", "نام", max_len=60)
        values["last_name"] = form.text("last_name", "نام خانوادگی", max_len=80)
        values["father_name"] = form.text("father_name", "نام پدر", required=False, max_len=60)
        values["national_code"] = form.identifier("national_code", "کد ملی", validate_national_code)
        values.update(org_name=None, legal_id=None, is_government=False, org_category=None)
    elif kind == "organisation":
        values["org_name"] = form.text("org_name", "نام سازمان یا شرکت", max_len=200)
        values["legal_id"] = form.identifier("legal_id", "شناسه ملی", validate_legal_id)
        values["is_government"] = form.boolean("is_government")
        values["org_category"] = form.choice("org_category", "دسته سازمان", ORG_CATEGORIES)
        values.update(first_name=None, last_name=None, father_name=None, national_code=None)
    values["mobile"] = form.identifier("mobile", "تلفن همراه", validate_mobile, required=False)
    district_id = form.integer("district_id", "امور", required=False)
    if principal.district_id is not None:
        district_id = principal.district_id
    elif district_id is not None and session.get(District, district_id) is None:
        form.error("district_id", "امور انتخاب‌شده وجود ندارد")
    values["district_id"] = district_id
    for field, unique_column in (("national_code", Customer.national_code), ("legal_id", Customer.legal_id)):
        value = values.get(field)
        if value:
            other = session.scalar(select(Customer.id).where(unique_column == value))
            if other is not None and (current is None or other != current.id):
                form.error(field, "مشترکی با این شناسه پیش‌تر ثبت شده است")
    form.done()
    return values


def create_customer(session: Session, *, principal: Principal, clock: Clock, data: Mapping[str, Any]) -> Customer:
    principal.require(P.CUSTOMERS_EDIT)
    values = _parse_customer(session, data, principal, None)
    customer = Customer(**values, created_at=clock.now())
    session.add(customer)
    session.flush()
    if customer.mobile:
        session.add(Contact(customer_id=customer.id, kind="mobile", value=customer.mobile))
    audit.record(
        session,
        actor=principal.username,
        action="customer.create",
        subject_type="customer",
        subject_id=customer.id,
        at=clock.now(),
        after=audit.snapshot(customer, _CUSTOMER_FIELDS),
    )
    session.flush()
    return customer


def update_customer(
    session: Session, *, principal: Principal, clock: Clock, customer_id: int, data: Mapping[str, Any]
) -> Customer:
    principal.require(P.CUSTOMERS_EDIT)
    customer = get_customer(session, principal=principal, customer_id=customer_id)
    audit.record_update(
        session,
        customer,
        _parse_customer(session, data, principal, customer),
        fields=_CUSTOMER_FIELDS,
        actor=principal.username,
        action="customer.update",
        subject_type="customer",
        at=clock.now(),
    )
    return customer


def get_customer(session: Session, *, principal: Principal, customer_id: int) -> Customer:
    principal.require(P.CUSTOMERS_VIEW)
    customer = session.scalar(select(Customer).where(Customer.id == customer_id, customer_scope(principal)))
    if customer is None:
        raise NotFound("مشترک پیدا نشد")
    return customer


def list_contacts(session: Session, *, customer_id: int) -> list[Contact]:
    return list(session.scalars(select(Contact).where(Contact.customer_id == customer_id).order_by(Contact.id)))


def add_contact(
    session: Session, *, principal: Principal, clock: Clock, customer_id: int, data: Mapping[str, Any]
) -> Contact:
    principal.require(P.CUSTOMERS_EDIT)
    get_customer(session, principal=principal, customer_id=customer_id)
    form = Inputs(data)
    kind = form.choice("kind", "نوع", {"mobile": "", "phone": "", "email": ""})
    value: str | None
    if kind == "mobile":
        value = form.identifier("value", "شماره همراه", validate_mobile)
    else:
        value = form.text("value", "مقدار", max_len=120)
    note = form.text("note", "توضیح", required=False)
    form.done()
    contact = Contact(customer_id=customer_id, kind=kind, value=value, note=note)
    session.add(contact)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="contact.add",
        subject_type="customer",
        subject_id=customer_id,
        at=clock.now(),
        after={"kind": kind, "value": value},
    )
    return contact


_PREMISES_FIELDS = ("district_id", "zone", "address", "postal_code", "is_rural")


def _parse_premises(session: Session, data: Mapping[str, Any], principal: Principal) -> dict[str, Any]:
    form = Inputs(data)
    district_id = form.integer("district_id", "امور")
    if district_id is not None and session.get(District, district_id) is None:
        form.error("district_id", "امور انتخاب‌شده وجود ندارد")
    if principal.district_id is not None and district_id is not None and district_id != principal.district_id:
        form.error("district_id", "ثبت محل در امور دیگر برای شما مجاز نیست")
    values = {
        "district_id": district_id,
        "zone": form.choice("zone", "منطقه آب‌وهوایی", ZONE_CODES),
        "address": form.text("address", "نشانی", max_len=300),
        "postal_code": form.identifier("postal_code", "کد پستی", validate_postal_code),
        "is_rural": form.boolean("is_rural"),
    }
    form.done()
    return values


def create_premises(session: Session, *, principal: Principal, clock: Clock, data: Mapping[str, Any]) -> Premises:
    principal.require(P.CUSTOMERS_EDIT)
    premises = Premises(**_parse_premises(session, data, principal))
    session.add(premises)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="premises.create",
        subject_type="premises",
        subject_id=premises.id,
        at=clock.now(),
        after=audit.snapshot(premises, _PREMISES_FIELDS),
    )
    return premises


def get_premises(session: Session, *, principal: Principal, premises_id: int) -> Premises:
    principal.require(P.CUSTOMERS_VIEW)
    premises = session.get(Premises, premises_id)
    if premises is None:
        raise NotFound("محل پیدا نشد")
    if principal.district_id is not None and premises.district_id != principal.district_id:
        raise NotFound("محل پیدا نشد")
    return premises


def update_premises(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    premises_id: int,
    data: Mapping[str, Any],
) -> Premises:
    principal.require(P.CUSTOMERS_EDIT)
    premises = get_premises(session, principal=principal, premises_id=premises_id)
    audit.record_update(
        session,
        premises,
        _parse_premises(session, data, principal),
        fields=_PREMISES_FIELDS,
        actor=principal.username,
        action="premises.update",
        subject_type="premises",
        at=clock.now(),
    )
    return premises
