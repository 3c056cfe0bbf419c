"""The pure half of reader scorecards: measures, points, the weighted score, rounding, ranking, cycles."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from barq.errors import ValidationError
from barq.reading.scorecard import (
    Counts,
    Line,
    Rules,
    ZeroAt,
    by_contractor,
    cycle_name,
    cycles_between,
    fa_measure,
    fa_one_decimal,
    make_line,
    measure_counts,
    one_decimal,
    parse_cycle,
    points,
    ranked,
    weighted_score,
)

WEIGHTS = {
    "completion": 30,
    "on_time": 20,
    "door_closed": 15,
    "exceptions": 10,
    "proven_wrong": 15,
    "complaints": 5,
    "photo": 5,
}
RULES = Rules(weights=WEIGHTS)
BIG = Counts(
    ordered=400, completed=388, visits=410, on_time=369, door_closed=41, exceptions=12, proven_wrong=6,
    complaints=2, photos=287,
)  # fmt: skip


def test_measures_are_shares_and_rates_per_thousand() -> None:
    assert measure_counts(BIG) == {
        "completion": Fraction(388, 400),
        "on_time": Fraction(369, 410),
        "door_closed": Fraction(41, 410),
        "exceptions": Fraction(12, 410),
        "proven_wrong": Fraction(6000, 410),
        "complaints": Fraction(2000, 410),
        "photo": Fraction(287, 410),
    }


def test_points_of_a_realistic_month() -> None:
    assert points(BIG, ZeroAt()) == {
        "completion": Fraction(97),
        "on_time": Fraction(90),  # 369 / 410
        "door_closed": Fraction(50),  # 10 % of visits, zero at 20 %
        "exceptions": Fraction(100) - Fraction(12 * 1000, 410),  # 2.93 % of 10 %
        "proven_wrong": Fraction(100) - Fraction(6000 * 2, 410),  # 14.6 per 1,000 of 50
        "complaints": Fraction(100) - Fraction(2000 * 10, 410),  # 4.88 per 1,000 of 10
        "photo": Fraction(70),
    }
    score = weighted_score(points(BIG, ZeroAt()), WEIGHTS)
    assert score == Fraction(
        30 * 97 + 20 * 90 + 15 * 50 + 10 * (100 - Fraction(12000, 410)) + 15 * (100 - Fraction(12000, 410))
        + 5 * (100 - Fraction(20000, 410)) + 5 * 70,
        100,
    )  # fmt: skip
    assert fa_one_decimal(score) == "۷۸٫۳"  # 78.3439…


@pytest.mark.parametrize(
    ("door_closed", "expected"),
    [(0, 100), (5, 75), (10, 50), (20, 0), (30, 0), (100, 0)],
)
def test_a_bad_share_falls_linearly_to_zero_at_its_threshold(door_closed: int, expected: int) -> None:
    c = Counts(visits=100, door_closed=door_closed)
    assert points(c, ZeroAt())["door_closed"] == expected


def test_thresholds_come_from_the_rules() -> None:
    c = Counts(visits=1000, exceptions=30, proven_wrong=30, complaints=3, door_closed=30)
    zero = ZeroAt(door_closed_percent=6, exceptions_percent=4, proven_wrong_per_1000=60, complaints_per_1000=4)
    pts = points(c, zero)
    assert (pts["door_closed"], pts["exceptions"], pts["proven_wrong"], pts["complaints"]) == (50, 25, 50, 25)


def test_a_factor_without_a_denominator_is_left_out_with_its_weight() -> None:
    stand_in = Counts(visits=4, on_time=4, photos=2)  # nothing ordered: no completion
    pts = points(stand_in, ZeroAt())
    assert pts["completion"] is None
    assert weighted_score(pts, WEIGHTS) == Fraction(20 * 100 + 15 * 100 + 10 * 100 + 15 * 100 + 5 * 100 + 5 * 50, 70)
    idle = Counts(ordered=12)  # ordered, never went: only completion, 0
    assert weighted_score(points(idle, ZeroAt()), WEIGHTS) == 0
    only_completion = dict.fromkeys(WEIGHTS, 0) | {"photo": 1}
    assert weighted_score(points(idle, ZeroAt()), only_completion) is None


@given(
    st.integers(0, 500).flatmap(
        lambda visits: st.tuples(
            st.just(visits),
            st.integers(0, 600),
            *(st.integers(0, visits) for _ in range(6)),
        )
    ),
    st.dictionaries(st.sampled_from(sorted(WEIGHTS)), st.integers(0, 50), min_size=7, max_size=7),
)
def test_the_score_is_always_between_0_and_100(raw: tuple[int, ...], weights: dict[str, int]) -> None:
    visits, ordered, on_time, door, exc, wrong, compl, photos = raw
    c = Counts(
        ordered=ordered,
        completed=min(ordered, visits),
        visits=visits,
        on_time=on_time,
        door_closed=door,
        exceptions=exc,
        proven_wrong=wrong,
        complaints=compl,
        photos=photos,
    )
    score = weighted_score(points(c, ZeroAt()), weights)
    if score is not None:
        assert 0 <= score <= 100


@pytest.mark.parametrize(
    ("value", "rounded", "shown"),
    [
        (Fraction(195, 4), Fraction(488, 10), "۴۸٫۸"),  # 48.75: halves go up
        (Fraction(155, 3), Fraction(517, 10), "۵۱٫۷"),
        (Fraction(650, 7), Fraction(929, 10), "۹۲٫۹"),
        (Fraction(1, 20), Fraction(1, 10), "۰٫۱"),
        (Fraction(0), Fraction(0), "۰٫۰"),
        (Fraction(100), Fraction(100), "۱۰۰٫۰"),
    ],
)
def test_one_decimal(value: Fraction, rounded: Fraction, shown: str) -> None:
    assert one_decimal(value) == rounded
    assert fa_one_decimal(value) == shown


def test_measures_as_shown() -> None:
    assert fa_measure("on_time", Fraction(369, 410)) == "۹۰٫۰٪"
    assert fa_measure("door_closed", Fraction(1, 3)) == "۳۳٫۳٪"
    assert fa_measure("complaints", Fraction(2000, 410)) == "۴٫۹"
    assert fa_measure("completion", None) == "—"
    assert fa_one_decimal(Fraction(12345, 1)) == "۱۲٬۳۴۵٫۰"


def _line(name: str, score: Fraction | None, completed: int, key: int, contractor: int | None = None) -> Line:
    line = make_line(
        cycle=140508,
        key=key,
        name=name,
        contractor_id=contractor,
        contractor_name="شرکت" if contractor is None else f"پیمانکار {contractor}",
        counts=Counts(ordered=10, completed=completed, visits=10),
        rules=RULES,
    )
    return replace(line, score=score)


def test_dense_rank_by_score_then_completion_names_only_order() -> None:
    lines = [
        _line("ب", Fraction(80), 9, 1),
        _line("الف", Fraction(80), 9, 2),
        _line("پ", Fraction(80), 10, 3),
        _line("ت", Fraction(90), 5, 4),
        _line("ث", None, 0, 5),
        _line("ج", Fraction(70), 10, 6),
    ]
    out = ranked(lines)
    assert [(x.name, x.rank) for x in out] == [
        ("ت", 1),
        ("پ", 2),  # same score as الف and ب, better completion
        ("الف", 3),  # equal in score and completion: one rank, listed by name
        ("ب", 3),
        ("ج", 4),  # dense: no gap after the tie
        ("ث", None),
    ]


def test_contractor_lines_pool_counts_and_company_readers_group_together() -> None:
    def reader(key: int, contractor: int | None, counts: Counts) -> Line:
        return make_line(
            cycle=140508,
            key=key,
            name=f"r{key}",
            contractor_id=contractor,
            contractor_name="شرکت" if contractor is None else "پیمانکار",
            counts=counts,
            rules=RULES,
        )

    out = by_contractor(
        [
            reader(1, 7, Counts(ordered=100, completed=100, visits=100, on_time=100, photos=100)),
            reader(2, 7, Counts(ordered=100, completed=0)),
            reader(3, None, Counts(ordered=10, completed=10, visits=10, on_time=10, photos=10)),
            reader(4, None, Counts(visits=10, on_time=10, photos=10)),
        ],
        RULES,
    )
    assert [(x.key, x.readers, x.counts.ordered, x.counts.visits) for x in out] == [(None, 2, 10, 20), (7, 2, 200, 100)]
    assert out[0].score == 100
    # pooled: completion 100 of 200 → 50 points; the mean of the two readers' scores would be 50 as well,
    # but the other factors come from reader 1's visits alone
    assert out[1].score == Fraction(30 * 50 + 70 * 100, 100)


def test_rules_are_checked() -> None:
    with pytest.raises(ValidationError):
        ZeroAt(door_closed_percent=0)
    with pytest.raises(ValidationError):
        Rules(weights=dict.fromkeys(WEIGHTS, 0))
    with pytest.raises(ValidationError):
        Rules(weights={"completion": 1})
    with pytest.raises(ValidationError):
        Rules(weights=WEIGHTS | {"photo": -1})


@pytest.mark.parametrize("raw", ["1405/09", "۱۴۰۵/۰۹", "1405-9", "140509", " 1405/9 "])
def test_parse_cycle(raw: str) -> None:
    assert parse_cycle(raw) == 140509


@pytest.mark.parametrize("raw", ["", "1405", "1405/13", "14050", "abc", "05/1405"])
def test_parse_cycle_refuses(raw: str) -> None:
    with pytest.raises(ValidationError):
        parse_cycle(raw)


def test_cycles_and_their_names() -> None:
    assert cycles_between(140411, 140502) == [140411, 140412, 140501, 140502]
    assert cycle_name(140509) == "آذر ۱۴۰۵"
    assert cycle_name(140412) == "اسفند ۱۴۰۴"
