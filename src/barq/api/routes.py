"""The JSON API under /api/v1: customers, premises, subscriptions, meters, work orders.

Every handler parses its input, calls one service with the API key's principal (so roles and the
district and contractor scopes hold exactly as in the pages) and renders the result. Lists are paged
(``page`` from 1, ``size`` up to 200) and say their ``total``. Errors are ``application/problem+json``
(see ``barq.api.errors``): 401 ``not_authenticated``, 403 ``permission_denied``, 404 ``not_found``,
409 ``invalid_transition``, 422 ``validation_error`` with ``errors: [{field, message_fa}]``.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from barq.api.deps import Api, ApiDep
from barq.api.errors import PROBLEM, ProblemRoute
from barq.api.schemas import (
    MAX_ID,
    PROBLEM_SCHEMA,
    CustomerIn,
    CustomerOut,
    CustomerPage,
    MeterIn,
    MeterOut,
    MeterPage,
    PremisesIn,
    PremisesOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPage,
    TransitionIn,
    WorkOrderIn,
    WorkOrderOut,
    WorkOrderPage,
)
from barq.auth import permissions as P
from barq.calendar import to_jalali
from barq.connections import service as subscriptions
from barq.connections.models import Subscription
from barq.customers import service as customers
from barq.customers.models import Customer
from barq.errors import NotFound, ValidationError
from barq.ids import normalize_digits, validate_mobile
from barq.metering import service as meters
from barq.metering.models import Meter
from barq.reading.rereads import record_reread
from barq.workorders import service as workorders
from barq.workorders.models import WorkOrder

M = TypeVar("M")


# FastAPI files a response ``model`` under application/json only; a problem is application/problem+json,
# so its schema is given inline.


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}


_COMMON_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: _problem("No API key, or an invalid or revoked one (`not_authenticated`)"),
    403: _problem("The key's user lacks the permission (`permission_denied`)"),
    422: _problem("Invalid input (`validation_error`), with `errors: [{field, message_fa}]`"),
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _problem("Absent, or outside the key's district or contractor (`not_found`)")
}
_TRANSITION_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: _problem("The order's state does not allow the verb (`invalid_transition`)"),
}

router = APIRouter(prefix="/api/v1", responses=_COMMON_PROBLEMS, route_class=ProblemRoute)

ItemId = Annotated[int, Path(ge=1, le=MAX_ID, description="The record's id")]
PageNo = Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1")]
PageSize = Annotated[int, Query(ge=1, le=200, description="Rows per page (at most 200)")]
Lookup = Annotated[str | None, Query(max_length=40, pattern=r"^[^\x00]*$")]
RefId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

DEFAULT_SIZE = 50


def _paged(db: Session, stmt: Select[M], page: int, size: int) -> tuple[list[M], int]:
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.scalars(stmt.limit(size).offset((page - 1) * size)))
    return items, total


def _lookup(value: str | None) -> str | None:
    """A search value as stored: digits made Latin, spaces dropped; None when empty."""
    if value is None:
        return None
    cleaned = "".join(normalize_digits(value).split())
    return cleaned or None


def _created(response: Response, path: str) -> None:
    response.headers["Location"] = path


def _jalali(value: date | None) -> str | None:
    """The services read dates as people type them (Jalali); the API speaks ISO Gregorian dates."""
    if value is None:
        return None
    try:
        j = to_jalali(value)
    except (ValueError, OverflowError):
        return value.isoformat()  # outside the Jalali calendar: the service refuses it with its message
    return f"{j.year:04d}/{j.month:02d}/{j.day:02d}"


# ------------------------------------------------------------------------------------------ customers


@router.get("/customers", tags=["customers"], summary="Find customers")
def list_customers(
    api: ApiDep,
    national_code: Lookup = None,
    legal_id: Lookup = None,
    mobile: Lookup = None,
    page: PageNo = 1,
    size: PageSize = DEFAULT_SIZE,
) -> CustomerPage:
    """Customers in the key's district (all, for a key without one), by exact national code, legal ID or
    mobile; Persian digits are accepted."""
    api.principal.require(P.CUSTOMERS_VIEW)
    stmt = select(Customer).where(customers.customer_scope(api.principal))
    if code := _lookup(national_code):
        stmt = stmt.where(Customer.national_code == code)
    if legal := _lookup(legal_id):
        stmt = stmt.where(Customer.legal_id == legal)
    if phone := _lookup(mobile):
        with suppress(ValidationError):  # not a mobile number: looked up as it is, and matches nothing
            phone = validate_mobile(phone)
        stmt = stmt.where(Customer.mobile == phone)
    items, total = _paged(api.db, stmt.order_by(Customer.id), page, size)
    return CustomerPage(items=[CustomerOut.of(c) for c in items], page=page, size=size, total=total)


@router.post("/customers", status_code=201, tags=["customers"], summary="Register a customer")
def create_customer(api: ApiDep, body: CustomerIn, response: Response) -> CustomerOut:
    customer = customers.create_customer(api.db, principal=api.principal, clock=api.clock, data=body.model_dump())
    _created(response, f"/api/v1/customers/{customer.id}")
    return CustomerOut.of(customer)


@router.get("/customers/{customer_id}", tags=["customers"], summary="One customer", responses=_NOT_FOUND)
def get_customer(api: ApiDep, customer_id: ItemId) -> CustomerOut:
    return CustomerOut.of(customers.get_customer(api.db, principal=api.principal, customer_id=customer_id))


@router.put("/customers/{customer_id}", tags=["customers"], summary="Edit a customer", responses=_NOT_FOUND)
def update_customer(api: ApiDep, customer_id: ItemId, body: CustomerIn) -> CustomerOut:
    customer = customers.update_customer(
        api.db,
        principal=api.principal,
        clock=api.clock,
        customer_id=customer_id,
        data=body.model_dump(),
    )
    return CustomerOut.of(customer)


# ------------------------------------------------------------------------------------------- premises


@router.post("/premises", status_code=201, tags=["premises"], summary="Register a premises")
def create_premises(api: ApiDep, body: PremisesIn, response: Response) -> PremisesOut:
    """The place a subscription supplies; needed before ``POST /subscriptions``."""
    premises = customers.create_premises(
        api.db,
        principal=api.principal,
        clock=api.clock,
        data=body.model_dump(),
    )
    _created(response, f"/api/v1/premises/{premises.id}")
    return PremisesOut.of(premises)


@router.get("/premises/{premises_id}", tags=["premises"], summary="One premises", responses=_NOT_FOUND)
def get_premises(api: ApiDep, premises_id: ItemId) -> PremisesOut:
    return PremisesOut.of(customers.get_premises(api.db, principal=api.principal, premises_id=premises_id))


@router.put("/premises/{premises_id}", tags=["premises"], summary="Edit a premises", responses=_NOT_FOUND)
def update_premises(api: ApiDep, premises_id: ItemId, body: PremisesIn) -> PremisesOut:
    premises = customers.update_premises(
        api.db,
        principal=api.principal,
        clock=api.clock,
        premises_id=premises_id,
        data=body.model_dump(),
    )
    return PremisesOut.of(premises)


# -------------------------------------------------------------------------------------- subscriptions


def _subscription_data(body: SubscriptionIn) -> dict[str, Any]:
    data = body.model_dump()
    for name in ("medical_valid_from", "medical_valid_to", "connected_on"):
        data[name] = _jalali(data[name])
    return data


@router.get("/subscriptions", tags=["subscriptions"], summary="Find subscriptions")
def list_subscriptions(
    api: ApiDep,
    bill_id: Lookup = None,
    subscription_number: Lookup = None,
    customer_id: RefId = None,
    page: PageNo = 1,
    size: PageSize = DEFAULT_SIZE,
) -> SubscriptionPage:
    """Subscriptions in the key's district (all, for a key without one), by exact bill ID, subscription
    number or customer."""
    api.principal.require(P.SUBSCRIPTIONS_VIEW)
    stmt = select(Subscription).where(subscriptions.subscription_scope(api.principal))
    if bill := _lookup(bill_id):
        stmt = stmt.where(Subscription.bill_id == bill)
    if number := _lookup(subscription_number):
        stmt = stmt.where(Subscription.subscription_number == number)
    if customer_id is not None:
        stmt = stmt.where(Subscription.customer_id == customer_id)
    items, total = _paged(api.db, stmt.order_by(Subscription.id), page, size)
    return SubscriptionPage(items=[SubscriptionOut.of(s) for s in items], page=page, size=size, total=total)


@router.post("/subscriptions", status_code=201, tags=["subscriptions"], summary="Open a subscription")
def create_subscription(api: ApiDep, body: SubscriptionIn, response: Response) -> SubscriptionOut:
    """Numbers (subscription number, file number, bill ID) are given by the system."""
    sub = subscriptions.open_subscription(
        api.db,
        principal=api.principal,
        clock=api.clock,
        data=_subscription_data(body),
        company_code=api.settings.company_code,
    )
    _created(response, f"/api/v1/subscriptions/{sub.id}")
    return SubscriptionOut.of(sub)


@router.get(
    "/subscriptions/{subscription_id}",
    tags=["subscriptions"],
    summary="One subscription",
    responses=_NOT_FOUND,
)
def get_subscription(api: ApiDep, subscription_id: ItemId) -> SubscriptionOut:
    sub = subscriptions.get_subscription(api.db, principal=api.principal, subscription_id=subscription_id)
    return SubscriptionOut.of(sub)


@router.put(
    "/subscriptions/{subscription_id}",
    tags=["subscriptions"],
    summary="Edit a subscription",
    responses=_NOT_FOUND,
)
def update_subscription(api: ApiDep, subscription_id: ItemId, body: SubscriptionIn) -> SubscriptionOut:
    sub = subscriptions.update_subscription(
        api.db,
        principal=api.principal,
        clock=api.clock,
        subscription_id=subscription_id,
        data=_subscription_data(body),
    )
    return SubscriptionOut.of(sub)


# --------------------------------------------------------------------------------------------- meters


@router.get("/meters", tags=["meters"], summary="Find meters")
def list_meters(
    api: ApiDep,
    serial: Lookup = None,
    page: PageNo = 1,
    size: PageSize = DEFAULT_SIZE,
) -> MeterPage:
    """The company's meters (stock and installed), by exact serial."""
    api.principal.require(P.METERS_VIEW)
    stmt = select(Meter)
    if serial is not None and (wanted := "".join(serial.split()).upper()):
        stmt = stmt.where(Meter.serial == wanted)
    items, total = _paged(api.db, stmt.order_by(Meter.id), page, size)
    return MeterPage(items=[MeterOut.of(m) for m in items], page=page, size=size, total=total)


@router.post("/meters", status_code=201, tags=["meters"], summary="Register a meter into stock")
def create_meter(api: ApiDep, body: MeterIn, response: Response) -> MeterOut:
    meter = meters.create_meter(api.db, principal=api.principal, clock=api.clock, data=body.model_dump())
    _created(response, f"/api/v1/meters/{meter.id}")
    return MeterOut.of(meter)


@router.get("/meters/{meter_id}", tags=["meters"], summary="One meter", responses=_NOT_FOUND)
def get_meter(api: ApiDep, meter_id: ItemId) -> MeterOut:
    return MeterOut.of(meters.get_meter(api.db, principal=api.principal, meter_id=meter_id))


# ---------------------------------------------------------------------------------------- work orders


def _work_order_out(api: Api, wo: WorkOrder) -> WorkOrderOut:
    return WorkOrderOut.of(wo, workorders.verbs_for(api.principal, wo))


@router.get("/work-orders", tags=["work-orders"], summary="List work orders")
def list_work_orders(
    api: ApiDep,
    state: Lookup = None,
    type_code: Lookup = None,
    district_id: RefId = None,
    contractor_id: RefId = None,
    overdue: bool = False,
    page: PageNo = 1,
    size: PageSize = DEFAULT_SIZE,
) -> WorkOrderPage:
    """The orders the key may see: a contractor's key only its contractor's, a district user's key only its
    district's. Newest first."""
    flt = workorders.WorkOrderFilter(
        state=state or None,
        type_code=type_code or None,
        district_id=district_id,
        contractor_id=contractor_id,
        overdue_only=overdue,
    )
    stmt = workorders.list_query(api.principal, flt, now=api.clock.now())
    items, total = _paged(api.db, stmt, page, size)
    return WorkOrderPage(items=[_work_order_out(api, w) for w in items], page=page, size=size, total=total)


@router.post("/work-orders", status_code=201, tags=["work-orders"], summary="Issue a work order")
def create_work_order(api: ApiDep, body: WorkOrderIn, response: Response) -> WorkOrderOut:
    district_id = body.district_id
    if body.subscription_id is not None:
        try:
            sub = subscriptions.get_subscription(api.db, principal=api.principal, subscription_id=body.subscription_id)
        except NotFound:
            raise ValidationError("اشتراک پیدا نشد", field="subscription_id") from None
        if district_id is None:
            district_id = sub.district_id
        elif district_id != sub.district_id:
            raise ValidationError("اشتراک در این امور نیست", field="district_id")
    if district_id is None:
        raise ValidationError("«امور» را وارد کنید", field="district_id")
    wo = workorders.create_work_order(
        api.db,
        principal=api.principal,
        clock=api.clock,
        type_code=body.type_code,
        district_id=district_id,
        subscription_id=body.subscription_id,
        description=body.description,
    )
    _created(response, f"/api/v1/work-orders/{wo.id}")
    return _work_order_out(api, wo)


@router.get("/work-orders/{work_order_id}", tags=["work-orders"], summary="One work order", responses=_NOT_FOUND)
def get_work_order(api: ApiDep, work_order_id: ItemId) -> WorkOrderOut:
    wo = workorders.get_work_order(api.db, principal=api.principal, work_order_id=work_order_id)
    return _work_order_out(api, wo)


@router.post(
    "/work-orders/{work_order_id}/transitions",
    tags=["work-orders"],
    summary="Move a work order on",
    responses=_TRANSITION_PROBLEMS,
)
def transition_work_order(api: ApiDep, work_order_id: ItemId, body: TransitionIn) -> WorkOrderOut:
    result = None
    if body.result is not None:
        result = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in body.result.items()}
    wo = workorders.transition(
        api.db,
        principal=api.principal,
        clock=api.clock,
        work_order_id=work_order_id,
        verb=body.verb,
        team=body.team,
        contractor_id=body.contractor_id,
        result=result,
        reason=body.reason,
    )
    record_reread(api.db, principal=api.principal, clock=api.clock, wo=wo)
    return _work_order_out(api, wo)
