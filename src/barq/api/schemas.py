"""Request and response bodies of the JSON API: English field names, Persian contents, with examples.

Inputs check only types and what keeps the database safe (id ranges, no NUL characters, column lengths the
services do not check); the business rules and their Persian messages stay in the services. Every input
model refuses unknown fields, so a misspelt field is a 422 rather than silently ignored.

Conventions: ids are integers; dates are ISO 8601 Gregorian (``2024-08-02``); event times are aware UTC;
kilowatts are decimal strings (``"5.50"``), never floats; money, when it comes, is an integer of rials.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from barq.connections.models import Subscription
from barq.customers.models import Customer, Premises
from barq.metering.models import Meter
from barq.workorders.models import WorkOrder

MAX_ID = 2**63 - 1  # BIGINT; SQLite's INTEGER is as wide
MAX_INT4 = 2**31 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID, examples=[1])]
# PostgreSQL cannot store NUL in text, so it is refused at the edge rather than failing in the database.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]

CustomerKind = Literal["person", "organisation"]
OrgCategory = Literal[
    "education", "health", "water", "municipality", "military", "religious", "other_government", "company"
]
Zone = Literal["normal", "tropical1", "tropical2", "tropical3", "tropical4"]
Phase = Literal[1, 3]
SupplyState = Literal["pending", "active", "disconnected", "removed"]
MeterKind = Literal["single", "tou", "demand"]
AccuracyClass = Literal["0.2S", "0.5S", "1", "2"]
Verb = Literal["assign", "start", "complete", "fail", "cancel"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int = Field(description="شماره صفحه، از ۱")
    size: int = Field(description="اندازه صفحه")
    total: int = Field(description="شمار همه ردیف‌های یافته‌شده")


# ------------------------------------------------------------------------------------------- problems


class ProblemFieldError(BaseModel):
    field: str = Field(examples=["national_code"])
    message_fa: str = Field(examples=["رقم کنترل کد ملی درست نیست"])
    detail: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable ``code`` and a Persian message for people."""

    type: str = Field(examples=["https://barq.invalid/problems/validation_error"])
    title: str
    status: int
    code: str = Field(
        description="Stable: validation_error, not_authenticated, permission_denied, not_found, "
        "invalid_transition, conflict, …",
        examples=["validation_error"],
    )
    detail: str
    message_fa: str = Field(examples=["ورودی نادرست است"])
    instance: str = Field(examples=["/api/v1/customers"])
    errors: list[ProblemFieldError] | None = Field(default=None, description="Per field, on 422 only")


# ------------------------------------------------------------------------------------------ customers


class CustomerIn(_In):
    """A person (``national_code``, first and last name) or an organisation (``legal_id``, name, category)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "person",
                    "first_name": "علی",
                    "last_name": "بیرانوند",
                    "father_name": "حسین",
                    "national_code": "2914177763",
                    "mobile": "09161234567",
                    "district_id": 1,
                },
                {
                    "kind": "organisation",
                    "org_name": "اداره آموزش و پرورش خرم‌آباد",
                    "legal_id": "10317066901",
                    "is_government": True,
                    "org_category": "education",
                },
            ]
        }
    )

    kind: CustomerKind
    first_name: Text | None = None
    last_name: Text | None = None
    father_name: Text | None = None
    national_code: Text | None = Field(default=None, description="کد ملی ده‌رقمی (شخص حقیقی)")
    org_name: Text | None = None
    legal_id: Text | None = Field(default=None, description="شناسه ملی یازده‌رقمی (شخص حقوقی)")
    is_government: bool = False
    org_category: OrgCategory | None = None
    mobile: Text | None = Field(default=None, description="09xxxxxxxxx؛ +98 و 98 هم پذیرفته است")
    district_id: Id | None = Field(
        default=None, description="امور نگه‌دارنده پرونده؛ برای کاربر یک امور همیشه امور خود او"
    )


class CustomerOut(_Out):
    id: int
    kind: CustomerKind
    display_name: str = Field(examples=["علی بیرانوند"])
    first_name: str | None
    last_name: str | None
    father_name: str | None
    national_code: str | None
    org_name: str | None
    legal_id: str | None
    is_government: bool
    org_category: str | None
    mobile: str | None
    district_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, customer: Customer) -> CustomerOut:
        return cls.model_validate(customer)


class CustomerPage(Page[CustomerOut]):
    pass


# ------------------------------------------------------------------------------------------- premises


class PremisesIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "district_id": 1,
                    "zone": "normal",
                    "address": "خرم‌آباد، خیابان شریعتی، کوچه ۱۲، پلاک ۴",
                    "postal_code": "8439150008",
                    "is_rural": False,
                }
            ]
        }
    )

    district_id: Id
    zone: Zone
    address: Text
    postal_code: Text
    is_rural: bool = False


class PremisesOut(_Out):
    id: int
    district_id: int
    zone: str
    address: str
    postal_code: str
    is_rural: bool

    @classmethod
    def of(cls, premises: Premises) -> PremisesOut:
        return cls.model_validate(premises)


# -------------------------------------------------------------------------------------- subscriptions


class SubscriptionIn(_In):
    """The whole subscription: PUT replaces every field, as POST sets them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 1,
                    "premises_id": 1,
                    "tariff_group": 1,
                    "tariff_sub_code": "1",
                    "phase": 1,
                    "amperage": 25,
                    "contract_kw": "5.5",
                    "households": 1,
                    "supply_state": "active",
                    "connected_on": "2024-08-02",
                }
            ]
        }
    )

    customer_id: Id
    premises_id: Id
    tariff_group: int = Field(description="۱ خانگی، ۲ عمومی، ۳ کشاورزی، ۴ صنعتی، ۵ سایر")
    tariff_sub_code: Text = Field(examples=["1", "2-الف-1"])
    phase: Phase
    amperage: int
    contract_kw: Decimal = Field(ge=0, max_digits=10, decimal_places=2, description="kW, as a decimal")
    households: int = 1
    medical_certificate: Text | None = None
    medical_valid_from: date | None = None
    medical_valid_to: date | None = None
    route_id: Id | None = None
    route_sequence: int | None = Field(default=None, ge=1, le=MAX_INT4)
    supply_state: SupplyState = "active"
    connected_on: date | None = None


class SubscriptionOut(_Out):
    id: int
    subscription_number: str = Field(examples=["110000001"])
    file_number: str = Field(examples=["00000001"])
    bill_id: str = Field(examples=["112321"])
    customer_id: int
    premises_id: int
    district_id: int
    route_id: int | None
    route_sequence: int | None
    tariff_group: int
    tariff_sub_code: str
    phase: int
    amperage: int
    contract_kw: Decimal = Field(examples=["5.50"])
    households: int
    medical_certificate: str | None
    medical_valid_from: date | None
    medical_valid_to: date | None
    supply_state: str
    connected_on: date | None
    removed_on: date | None
    created_at: datetime

    @field_validator("contract_kw", mode="after")
    @classmethod
    def _two_places(cls, value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"))  # as stored (NUMERIC(10, 2)), before and after a reload

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls.model_validate(sub)


class SubscriptionPage(Page[SubscriptionOut]):
    pass


# --------------------------------------------------------------------------------------------- meters


class MeterIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "serial": "AB1234567",
                    "kind": "single",
                    "digits": 6,
                    "multiplier": 1,
                    "phase": 1,
                    "accuracy_class": "1",
                    "manufacturer": "کنتورسازی ایران",
                    "manufacture_year": 2023,
                }
            ]
        }
    )

    serial: Text
    kind: MeterKind
    digits: int
    multiplier: int = 1
    phase: Phase
    accuracy_class: AccuracyClass
    manufacturer: Text | None = None
    manufacture_year: int = Field(description="Gregorian year")


class MeterOut(_Out):
    id: int
    serial: str
    kind: str
    registers: list[str] = Field(examples=[["peak", "mid", "offpeak"]])
    digits: int
    multiplier: int
    phase: int
    accuracy_class: str
    manufacturer: str | None
    manufacture_year: int
    state: str = Field(description="in_stock, installed, faulty, retired")

    @field_validator("registers", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [r for r in value.split(",") if r] if isinstance(value, str) else value

    @classmethod
    def of(cls, meter: Meter) -> MeterOut:
        return cls.model_validate(meter)


class MeterPage(Page[MeterOut]):
    pass


# ---------------------------------------------------------------------------------------- work orders


class WorkOrderIn(_In):
    """``district_id`` may be left out when ``subscription_id`` is given: the subscription's district is used."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type_code": "inspection", "subscription_id": 1, "description": "بازدید پیش از نصب"}]
        }
    )

    type_code: Text = Field(
        max_length=40,
        description="inspection, installation, meter_replacement, reread, disconnection, reconnection, "
        "meter_test, removal, …",
    )
    district_id: Id | None = None
    subscription_id: Id | None = None
    description: Text = Field(default="", max_length=4000)


class TransitionIn(_In):
    """One step of the work order's life. ``assign`` takes ``team`` or ``contractor_id`` (not both);
    ``complete`` takes ``result`` (fields depend on the type); ``fail`` and ``cancel`` need ``reason``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"verb": "assign", "contractor_id": 1},
                {"verb": "start"},
                {"verb": "complete", "result": {"feasible": True, "findings": "امکان نصب هست"}},
                {"verb": "fail", "reason": "مشترک در محل نبود"},
            ]
        }
    )

    verb: Verb
    team: Text | None = Field(default=None, max_length=80)
    contractor_id: Id | None = None
    result: dict[str, Annotated[Text, Field(max_length=2000)] | int | bool] | None = None
    reason: Text | None = Field(default=None, max_length=2000)


class WorkOrderOut(_Out):
    id: int
    number: str = Field(examples=["WO-1405-000001"])
    type_code: str
    state: str = Field(description="created, assigned, in_progress, done, failed, cancelled")
    district_id: int
    subscription_id: int | None
    assignee_team: str | None
    contractor_id: int | None
    description: str
    result: dict[str, Any] | None
    failure_reason: str | None
    created_by: str
    created_at: datetime
    due_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    allowed_verbs: list[str] = Field(description="The verbs this key's user may use on the order now")

    @classmethod
    def of(cls, wo: WorkOrder, verbs: list[str]) -> WorkOrderOut:
        return cls.model_validate({**{k: getattr(wo, k) for k in _WO_FIELDS}, "allowed_verbs": verbs})


_WO_FIELDS = tuple(f for f in WorkOrderOut.model_fields if f != "allowed_verbs")


class WorkOrderPage(Page[WorkOrderOut]):
    pass


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its local ``$defs`` written in place, so it stands alone in a response."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


# The problem+json schema written out whole, for the responses of every operation.
PROBLEM_SCHEMA = inline_refs(Problem.model_json_schema(mode="serialization"))
