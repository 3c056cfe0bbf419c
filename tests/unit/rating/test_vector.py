"""The vector engine agrees with the scalar engine to the rial, line by line."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import jdatetime
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barq.errors import ValidationError
from barq.rating.book import TariffLibrary, load_default_library
from barq.rating.engine import LINE_CODES, DemandInput, RatingInput, rate_bill
from barq.rating.vector import MAX_PARTS, RatingColumns, VectorResult, rate_bills

LIB = load_default_library()
ZONES = ["normal", "tropical1", "tropical2", "tropical3", "tropical4"]
SUB_CODES: dict[int, list[str | None]] = {
    1: [None, "1"],
    2: [None, "2-الف-1", "2-الف-2", "2-ب"],
    3: [None, "3-الف", "3-ب", "3-ج-1", "3-ج-2"],
    4: [None, "4-الف-1", "4-الف-2", "4-ب"],
    5: [None, "5-الف", "5-ب"],
}
DEMAND = {"2-الف-2", "3-ج-2", "4-الف-2", "4-ب", "5-ب"}
# averages at which the residential tables change: step limits and patterns of every zone
EDGES = [100, 200, 300, 400, 500, 600, 1000, 1500, 2000, 3000, 3500, 4500, 6000]


def jd(y: int, m: int, d: int) -> date:
    g = jdatetime.date(y, m, d).togregorian()
    return date(g.year, g.month, g.day)


# days near the edges that matter: book change (1401/01/01) and warm-month edges of the example zones
EDGE_DAYS = [
    jd(1400, 1, 1),
    jd(1400, 2, 1),
    jd(1400, 3, 1),
    jd(1400, 7, 1),
    jd(1400, 8, 1),
    jd(1400, 12, 29),
    jd(1401, 1, 1),
    jd(1401, 2, 1),
    jd(1401, 3, 1),
    jd(1401, 7, 1),
]
# first days of the months where some zone's warm months begin or end (normal and tropical4: 3–6,
# tropical1/2: 2–7, tropical3: 3–7), in every year the tests use, and the book change
SPLIT_EDGES = [jd(y, m, 1) for y in (1400, 1401, 1402) for m in (2, 3, 7, 8)] + [jd(1401, 1, 1)]


@st.composite
def rating_inputs(draw: st.DrawFn) -> RatingInput:
    group = draw(st.sampled_from([1, 1, 1, 1, 2, 3, 4, 5]))
    sub_code = draw(st.sampled_from(SUB_CODES[group]))
    zone = draw(st.sampled_from(ZONES))
    days = draw(st.one_of(st.sampled_from([1, 2, 29, 30, 31, 59, 60, 61]), st.integers(1, 120), st.integers(1, 400)))
    prev = draw(
        st.one_of(
            st.builds(lambda d, k: d + timedelta(days=k), st.sampled_from(EDGE_DAYS), st.integers(-3, 3)),
            st.dates(min_value=jd(1400, 1, 1), max_value=jd(1402, 6, 1)),
            # a period that crosses an edge: it starts 1 … days − 1 days before it (split when days ≥ 2)
            st.builds(
                lambda d, k: d - timedelta(days=k), st.sampled_from(SPLIT_EDGES), st.integers(1, max(1, days - 1))
            ),
        )
    )
    prev = max(prev, jd(1400, 1, 1))
    households = draw(st.one_of(st.just(1), st.integers(1, 12)))
    f = min(Decimal(5), 1 + (households - 1) * Decimal("0.5"))
    edge_kwh = st.builds(
        lambda e, delta: max(0, int(e * f * days / 30) + delta), st.sampled_from(EDGES), st.integers(-1, 1)
    )
    kwh = draw(st.one_of(st.just(0), edge_kwh, st.integers(0, 3_000), st.integers(0, 100_000)))
    peak = offpeak = None
    if draw(st.booleans()):
        peak = draw(st.one_of(st.none(), st.integers(0, kwh)))
        offpeak = draw(st.one_of(st.none(), st.integers(0, kwh - (peak or 0))))
    demand = None
    if sub_code in DEMAND or draw(st.integers(0, 20)) == 0:
        demand = DemandInput(
            contract_kw=draw(st.integers(0, 500)),
            maximeter_kw=Decimal(draw(st.integers(0, 60_000))) / 100,
            reactive_kvarh=draw(st.integers(0, 2 * kwh + 1)),
            multiplier=draw(st.sampled_from([1, 1, 2, 800])),
        )
    return RatingInput(
        group=group,
        sub_code=sub_code,
        zone=zone,
        prev_date=prev,
        cur_date=prev + timedelta(days=days),
        kwh=kwh,
        peak_kwh=peak,
        offpeak_kwh=offpeak,
        households=households,
        medical=draw(st.booleans()),
        demand=demand,
        carry_in=draw(st.one_of(st.just(0), st.integers(-5_000, 999))),
        estimated=draw(st.booleans()),
    )


def assert_same(lib: TariffLibrary, inputs: list[RatingInput], result: VectorResult) -> None:
    for i, inp in enumerate(inputs):
        bill = rate_bill(lib, inp)
        assert result.lines_of(i) == bill.lines, (i, inp)
        assert (int(result.total[i]), int(result.payable[i]), int(result.carry[i])) == (
            bill.total,
            bill.payable,
            bill.carry,
        ), (i, inp)


def expected_fallback(inputs: list[RatingInput]) -> list[int]:
    """The rows the vector engine leaves to the scalar engine: demand readings, more than MAX_PARTS parts."""
    return [i for i, inp in enumerate(inputs) if inp.demand is not None or len(rate_bill(LIB, inp).parts) > MAX_PARTS]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rating_inputs(), min_size=1, max_size=25))
def test_vector_equals_scalar(inputs: list[RatingInput]) -> None:
    result = rate_bills(LIB, RatingColumns.from_inputs(inputs))
    assert_same(LIB, inputs, result)
    assert len(result.line_amount) == sum(len(rate_bill(LIB, i).lines) for i in inputs)
    assert result.fallback.tolist() == expected_fallback(inputs)
    assert int(result.line_amount.sum()) == int(result.payable.sum())


def residential(n: int, prev: date, days: int, kwh: list[int]) -> list[RatingInput]:
    return [RatingInput(1, None, ZONES[i % 5], prev, prev + timedelta(days=days), kwh[i % len(kwh)]) for i in range(n)]


def test_single_part_residential_rows_are_vectorised() -> None:
    inputs = residential(50, jd(1400, 8, 1), 30, [0, 99, 100, 101, 200, 201, 350, 700, 2999, 3001])
    result = rate_bills(LIB, RatingColumns.from_inputs(inputs))
    assert result.fallback.size == 0
    assert_same(LIB, inputs, result)


def test_split_periods_are_vectorised_and_demand_falls_back() -> None:
    inputs = [
        RatingInput(1, None, "normal", jd(1400, 12, 15), jd(1401, 1, 15), 174),  # book change
        RatingInput(1, None, "normal", jd(1400, 2, 16), jd(1400, 3, 16), 310),  # warm edge
        RatingInput(1, None, "normal", jd(1400, 8, 1), jd(1400, 9, 1), 180),
        RatingInput(5, "5-ب", "normal", jd(1400, 8, 1), jd(1400, 9, 1), 900, demand=DemandInput(40, Decimal(45))),
    ]
    result = rate_bills(LIB, RatingColumns.from_inputs(inputs))
    assert result.fallback.tolist() == [3]
    assert_same(LIB, inputs, result)
    assert int(result.total[0]) == 151_407
    assert int(result.total[2]) == 151_869


def test_three_part_periods() -> None:
    """Non-warm 1400, non-warm 1401, warm 1401 (tropical1 is warm from Ordibehesht): add-ons after parts
    0 and 2; and warm, non-warm, warm within one book (a 400-day period): add-ons once, after part 2."""
    inputs = [
        RatingInput(1, None, "tropical1", jd(1400, 12, 10), jd(1401, 2, 10), 913, peak_kwh=200, offpeak_kwh=300),
        RatingInput(3, None, "tropical1", jd(1400, 12, 10), jd(1401, 2, 10), 4_001, peak_kwh=17, offpeak_kwh=0),
        RatingInput(1, None, "normal", jd(1401, 6, 20), jd(1402, 3, 5), 7_777, households=3, medical=True),
    ]
    result = rate_bills(LIB, RatingColumns.from_inputs(inputs))
    assert result.fallback.size == 0
    assert_same(LIB, inputs, result)
    bill = rate_bill(LIB, inputs[0])
    assert len(bill.parts) == 3
    assert [(line.part, line.version) for line in bill.lines if line.code == "fixed_charge"] == [
        (0, "1400"),
        (2, "1401"),
    ]
    assert [line.part for line in rate_bill(LIB, inputs[2]).lines if line.code == "vat"] == [2]


def test_more_parts_than_vectorised_fall_back() -> None:
    inputs = [RatingInput(1, None, "normal", jd(1400, 1, 15), jd(1401, 4, 15), 5_000)]  # 6 parts
    assert len(rate_bill(LIB, inputs[0]).parts) > MAX_PARTS
    result = rate_bills(LIB, RatingColumns.from_inputs(inputs))
    assert result.fallback.tolist() == [0]
    assert_same(LIB, inputs, result)


def test_every_zone_split_at_every_edge_is_vectorised() -> None:
    inputs = [
        RatingInput(
            group,
            None,
            zone,
            edge - timedelta(days=before),
            edge + timedelta(days=after),
            kwh,
            peak_kwh=kwh // 5 if group == 2 else None,
            households=1 + before % 3,
        )
        for zone in ZONES
        for edge in SPLIT_EDGES
        for before, after in ((1, 29), (15, 16), (29, 1), (40, 45))
        for group, kwh in ((1, 95), (1, 333), (1, 2_500), (2, 1_000))
        if edge - timedelta(days=before) >= jd(1400, 1, 1)
    ]
    result = rate_bills(LIB, RatingColumns.from_inputs(inputs))
    assert result.fallback.size == 0
    assert sum(len(rate_bill(LIB, i).parts) > 1 for i in inputs) > len(inputs) // 2
    assert_same(LIB, inputs, result)


def test_bill_order_sorts_lines_by_bill_then_position() -> None:
    inputs = residential(7, jd(1400, 8, 1), 30, [180, 350, 0])
    inputs.append(RatingInput(1, None, "normal", jd(1400, 2, 16), jd(1400, 3, 16), 310))
    result = rate_bills(LIB, RatingColumns.from_inputs(inputs))
    order = result.bill_order()
    bills = result.line_bill[order]
    assert bool(np.all(np.diff(bills) >= 0))
    first = [LINE_CODES[int(c)] for c in result.line_code[order][bills == 0]]
    assert first == [
        "energy_step_1",
        "energy_step_2",
        "fixed_charge",
        "levy",
        "vat",
        "insurance",
        "carry_out",
    ]
    assert int(result.line_amount.sum()) == int(result.payable.sum())


def test_columns_without_optional_columns() -> None:
    n = 4
    cols = RatingColumns(
        group=np.ones(n, dtype=np.int64),
        sub_code=np.full(n, -1, dtype=np.int64),
        zone=np.zeros(n, dtype=np.int64),
        prev_date=np.full(n, np.datetime64(jd(1400, 8, 1).isoformat()), dtype="datetime64[D]"),
        cur_date=np.full(n, np.datetime64(jd(1400, 9, 1).isoformat()), dtype="datetime64[D]"),
        kwh=np.array([0, 180, 350, 1000], dtype=np.int64),
        zones=("normal",),
    )
    result = rate_bills(LIB, cols)
    assert result.total.tolist() == [13_829, 151_869, 763_767, rate_bill(LIB, cols.row(3)).total]


def test_empty_batch() -> None:
    result = rate_bills(LIB, RatingColumns.from_inputs([]))
    assert result.total.size == 0 and result.line_amount.size == 0


def test_a_bad_row_is_refused_with_its_index() -> None:
    inputs = residential(3, jd(1400, 8, 1), 30, [100])
    inputs.append(RatingInput(1, None, "normal", jd(1400, 8, 1), jd(1400, 9, 1), -4))
    with pytest.raises(ValidationError) as err:
        rate_bills(LIB, RatingColumns.from_inputs(inputs))
    assert err.value.field == "rows[3].kwh"


def test_no_book_for_the_dates_is_refused() -> None:
    inputs = [RatingInput(1, None, "normal", jd(1399, 11, 1), jd(1399, 12, 1), 100)]
    with pytest.raises(ValidationError) as err:
        rate_bills(LIB, RatingColumns.from_inputs(inputs))
    assert err.value.field == "rows[0].date"


def test_integer_arithmetic_only() -> None:
    inputs = residential(10, jd(1401, 5, 1), 31, [123, 4567])
    result = rate_bills(LIB, RatingColumns.from_inputs(inputs))
    for column in (result.total, result.line_amount, result.line_quantity_milli, result.line_rate_milli):
        assert column.dtype == np.int64
