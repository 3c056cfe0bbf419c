"""Reader scorecards on a real database (SQLite, and PostgreSQL when BARQ_TEST_DATABASE_URL is set): the
counts of every reader and contractor, scores and ranks, scopes, 60-day routes, the 12-cycle trend."""

from __future__ import annotations

from fractions import Fraction

import pytest
from sqlalchemy import Engine, update

from barq.clock import FixedClock
from barq.connections.models import Subscription
from barq.errors import NotFound, PermissionDenied, ValidationError
from barq.network.models import Route
from barq.reading.scorecard import Counts, Line, Scorecard, reader_lines, reader_scorecard, reader_trend
from tests.factories import build_world
from tests.reading_factories import build_reading
from tests.scorecard_factories import CYCLE, EXPECTED, MEHR_C, RULES, ScorecardData, build_aban

pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")


@pytest.fixture
def data(engine: Engine, clock: FixedClock) -> ScorecardData:
    return build_aban(build_reading(build_world(engine, clock, customers=6)))


def _card(data: ScorecardData, username: str = "head", district_id: int | None = None) -> Scorecard:
    with data.world.session() as s:
        return reader_scorecard(
            s,
            principal=data.world.principal(username),
            clock=data.world.clock,
            cycle=CYCLE,
            district_id=district_id,
            rules=RULES,
        )


def _names(lines: list[Line]) -> list[str]:
    return [line.name.removeprefix("مامور ") for line in lines]


def test_counts_of_every_reader(data: ScorecardData) -> None:
    card = _card(data)
    got = {line.name.removeprefix("مامور "): line.counts for line in card.readers}
    assert got == EXPECTED


def test_scores_and_dense_ranks(data: ScorecardData) -> None:
    card = _card(data)
    rows = [(name, line.score, line.rank) for name, line in zip(_names(card.readers), card.readers, strict=True)]
    assert rows == [
        ("reader_a2", Fraction(650, 7), 1),  # ties with reader_co on score and on completion (none): by name
        ("reader_co", Fraction(650, 7), 1),
        ("reader_c", Fraction(149, 2), 2),
        ("reader_a", Fraction(155, 3), 3),
        ("reader_b", Fraction(0), 4),
    ]
    c = card.readers[2]
    assert c.points == {
        "completion": 100,
        "on_time": 90,
        "door_closed": 50,
        "exceptions": 0,
        "proven_wrong": 100,
        "complaints": 0,
        "photo": 80,
    }
    assert c.routes == ("R12",) and c.contractor_name == "پیمانکار پ"
    co = card.readers[1]
    assert co.contractor_id is None and co.contractor_name == "شرکت"
    assert co.measures["completion"] is None and co.points["completion"] is None


def test_contractors_pool_their_readers_counts(data: ScorecardData) -> None:
    card = _card(data)
    rows = [(line.name, line.readers, line.score, line.rank) for line in card.contractors]
    assert rows == [
        ("شرکت", 1, Fraction(650, 7), 1),
        ("پیمانکار پ", 1, Fraction(149, 2), 2),
        ("پیمانکار الف", 2, Fraction(195, 4), 3),
        ("پیمانکار ب", 1, Fraction(0), 4),
    ]
    assert card.contractors[2].counts == EXPECTED["reader_a"] + EXPECTED["reader_a2"]


@pytest.mark.parametrize(
    ("username", "district", "readers"),
    [
        ("head", None, ["reader_a2", "reader_co", "reader_c", "reader_a", "reader_b"]),
        ("head", "12", ["reader_c"]),
        # district 11: the readers of its routes, and whoever visited its subscriptions
        ("clerk11", None, ["reader_a2", "reader_co", "reader_a", "reader_b"]),
        ("manager12", None, ["reader_c"]),
        ("contra", None, ["reader_a2", "reader_a"]),
        ("contrb", None, ["reader_b"]),
        # a filter narrows a scope, never widens it
        ("contra", "11", ["reader_a2", "reader_a"]),
        ("contra", "12", []),
    ],
)
def test_scope(data: ScorecardData, username: str, district: str | None, readers: list[str]) -> None:
    district_id = data.world.district_ids[district] if district else None
    card = _card(data, username, district_id=district_id)
    assert _names(card.readers) == readers
    # a reader's figures do not depend on who looks
    for line in card.readers:
        assert line.counts == EXPECTED[line.name.removeprefix("مامور ")]


def test_a_district_user_cannot_ask_for_another_district(data: ScorecardData) -> None:
    with pytest.raises(PermissionDenied):
        _card(data, "clerk11", district_id=data.world.district_ids["12"])


def test_a_reader_sees_only_themself(data: ScorecardData) -> None:
    card = _card(data, "reader_c")
    assert _names(card.readers) == ["reader_c"]
    assert card.readers[0].rank == 1
    assert [line.name for line in card.contractors] == ["پیمانکار پ"]
    assert _card(data, "reader_c", district_id=data.world.district_ids["11"]).readers == []


def test_sixty_day_routes_are_ordered_in_even_months_and_only_due_subscriptions(data: ScorecardData) -> None:
    world = data.world
    with world.session() as s:
        s.execute(update(Route).where(Route.code == "R12").values(cycle_days=60))
        s.execute(update(Subscription).where(Subscription.id == data.subs[3]).values(supply_state="removed"))
        s.commit()
        lines = reader_lines(
            s,
            principal=world.principal("head"),
            clock=world.clock,
            first_cycle=140507,
            last_cycle=140509,
            reader_id=data.users["reader_c"],
            rules=RULES,
        )
    by_cycle = {line.cycle: line.counts for line in lines}
    # Mehr (odd): nothing ordered, so the visit of sub 5 completes nothing but still counts as a visit;
    # Aban (even): subs 1 and 5 (sub 3 is removed: its visits count, not its completion); Azar: no line
    assert sorted(by_cycle) == [140507, 140508]
    assert by_cycle[140507] == Counts(visits=1, on_time=1, complaints=1, photos=1)
    assert by_cycle[140508] == Counts(
        ordered=2, completed=2, visits=10, on_time=9, door_closed=1, exceptions=2, complaints=1, photos=8
    )


def test_trend_of_twelve_cycles(data: ScorecardData) -> None:
    world = data.world
    with world.session() as s:
        trend = reader_trend(
            s,
            principal=world.principal("manager12"),
            clock=world.clock,
            reader_id=data.users["reader_c"],
            last_cycle=140509,
            rules=RULES,
        )
    assert trend.cycles[0] == 140410 and trend.cycles[-1] == 140509 and len(trend.cycles) == 12
    assert trend.reader.routes == ("R12",)
    # every cycle orders R12's three subscriptions; only Mehr and Aban have visits
    assert set(trend.lines) == set(trend.cycles)
    assert trend.lines[140507].counts == MEHR_C
    # the complaint made at 00:30 on Dey 1 in Tehran (still Azar 30 in UTC) is two cycles after the Aban visit
    assert trend.lines[140508].counts == EXPECTED["reader_c"]
    assert trend.lines[140509].counts == Counts(ordered=3)
    assert trend.lines[140509].score == 0
    # completion 1 of 3, a complaint on its only visit: (30×100/3 + 20×100 + 15×100 + 10×100 + 15×100 + 0 + 5×100) / 100
    assert trend.lines[140507].score == 75


def test_trend_of_a_reader_outside_the_scope_is_not_found(data: ScorecardData) -> None:
    world = data.world
    with world.session() as s, pytest.raises(NotFound):
        reader_trend(
            s,
            principal=world.principal("manager12"),
            clock=world.clock,
            reader_id=data.users["reader_a"],
            last_cycle=CYCLE,
            rules=RULES,
        )


def test_permission_and_range_are_checked(data: ScorecardData) -> None:
    world = data.world
    with world.session() as s:
        with pytest.raises(PermissionDenied):
            reader_scorecard(s, principal=world.principal("field"), clock=world.clock, cycle=CYCLE, rules=RULES)
        with pytest.raises(ValidationError):
            reader_lines(s, principal=world.principal("head"), clock=world.clock, first_cycle=140509, last_cycle=140508)
        with pytest.raises(ValidationError):
            reader_lines(s, principal=world.principal("head"), clock=world.clock, first_cycle=140101, last_cycle=140509)
