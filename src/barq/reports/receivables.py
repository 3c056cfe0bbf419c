"""Receivables (domain.md §6, docs/receivables.md): aging by district, the collection rate by district and
month, debt by organisation (government and non-government apart), and one subscription's statement.

Read-only queries on the ledger. Aging is settled first in, first out: a subscription's receivable balance
is what its newest receivable debits add up to, so a running sum over its debits from the newest, compared
with the stored balance (``ledger_balance``), finds the open part of each; every open part falls in the
bucket of its due date (:func:`barq.ledger.postings.aging_bucket`). That is one set-based query with a
window function, the same on SQLite and PostgreSQL; nothing loops over subscriptions in Python.

Every function requires ``ledger.view`` and keeps a district-bound principal to its district.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from itertools import accumulate
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Date, Select, and_, case, cast, func, literal, select, union_all
from sqlalchemy.orm import InstrumentedAttribute, Session

from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.billing.documents import cycle_label
from barq.billing.models import Bill
from barq.billing.service import cycle_of, cycle_window, previous_cycle
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.connections.service import subscription_scope
from barq.customers.models import Customer
from barq.errors import NotFound, PermissionDenied, ValidationError
from barq.ledger.models import LedgerBalance, LedgerEntry, LedgerPosting
from barq.ledger.postings import (
    CUSTOMER_CREDIT,
    RECEIVABLE,
    AgingBucket,
    OpenItem,
    aging,
    aging_bucket,
)
from barq.ledger.service import Balances, balances, statement
from barq.network.models import District
from barq.network.service import list_districts
from barq.payments.channels import channels
from barq.payments.models import Payment
from barq.reports.listing import EXPORT_LIMIT, PageOf, paginate

BUCKETS: tuple[AgingBucket, ...] = tuple(AgingBucket)
MONTHS = 12
COLLECTED_DOCS = ("payment", "credit")  # receivable credits that are money: payments and credit applied
BILLED_DOC = "bill"

Buckets = dict[AgingBucket, int]


def no_buckets() -> Buckets:
    return dict.fromkeys(BUCKETS, 0)


def _last_days() -> list[tuple[int, AgingBucket]]:
    """(the most days past due a bucket takes, bucket) for every bucket but the last, read off
    :func:`aging_bucket` itself so that the SQL can never disagree with it."""
    origin = date(2000, 1, 1)
    out: list[tuple[int, AgingBucket]] = []
    for days in range(-1, 4000):
        here = aging_bucket(origin - timedelta(days=days), origin)
        after = aging_bucket(origin - timedelta(days=days + 1), origin)
        if here != after:
            out.append((days, here))
    return out


_LAST_DAYS = _last_days()


def bucket_of(due: ColumnElement[date], today: date) -> ColumnElement[str]:
    """``aging_bucket(due, today)`` in SQL: the first bucket whose earliest due date ``due`` is not before."""
    whens = [(due >= today - timedelta(days=days), bucket.value) for days, bucket in _LAST_DAYS]
    return case(*whens, else_=AgingBucket.OVER_365.value)


def _district_for(principal: Principal, district_id: int | None) -> int | None:
    principal.require(P.LEDGER_VIEW)
    if principal.district_id is not None:
        if district_id is not None and district_id != principal.district_id:
            raise PermissionDenied("دیدن مطالبات امور دیگر مجاز نیست", detail="district outside scope")
        return principal.district_id
    return district_id


def _scope(principal: Principal, district_id: int | None) -> ColumnElement[bool]:
    where = subscription_scope(principal)
    if district_id is not None:
        return and_(where, Subscription.district_id == district_id)
    return where


def _int(value: Any) -> int:
    return int(value or 0)  # PostgreSQL's sum(bigint) is a Decimal


# ----------------------------------------------------------------------------------------------- aging


def open_debits(today: date, owed: Any, *, few: bool = False) -> Select[Any]:
    """The open part of every receivable debit of the subscriptions in ``owed`` (a subquery of
    ``subscription_id``, ``owed`` > 0 and ``key``), first in, first out: ``(key, bucket, open)``.

    ``upto`` is the running sum of a subscription's debits from the newest (latest due date, then latest
    posting); a debit is wholly open while ``upto`` ≤ the balance, partly open when the balance ends inside
    it, and settled when the newer debits already make up the balance. A debit without a due date (an
    adjustment) is due on the day it was posted. With ``few`` (``owed`` holds a page of subscriptions, not a
    district) the debits are narrowed to those subscriptions before the window, through the index on
    ``subscription_id``; for a whole district or company one pass over the postings is faster.

    The debits already more than 365 days past due all fall in the last bucket and are the oldest, so each
    subscription's are summed into one row before the window: what the window sorts is bounded by a year of
    debits however long the ledger's history grows.
    """
    p = LedgerPosting
    posted_on = select(LedgerEntry.posted_on).where(LedgerEntry.id == p.entry_id).scalar_subquery()
    due = func.coalesce(p.due_on, posted_on)
    horizon = today - timedelta(days=_LAST_DAYS[-1][0])  # the oldest due date not yet in the last bucket
    debit = and_(p.account == RECEIVABLE, p.amount > 0)
    if few:
        debit = and_(debit, p.subscription_id.in_(select(owed.c.subscription_id)))
    recent = select(p.subscription_id, p.id.label("posting"), p.amount.label("amount"), due.label("due")).where(
        debit, due >= horizon
    )
    # ``+ 0``: SQLite would otherwise group by walking the subscription index, one table lookup a posting
    by_subscription = p.subscription_id + 0
    older = (
        select(
            by_subscription.label("subscription_id"),
            literal(0, BigInteger).label("posting"),
            cast(func.sum(p.amount), BigInteger).label("amount"),
            literal(horizon - timedelta(days=1), Date).label("due"),
        )
        .where(debit, due < horizon)
        .group_by(by_subscription)
    )
    debits = union_all(recent, older).subquery("debits")
    upto = func.sum(debits.c.amount).over(
        partition_by=debits.c.subscription_id, order_by=(debits.c.due.desc(), debits.c.posting.desc()), rows=(None, 0)
    )
    ranked = (
        select(owed.c.key, owed.c.owed, debits.c.amount, debits.c.due, upto.label("upto"))
        .join(owed, owed.c.subscription_id == debits.c.subscription_id)
        .subquery("ranked")
    )
    d = ranked.c
    part = case((d.upto <= d.owed, d.amount), else_=d.owed - (d.upto - d.amount))
    return select(d.key, bucket_of(d.due, today).label("bucket"), part.label("open")).where(d.upto - d.amount < d.owed)


def aging_by(session: Session, today: date, owed: Any, *, few: bool = False) -> dict[Any, Buckets]:
    """Open debt by ``key`` of ``owed`` (see :func:`open_debits`) and bucket; every bucket present."""
    parts = open_debits(today, owed, few=few).subquery("parts")
    rows = session.execute(
        select(parts.c.key, parts.c.bucket, func.sum(parts.c.open)).group_by(parts.c.key, parts.c.bucket)
    )
    out: dict[Any, Buckets] = {}
    for key, bucket, amount in rows:
        out.setdefault(key, no_buckets())[AgingBucket(bucket)] += _int(amount)
    return out


def _owed(
    key: ColumnElement[Any] | InstrumentedAttribute[Any], *where: ColumnElement[bool], customers: bool = False
) -> Any:
    """The subscriptions that owe (a positive receivable balance) with ``key`` to group them by."""
    stmt = (
        select(LedgerBalance.subscription_id, LedgerBalance.amount.label("owed"), key.label("key"))
        .join(Subscription, Subscription.id == LedgerBalance.subscription_id)
        .where(LedgerBalance.account == RECEIVABLE, LedgerBalance.amount > 0, *where)
    )
    if customers:
        stmt = stmt.join(Customer, Customer.id == Subscription.customer_id)
    return stmt.subquery("owed")


# ----------------------------------------------------------------------------------------------- dashboard


@dataclass(frozen=True)
class Month:
    """One Jalali month: the bills posted in it and the money that settled receivables in it."""

    cycle: int
    billed: int
    collected: int

    @property
    def label(self) -> str:
        return cycle_label(self.cycle)

    @property
    def rate(self) -> Fraction | None:
        return rate(self.collected, self.billed)


def rate(collected: int, billed: int) -> Fraction | None:
    """Collected over billed; None when nothing was billed."""
    return Fraction(collected, billed) if billed > 0 else None


@dataclass
class DistrictLine:
    """A district's receivables (or, with ``district_id`` None, the total of the lines shown)."""

    district_id: int | None
    name: str
    subscriptions: int = 0
    debtors: int = 0  # subscriptions with a positive receivable balance
    owed: int = 0  # their receivable balances: equals the sum of the aging buckets
    credit: int = 0  # credit held: customer credit, and any receivable balance below zero
    aging: Buckets = field(default_factory=no_buckets)
    months: list[Month] = field(default_factory=list)

    @property
    def billed(self) -> int:
        return sum(m.billed for m in self.months)

    @property
    def collected(self) -> int:
        return sum(m.collected for m in self.months)

    @property
    def rate(self) -> Fraction | None:
        return rate(self.collected, self.billed)

    @property
    def overdue(self) -> int:
        return self.owed - self.aging[AgingBucket.NOT_DUE]


@dataclass(frozen=True)
class Dashboard:
    today: date
    district_id: int | None  # the district chosen (or the principal's), None for all
    cycles: list[int]  # the twelve months, oldest first
    lines: list[DistrictLine]
    total: DistrictLine


def recent_cycles(today: date, months: int = MONTHS) -> list[int]:
    """The current Jalali month and the ``months - 1`` before it, oldest first."""
    current = cycle_of(today)
    return [previous_cycle(current, k) for k in range(months - 1, -1, -1)]


def _balances_by_district(session: Session, scope: ColumnElement[bool]) -> dict[int, tuple[int, int, int]]:
    """(debtors, owed, credit) by district, from the stored balances."""
    b = LedgerBalance
    is_owed = and_(b.account == RECEIVABLE, b.amount > 0)
    credit = case(
        (b.account == CUSTOMER_CREDIT, -b.amount),
        (and_(b.account == RECEIVABLE, b.amount < 0), -b.amount),
        else_=0,
    )
    rows = session.execute(
        select(
            Subscription.district_id,
            func.sum(case((is_owed, 1), else_=0)),
            func.sum(case((is_owed, b.amount), else_=0)),
            func.sum(credit),
        )
        .join(Subscription, Subscription.id == b.subscription_id)
        .where(b.account.in_((RECEIVABLE, CUSTOMER_CREDIT)), scope)
        .group_by(Subscription.district_id)
    )
    return {int(d): (_int(n), _int(owed), _int(cr)) for d, n, owed, cr in rows}


def collection_by_district(
    session: Session, scope: ColumnElement[bool], cycles: Sequence[int], today: date
) -> dict[int, dict[int, tuple[int, int]]]:
    """{district: {cycle: (billed, collected)}} over ``cycles`` up to ``today``.

    Billed: the receivable postings of bills (``doc_type = 'bill'``) by the day their entry was posted.
    Collected: the receivable credits of payments (bank, counter, portal, a resolved suspense; a bounced
    payment's reversal counts against its month) and of customer credit applied to a bill, negated. The
    database sums by district and day; the days are then put in their Jalali months here.
    """
    p, e = LedgerPosting, LedgerEntry
    first = cycle_window(cycles[0])[0]
    rows = session.execute(
        select(
            Subscription.district_id,
            e.posted_on,
            func.sum(case((p.doc_type == BILLED_DOC, p.amount), else_=0)),
            func.sum(case((p.doc_type.in_(COLLECTED_DOCS), -p.amount), else_=0)),
        )
        .select_from(p)
        .join(e, e.id == p.entry_id)
        .join(Subscription, Subscription.id == p.subscription_id)
        .where(
            p.account == RECEIVABLE,
            p.doc_type.in_((BILLED_DOC, *COLLECTED_DOCS)),
            e.posted_on >= first,
            e.posted_on <= today,
            scope,
        )
        .group_by(Subscription.district_id, e.posted_on)
    )
    wanted = set(cycles)
    out: dict[int, dict[int, tuple[int, int]]] = {}
    for district, day, billed, collected in rows:
        cycle = cycle_of(day if isinstance(day, date) else date.fromisoformat(str(day)))
        if cycle not in wanted:
            continue
        months = out.setdefault(int(district), {})
        b, c = months.get(cycle, (0, 0))
        months[cycle] = (b + _int(billed), c + _int(collected))
    return out


def receivables_dashboard(
    session: Session, *, principal: Principal, clock: Clock, district_id: int | None = None
) -> Dashboard:
    """Every district in scope (or the one chosen): subscriptions, debtors, what they owe by aging bucket,
    the credit held, and what was billed and collected in each of the last twelve Jalali months."""
    district_id = _district_for(principal, district_id)
    today = clock.today()
    scope = _scope(principal, district_id)
    districts = [d for d in list_districts(session) if district_id is None or d.id == district_id]
    if district_id is not None and not districts:
        raise NotFound("امور پیدا نشد", detail=f"no district {district_id}")
    cycles = recent_cycles(today)
    counts = dict(
        session.execute(
            select(Subscription.district_id, func.count()).where(scope).group_by(Subscription.district_id)
        ).all()
    )
    money = _balances_by_district(session, scope)
    ages = aging_by(session, today, _owed(Subscription.district_id, scope))
    collected = collection_by_district(session, scope, cycles, today)
    lines: list[DistrictLine] = []
    for d in districts:
        debtors, owed, credit = money.get(d.id, (0, 0, 0))
        flows = collected.get(d.id, {})
        lines.append(
            DistrictLine(
                district_id=d.id,
                name=d.name,
                subscriptions=int(counts.get(d.id, 0)),
                debtors=debtors,
                owed=owed,
                credit=credit,
                aging=ages.get(d.id, no_buckets()),
                months=[Month(c, *flows.get(c, (0, 0))) for c in cycles],
            )
        )
    total = DistrictLine(
        district_id=None,
        name="جمع",
        subscriptions=sum(x.subscriptions for x in lines),
        debtors=sum(x.debtors for x in lines),
        owed=sum(x.owed for x in lines),
        credit=sum(x.credit for x in lines),
        aging={b: sum(x.aging[b] for x in lines) for b in BUCKETS},
        months=[
            Month(c, sum(x.months[i].billed for x in lines), sum(x.months[i].collected for x in lines))
            for i, c in enumerate(cycles)
        ],
    )
    return Dashboard(today=today, district_id=district_id, cycles=cycles, lines=lines, total=total)


# ----------------------------------------------------------------------------------------------- organisations

CLASS_NAMES: dict[str, str] = {
    "government": "دستگاه‌های دولتی",
    "organisation": "سازمان‌ها و شرکت‌های غیردولتی",
    "person": "اشخاص حقیقی",
}
NON_GOVERNMENT_NAME = "جمع غیردولتی (سازمان‌ها و اشخاص)"
TOTAL_NAME = "جمع کل"
SORTS = ("debt", "debt_asc", "name")


def _class_of() -> ColumnElement[str]:
    return case(
        (and_(Customer.kind == "organisation", Customer.is_government.is_(True)), "government"),
        (Customer.kind == "organisation", "organisation"),
        else_="person",
    )


@dataclass(frozen=True)
class DebtorClass:
    """A group of debtors: government bodies, other organisations, persons, or a sum of them."""

    code: str
    name: str
    customers: int = 0  # customers with a subscription in scope
    subscriptions: int = 0
    debtors: int = 0
    owed: int = 0
    aging: Buckets = field(default_factory=no_buckets)


@dataclass(frozen=True)
class OrganisationDebt:
    customer_id: int
    name: str
    legal_id: str
    is_government: bool
    category: str | None
    subscriptions: int
    debtors: int
    owed: int
    aging: Buckets


@dataclass(frozen=True)
class OrganisationReport:
    today: date
    district_id: int | None
    classes: list[DebtorClass]  # government, organisation, person
    non_government: DebtorClass
    total: DebtorClass
    page: PageOf[OrganisationDebt]


def _sum_classes(code: str, name: str, parts: Sequence[DebtorClass]) -> DebtorClass:
    return DebtorClass(
        code=code,
        name=name,
        customers=sum(c.customers for c in parts),
        subscriptions=sum(c.subscriptions for c in parts),
        debtors=sum(c.debtors for c in parts),
        owed=sum(c.owed for c in parts),
        aging={b: sum(c.aging[b] for c in parts) for b in BUCKETS},
    )


def debtor_classes(session: Session, today: date, scope: ColumnElement[bool]) -> list[DebtorClass]:
    b = LedgerBalance
    cls = _class_of()
    is_owed = b.amount > 0
    rows = session.execute(
        select(
            cls,
            func.count(func.distinct(Customer.id)),
            func.count(Subscription.id),
            func.sum(case((is_owed, 1), else_=0)),
            func.sum(case((is_owed, b.amount), else_=0)),
        )
        .select_from(Subscription)
        .join(Customer, Customer.id == Subscription.customer_id)
        .outerjoin(b, and_(b.subscription_id == Subscription.id, b.account == RECEIVABLE))
        .where(scope)
        .group_by(cls)
    )
    figures = {str(code): (_int(c), _int(s), _int(n), _int(o)) for code, c, s, n, o in rows}
    ages = aging_by(session, today, _owed(cls, scope, customers=True))
    return [
        DebtorClass(code, CLASS_NAMES[code], *figures.get(code, (0, 0, 0, 0)), aging=ages.get(code, no_buckets()))
        for code in CLASS_NAMES
    ]


def _organisations(scope: ColumnElement[bool], government: bool | None, owing_only: bool, sort: str) -> Select[Any]:
    b = LedgerBalance
    owed = func.coalesce(func.sum(case((b.amount > 0, b.amount), else_=0)), 0)
    debtors = func.coalesce(func.sum(case((b.amount > 0, 1), else_=0)), 0)
    where: list[ColumnElement[bool]] = [Customer.kind == "organisation", scope]
    if government is not None:
        where.append(Customer.is_government.is_(government))
    stmt = (
        select(
            Customer.id,
            Customer.org_name,
            Customer.legal_id,
            Customer.is_government,
            Customer.org_category,
            func.count(Subscription.id),
            debtors,
            owed.label("owed"),
        )
        .select_from(Customer)
        .join(Subscription, Subscription.customer_id == Customer.id)
        .outerjoin(b, and_(b.subscription_id == Subscription.id, b.account == RECEIVABLE))
        .where(*where)
        .group_by(Customer.id, Customer.org_name, Customer.legal_id, Customer.is_government, Customer.org_category)
    )
    if owing_only:
        stmt = stmt.having(owed > 0)
    if sort == "name":
        return stmt.order_by(Customer.org_name, Customer.id)
    if sort == "debt_asc":
        return stmt.order_by(owed, Customer.id)
    return stmt.order_by(owed.desc(), Customer.id)


def _organisation_rows(rows: Sequence[Sequence[Any]], ages: dict[Any, Buckets]) -> list[OrganisationDebt]:
    """The organisations of ``_organisations`` rows, each with its aging (none owed: empty buckets)."""
    return [
        OrganisationDebt(
            customer_id=int(cid),
            name=name or "",
            legal_id=legal or "",
            is_government=bool(gov),
            category=category,
            subscriptions=_int(subs),
            debtors=_int(debtors),
            owed=_int(owed),
            aging=ages.get(int(cid), no_buckets()),
        )
        for cid, name, legal, gov, category, subs, debtors, owed in rows
    ]


def _check_sort(sort: str) -> str:
    if sort not in SORTS:
        raise ValidationError("ترتیب نادرست است", field="sort", detail=f"unknown sort {sort!r}")
    return sort


def organisation_report(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    district_id: int | None = None,
    government: bool | None = None,
    owing_only: bool = False,
    sort: str = "debt",
    page: int = 1,
    size: int = 50,
) -> OrganisationReport:
    """Debt by organisation (one page of them, sorted), and the totals of government bodies, other
    organisations and persons, each with its aging."""
    district_id = _district_for(principal, district_id)
    today = clock.today()
    scope = _scope(principal, district_id)
    classes = debtor_classes(session, today, scope)
    listing = paginate(
        session, _organisations(scope, government, owing_only, _check_sort(sort)), page=page, size=size, rows=True
    )
    ids = [int(r[0]) for r in listing.items]
    ages = aging_by(session, today, _owed(Subscription.customer_id, scope, Subscription.customer_id.in_(ids)), few=True)
    items = _organisation_rows(listing.items, ages)
    return OrganisationReport(
        today=today,
        district_id=district_id,
        classes=classes,
        non_government=_sum_classes("non_government", NON_GOVERNMENT_NAME, classes[1:]),
        total=_sum_classes("total", TOTAL_NAME, classes),
        page=PageOf(items=items, page=listing.page, pages=listing.pages, total=listing.total),
    )


def organisation_export(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    district_id: int | None = None,
    government: bool | None = None,
    owing_only: bool = False,
    sort: str = "debt",
) -> tuple[list[DebtorClass], list[OrganisationDebt]]:
    """The class totals and every organisation of the filter (up to the export limit), with its aging."""
    district_id = _district_for(principal, district_id)
    today = clock.today()
    scope = _scope(principal, district_id)
    classes = debtor_classes(session, today, scope)
    stmt = _organisations(scope, government, owing_only, _check_sort(sort)).limit(EXPORT_LIMIT)
    rows = [tuple(r) for r in session.execute(stmt)]
    where: list[ColumnElement[bool]] = [Customer.kind == "organisation"]
    if government is not None:
        where.append(Customer.is_government.is_(government))
    ages = aging_by(session, today, _owed(Subscription.customer_id, scope, *where, customers=True))
    items = _organisation_rows(rows, ages)
    summary = [
        *classes,
        _sum_classes("non_government", NON_GOVERNMENT_NAME, classes[1:]),
        _sum_classes("total", TOTAL_NAME, classes),
    ]
    return summary, items


# ----------------------------------------------------------------------------------------------- statement

KIND_NAMES = {
    "bill": "صدور صورتحساب",
    "payment": "پرداخت",
    "credit": "تسویه از بستانکاری",
    "adjustment": "تعدیل",
    "suspense": "تعیین تکلیف وجه معلق",
    "reversal": "برگشت",
    "fee": "هزینه",
}


@dataclass(frozen=True)
class StatementRow:
    posted_on: date
    kind: str
    description: str
    account: str  # receivable or customer_credit
    doc_type: str | None
    doc_id: int | None
    due_on: date | None  # of a receivable debit: its due date (the day it was posted when it has none)
    debit: int
    credit: int
    balance: int  # what the subscription owes after this line: receivable minus credit held
    open: int  # of a receivable debit: the part still unpaid (first in, first out)


@dataclass(frozen=True)
class SubscriptionStatement:
    subscription_id: int
    subscription_number: str
    bill_id: str
    customer_name: str
    district_name: str
    today: date
    rows: list[StatementRow]
    balances: Balances
    aging: Buckets


def _payment_text(channel: str, trace: str) -> str:
    known = channels().get(channel)
    return f"{known.name_fa if known else channel}، پیگیری {trace}"


def _describe(
    kind: str,
    account: str,
    doc_type: str | None,
    doc_id: int | None,
    memo: str,
    bills: dict[int, int],
    payments: dict[int, tuple[str, str]],
) -> str:
    """A statement line in words, naming its source document."""
    to_credit = account == CUSTOMER_CREDIT
    if doc_type == "bill" and doc_id in bills:
        title = f"صورتحساب {cycle_label(bills[doc_id])}"
        return f"ابطال {title}" if kind == "reversal" else title
    if doc_type == "payment" and doc_id in payments:
        paid = _payment_text(*payments[doc_id])
        if kind == "reversal":
            return f"برگشت پرداخت {paid}" + (" (از بستانکاری)" if to_credit else "")
        prefix = "تعیین تکلیف وجه معلق" if kind == "suspense" else "پرداخت"
        return f"{prefix} {paid}" + (" — مازاد به بستانکاری" if to_credit else "")
    if kind == "credit":
        return "برداشت از بستانکاری برای تسویه بدهی" if to_credit else "تسویه بدهی از بستانکاری مشترک"
    name = KIND_NAMES.get(kind, kind)
    if not memo or memo.startswith(name):
        return memo or name
    return f"{name}: {memo}"


def fifo_open(debits: Sequence[tuple[int, date, int]], owed: int) -> dict[int, int]:
    """{posting: open part} of receivable debits ``(posting id, due, amount)`` when ``owed`` is the balance:
    the newest debits (latest due, then latest posting) make it up; the older ones are settled."""
    left = max(owed, 0)
    out: dict[int, int] = {}
    for pid, _, amount in sorted(debits, key=lambda d: (d[1], d[0]), reverse=True):
        if left <= 0:
            break
        take = min(amount, left)
        out[pid] = take
        left -= take
    return out


def subscription_statement(
    session: Session, *, principal: Principal, clock: Clock, subscription_id: int
) -> SubscriptionStatement:
    """A subscription's receivable and credit postings in order with the running balance, each with its
    source document in words; its balances and its aging (first in, first out)."""
    principal.require(P.LEDGER_VIEW)
    found = session.execute(
        select(Subscription, Customer, District)
        .join(Customer, Customer.id == Subscription.customer_id)
        .join(District, District.id == Subscription.district_id)
        .where(Subscription.id == subscription_id, subscription_scope(principal))
    ).first()
    if found is None:
        raise NotFound("اشتراک پیدا نشد", detail=f"no subscription {subscription_id} in scope")
    sub, customer, district = found
    today = clock.today()
    # by business date, then as posted (the ledger's order; they differ only for an entry posted with an
    # earlier business date), with the running balance taken again in that order
    lines = sorted(statement(session, subscription_id), key=lambda ln: (ln.posted_on, ln.posting_id))
    running = list(accumulate(ln.amount for ln in lines))
    bill_ids = {ln.doc_id for ln in lines if ln.doc_type == "bill" and ln.doc_id is not None}
    payment_ids = {ln.doc_id for ln in lines if ln.doc_type == "payment" and ln.doc_id is not None}
    bills = dict(session.execute(select(Bill.id, Bill.cycle).where(Bill.id.in_(bill_ids))).all()) if bill_ids else {}
    payments = {
        int(pid): (str(ch), str(tr))
        for pid, ch, tr in session.execute(
            select(Payment.id, Payment.channel, Payment.trace).where(Payment.id.in_(payment_ids))
        )
    }
    held = balances(session, subscription_id)
    debits = [
        (ln.posting_id, ln.due_on or ln.posted_on, ln.amount)
        for ln in lines
        if ln.account == RECEIVABLE and ln.amount > 0
    ]
    still = fifo_open(debits, held.receivable)
    rows = [
        StatementRow(
            posted_on=ln.posted_on,
            kind=ln.kind,
            description=_describe(ln.kind, ln.account, ln.doc_type, ln.doc_id, ln.memo, bills, payments),
            account=ln.account,
            doc_type=ln.doc_type,
            doc_id=ln.doc_id,
            due_on=(ln.due_on or ln.posted_on) if ln.account == RECEIVABLE and ln.amount > 0 else None,
            debit=max(ln.amount, 0),
            credit=max(-ln.amount, 0),
            balance=balance,
            open=still.get(ln.posting_id, 0),
        )
        for ln, balance in zip(lines, running, strict=True)
    ]
    items = [OpenItem(str(pid), due, still[pid]) for pid, due, _ in debits if still.get(pid)]
    return SubscriptionStatement(
        subscription_id=sub.id,
        subscription_number=sub.subscription_number,
        bill_id=sub.bill_id,
        customer_name=customer.display_name,
        district_name=district.name,
        today=today,
        rows=rows,
        balances=held,
        aging=aging(items, today),
    )
