"""Reading routes on a real database: who sees which route, editing a route with its checks and audit row,
moving a subscription between routes with its membership history."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from barq.audit import AuditEntry
from barq.auth.service import create_user
from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.errors import NotFound, PermissionDenied, ValidationError
from barq.metering.models import RouteMembership
from barq.network.models import Route
from barq.reading.routes import (
    get_route,
    list_routes,
    membership_history,
    move_subscription,
    reader_choices,
    route_movements,
    route_subscriptions,
    update_route,
)
from tests.factories import PASSWORD, build_world
from tests.reading_factories import INSTALLED_ON, Reading, build_reading

TODAY = date(2026, 11, 28)  # FixedClock's day in Tehran


@pytest.fixture
def rd(engine: Engine, clock: FixedClock) -> Reading:
    out = build_reading(build_world(engine, clock, customers=6))
    with out.world.session() as s:
        user = create_user(
            s,
            username="manager11",
            full_name="مدیر امور ۱۱",
            password=PASSWORD,
            roles=["district_manager"],
            clock=clock,
            actor="test",
            district_id=out.world.district_ids["11"],
        )
        out.world.users["manager11"] = user.id
        s.commit()
    return out


def _codes(rd: Reading, username: str) -> list[str]:
    with rd.world.session() as s:
        return [r.code for r in list_routes(s, principal=rd.world.principal(username)).rows]


@pytest.mark.parametrize(
    ("username", "codes"),
    [
        ("admin", ["R11A", "R11B", "R12"]),
        ("head", ["R11A", "R11B", "R12"]),
        ("clerk11", ["R11A", "R11B"]),
        ("manager12", ["R12"]),
        ("contra", ["R11A"]),
        ("contrb", ["R11B"]),
        ("reader_a", ["R11A"]),
        ("reader_c", ["R12"]),
    ],
)
def test_each_principal_sees_its_routes(rd: Reading, username: str, codes: list[str]) -> None:
    assert _codes(rd, username) == codes


def test_routes_without_reading_permissions_are_refused(rd: Reading) -> None:
    with rd.world.session() as s, pytest.raises(PermissionDenied):
        list_routes(s, principal=rd.world.principal("field"))


def test_the_list_counts_subscriptions_and_filters(rd: Reading) -> None:
    admin = rd.world.principal("admin")
    with rd.world.session() as s:
        page = list_routes(s, principal=admin)
        assert {r.code: r.subscriptions for r in page.rows} == {"R11A": 2, "R11B": 1, "R12": 3}
        r12 = next(r for r in page.rows if r.code == "R12")
        assert (r12.district_code, r12.reader_name, r12.contractor_name) == ("12", "مامور reader_c", "پیمانکار پ")
        sub = s.get_one(Subscription, rd.subs_on("R12")[0])
        sub.supply_state = "removed"
        s.commit()
        assert {r.code: r.subscriptions for r in list_routes(s, principal=admin).rows}["R12"] == 2
        only = list_routes(s, principal=admin, contractor_id=rd.world.contractor_ids["b"])
        assert [r.code for r in only.rows] == ["R11B"]
        assert list_routes(s, principal=admin, cycle_days=60).total == 0
        paged = list_routes(s, principal=admin, page=2, size=2)
        assert (paged.total, paged.pages, [r.code for r in paged.rows]) == (3, 2, ["R12"])


def test_a_route_outside_the_scope_is_not_found(rd: Reading) -> None:
    with rd.world.session() as s:
        with pytest.raises(NotFound):
            get_route(s, principal=rd.world.principal("manager12"), route_id=rd.route_ids["R11A"])
        with pytest.raises(NotFound):
            get_route(s, principal=rd.world.principal("reader_a"), route_id=rd.route_ids["R11B"])
        assert get_route(s, principal=rd.world.principal("reader_a"), route_id=rd.route_ids["R11A"]).code == "R11A"


# ------------------------------------------------------------------------------------------ edit


def _edit(rd: Reading, username: str, code: str, **data: object) -> Route:
    values = {"contractor_id": "", "reader_id": "", "cycle_days": "30", "window_start": "1", "window_end": "25"}
    values.update({k: str(v) for k, v in data.items()})
    with rd.world.session() as s:
        route = update_route(
            s, principal=rd.world.principal(username), clock=rd.world.clock, route_id=rd.route_ids[code], data=values
        )
        s.commit()
        return route


def test_a_route_is_edited_and_audited(rd: Reading) -> None:
    b, reader_b = rd.world.contractor_ids["b"], rd.world.users["reader_b"]
    route = _edit(
        rd, "manager11", "R11A", contractor_id=b, reader_id=reader_b, cycle_days=60, window_start=5, window_end="۲۸"
    )
    assert (route.contractor_id, route.reader_id, route.cycle_days, route.window_start, route.window_end) == (
        b,
        reader_b,
        60,
        5,
        28,
    )
    with rd.world.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "route.update")).one()
        assert (entry.actor, entry.subject_type, entry.subject_id) == ("manager11", "route", rd.route_ids["R11A"])
        assert entry.before == {
            "reader_id": rd.world.users["reader_a"],
            "contractor_id": rd.world.contractor_ids["a"],
            "cycle_days": 30,
            "window_start": 1,
            "window_end": 25,
        }
        assert entry.after is not None and entry.after["window_end"] == 28 and entry.after["cycle_days"] == 60


def test_a_company_reader_may_read_a_contractors_route_and_a_route_may_have_no_contractor(rd: Reading) -> None:
    with rd.world.session() as s:
        company = create_user(
            s,
            username="reader_co",
            full_name="مامور شرکت",
            password=PASSWORD,
            roles=["reader"],
            clock=rd.world.clock,
            actor="test",
        )
        s.commit()
    route = _edit(rd, "admin", "R11A", contractor_id=rd.world.contractor_ids["a"], reader_id=company.id)
    assert route.reader_id == company.id
    route = _edit(rd, "admin", "R11A", reader_id=company.id)
    assert (route.contractor_id, route.reader_id) == (None, company.id)
    with rd.world.session() as s:
        names = [u.username for u, _ in reader_choices(s, district_id=rd.world.district_ids["11"])]
    assert set(names) == {"reader_a", "reader_b", "reader_co"}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"contractor_id": "a", "reader_id": "reader_b"},
            "reader_id",
            "مامور «مامور reader_b» از پیمانکار «پیمانکار ب» است؛ مامور باید از پیمانکار همین مسیر یا از شرکت باشد",
        ),
        ({"reader_id": "reader_a"}, "reader_id", "مامور «مامور reader_a» از پیمانکار «پیمانکار الف» است"),
        ({"contractor_id": "a", "reader_id": "clerk"}, "reader_id", "کاربر «کاربر clerk» نقش مامور قرائت ندارد"),
        ({"contractor_id": "c"}, "contractor_id", "این پیمانکار فعال نیست یا در امور این مسیر قرارداد ندارد"),
        ({"window_start": 20, "window_end": 10}, "window_end", "روز پایان قرائت پیش از روز آغاز آن است"),
        ({"window_end": 32}, "window_end", "«روز پایان قرائت» نباید بیشتر از 31 باشد"),
        ({"window_start": 0}, "window_start", "«روز آغاز قرائت» نباید کمتر از 1 باشد"),
        ({"cycle_days": 45}, "cycle_days", "«طول دوره» یکی از گزینه‌های مجاز نیست"),
        ({"window_start": "اول"}, "window_start", "«روز آغاز قرائت» باید عدد صحیح باشد"),
    ],
)
def test_a_bad_route_edit_is_refused_with_a_persian_message(
    rd: Reading, data: dict[str, object], field: str, message: str
) -> None:
    resolved = dict(data)
    if "contractor_id" in resolved:
        resolved["contractor_id"] = rd.world.contractor_ids[str(resolved["contractor_id"])]
    if "reader_id" in resolved:
        resolved["reader_id"] = rd.world.users[str(resolved["reader_id"])]
    with pytest.raises(ValidationError) as caught:
        _edit(rd, "admin", "R11A", **resolved)
    assert caught.value.errors[field].startswith(message)
    with rd.world.session() as s:
        assert s.get_one(Route, rd.route_ids["R11A"]).reader_id == rd.world.users["reader_a"]


def test_an_inactive_reader_is_refused(rd: Reading) -> None:
    from barq.auth.models import User

    with rd.world.session() as s:
        s.get_one(User, rd.world.users["reader_a"]).is_active = False
        s.commit()
    with pytest.raises(ValidationError) as caught:
        _edit(rd, "admin", "R11A", contractor_id=rd.world.contractor_ids["a"], reader_id=rd.world.users["reader_a"])
    assert caught.value.errors == {"reader_id": "مامور قرائت پیدا نشد یا غیرفعال است"}


def test_editing_needs_manage_and_scope(rd: Reading) -> None:
    with pytest.raises(PermissionDenied):
        _edit(rd, "clerk11", "R11A")
    with pytest.raises(PermissionDenied):
        _edit(rd, "contra", "R11A")
    with pytest.raises(PermissionDenied):
        _edit(rd, "reader_a", "R11A")
    with pytest.raises(NotFound):
        _edit(rd, "manager12", "R11A")


# ------------------------------------------------------------------------------------------ moves


def _move(rd: Reading, username: str, sub_id: int, code: str, sequence: int) -> RouteMembership:
    with rd.world.session() as s:
        m = move_subscription(
            s,
            principal=rd.world.principal(username),
            clock=rd.world.clock,
            subscription_id=sub_id,
            route_id=rd.route_ids[code],
            sequence=sequence,
        )
        s.commit()
        return m


def test_a_move_closes_the_open_membership_and_opens_one(rd: Reading) -> None:
    sub_id = rd.subs_on("R11A")[0]
    _move(rd, "manager11", sub_id, "R11B", 5)
    assert rd.subs_on("R11B") == [sub_id, *[i for i in rd.subs_on("R11B") if i != sub_id]]
    with rd.world.session() as s:
        sub = s.get_one(Subscription, sub_id)
        assert (sub.route_id, sub.route_sequence) == (rd.route_ids["R11B"], 5)
        rows = list(
            s.scalars(
                select(RouteMembership).where(RouteMembership.subscription_id == sub_id).order_by(RouteMembership.id)
            )
        )
        assert [(r.route_id, r.sequence, r.from_on, r.to_on) for r in rows] == [
            (rd.route_ids["R11A"], 10, INSTALLED_ON, TODAY),
            (rd.route_ids["R11B"], 5, TODAY, None),
        ]
        assert rows[1].moved_by == rd.world.users["manager11"]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "subscription.route_move")).one()
        assert entry.before == {"route_id": rd.route_ids["R11A"], "route_sequence": 10}
        assert entry.after == {"route_id": rd.route_ids["R11B"], "route_sequence": 5}
        history = membership_history(s, principal=rd.world.principal("manager11"), subscription_id=sub_id)
        assert [(h.route_code, h.sequence, h.to_on, h.moved_by) for h in history] == [
            ("R11B", 5, None, "مدیر امور ۱۱"),
            ("R11A", 10, TODAY, None),
        ]
        moves = route_movements(s, principal=rd.world.principal("admin"), route_id=rd.route_ids["R11A"])
        other = rd.subs_on("R11A")[0]
        assert {(m.subscription_id, m.to_on) for m in moves} == {(sub_id, TODAY), (other, None)}


def test_a_move_within_the_route_changes_the_sequence(rd: Reading) -> None:
    first, second = rd.subs_on("R11A")
    _move(rd, "admin", second, "R11A", 5)
    assert rd.subs_on("R11A") == [second, first]
    with rd.world.session() as s:
        members, page, pages, total = route_subscriptions(
            s, principal=rd.world.principal("admin"), route_id=rd.route_ids["R11A"]
        )
        assert [(m.subscription_id, m.sequence) for m in members] == [(second, 5), (first, 10)]
        assert (page, pages, total) == (1, 1, 2)
        assert members[0].meter_serial == f"T{second:08d}"


@pytest.mark.parametrize(
    ("code", "sequence", "field", "message"),
    [
        ("R12", 5, "route_id", "مسیر «R12» از امور دیگری است؛ اشتراک فقط به مسیری در امور خودش می‌رود"),
        ("R11A", 20, "sequence", "ردیف ۲۰ مسیر «R11A» از آنِ اشتراک"),
        ("R11A", 10, "sequence", "اشتراک هم‌اکنون در همین مسیر و همین ردیف است"),
        ("R11B", 0, "sequence", "ردیف در مسیر باید عددی بین ۱ و ۹۹۹۹۹۹ باشد"),
    ],
)
def test_a_bad_move_is_refused_and_changes_nothing(
    rd: Reading, code: str, sequence: int, field: str, message: str
) -> None:
    sub_id = rd.subs_on("R11A")[0]
    with pytest.raises(ValidationError) as caught:
        _move(rd, "admin", sub_id, code, sequence)
    assert caught.value.errors[field].startswith(message)
    with rd.world.session() as s:
        assert s.get_one(Subscription, sub_id).route_id == rd.route_ids["R11A"]
        assert s.scalars(select(RouteMembership).where(RouteMembership.to_on.is_not(None))).first() is None


def test_moves_need_manage_and_the_subscriptions_district(rd: Reading) -> None:
    sub11 = rd.subs_on("R11A")[0]
    with pytest.raises(PermissionDenied):
        _move(rd, "contra", sub11, "R11B", 5)
    with pytest.raises(NotFound):
        _move(rd, "manager12", sub11, "R12", 5)
    with pytest.raises(ValidationError) as caught:  # a district-12 manager cannot pick a district-11 route
        _move(rd, "manager12", rd.subs_on("R12")[0], "R11A", 5)
    assert caught.value.errors == {"route_id": "مسیر مقصد پیدا نشد"}
