"""Reading routes and cycles (domain.md §4): who sees which route, when a route is read, editing a route,
and moving a subscription between routes with its history.

Scopes (architecture rule 10) come from ``route_scope``: a district user sees the routes of its district, a
contractor's user those of its contractor, a reader (role ``reader`` without ``READING_MANAGE``) the routes
assigned to it, the head office every route. Seeing needs ``READING_VIEW`` (or ``READING_ENTER``, for
readers); changing needs ``READING_MANAGE``.

A cycle is a Jalali month written ``yyyymm`` (``billing.service.cycle_window``). A route is read from day
``window_start`` to day ``window_end`` of the cycle's month, clamped to the month's length (Mehr to Esfand
have 30 or 29 days); a 60-day route is read in even months only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, false, func, select, true
from sqlalchemy.orm import Session

from barq import audit
from barq.auth import permissions as P
from barq.auth.models import User, UserRole
from barq.auth.service import Principal
from barq.billing.service import cycle_window
from barq.calendar import fa_digits, from_jalali, jalali_month_name, month_length
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.contractors.models import Contractor
from barq.contractors.service import list_contractors
from barq.customers.models import Premises
from barq.errors import NotFound, PermissionDenied, ValidationError
from barq.ids import normalize_digits
from barq.inputs import Inputs
from barq.metering.models import Meter, MeterInstallation, RouteMembership
from barq.network.models import District, Route

CYCLE_DAYS = {30: "ماهانه (۳۰ روزه)", 60: "دوماهه (۶۰ روزه)"}
READER_ROLE = "reader"
_ROUTE_FIELDS = ("reader_id", "contractor_id", "cycle_days", "window_start", "window_end")
_MOVE_FIELDS = ("route_id", "route_sequence")
_YEAR_MIN, _YEAR_MAX = 1300, 1499


# ------------------------------------------------------------------------------------------ cycles


class HasWindow(Protocol):
    @property
    def window_start(self) -> int: ...
    @property
    def window_end(self) -> int: ...
    @property
    def cycle_days(self) -> int: ...


def parse_cycle(value: str | int, *, field: str = "cycle") -> int:
    """A cycle as a person or a program writes it: ``1405/09``, ``1405-9``, ``140509``, Persian digits too.

    Gives ``yyyymm``; anything else is a ValidationError on ``field`` with a Persian message."""
    text = normalize_digits(str(value)).strip().replace("-", "/").replace(" ", "")
    year = month = -1
    if "/" in text:
        y, _, m = text.partition("/")
        if y.isdigit() and m.isdigit() and len(y) == 4 and 1 <= len(m) <= 2:
            year, month = int(y), int(m)
    elif text.isdigit() and len(text) == 6:
        year, month = divmod(int(text), 100)
    if year < 0:
        raise ValidationError(
            "دوره باید سال و ماه شمسی باشد، مانند ۱۴۰۵/۰۹",
            field=field,
            detail=f"cycle must look like 1405/09 or 140509, got {str(value)[:40]!r}",
        )
    if not 1 <= month <= 12:
        raise ValidationError(
            f"ماه دوره باید بین ۱ و ۱۲ باشد، نه {fa_digits(month)}", field=field, detail=f"month {month} not in 1..12"
        )
    if not _YEAR_MIN <= year <= _YEAR_MAX:
        raise ValidationError(
            f"سال دوره باید بین {fa_digits(_YEAR_MIN)} و {fa_digits(_YEAR_MAX)} باشد",
            field=field,
            detail=f"year {year} not in {_YEAR_MIN}..{_YEAR_MAX}",
        )
    return year * 100 + month


def cycle_label(cycle: int) -> str:
    """``140509`` → «آذر ۱۴۰۵»."""
    year, month = divmod(cycle, 100)
    return f"{jalali_month_name(month)} {fa_digits(year)}"


def cycle_text(cycle: int) -> str:
    """``140509`` → ``1405/09`` (Latin digits, for forms and file names)."""
    year, month = divmod(cycle, 100)
    return f"{year:04d}/{month:02d}"


def route_window(route: HasWindow, cycle: int) -> tuple[date, date]:
    """The first and last day on which ``route`` is read in ``cycle``, clamped to the month's length."""
    cycle_window(cycle)  # refuses a malformed cycle with its Persian message
    year, month = divmod(cycle, 100)
    last = month_length(year, month)
    start = min(max(route.window_start, 1), last)
    end = min(max(route.window_end, start), last)
    return from_jalali(year, month, start), from_jalali(year, month, end)


def route_due(route: HasWindow, cycle: int) -> bool:
    """Whether ``route`` is read in ``cycle``: a 30-day route every month, a 60-day route in even months."""
    cycle_window(cycle)
    return route.cycle_days != 60 or cycle % 2 == 0


# ------------------------------------------------------------------------------------------ scope


def is_reader(principal: Principal) -> bool:
    """A reader sees only its own routes; a reader who also manages reading sees as a manager does."""
    return READER_ROLE in principal.roles and not principal.can(P.READING_MANAGE)


def require_view(principal: Principal) -> None:
    if not (principal.can(P.READING_VIEW) or principal.can(P.READING_ENTER)):
        raise PermissionDenied("شما اجازه دیدن مسیرهای قرائت را ندارید", detail=f"missing permission {P.READING_VIEW}")


def route_scope(principal: Principal) -> ColumnElement[bool]:
    """The routes ``principal`` may see (see the module doc)."""
    clauses: list[ColumnElement[bool]] = []
    if principal.district_id is not None:
        clauses.append(Route.district_id == principal.district_id)
    if principal.contractor_id is not None:
        clauses.append(Route.contractor_id == principal.contractor_id)
    if is_reader(principal):
        clauses.append(Route.reader_id == principal.user_id if principal.user_id else false())
    return and_(true(), *clauses)


def get_route(session: Session, *, principal: Principal, route_id: int) -> Route:
    require_view(principal)
    route = session.scalar(select(Route).where(Route.id == route_id, route_scope(principal)))
    if route is None:
        raise NotFound("مسیر قرائت پیدا نشد")
    return route


# ------------------------------------------------------------------------------------------ lists


@dataclass(frozen=True)
class RouteRow:
    """One route as the list shows it."""

    id: int
    district_id: int
    district_code: str
    district_name: str
    code: str
    name: str
    cycle_days: int
    window_start: int
    window_end: int
    contractor_id: int | None
    contractor_name: str | None
    reader_id: int | None
    reader_name: str | None
    subscriptions: int


@dataclass(frozen=True)
class RoutePage:
    rows: list[RouteRow]
    page: int
    pages: int
    total: int


def list_routes(
    session: Session,
    *,
    principal: Principal,
    district_id: int | None = None,
    contractor_id: int | None = None,
    reader_id: int | None = None,
    cycle_days: int | None = None,
    page: int = 1,
    size: int | None = None,
) -> RoutePage:
    """Routes visible to ``principal`` (with filters), ordered by district and code, with the number of
    subscriptions on each (those not removed). ``size`` None: every route on one page."""
    require_view(principal)
    where: list[ColumnElement[bool]] = [route_scope(principal)]
    if district_id is not None:
        where.append(Route.district_id == district_id)
    if contractor_id is not None:
        where.append(Route.contractor_id == contractor_id if contractor_id > 0 else Route.contractor_id.is_(None))
    if reader_id is not None:
        where.append(Route.reader_id == reader_id if reader_id > 0 else Route.reader_id.is_(None))
    if cycle_days is not None:
        where.append(Route.cycle_days == cycle_days)
    total = session.scalar(select(func.count()).select_from(Route).where(*where)) or 0
    if size is None:
        size = max(total, 1)
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    stmt = (
        select(Route, District.code, District.name, Contractor.name, User.full_name)
        .join(District, District.id == Route.district_id)
        .outerjoin(Contractor, Contractor.id == Route.contractor_id)
        .outerjoin(User, User.id == Route.reader_id)
        .where(*where)
        .order_by(District.code, Route.code)
        .limit(size)
        .offset((page - 1) * size)
    )
    found = session.execute(stmt).all()
    counts = subscription_counts(session, [r.id for r, *_ in found])
    rows = [
        RouteRow(
            id=r.id,
            district_id=r.district_id,
            district_code=dcode,
            district_name=dname,
            code=r.code,
            name=r.name,
            cycle_days=r.cycle_days,
            window_start=r.window_start,
            window_end=r.window_end,
            contractor_id=r.contractor_id,
            contractor_name=cname,
            reader_id=r.reader_id,
            reader_name=rname,
            subscriptions=counts.get(r.id, 0),
        )
        for r, dcode, dname, cname, rname in found
    ]
    return RoutePage(rows=rows, page=page, pages=pages, total=total)


def subscription_counts(session: Session, route_ids: list[int]) -> dict[int, int]:
    """Subscriptions (not removed) on each route."""
    if not route_ids:
        return {}
    stmt = (
        select(Subscription.route_id, func.count())
        .where(Subscription.route_id.in_(route_ids), Subscription.supply_state != "removed")
        .group_by(Subscription.route_id)
    )
    return {int(rid or 0): int(n) for rid, n in session.execute(stmt)}


def route_row(session: Session, *, principal: Principal, route_id: int) -> RouteRow:
    """One route with its names and count, in scope."""
    route = get_route(session, principal=principal, route_id=route_id)
    district = session.get_one(District, route.district_id)
    contractor = session.get(Contractor, route.contractor_id) if route.contractor_id else None
    reader = session.get(User, route.reader_id) if route.reader_id else None
    return RouteRow(
        id=route.id,
        district_id=route.district_id,
        district_code=district.code,
        district_name=district.name,
        code=route.code,
        name=route.name,
        cycle_days=route.cycle_days,
        window_start=route.window_start,
        window_end=route.window_end,
        contractor_id=route.contractor_id,
        contractor_name=contractor.name if contractor else None,
        reader_id=route.reader_id,
        reader_name=reader.full_name if reader else None,
        subscriptions=subscription_counts(session, [route.id]).get(route.id, 0),
    )


@dataclass(frozen=True)
class RouteMember:
    """A subscription on a route, in reading order."""

    subscription_id: int
    subscription_number: str
    sequence: int | None
    address: str
    supply_state: str
    meter_serial: str | None


def route_subscriptions(
    session: Session, *, principal: Principal, route_id: int, page: int = 1, size: int = 100
) -> tuple[list[RouteMember], int, int, int]:
    """The subscriptions on a route in sequence (removed ones left out): (rows, page, pages, total)."""
    route = get_route(session, principal=principal, route_id=route_id)
    where = (Subscription.route_id == route.id, Subscription.supply_state != "removed")
    total = session.scalar(select(func.count()).select_from(Subscription).where(*where)) or 0
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    stmt = (
        select(
            Subscription.id,
            Subscription.subscription_number,
            Subscription.route_sequence,
            Premises.address,
            Subscription.supply_state,
            Meter.serial,
        )
        .join(Premises, Premises.id == Subscription.premises_id)
        .outerjoin(
            MeterInstallation,
            and_(MeterInstallation.subscription_id == Subscription.id, MeterInstallation.removed_on.is_(None)),
        )
        .outerjoin(Meter, Meter.id == MeterInstallation.meter_id)
        .where(*where)
        .order_by(Subscription.route_sequence, Subscription.subscription_number)
        .limit(size)
        .offset((page - 1) * size)
    )
    rows = [RouteMember(int(i), n, q, a, st, m) for i, n, q, a, st, m in session.execute(stmt)]
    return rows, page, pages, total


def routes_of_district(session: Session, *, principal: Principal, district_id: int) -> list[Route]:
    """Routes of one district in scope (for choosing a move's target)."""
    require_view(principal)
    stmt = select(Route).where(Route.district_id == district_id, route_scope(principal)).order_by(Route.code)
    return list(session.scalars(stmt))


# ------------------------------------------------------------------------------------------ edit


def reader_choices(session: Session, *, district_id: int) -> list[tuple[User, str | None]]:
    """Active users with the reader role who may read in ``district_id``: company readers (of that district
    or of none) and readers of the contractors that have a contract there. Each with its contractor's name."""
    contractors = {c.id: c.name for c in list_contractors(session, district_id=district_id)}
    stmt = (
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role_code == READER_ROLE, User.is_active.is_(True))
        .order_by(User.full_name)
    )
    out: list[tuple[User, str | None]] = []
    for user in session.scalars(stmt):
        if user.district_id is not None and user.district_id != district_id:
            continue
        if user.contractor_id is None:
            out.append((user, None))
        elif user.contractor_id in contractors:
            out.append((user, contractors[user.contractor_id]))
    return out


def contractor_choices(session: Session, *, district_id: int) -> list[Contractor]:
    """Active contractors with a contract in the district."""
    return list_contractors(session, district_id=district_id)


def _require_manage(principal: Principal) -> None:
    if not principal.can(P.READING_MANAGE):
        raise PermissionDenied(
            "شما اجازه تغییر مسیرهای قرائت را ندارید", detail=f"missing permission {P.READING_MANAGE}"
        )


def _parse_route(session: Session, route: Route, data: Mapping[str, Any]) -> dict[str, Any]:
    form = Inputs(data)
    contractor_id = form.integer("contractor_id", "پیمانکار", required=False, min_value=1)
    reader_id = form.integer("reader_id", "مامور قرائت", required=False, min_value=1)
    cycle = form.choice("cycle_days", "طول دوره", tuple(str(k) for k in CYCLE_DAYS))
    start = form.integer("window_start", "روز آغاز قرائت", min_value=1, max_value=31)
    end = form.integer("window_end", "روز پایان قرائت", min_value=1, max_value=31)
    if start is not None and end is not None and end < start:
        form.error("window_end", "روز پایان قرائت پیش از روز آغاز آن است")
    if contractor_id is not None:
        allowed = {c.id for c in contractor_choices(session, district_id=route.district_id)}
        if contractor_id not in allowed:
            form.error("contractor_id", "این پیمانکار فعال نیست یا در امور این مسیر قرارداد ندارد")
            contractor_id = None
    if reader_id is not None and "contractor_id" not in form.errors:
        user = session.get(User, reader_id)
        roles = set(session.scalars(select(UserRole.role_code).where(UserRole.user_id == reader_id)))
        if user is None or not user.is_active:
            form.error("reader_id", "مامور قرائت پیدا نشد یا غیرفعال است")
        elif READER_ROLE not in roles:
            form.error("reader_id", f"کاربر «{user.full_name}» نقش مامور قرائت ندارد")
        elif user.district_id is not None and user.district_id != route.district_id:
            form.error("reader_id", f"مامور «{user.full_name}» از امور دیگری است")
        elif user.contractor_id is not None and user.contractor_id != contractor_id:
            owner = session.get(Contractor, user.contractor_id)
            who = f"«{owner.name}»" if owner else "دیگری"
            form.error(
                "reader_id",
                f"مامور «{user.full_name}» از پیمانکار {who} است؛ مامور باید از پیمانکار همین مسیر یا از شرکت باشد",
            )
    form.done()
    assert cycle is not None
    return {
        "contractor_id": contractor_id,
        "reader_id": reader_id,
        "cycle_days": int(cycle),
        "window_start": start,
        "window_end": end,
    }


def update_route(
    session: Session, *, principal: Principal, clock: Clock, route_id: int, data: Mapping[str, Any]
) -> Route:
    """Change a route's contractor, reader, cycle length and reading window (audited).

    ``data`` holds ``contractor_id`` and ``reader_id`` (empty: the company's / none), ``cycle_days`` (30 or
    60), ``window_start`` and ``window_end`` (days 1–31 of the Jalali month)."""
    _require_manage(principal)
    route = get_route(session, principal=principal, route_id=route_id)
    audit.record_update(
        session,
        route,
        _parse_route(session, route, data),
        fields=_ROUTE_FIELDS,
        actor=principal.username,
        action="route.update",
        subject_type="route",
        at=clock.now(),
    )
    return route


# ------------------------------------------------------------------------------------------ moves


def _subscription_in_scope(session: Session, principal: Principal, subscription_id: int) -> Subscription:
    stmt = select(Subscription).where(Subscription.id == subscription_id)
    if principal.district_id is not None:
        stmt = stmt.where(Subscription.district_id == principal.district_id)
    sub = session.scalar(stmt)
    if sub is None:
        raise NotFound("اشتراک پیدا نشد")
    return sub


def find_subscription_id(session: Session, *, principal: Principal, number: str) -> int:
    """A subscription number (Persian digits allowed) in the principal's district → its id."""
    cleaned = "".join(normalize_digits(number).split())
    stmt = select(Subscription.id).where(Subscription.subscription_number == cleaned)
    if principal.district_id is not None:
        stmt = stmt.where(Subscription.district_id == principal.district_id)
    found = session.scalar(stmt)
    if found is None:
        raise ValidationError(f"اشتراک «{fa_digits(cleaned)}» در امور شما پیدا نشد", field="subscription")
    return int(found)


def move_subscription(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    subscription_id: int,
    route_id: int,
    sequence: int,
) -> RouteMembership:
    """Put a subscription on ``route_id`` at ``sequence`` from today: the open membership is closed today
    (``to_on``), a new one opened, and the subscription's route and sequence set; audited. The route must be
    of the subscription's district, and no other subscription may hold the sequence on it."""
    _require_manage(principal)
    sub = _subscription_in_scope(session, principal, subscription_id)
    errors: dict[str, str] = {}
    route = session.scalar(select(Route).where(Route.id == route_id, route_scope(principal)))
    if route is None:
        errors["route_id"] = "مسیر مقصد پیدا نشد"
    elif route.district_id != sub.district_id:
        errors["route_id"] = f"مسیر «{route.code}» از امور دیگری است؛ اشتراک فقط به مسیری در امور خودش می‌رود"
    if not 1 <= sequence <= 999_999:
        errors["sequence"] = "ردیف در مسیر باید عددی بین ۱ و ۹۹۹۹۹۹ باشد"
    if sub.supply_state == "removed":
        errors["subscription"] = "اشتراک جمع‌آوری‌شده را نمی‌توان جابه‌جا کرد"
    if route is not None and not errors:
        if sub.route_id == route.id and sub.route_sequence == sequence:
            errors["sequence"] = "اشتراک هم‌اکنون در همین مسیر و همین ردیف است"
        else:
            holder = session.scalar(
                select(Subscription.subscription_number).where(
                    Subscription.route_id == route.id,
                    Subscription.route_sequence == sequence,
                    Subscription.id != sub.id,
                    Subscription.supply_state != "removed",
                )
            )
            if holder is not None:
                errors["sequence"] = (
                    f"ردیف {fa_digits(sequence)} مسیر «{route.code}» از آنِ اشتراک {fa_digits(holder)} است"
                )
    if errors:
        raise ValidationError(next(iter(errors.values())), errors=errors)
    assert route is not None
    today = clock.today()
    for open_row in session.scalars(
        select(RouteMembership).where(RouteMembership.subscription_id == sub.id, RouteMembership.to_on.is_(None))
    ):
        open_row.to_on = max(today, open_row.from_on)
    membership = RouteMembership(
        subscription_id=sub.id, route_id=route.id, sequence=sequence, from_on=today, moved_by=principal.user_id or None
    )
    session.add(membership)
    audit.record_update(
        session,
        sub,
        {"route_id": route.id, "route_sequence": sequence},
        fields=_MOVE_FIELDS,
        actor=principal.username,
        action="subscription.route_move",
        subject_type="subscription",
        at=clock.now(),
    )
    return membership


@dataclass(frozen=True)
class MembershipRow:
    subscription_id: int
    subscription_number: str
    route_id: int
    route_code: str
    district_code: str
    sequence: int
    from_on: date
    to_on: date | None
    moved_by: str | None


def _membership_rows(session: Session, where: ColumnElement[bool], limit: int | None) -> list[MembershipRow]:
    stmt = (
        select(RouteMembership, Subscription.subscription_number, Route.code, District.code, User.full_name)
        .join(Subscription, Subscription.id == RouteMembership.subscription_id)
        .join(Route, Route.id == RouteMembership.route_id)
        .join(District, District.id == Route.district_id)
        .outerjoin(User, User.id == RouteMembership.moved_by)
        .where(where)
        .order_by(RouteMembership.from_on.desc(), RouteMembership.id.desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        MembershipRow(
            subscription_id=m.subscription_id,
            subscription_number=number,
            route_id=m.route_id,
            route_code=code,
            district_code=dcode,
            sequence=m.sequence,
            from_on=m.from_on,
            to_on=m.to_on,
            moved_by=who,
        )
        for m, number, code, dcode, who in session.execute(stmt)
    ]


def membership_history(session: Session, *, principal: Principal, subscription_id: int) -> list[MembershipRow]:
    """Every route a subscription has been on, newest first. A contractor's user or a reader sees it only for a
    subscription now on one of its routes."""
    require_view(principal)
    sub = _subscription_in_scope(session, principal, subscription_id)
    if principal.contractor_id is not None or is_reader(principal):
        on_mine = session.scalar(select(Route.id).where(Route.id == sub.route_id, route_scope(principal)))
        if on_mine is None:
            raise NotFound("اشتراک پیدا نشد")
    return _membership_rows(session, RouteMembership.subscription_id == sub.id, None)


def route_movements(session: Session, *, principal: Principal, route_id: int, limit: int = 50) -> list[MembershipRow]:
    """The latest memberships of a route: subscriptions that joined it or left it, newest first."""
    route = get_route(session, principal=principal, route_id=route_id)
    return _membership_rows(session, RouteMembership.route_id == route.id, limit)
