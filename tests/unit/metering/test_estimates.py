"""Estimates, settlement and the three-door-closed rule: hand-computed numbers and vector == scalar."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barq.errors import ValidationError
from barq.metering.estimates import (
    SOURCE_TITLES_FA,
    SOURCES,
    EstimateRules,
    HistoryColumns,
    HistoryRead,
    default_daily_milli,
    estimate,
    estimate_one,
    expected_daily,
    expected_daily_one,
    expected_daily_periods,
    periods_history,
    settle,
    settle_one,
    three_door_closed,
    three_door_closed_one,
)
from barq.metering.validation import validate_read

DEFAULTS = {"residential": 250, "commercial": 900}


def d(y: int, m: int, dd: int) -> date:
    return date(y, m, dd)


def columns(rows: list[tuple[int, HistoryRead]]) -> HistoryColumns:
    n = len(rows)
    return HistoryColumns(
        subscription_id=np.array([s for s, _ in rows], dtype=np.int64).reshape(n),
        prev_date=np.array([h.prev_date for _, h in rows], dtype="datetime64[D]").reshape(n),
        read_date=np.array([h.read_date for _, h in rows], dtype="datetime64[D]").reshape(n),
        kwh=np.array([h.kwh for _, h in rows], dtype=np.int64).reshape(n),
        estimated=np.array([h.estimated for _, h in rows], dtype=np.bool_).reshape(n),
    )


def both(
    history: dict[int, list[HistoryRead]], as_of: dict[int, date], classes: dict[int, str]
) -> dict[int, tuple[int, str]]:
    """Vector result per subscription, checked against the scalar twin."""
    subs = sorted(as_of)
    rows = [(s, h) for s in history for h in history[s]]
    got = expected_daily(
        columns(rows),
        subscription_id=np.array(subs, dtype=np.int64),
        as_of=np.array([as_of[s] for s in subs], dtype="datetime64[D]"),
        tariff_class=[classes[s] for s in subs],
        defaults=DEFAULTS,
    )
    out = {s: (int(got.daily_milli[k]), SOURCES[int(got.source[k])]) for k, s in enumerate(subs)}
    for s in subs:
        assert out[s] == expected_daily_one(
            history.get(s, []), as_of=as_of[s], tariff_class=classes[s], defaults=DEFAULTS
        )
    return out


def test_sources_have_persian_titles() -> None:
    assert set(SOURCE_TITLES_FA) == set(SOURCES)


def test_expected_from_last_three_actual_reads() -> None:
    history = {
        1: [
            HistoryRead(d(2024, 1, 1), d(2024, 1, 31), 300),
            HistoryRead(d(2024, 1, 31), d(2024, 3, 1), 330),
            HistoryRead(d(2024, 3, 1), d(2024, 3, 31), 360),
            HistoryRead(d(2024, 3, 31), d(2024, 4, 30), 390),
            HistoryRead(d(2024, 4, 30), d(2024, 5, 30), 900, estimated=True),  # never counts
        ]
    }
    # last three actual: (330 + 360 + 390) / (30 + 30 + 30) = 1080 / 90 = 12 kWh/day
    assert both(history, {1: d(2024, 5, 30)}, {1: "residential"}) == {1: (12_000, "history")}


def test_expected_weights_by_days_and_rounds_half_up() -> None:
    # 100 kWh in 7 days = 14.2857… → 14.286; 2 reads only: 100 + 200 over 7 + 60 days = 300/67 = 4.4776… → 4.478
    history = {
        1: [HistoryRead(d(2024, 5, 1), d(2024, 5, 8), 100)],
        2: [HistoryRead(d(2024, 3, 1), d(2024, 3, 8), 100), HistoryRead(d(2024, 3, 8), d(2024, 5, 7), 200)],
    }
    as_of = {1: d(2024, 6, 1), 2: d(2024, 6, 1)}
    assert both(history, as_of, {1: "residential", 2: "residential"}) == {1: (14_286, "history"), 2: (4_478, "history")}


def test_expected_same_season_last_year() -> None:
    # as_of 2024-06-01 − 365 days = 2023-06-02; the read of 2023-06-15 is 13 days away (≤ 45);
    # nothing in the last 180 days → 450 kWh / 30 days = 15 kWh/day
    history = {
        2: [
            HistoryRead(d(2023, 5, 16), d(2023, 6, 15), 450),
            HistoryRead(d(2023, 9, 1), d(2023, 10, 1), 999),  # neither recent nor the same season
        ]
    }
    assert both(history, {2: d(2024, 6, 1)}, {2: "residential"}) == {2: (15_000, "last_year")}


def test_expected_default_without_history() -> None:
    # 250 kWh per 30 days = 8.3333… → 8.333 kWh/day; 900/30 = 30 kWh/day
    assert default_daily_milli(250) == 8_333
    history = {3: [HistoryRead(d(2024, 1, 1), d(2024, 1, 31), 500, estimated=True)]}  # estimates only
    as_of = {3: d(2024, 3, 1), 4: d(2024, 3, 1)}
    classes = {3: "residential", 4: "commercial"}
    assert both(history, as_of, classes) == {3: (8_333, "default"), 4: (30_000, "default")}


def test_unknown_class_without_history_is_refused() -> None:
    with pytest.raises(ValidationError):
        both({}, {1: d(2024, 1, 1)}, {1: "agricultural"})


def test_estimate_rounds_half_up() -> None:
    # 8.333 × 31 = 258.323 → 258; 12 × 45 = 540; 0.5 × 1 = 0.5 → 1; 1.499 × 1 → 1; 1.5 × 1 → 2
    daily = np.array([8_333, 12_000, 500, 1_499, 1_500], dtype=np.int64)
    prev = np.full(5, d(2024, 1, 1), dtype="datetime64[D]")
    cur = np.array([d(2024, 2, 1), d(2024, 2, 15), d(2024, 1, 2), d(2024, 1, 2), d(2024, 1, 2)], dtype="datetime64[D]")
    assert estimate(daily, prev, cur).tolist() == [258, 540, 1, 1, 2]
    assert estimate_one(8_333, d(2024, 1, 1), d(2024, 2, 1)) == 258
    with pytest.raises(ValidationError):
        estimate_one(1000, d(2024, 2, 1), d(2024, 1, 1))


def test_settle_bills_the_difference_or_credits_it() -> None:
    # estimates billed 540 + 258 = 798; actual since the last actual read 1000 → bill 202
    assert settle_one(1000, 798) == 202
    # the house used less than estimated: 500 − 798 = −298, a credit
    assert settle_one(500, 798) == -298
    assert settle(np.array([1000, 500, 40]), np.array([798, 798, 0])).tolist() == [202, -298, 40]


def test_three_door_closed() -> None:
    subs = [1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]
    codes = [
        "read", "door_closed", "door_closed", "door_closed",  # 1: yes
        "door_closed", "door_closed", "read",  # 2: latest is a read
        "door_closed", "door_closed",  # 3: only two
        "door_closed", "estimate", "door_closed", "door_closed",  # 4: yes, the estimate row is not a visit
        "door_closed", "door_closed", "broken", "door_closed",  # 5: broken breaks the run
    ]  # fmt: skip
    assert three_door_closed(np.array(subs, dtype=np.int64), codes).tolist() == [1, 4]
    assert [three_door_closed_one([c for s, c in zip(subs, codes, strict=True) if s == k]) for k in range(1, 6)] == [
        True, False, False, True, False,
    ]  # fmt: skip
    assert three_door_closed(np.array([], dtype=np.int64), []).tolist() == []


# --------------------------------------------------------------------------------------------- properties

steps = st.lists(
    st.tuples(st.integers(1, 60), st.integers(0, 2_000), st.booleans()),  # days, true kWh, actual read?
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, daily=st.integers(0, 100_000), start=st.integers(0, 10**8))
def test_settlement_bills_every_kwh_once(steps: list[tuple[int, int, bool]], daily: int, start: int) -> None:
    """Over any sequence ending with an actual read, billed kWh add up to the register advance."""
    steps = [*steps[:-1], (steps[-1][0], steps[-1][1], True)]
    register, when = start, d(2024, 1, 1)
    last_actual_value, last_actual_date = start, when
    billed_since, total_billed = 0, 0
    for days, used, actual in steps:
        prev_when, when, register = when, when + timedelta(days=days), register + used
        if actual:
            check = validate_read(
                prev_value=last_actual_value, prev_date=last_actual_date, new_value=register, new_date=when,
                digits=9, expected_daily_milli=-1, active=False, today=when,
            )  # fmt: skip
            assert check.reason == "ok"
            bill = settle_one(check.kwh, billed_since)
            assert bill == int(settle(np.array([check.kwh]), np.array([billed_since]))[0])
            total_billed += bill
            billed_since, last_actual_value, last_actual_date = 0, register, when
        else:
            est = estimate_one(daily, prev_when, when)
            assert est == int(estimate(np.array([daily]), np.array([prev_when], "datetime64[D]"),
                                       np.array([when], "datetime64[D]"))[0])  # fmt: skip
            billed_since += est
            total_billed += est
    assert total_billed == register - start


history_read = st.builds(
    lambda start, days, kwh, est: HistoryRead(d(2023, 1, 1) + timedelta(days=start),
                                              d(2023, 1, 1) + timedelta(days=start + days), kwh, est),
    st.integers(0, 600), st.integers(1, 90), st.integers(0, 5_000), st.booleans(),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(
        st.integers(1, 30),
        st.tuples(st.lists(history_read, max_size=8), st.integers(0, 800), st.sampled_from(sorted(DEFAULTS))),
        max_size=8,
    ),
    strangers=st.lists(history_read, max_size=4),
)
def test_expected_vector_equals_scalar(
    data: dict[int, tuple[list[HistoryRead], int, str]], strangers: list[HistoryRead]
) -> None:
    history = {s: h for s, (h, _, _) in data.items()}
    history[999] = strangers  # not a target: ignored
    as_of = {s: d(2023, 1, 1) + timedelta(days=off) for s, (_, off, _) in data.items()}
    both(history, as_of, {s: c for s, (_, _, c) in data.items()})


period = st.tuples(st.integers(-2, 5_000), st.integers(-1, 90), st.integers(-1, 700))  # kWh, days, read day


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.lists(period, min_size=3, max_size=3), st.integers(0, 800), st.sampled_from(sorted(DEFAULTS))),
        max_size=8,
    ),
    reads=st.integers(1, 4),
)
def test_expected_from_periods_equals_expected_from_history(
    rows: list[tuple[list[tuple[int, int, int]], int, str]], reads: int
) -> None:
    """The (targets × periods) path gives what the general path gives over the same periods listed row by row,
    absent periods (negative kWh or date, no days), equal dates and a rule of fewer reads than periods
    included."""
    n, epoch = len(rows), np.datetime64("1970-01-01")
    kwh, days, on = (np.array([[p[j] for p in r] for r, _, _ in rows], dtype=np.int64).reshape(n, 3) for j in range(3))
    on = np.where(on >= 0, on + 19_000, on)  # around 2022
    as_of = np.array([epoch + np.timedelta64(19_000 + a, "D") for _, a, _ in rows], dtype="datetime64[D]")
    classes = [c for _, _, c in rows]
    rules = EstimateRules(reads=reads)
    got = expected_daily_periods(kwh, days, on, as_of=as_of, tariff_class=classes, defaults=DEFAULTS, rules=rules)
    ok = (kwh >= 0) & (days > 0) & (on >= 0)
    target = np.broadcast_to(np.arange(n)[:, None], (n, 3))[ok]
    history = HistoryColumns(
        subscription_id=target.astype(np.int64),
        prev_date=epoch + (on[ok] - days[ok]).astype("timedelta64[D]"),
        read_date=epoch + on[ok].astype("timedelta64[D]"),
        kwh=kwh[ok],
        estimated=np.zeros(int(ok.sum()), dtype=np.bool_),
    )
    rows_of = periods_history(kwh, days, on)
    for name in ("subscription_id", "prev_date", "read_date", "kwh", "estimated"):
        assert getattr(rows_of, name).tolist() == getattr(history, name).tolist()
    want = expected_daily(
        history, subscription_id=np.arange(n, dtype=np.int64), as_of=as_of, tariff_class=classes, defaults=DEFAULTS,
        rules=rules,
    )  # fmt: skip
    assert got.daily_milli.tolist() == want.daily_milli.tolist()
    assert got.source.tolist() == want.source.tolist()


def test_expected_from_periods_takes_the_latest_reads_by_date() -> None:
    """Two reads counted of three: the two latest by date, wherever they stand in the row."""
    got = expected_daily_periods(
        np.array([[300, 100, 200]]), np.array([[30, 30, 30]]), np.array([[19_060, 19_000, 19_030]]),
        as_of=np.array(["2022-03-20"], dtype="datetime64[D]"), tariff_class=["residential"], defaults=DEFAULTS,
        rules=EstimateRules(reads=2),
    )  # fmt: skip
    assert got.daily_milli.tolist() == [(2 * 500 * 1000 + 60) // 120]  # 500 kWh over 60 days


@settings(max_examples=200, deadline=None)
@given(
    visits=st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from(["read", "door_closed", "broken", "estimate", "missing"])),
        max_size=40,
    )
)
def test_three_door_closed_vector_equals_scalar(visits: list[tuple[int, str]]) -> None:
    subs = np.array([s for s, _ in visits], dtype=np.int64)
    got = three_door_closed(subs, [c for _, c in visits]).tolist()
    want = [s for s in sorted({s for s, _ in visits}) if three_door_closed_one([c for t, c in visits if t == s])]
    assert got == want
