"""Read validation: hand-computed consumption and reason codes, and vector == scalar on random reads."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barq.errors import ValidationError
from barq.metering.validation import (
    REASON_TITLES_FA,
    REASONS,
    ReadCheck,
    ValidationColumns,
    ValidationLimits,
    validate_read,
    validate_reads,
)

TODAY = date(2024, 2, 1)
D0 = date(2024, 1, 1)
D30 = date(2024, 1, 31)  # 30 days after D0


def one(**kw: Any) -> ReadCheck:
    """Check one read both ways (scalar, and a one-row vector) and return the scalar result."""
    args: dict[str, Any] = {
        "prev_value": 1000,
        "prev_date": D0,
        "new_value": 1300,
        "new_date": D30,
        "digits": 5,
        "expected_daily_milli": 10_000,  # 10 kWh/day
        "active": True,
        "today": TODAY,
    }
    args.update(kw)
    scalar = validate_read(**args)
    limits = args.get("limits")
    cols = ValidationColumns(
        prev_value=np.array([args["prev_value"]], dtype=np.int64),
        prev_date=np.array([args["prev_date"]], dtype="datetime64[D]"),
        new_value=np.array([args["new_value"]], dtype=np.int64),
        new_date=np.array([args["new_date"]], dtype="datetime64[D]"),
        digits=np.array([args["digits"]], dtype=np.int64),
        expected_daily_milli=np.array([args["expected_daily_milli"]], dtype=np.int64),
        active=np.array([args["active"]], dtype=np.bool_),
        replaced=np.array([args.get("replaced", False)], dtype=np.bool_),
        old_final=np.array([args.get("old_final", 0)], dtype=np.int64),
        new_initial=np.array([args.get("new_initial", 0)], dtype=np.int64),
        old_digits=np.array([args.get("old_digits") or args["digits"]], dtype=np.int64),
    )
    vec = validate_reads(cols, today=args["today"], limits=limits)
    assert (int(vec.kwh[0]), vec.reason_names()[0]) == (scalar.kwh, scalar.reason)
    return scalar


def test_every_reason_has_a_persian_title() -> None:
    assert set(REASON_TITLES_FA) == set(REASONS)
    assert len(REASONS) == 8
    assert all(REASON_TITLES_FA.values())


def test_ok_within_limits() -> None:
    # 1300 − 1000 = 300 kWh in 30 days; expected 10 kWh/day × 30 = 300; low 75, high 900
    assert one() == ReadCheck(300, "ok")
    assert one().title_fa == "قرائت معتبر"


def test_high_limit_is_three_times_expected() -> None:
    # high = 3 × 300 = 900: 900 is within, 901 is above
    assert one(new_value=1900) == ReadCheck(900, "ok")
    assert one(new_value=1901) == ReadCheck(901, "above_high")


def test_low_limit_is_a_quarter_of_expected() -> None:
    # low = 0.25 × 300 = 75: 75 is within, 74 is below
    assert one(new_value=1075) == ReadCheck(75, "ok")
    assert one(new_value=1074) == ReadCheck(74, "below_low")


def test_limits_are_parameters() -> None:
    # high 2× → 600: 601 is above; low 0.5× → 150: 149 is below
    lim = ValidationLimits(low_permille=500, high_permille=2000)
    assert one(new_value=1601, limits=lim).reason == "above_high"
    assert one(new_value=1149, limits=lim).reason == "below_low"
    assert one(new_value=1150, limits=lim).reason == "ok"
    with pytest.raises(ValidationError):
        ValidationLimits(low_permille=3000, high_permille=2000)


def test_expected_is_rounded_half_up_to_whole_kwh() -> None:
    # 1.25 kWh/day × 30 = 37.5 → 38 kWh expected; high = 114: 114 ok, 115 above
    assert one(expected_daily_milli=1250, new_value=1114).reason == "ok"
    assert one(expected_daily_milli=1250, new_value=1115).reason == "above_high"


def test_no_expected_means_no_limits() -> None:
    # -1: no history → 50 000 kWh in a month is not judged here
    assert one(expected_daily_milli=-1, new_value=51000) == ReadCheck(50000, "ok")
    assert one(expected_daily_milli=-1, new_value=1001) == ReadCheck(1, "ok")


def test_zero_on_active_subscription() -> None:
    assert one(new_value=1000) == ReadCheck(0, "zero_on_active")
    # zero on an inactive subscription is only judged by the low limit, if there is an expected value
    assert one(new_value=1000, active=False, expected_daily_milli=-1) == ReadCheck(0, "ok")
    assert one(new_value=1000, active=False) == ReadCheck(0, "below_low")


def test_dates() -> None:
    assert one(new_date=date(2024, 2, 2)) == ReadCheck(300, "future_date")  # TODAY + 1
    assert one(new_date=TODAY).reason == "ok"  # today itself is fine (31 days: expected 310)
    assert one(new_date=date(2023, 12, 31)) == ReadCheck(300, "before_last_read")
    assert one(new_date=D0) == ReadCheck(300, "same_day")
    # a date error wins over everything else
    assert one(new_date=D0, new_value=900).reason == "same_day"


def test_lower_read_without_rollover() -> None:
    # 990 < 1000, 1000 is not in the top 10 % of a 5-digit dial → exception, consumption −10
    assert one(new_value=990) == ReadCheck(-10, "lower_without_rollover")


def test_rollover_five_digits() -> None:
    # 99 950 → 00 030: 100 000 − 99 950 + 30 = 80 kWh
    assert one(prev_value=99_950, new_value=30, expected_daily_milli=-1) == ReadCheck(80, "ok")
    # edges: previous 90 000 (leading 9) and new 9 999 (leading 0): 100 000 − 90 000 + 9 999 = 19 999
    assert one(prev_value=90_000, new_value=9_999, expected_daily_milli=-1) == ReadCheck(19_999, "ok")
    # previous 89 999 (leading 8): no roll-over, 5 − 89 999 = −89 994
    assert one(prev_value=89_999, new_value=5, expected_daily_milli=-1) == ReadCheck(-89_994, "lower_without_rollover")
    # new 10 000 (leading 1): no roll-over, 10 000 − 99 950 = −89 950
    assert one(prev_value=99_950, new_value=10_000, expected_daily_milli=-1) == ReadCheck(
        -89_950, "lower_without_rollover"
    )


def test_rollover_six_digits() -> None:
    # 999 900 → 000 150: 1 000 000 − 999 900 + 150 = 250 kWh
    assert one(prev_value=999_900, new_value=150, digits=6, expected_daily_milli=-1) == ReadCheck(250, "ok")
    # the same register values on a 5-digit meter would be out of range
    with pytest.raises(ValidationError) as err:
        one(prev_value=999_900, new_value=150, digits=5)
    assert err.value.field == "rows[0].prev_value"
    # 6 digits: 95 000 is not in the top 10 % (≥ 900 000) → 150 − 95 000 = −94 850
    assert one(prev_value=95_000, new_value=150, digits=6).reason == "lower_without_rollover"


def test_replaced_meter() -> None:
    # old 1 000 → final 1 120 (120 kWh) + new meter 0 → 35 (35 kWh) = 155
    assert one(replaced=True, old_final=1120, new_initial=0, new_value=35, expected_daily_milli=-1) == ReadCheck(
        155, "ok"
    )
    # new initial 100, read 50: the new meter went back → −50 + 120 = 70, exception
    assert one(replaced=True, old_final=1120, new_initial=100, new_value=50) == ReadCheck(70, "lower_without_rollover")
    # old 4-digit meter rolled over 9 990 → 0 020 (30 kWh), new 6-digit meter 0 → 70 (70 kWh) = 100
    got = one(
        replaced=True, prev_value=9_990, old_final=20, old_digits=4, digits=6, new_initial=0, new_value=70,
        expected_daily_milli=-1,
    )  # fmt: skip
    assert got == ReadCheck(100, "ok")
    # limits apply to the sum: 155 vs expected 300 → within [75, 900]
    assert one(replaced=True, old_final=1120, new_initial=0, new_value=35).reason == "ok"


def test_bad_input_names_the_row() -> None:
    n = 3
    cols = ValidationColumns(
        prev_value=np.array([1, 2, 3], dtype=np.int64),
        prev_date=np.full(n, D0, dtype="datetime64[D]"),
        new_value=np.array([5, 100_000, 7], dtype=np.int64),
        new_date=np.full(n, D30, dtype="datetime64[D]"),
        digits=np.array([5, 5, 3], dtype=np.int64),
        expected_daily_milli=np.full(n, -1, dtype=np.int64),
        active=np.ones(n, dtype=np.bool_),
    )
    with pytest.raises(ValidationError) as err:
        validate_reads(cols, today=TODAY)
    assert err.value.field == "rows[1].new_value"


def test_many_rows_without_optional_columns() -> None:
    # rows: ok 300, roll-over 80, lower −10, zero, future
    cols = ValidationColumns(
        prev_value=np.array([1000, 99_950, 1000, 1000, 1000], dtype=np.int64),
        prev_date=np.full(5, D0, dtype="datetime64[D]"),
        new_value=np.array([1300, 30, 990, 1000, 1300], dtype=np.int64),
        new_date=np.array([D30, D30, D30, D30, date(2024, 3, 1)], dtype="datetime64[D]"),
        digits=np.full(5, 5, dtype=np.int64),
        expected_daily_milli=np.array([10_000, -1, 10_000, 10_000, 10_000], dtype=np.int64),
        active=np.ones(5, dtype=np.bool_),
    )
    res = validate_reads(cols, today=TODAY)
    assert res.kwh.tolist() == [300, 80, -10, 0, 300]
    assert res.reason_names() == ["ok", "ok", "lower_without_rollover", "zero_on_active", "future_date"]


@st.composite
def read_rows(draw: st.DrawFn) -> dict[str, Any]:
    digits = draw(st.integers(4, 9))
    cap = 10**digits
    replaced = draw(st.booleans())
    old_digits = draw(st.integers(4, 9)) if replaced else digits
    ocap = 10**old_digits

    def register(c: int) -> int:
        # values near the roll-over edges are the interesting ones
        return draw(
            st.one_of(
                st.integers(0, c - 1),
                st.integers(0, c // 10 + 1).map(lambda v: min(v, c - 1)),
                st.integers(9 * c // 10 - 1, c - 1),
            )
        )

    prev_date = D0 + timedelta(days=draw(st.integers(-400, 40)))
    return {
        "prev_value": register(ocap),
        "prev_date": prev_date,
        "new_value": register(cap),
        "new_date": prev_date + timedelta(days=draw(st.integers(-3, 120))),
        "digits": digits,
        "expected_daily_milli": draw(st.one_of(st.just(-1), st.integers(0, 50_000), st.integers(0, 10**10))),
        "active": draw(st.booleans()),
        "replaced": replaced,
        "old_final": register(ocap) if replaced else 0,
        "new_initial": register(cap) if replaced else 0,
        "old_digits": old_digits,
    }


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(read_rows(), min_size=0, max_size=40), low=st.integers(0, 2000), extra=st.integers(0, 5000))
def test_vector_equals_scalar(rows: list[dict[str, Any]], low: int, extra: int) -> None:
    limits = ValidationLimits(low_permille=low, high_permille=low + extra)

    def col(name: str, dtype: Any) -> Any:
        return np.array([r[name] for r in rows], dtype=dtype).reshape(len(rows))

    cols = ValidationColumns(
        prev_value=col("prev_value", np.int64),
        prev_date=col("prev_date", "datetime64[D]"),
        new_value=col("new_value", np.int64),
        new_date=col("new_date", "datetime64[D]"),
        digits=col("digits", np.int64),
        expected_daily_milli=col("expected_daily_milli", np.int64),
        active=col("active", np.bool_),
        replaced=col("replaced", np.bool_),
        old_final=col("old_final", np.int64),
        new_initial=col("new_initial", np.int64),
        old_digits=col("old_digits", np.int64),
    )
    res = validate_reads(cols, today=TODAY, limits=limits)
    expected = [validate_read(**r, today=TODAY, limits=limits) for r in rows]
    assert res.kwh.dtype == np.int64
    assert list(zip(res.kwh.tolist(), res.reason_names(), strict=True)) == [(c.kwh, c.reason) for c in expected]
