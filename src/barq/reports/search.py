"""One search box for the whole office: name, national code, subscription number, file number, bill ID,
mobile, meter serial, work-order number. Results respect the searcher's permissions and scopes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.connections.models import Subscription
from barq.connections.service import subscription_scope
from barq.customers.models import Customer
from barq.customers.service import customer_scope
from barq.ids import normalize_digits
from barq.metering.models import Meter, MeterInstallation
from barq.workorders.models import WorkOrder
from barq.workorders.service import scope_clause as work_order_scope

LIMIT = 30


@dataclass(frozen=True)
class Hit:
    kind: str  # customer | subscription | meter | work_order
    id: int
    title: str
    detail: str
    matched: str


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(session: Session, *, principal: Principal, query: str) -> list[Hit]:
    q = " ".join(normalize_digits(query).split())
    if len(q) < 2:
        return []
    hits: list[Hit] = []
    digits = q.replace(" ", "").replace("-", "")
    is_number = digits.isdigit()
    if principal.can(P.CUSTOMERS_VIEW):
        cond = []
        if is_number:
            cond += [Customer.national_code == digits, Customer.legal_id == digits]
            if digits.startswith("09") or digits.startswith("9"):
                cond.append(Customer.mobile == ("0" + digits if digits.startswith("9") else digits))
        else:
            parts = q.split()
            name_cond = [
                or_(
                    Customer.first_name.like(_like(p), escape="\\"),
                    Customer.last_name.like(_like(p), escape="\\"),
                    Customer.org_name.like(_like(p), escape="\\"),
                )
                for p in parts
            ]
            stmt = select(Customer).where(*name_cond, customer_scope(principal)).order_by(Customer.id).limit(LIMIT)
            hits += [_customer_hit(c, "نام") for c in session.scalars(stmt)]
        if cond:
            stmt = select(Customer).where(or_(*cond), customer_scope(principal)).limit(LIMIT)
            hits += [_customer_hit(c, "شناسه یا همراه") for c in session.scalars(stmt)]
    if principal.can(P.SUBSCRIPTIONS_VIEW) and is_number:
        sub_stmt = (
            select(Subscription)
            .where(
                or_(
                    Subscription.subscription_number == digits,
                    Subscription.file_number == digits.zfill(8),
                    Subscription.bill_id == digits,
                ),
                subscription_scope(principal),
            )
            .limit(LIMIT)
        )
        for s in session.scalars(sub_stmt):
            hits.append(
                Hit(
                    "subscription",
                    s.id,
                    f"اشتراک {s.subscription_number}",
                    f"شناسه قبض {s.bill_id} · پرونده {s.file_number}",
                    "شماره اشتراک / پرونده / شناسه قبض",
                )
            )
    if principal.can(P.METERS_VIEW):
        serial = digits.upper() if is_number else q.upper().replace(" ", "")
        stmt2 = (
            select(Meter, MeterInstallation.subscription_id)
            .outerjoin(
                MeterInstallation,
                (MeterInstallation.meter_id == Meter.id) & MeterInstallation.removed_on.is_(None),
            )
            .where(Meter.serial == serial)
        )
        for meter, sub_id in session.execute(stmt2):
            if sub_id is not None and principal.district_id is not None:
                sub = session.get(Subscription, sub_id)
                if sub is None or sub.district_id != principal.district_id:
                    continue
            hits.append(
                Hit(
                    "meter",
                    meter.id,
                    f"کنتور {meter.serial}",
                    f"ساخت {meter.manufacture_year}",
                    "سریال کنتور",
                )
            )
    if principal.can(P.WORKORDERS_VIEW) and q.upper().startswith("WO-"):
        stmt3 = select(WorkOrder).where(WorkOrder.number == q.upper(), work_order_scope(principal))
        hits += [
            Hit("work_order", w.id, f"دستورکار {w.number}", w.type_code, "شماره دستورکار")
            for w in session.scalars(stmt3)
        ]
    seen: set[tuple[str, int]] = set()
    unique: list[Hit] = []
    for h in hits:
        if (h.kind, h.id) not in seen:
            seen.add((h.kind, h.id))
            unique.append(h)
    return unique[:LIMIT]


def _customer_hit(c: Customer, matched: str) -> Hit:
    ident = c.national_code or c.legal_id or ""
    return Hit("customer", c.id, c.display_name, f"{ident} {c.mobile or ''}".strip(), matched)
