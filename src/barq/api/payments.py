"""The banks' API: ``GET /api/v1/bills/{bill_id}`` (the inquiry a bank makes before it takes a payment) and
``POST /api/v1/payments`` (its notification of a payment taken). docs/payments-api.md is the integrators'
guide.

A bank's key acts as a user with the role ``bank`` (only ``payments.receive``). The inquiry is the hot path
(a bank asks before every payment, at a thousand requests a second), so a request costs one statement:
``payments.service.inquiry`` reads the subscription, its open bills and its balances in one round trip,
and the key's principal is kept for a few seconds by the SHA-256 of the key (:class:`PrincipalCache`)
instead of four queries for the key, its user, roles and permissions. A revoked key or a deactivated user is
refused at the latest ``PRINCIPAL_TTL_SECONDS`` after the change. The answers themselves are never cached:
a bill paid a moment ago must not be offered again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from barq.api.deps import API_KEY_HEADER, DB, Api, api_key_header, bearer_key
from barq.api.errors import PROBLEM, ProblemRoute
from barq.api.schemas import PROBLEM_SCHEMA
from barq.auth import permissions as P
from barq.auth.service import Principal, principal_from_api_key
from barq.clock import Clock
from barq.errors import NotAuthenticated
from barq.payments.channels import WrongBank
from barq.payments.channels import channel as find_channel
from barq.payments.models import Payment
from barq.payments.service import (
    STATUS_FA,
    SUSPENSE_REASON_FA,
    BadAmount,
    BadCheckDigit,
    Inquiry,
    PaymentIn,
    inquiry,
    receive_payment,
)
from barq.settings import Settings

MAX_AMOUNT = 2**63 - 1  # BIGINT
PRINCIPAL_TTL_SECONDS = 5.0
PRINCIPAL_CACHE_SIZE = 1024
_MAX_KEY_LENGTH = 200


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: _problem("No API key, or an invalid or revoked one (`not_authenticated`)"),
    403: _problem(
        "The key's user lacks `payments.receive` (`permission_denied`), or the key is bound to another bank "
        "(`wrong_bank`)"
    ),
    422: _problem(
        "Refused, nothing written: `bad_check_digit` (bill_id, payment_id), `bad_amount` (amount), "
        "`unknown_bank` (bank), `validation_error` (a field missing or of the wrong type, paid_on in the future, "
        "a bad trace); `errors: [{field, message_fa}]` names the field"
    ),
}

router = APIRouter(prefix="/api/v1", tags=["payments"], responses=_PROBLEMS, route_class=ProblemRoute)


# ------------------------------------------------------------------------------------------ the key


@dataclass
class PrincipalCache:
    """Principals by the SHA-256 of their API key, each for ``ttl`` seconds. Only keys that were accepted
    are kept; at ``size`` entries the expired ones are dropped, and if none had expired, all of them."""

    ttl: float = PRINCIPAL_TTL_SECONDS
    size: int = PRINCIPAL_CACHE_SIZE
    _rows: dict[str, tuple[float, Principal]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, digest: str) -> Principal | None:
        found = self._rows.get(digest)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def put(self, digest: str, principal: Principal) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._rows) >= self.size:
                kept = {k: v for k, v in self._rows.items() if v[0] > now}
                self._rows = kept if len(kept) < self.size else {}
            self._rows[digest] = (now + self.ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._rows = {}


def principal_cache(request: Request) -> PrincipalCache:
    """The application's cache (one per app, so that two apps on two databases never share a principal)."""
    cache = getattr(request.app.state, "payments_principal_cache", None)
    if cache is None:
        cache = PrincipalCache()
        request.app.state.payments_principal_cache = cache
    return cache


def _key_of(header_key: str | None, authorization: str | None) -> str:
    """The API key from ``X-API-Key`` or ``Authorization: Bearer``, or a 401 as ``api.deps.api_principal``."""
    bearer = ""
    if authorization and authorization[:7].lower() == "bearer ":
        bearer = authorization[7:]
    key = (header_key or bearer or "").strip()
    if not key:
        raise NotAuthenticated(
            "کلید API لازم است", detail=f"missing API key: send {API_KEY_HEADER} or Authorization: Bearer"
        )
    if len(key) > _MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise NotAuthenticated("کلید API نامعتبر است", detail="invalid API key")
    return key


def _cached_principal(request: Request, db: Session, key: str) -> Principal:
    cache = principal_cache(request)
    digest = hashlib.sha256(key.encode()).hexdigest()
    principal = cache.get(digest)
    if principal is None:
        principal = principal_from_api_key(db, key=key)
        cache.put(digest, principal)
    request.state.principal = principal
    return principal


def bank_principal(
    request: Request,
    db: DB,
    header_key: Annotated[str | None, Security(api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_key)],
) -> Principal:
    """As ``barq.api.deps.api_principal`` (the same checks and 401s), with the principal cached."""
    key = _key_of(header_key, f"Bearer {bearer.credentials}" if bearer is not None else None)
    return _cached_principal(request, db, key)


async def get_bank_api(request: Request, db: DB, principal: Annotated[Principal, Depends(bank_principal)]) -> Api:
    """As ``barq.api.deps.get_api``; async (it does no I/O), which spares the request two hops to a worker
    thread."""
    clock: Clock = request.app.state.clock
    settings: Settings = request.app.state.settings
    return Api(db=db, principal=principal, clock=clock, settings=settings)


BankApi = Annotated[Api, Depends(get_bank_api)]


# ------------------------------------------------------------------------------------------ inquiry


class OpenBillOut(BaseModel):
    cycle: int = Field(description="The bill's period, Jalali year and month (yyyymm)", examples=[140508])
    payable: int = Field(description="Rials to pay for this bill", examples=[1_254_000])
    payment_id: str = Field(description="The payment ID to pay this bill with", examples=["125450882"])
    issued_on: date | None = Field(description="Issue date (ISO, Gregorian)")
    due_on: date | None = Field(description="Due date (ISO, Gregorian)")


class InquiryOut(BaseModel):
    bill_id: str = Field(description="The bill ID, normalised", examples=["123456712325"])
    subscription_number: str = Field(examples=["110000001"])
    amount_due: int = Field(description="Rials the subscription owes now, all bills together (≥ 0)")
    credit: int = Field(description="Rials the subscription has paid ahead, kept for its next bill (≥ 0)")
    open_bills: list[OpenBillOut] = Field(description="Unpaid issued bills, oldest first")


def _autocommit(request: Request) -> Engine:
    """The app's engine without transactions, for reads that are one statement: no BEGIN and ROLLBACK round
    trips around the inquiry."""
    engine: Engine | None = getattr(request.app.state, "autocommit_engine", None)
    if engine is None:
        engine = request.app.state.engine.execution_options(isolation_level="AUTOCOMMIT")
        request.app.state.autocommit_engine = engine
    return engine


@router.get(
    "/bills/{bill_id}",
    summary="Inquiry: what a bill ID owes",
    response_model=InquiryOut,
    responses={404: _problem("No subscription has this bill ID (`not_found`)")},
    openapi_extra={
        "security": [{"ApiKey": []}, {"BearerApiKey": []}],
        "parameters": [
            {
                "name": "bill_id",
                "in": "path",
                "required": True,
                "description": "The bill ID (شناسه قبض); Persian digits and separators are accepted",
                "schema": {"type": "string", "maxLength": 40},
            }
        ],
    },
)
async def get_bill_inquiry(request: Request) -> Response:
    """The subscription's unpaid bills, oldest first, each with its payment ID, and what it owes in all.
    A bill ID whose check digit is wrong is a 422 `bad_check_digit`; one that names no subscription is a 404.

    The hot path of the banks (a thousand requests a second): it takes no FastAPI dependencies and writes its
    JSON itself, so a request costs the key check (cached), one statement and little else. It is ``async``
    and calls the database in the event loop: the statement takes a fraction of a millisecond, less than
    handing the request to a worker thread and back."""
    bill_id = request.path_params["bill_id"]
    if len(bill_id) > 40 or "\x00" in bill_id:
        raise BadCheckDigit("شناسه قبض نادرست است", field="bill_id", detail="bill_id too long or invalid")
    key = _key_of(request.headers.get(API_KEY_HEADER), request.headers.get("authorization"))
    with Session(_autocommit(request)) as db:
        principal = _cached_principal(request, db, key)
        found = inquiry(db, principal=principal, bill_id=bill_id)
    return Response(json.dumps(inquiry_body(found), ensure_ascii=False), media_type="application/json")


def inquiry_body(found: Inquiry) -> dict[str, Any]:
    """The inquiry's JSON, in the shape of :class:`InquiryOut` (written without pydantic: it is the hot path)."""
    return {
        "bill_id": found.bill_id,
        "subscription_number": found.subscription_number,
        "amount_due": found.amount_due,
        "credit": max(found.balances.credit, 0),
        "open_bills": [
            {
                "cycle": b.cycle,
                "payable": b.payable,
                "payment_id": b.payment_id,
                "issued_on": b.issued_on.isoformat() if b.issued_on else None,
                "due_on": b.due_on.isoformat() if b.due_on else None,
            }
            for b in found.open_bills
        ],
    }


# ------------------------------------------------------------------------------------------ payments

Code = Annotated[str, Field(pattern=r"^[^\x00]*$")]


class PaymentNotice(BaseModel):
    """A payment a bank took: the IDs on the bill, the amount in rials and the bank's own trace number."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "bank": "mellat",
                    "trace": "845120399871",
                    "bill_id": "123456712325",
                    "payment_id": "125450882",
                    "amount": 1_254_000,
                    "paid_on": "2026-11-20",
                }
            ]
        },
    )

    bank: Code = Field(max_length=16, description="The bank's code, as the company registered it")
    trace: Code = Field(
        max_length=40, description="The bank's trace number (شماره پیگیری): unique per bank, 1–40 Latin characters"
    )
    bill_id: Code = Field(max_length=40, description="شناسه قبض, as a string")
    payment_id: Code = Field(max_length=40, description="شناسه پرداخت, as a string")
    amount: StrictInt = Field(description="Rials paid: a JSON integer, positive")
    paid_on: date = Field(description="The day the customer paid (ISO, Gregorian), not in the future")


class PaymentOut(BaseModel):
    id: int = Field(description="barq's id of the payment")
    duplicate: bool = Field(description="True when this trace had arrived before: nothing new was posted")
    status: str = Field(description="posted, suspense (and later: resolved, refunded, reversed)")
    status_fa: str
    reason: str | None = Field(description="In suspense: unknown_bill, no_open_bill or amount_mismatch")
    reason_fa: str | None
    to_credit: int = Field(description="Rials of the payment kept as the subscription's credit (overpayment)")
    bank: str
    trace: str
    bill_id: str
    payment_id: str
    amount: int
    paid_on: date
    received_at: datetime = Field(description="When barq first received it (UTC)")

    @classmethod
    def of(cls, row: Payment, duplicate: bool) -> PaymentOut:
        return cls(
            id=row.id,
            duplicate=duplicate,
            status=row.status,
            status_fa=STATUS_FA.get(row.status, row.status),
            reason=row.reason,
            reason_fa=SUSPENSE_REASON_FA.get(row.reason) if row.reason else None,
            to_credit=row.to_credit,
            bank=row.channel,
            trace=row.trace,
            bill_id=row.bill_id,
            payment_id=row.payment_id,
            amount=row.amount,
            paid_on=row.paid_on,
            received_at=row.received_at,
        )


@router.post(
    "/payments",
    status_code=201,
    summary="Notify a payment",
    responses={200: {"model": PaymentOut, "description": "The same trace had arrived before: the first payment"}},
)
def post_payment(api: BankApi, body: PaymentNotice, response: Response) -> PaymentOut:
    """Post the payment once: 201 with what became of it (`posted`, or `suspense` with its `reason`); the
    same bank and trace again is a 200 with `duplicate: true` and the first payment, whatever else it says."""
    api.principal.require(P.PAYMENTS_RECEIVE)
    find_channel(body.bank, kind="bank")
    if api.principal.channel is not None and body.bank != api.principal.channel:
        raise WrongBank(
            "این کلید برای بانک دیگری صادر شده است",
            field="bank",
            detail=f"this key notifies for bank {api.principal.channel!r} only",
        )
    if not 0 < body.amount <= MAX_AMOUNT:
        raise BadAmount("مبلغ پرداخت باید عدد صحیح مثبت ریال باشد", field="amount", detail=f"amount {body.amount}")
    received = receive_payment(
        api.db,
        principal=api.principal,
        clock=api.clock,
        payment=PaymentIn(body.bank, body.trace, body.bill_id, body.payment_id, body.amount, body.paid_on),
    )
    if received.duplicate:
        response.status_code = 200
    return PaymentOut.of(received.payment, received.duplicate)
