"""The reader's day on a phone (issue 4, «reader page»): the routes a reader works this cycle, a route's
subscriptions in reading sequence with their last read and this cycle's visit, and one visit recorded
through the read pipeline (``pipeline.import_reads``, source ``reader``).

Scope (architecture rule 10) is the routes' scope of ``routes.route_scope``: a reader sees the routes
assigned to them, a contractor's user their contractor's routes, a district user their district's. Using
the page needs ``READING_ENTER``. The pipeline applies its own scope again when the read is stored, so a
subscription outside the sender's routes is refused there too.

A cycle is the Jalali month of today (``billing.service.cycle_of``). A subscription counts as visited in
the cycle when a read made in the field (sources ``handheld``, ``api``, ``reader``) is dated in the
cycle's month, whatever its outcome; the latest such read is the one shown.

``record_visit`` checks the form (numbers, code, photo) before it writes anything and raises
``ValidationError`` with one Persian message per field. A refusal by the pipeline (a different read of the
same subscription already stored today from this page) is raised after the photo and the read batch were
written: the caller rolls its transaction back on any ``ValidationError`` (the page does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.orm import Session

from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.billing.service import cycle_of, cycle_window
from barq.calendar import fa_number
from barq.clock import Clock
from barq.connections.models import Subscription
from barq.customers.models import Premises
from barq.errors import NotFound, PermissionDenied, ValidationError
from barq.ids import normalize_digits
from barq.metering.models import READ_CODES, Meter, MeterInstallation, MeterRead, ReadingState
from barq.network.models import District, Route
from barq.reading.config import ReadingConfig, reading_config
from barq.reading.incoming import FIELD_TITLES, MAX_REGISTER, MISSING, NO_VALUE, parse_records
from barq.reading.photos import check_photo, store_photo
from barq.reading.pipeline import REASON_TITLES_FA, import_reads
from barq.reading.routes import get_route, route_due, route_scope, route_window

VISIT_SOURCES: Final = ("handheld", "api", "reader")
"""Reads made in the field (as the reader scorecard counts visits): not self-reads, estimates or demo data."""
DUE_STATES: Final = ("active", "disconnected")
"""Subscriptions whose meters are read (as in a bill run and a reading order)."""
PAGE_CODES: Final = ("read", "door_closed", "broken", "missing", "tamper", "hazard", "replaced")
"""Codes a reader records from the page, in the order the page offers them."""
TOU_KINDS: Final = ("tou", "demand")
REGISTER_FIELDS: Final = ("active", "peak", "offpeak", "maximeter_kw", "reactive")
ROUTE_LIMIT: Final = 200
"""At most this many routes on the reader's list (a reader has a few; an office user sees its first ones)."""

WINDOW_STATES: Final = {
    "open": "امروز در بازهٔ قرائت",
    "early": "بازهٔ قرائت هنوز باز نشده",
    "late": "بازهٔ قرائت گذشته است",
    "not_due": "این دوره قرائت ندارد",
}


def require_enter(principal: Principal) -> None:
    if not principal.can(P.READING_ENTER):
        raise PermissionDenied("شما اجازهٔ ثبت قرائت ندارید", detail=f"missing permission {P.READING_ENTER}")


# ------------------------------------------------------------------------------------------ views


@dataclass(frozen=True)
class Visit:
    """A read of this cycle as the reader sees it (or the outcome of the one just recorded)."""

    read_id: int
    subscription_id: int
    read_on: date
    code: str
    source: str
    status: str  # valid | exception | rejected
    reason: str | None
    kwh: int | None
    estimated: bool
    active: int | None
    duplicate: bool = False
    number: str = ""  # the subscription number, when the outcome is shown away from its subscription

    @property
    def kind(self) -> str:
        """ok | estimated | review | duplicate (the page colours the outcome by it)."""
        if self.duplicate:
            return "duplicate"
        if self.status != "valid":
            return "review"
        return "estimated" if self.estimated else "ok"

    @property
    def code_fa(self) -> str:
        return READ_CODES.get(self.code, self.code)

    @property
    def reason_fa(self) -> str:
        return REASON_TITLES_FA.get(self.reason or "", self.reason or "")

    @property
    def badge_fa(self) -> str:
        """A short state for the route list."""
        return {
            "ok": "قرائت شد",
            "estimated": f"{self.code_fa} · علی‌الحساب",
            "review": "در انتظار بررسی دفتر",
            "duplicate": "قرائت شد",
        }[self.kind]

    @property
    def summary_fa(self) -> str:
        """The outcome in a sentence: recorded, estimated, sent to the office for review, or already there."""
        kwh = f"{fa_number(self.kwh)} کیلووات‌ساعت" if self.kwh is not None else ""
        if self.kind == "duplicate":
            return "این قرائت پیش‌تر ثبت شده بود؛ چیزی تغییر نکرد."
        if self.kind == "review":
            return f"برای بررسی به دفتر فرستاده شد: {self.reason_fa}."
        if self.kind == "estimated":
            return f"«{self.code_fa}» ثبت شد؛ مصرف علی‌الحساب {kwh} برآورد شد."
        return f"قرائت ثبت شد؛ مصرف {kwh}."


@dataclass(frozen=True)
class WorkRoute:
    """A route on the reader's list, with its window in the cycle and its progress."""

    id: int
    code: str
    name: str
    district_name: str
    cycle: int
    due: bool
    read_from: date
    read_by: date
    window: str  # a key of WINDOW_STATES
    subscriptions: int
    visited: int

    @property
    def window_fa(self) -> str:
        return WINDOW_STATES[self.window]

    @property
    def remaining(self) -> int:
        return max(self.subscriptions - self.visited, 0)


@dataclass(frozen=True)
class Stop:
    """A subscription on a route, in reading sequence, with its meter, last read and this cycle's visit."""

    subscription_id: int
    number: str
    sequence: int | None
    address: str
    supply_state: str
    meter_serial: str | None
    meter_kind: str | None
    digits: int | None
    last_value: int | None
    last_on: date | None
    last_peak: int | None
    last_offpeak: int | None
    visit: Visit | None

    @property
    def has_meter(self) -> bool:
        return self.meter_serial is not None

    @property
    def tou(self) -> bool:
        return self.meter_kind in TOU_KINDS

    @property
    def demand(self) -> bool:
        return self.meter_kind == "demand"


@dataclass(frozen=True)
class StopPage:
    """One subscription's form: the route, the stop, its place in the sequence and its neighbours."""

    route: WorkRoute
    stop: Stop
    position: int  # 1-based
    total: int
    previous_id: int | None
    next_id: int | None


# ------------------------------------------------------------------------------------------ routes


def _window(today: date, due: bool, read_from: date, read_by: date) -> str:
    if not due:
        return "not_due"
    if today < read_from:
        return "early"
    return "late" if today > read_by else "open"


def _work_route(route: Route, district_name: str, today: date, subs: int, visited: int) -> WorkRoute:
    cycle = cycle_of(today)
    due = route_due(route, cycle)
    read_from, read_by = route_window(route, cycle)
    return WorkRoute(
        id=route.id,
        code=route.code,
        name=route.name,
        district_name=district_name,
        cycle=cycle,
        due=due,
        read_from=read_from,
        read_by=read_by,
        window=_window(today, due, read_from, read_by),
        subscriptions=subs,
        visited=visited,
    )


def _progress(session: Session, route_ids: list[int], cycle: int) -> tuple[dict[int, int], dict[int, int]]:
    """Per route: subscriptions to read, and those visited in the cycle."""
    if not route_ids:
        return {}, {}
    first, last = cycle_window(cycle)
    due = and_(Subscription.route_id.in_(route_ids), Subscription.supply_state.in_(DUE_STATES))
    subs = session.execute(select(Subscription.route_id, func.count()).where(due).group_by(Subscription.route_id))
    visited = session.execute(
        select(Subscription.route_id, func.count(distinct(MeterRead.subscription_id)))
        .join(MeterRead, MeterRead.subscription_id == Subscription.id)
        .where(due, MeterRead.read_on.between(first, last), MeterRead.source.in_(VISIT_SOURCES))
        .group_by(Subscription.route_id)
    )
    return {int(r or 0): int(n) for r, n in subs}, {int(r or 0): int(n) for r, n in visited}


def reader_routes(session: Session, *, principal: Principal, clock: Clock) -> list[WorkRoute]:
    """The routes ``principal`` reads, this cycle's first: those whose window is open today, then those
    due later or overdue, then those not read this cycle (a 60-day route in an odd month)."""
    require_enter(principal)
    today = clock.today()
    found = session.execute(
        select(Route, District.name)
        .join(District, District.id == Route.district_id)
        .where(route_scope(principal))
        .order_by(District.code, Route.code)
        .limit(ROUTE_LIMIT)
    ).all()
    subs, visited = _progress(session, [r.id for r, _ in found], cycle_of(today))
    routes = [_work_route(r, name, today, subs.get(r.id, 0), visited.get(r.id, 0)) for r, name in found]
    order = {"open": 0, "late": 1, "early": 2, "not_due": 3}
    return sorted(routes, key=lambda w: order[w.window])


def work_route(session: Session, *, principal: Principal, clock: Clock, route_id: int) -> WorkRoute:
    require_enter(principal)
    route = get_route(session, principal=principal, route_id=route_id)
    district = session.get_one(District, route.district_id)
    today = clock.today()
    subs, visited = _progress(session, [route.id], cycle_of(today))
    return _work_route(route, district.name, today, subs.get(route.id, 0), visited.get(route.id, 0))


# ------------------------------------------------------------------------------------------ stops


def _visits(session: Session, route_id: int, cycle: int) -> dict[int, Visit]:
    """The latest field read of the cycle of each subscription on the route."""
    first, last = cycle_window(cycle)
    stmt = (
        select(MeterRead)
        .join(Subscription, Subscription.id == MeterRead.subscription_id)
        .where(
            Subscription.route_id == route_id,
            MeterRead.read_on.between(first, last),
            MeterRead.source.in_(VISIT_SOURCES),
        )
        .order_by(MeterRead.read_on, MeterRead.id)
    )
    return {r.subscription_id: _visit(r) for r in session.scalars(stmt)}


def _visit(read: MeterRead, *, duplicate: bool = False, number: str = "") -> Visit:
    return Visit(
        read_id=read.id,
        subscription_id=read.subscription_id,
        read_on=read.read_on,
        code=read.code,
        source=read.source,
        status=read.status,
        reason=read.reason,
        kwh=read.kwh,
        estimated=bool(read.estimated),
        active=read.active,
        duplicate=duplicate,
        number=number,
    )


def route_stops(session: Session, *, principal: Principal, clock: Clock, route_id: int) -> tuple[WorkRoute, list[Stop]]:
    """A route in scope and its subscriptions to read (active or disconnected) in reading sequence.

    The last read is the reading state's last actual register value when it belongs to the meter in place
    now and is not older than its installation; else the installation's initial read."""
    route = work_route(session, principal=principal, clock=clock, route_id=route_id)
    stmt = (
        select(
            Subscription.id,
            Subscription.subscription_number,
            Subscription.route_sequence,
            Premises.address,
            Subscription.supply_state,
            Meter.id,
            Meter.serial,
            Meter.kind,
            Meter.digits,
            MeterInstallation.initial_read,
            MeterInstallation.installed_on,
            ReadingState.meter_id,
            ReadingState.last_value,
            ReadingState.last_actual_on,
            ReadingState.last_peak,
            ReadingState.last_offpeak,
        )
        .join(Premises, Premises.id == Subscription.premises_id)
        .outerjoin(
            MeterInstallation,
            and_(MeterInstallation.subscription_id == Subscription.id, MeterInstallation.removed_on.is_(None)),
        )
        .outerjoin(Meter, Meter.id == MeterInstallation.meter_id)
        .outerjoin(ReadingState, ReadingState.subscription_id == Subscription.id)
        .where(Subscription.route_id == route.id, Subscription.supply_state.in_(DUE_STATES))
        .order_by(Subscription.route_sequence.nulls_last(), Subscription.subscription_number)
    )
    visits = _visits(session, route.id, route.cycle)
    stops = []
    for (
        sid,
        number,
        seq,
        address,
        state,
        meter_id,
        serial,
        kind,
        digits,
        initial,
        installed_on,
        st_meter,
        last_value,
        last_on,
        last_peak,
        last_offpeak,
    ) in session.execute(stmt):
        current = (
            meter_id is not None
            and last_value is not None
            and st_meter == meter_id
            and last_on is not None
            and (installed_on is None or last_on >= installed_on)
        )
        stops.append(
            Stop(
                subscription_id=int(sid),
                number=number,
                sequence=seq,
                address=address,
                supply_state=state,
                meter_serial=serial,
                meter_kind=kind,
                digits=digits,
                last_value=last_value if current else initial,
                last_on=last_on if current else installed_on,
                last_peak=last_peak if current else None,
                last_offpeak=last_offpeak if current else None,
                visit=visits.get(int(sid)),
            )
        )
    return route, stops


def stop_page(session: Session, *, principal: Principal, clock: Clock, route_id: int, subscription_id: int) -> StopPage:
    """One subscription of a route in scope with its neighbours in the sequence; NotFound when the
    subscription is not on that route (or not to be read)."""
    route, stops = route_stops(session, principal=principal, clock=clock, route_id=route_id)
    ids = [s.subscription_id for s in stops]
    if subscription_id not in ids:
        raise NotFound("این اشتراک در این مسیر نیست")
    k = ids.index(subscription_id)
    return StopPage(
        route=route,
        stop=stops[k],
        position=k + 1,
        total=len(stops),
        previous_id=ids[k - 1] if k > 0 else None,
        next_id=ids[k + 1] if k + 1 < len(ids) else None,
    )


def visit_in_scope(session: Session, *, principal: Principal, read_id: int, duplicate: bool = False) -> Visit | None:
    """A read the principal may see (its subscription on a route in scope), for showing an outcome."""
    require_enter(principal)
    found = session.execute(
        select(MeterRead, Subscription.subscription_number)
        .join(Subscription, Subscription.id == MeterRead.subscription_id)
        .join(Route, Route.id == Subscription.route_id)
        .where(MeterRead.id == read_id, route_scope(principal))
    ).first()
    return _visit(found[0], duplicate=duplicate, number=found[1]) if found is not None else None


# ------------------------------------------------------------------------------------------ record


def parse_register(raw: str, name: str) -> tuple[int | None, tuple[str, str] | None]:
    """A register value typed by a person (Persian digits and thousands separators allowed): (value, None),
    (None, None) when empty, or (None, (code, Persian message)) with code ``negative``, ``not_a_number``
    or ``too_long``."""
    label = FIELD_TITLES[name]
    text = normalize_digits(raw).strip().replace("\u2212", "-")
    for sep in (",", "\u066c", "،", " "):
        text = text.replace(sep, "")
    if not text:
        return None, None
    if text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
        return None, ("negative", f"{label} نمی‌تواند منفی باشد")
    if not (text.isascii() and text.isdigit()):
        return None, ("not_a_number", f"{label} باید عدد صحیح باشد")
    if int(text) > MAX_REGISTER:
        return None, ("too_long", f"{label} بیش از ۹ رقم است")
    return int(text), None


def _position(form: Mapping[str, str]) -> tuple[str, str]:
    """The browser's position (hidden fields filled by ``navigator.geolocation``), or none when it is
    absent or not a position: a missing position never stops a read from being recorded."""
    try:
        lat = Decimal(normalize_digits(form.get("lat", "")).strip())
        lon = Decimal(normalize_digits(form.get("lon", "")).strip())
    except InvalidOperation:
        return "", ""
    if not (lat.is_finite() and lon.is_finite() and abs(lat) <= 90 and abs(lon) <= 180):
        return "", ""
    return str(lat.quantize(Decimal("0.000001"))), str(lon.quantize(Decimal("0.000001")))


def check_visit(stop: Stop, form: Mapping[str, str], photo: bytes | None, config: ReadingConfig) -> dict[str, str]:
    """The form's errors by field (empty when it may be recorded)."""
    errors: dict[str, str] = {}
    code = form.get("code", "").strip()
    if code not in PAGE_CODES:
        errors["code"] = "کد قرائت را برگزینید"
    if not stop.has_meter:
        errors["code"] = "برای این اشتراک کنتور نصب‌شده‌ای ثبت نیست؛ به دفتر خبر دهید"
    values: dict[str, int | None] = {}
    for name in REGISTER_FIELDS:
        values[name], problem = parse_register(form.get(name, ""), name)
        if problem is not None:
            errors[name] = problem[1]
    if code == "read":
        if values["active"] is None and "active" not in errors:
            errors["active"] = "رقم کنتور را وارد کنید"
        if stop.tou:
            for name in ("peak", "offpeak"):
                if values[name] is None and name not in errors:
                    errors[name] = f"کنتور چندتعرفه است: {FIELD_TITLES[name]} را هم وارد کنید"
    elif code in NO_VALUE:
        for name in REGISTER_FIELDS:
            if values[name] is not None:
                errors[name] = f"با کد «{READ_CODES[code]}» رقمی ثبت نمی‌شود؛ آن را پاک کنید"
    if stop.digits:
        for name in ("active", "peak", "offpeak"):
            value = values[name]
            if value is not None and value >= 10**stop.digits:
                errors[name] = f"رقم بیش از {fa_number(stop.digits)} رقمِ کنتور است"
    if photo:
        try:
            check_photo(photo, config)
        except ValidationError as exc:
            errors["photo"] = exc.message_fa
    return errors


def record_visit(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    route_id: int,
    subscription_id: int,
    form: Mapping[str, str],
    photo: bytes | None = None,
    config: ReadingConfig | None = None,
) -> Visit:
    """Record the reader's visit of one subscription now: a register value (and the TOU registers), or a
    code; an optional photo; the browser's position when given. Returns the stored read's outcome, or the
    read already stored (``duplicate``) when the same read arrives twice.

    ``form`` holds ``code`` (one of ``PAGE_CODES``), ``active``, ``peak``, ``offpeak``, ``maximeter_kw``,
    ``reactive`` (Persian digits allowed), ``lat`` and ``lon``. Raises ``ValidationError`` (errors by
    field) for a bad form, and NotFound when the subscription is not on a route in scope."""
    cfg = config or reading_config()
    page = stop_page(session, principal=principal, clock=clock, route_id=route_id, subscription_id=subscription_id)
    errors = check_visit(page.stop, form, photo, cfg)
    if errors:
        raise ValidationError(next(iter(errors.values())), errors=errors)
    code = form["code"].strip()
    lat, lon = _position(form)
    row: dict[str, str] = {
        "subscription": page.stop.number,
        "read_at": clock.local(clock.now()).isoformat(timespec="seconds"),
        "code": code,
        "lat": lat,
        "lon": lon,
    }
    for name in REGISTER_FIELDS:
        value, _ = parse_register(form.get(name, ""), name)
        row[name] = "" if value is None else str(value)
    stored = store_photo(session, photo, clock=clock, config=cfg) if photo else None
    photo_id = stored.id if stored is not None else MISSING
    incoming = parse_records([row], tz=clock.tz, photo_ids=[photo_id])
    result = import_reads(session, principal=principal, clock=clock, incoming=incoming, source="reader")
    refused = result.errors  # with the rows the parser refused
    if refused:
        raise ValidationError(refused[0].message, errors={e.field: e.message for e in refused})
    (outcome,) = result.outcomes
    if outcome.status == "duplicate":
        same = session.scalars(
            select(MeterRead)
            .where(
                MeterRead.subscription_id == page.stop.subscription_id,
                MeterRead.read_on == clock.today(),
                MeterRead.code == code,
            )
            .order_by(MeterRead.id.desc())
        )
        active = None if row["active"] == "" else int(row["active"])
        read = next(r for r in same if r.active == active)
        if stored is not None:  # nothing was stored with it: the photo is not kept
            session.delete(stored)
            session.flush()
        return _visit(read, duplicate=True, number=page.stop.number)
    read = session.scalars(
        select(MeterRead).where(
            MeterRead.batch_id == result.batch.id, MeterRead.subscription_id == page.stop.subscription_id
        )
    ).one()
    return _visit(read, number=page.stop.number)
