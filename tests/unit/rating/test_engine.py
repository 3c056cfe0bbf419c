"""The scalar engine against bills worked out by hand from the example books (1400, 1401).

Book 1400 residential, normal zone (and tropical zones outside their warm months), rial/kWh:
within pattern 0–100: 600, 100–200: 700, 200–300: 1,500; high user 913, 1,061, 2,278, 4,100, 4,710,
5,025, > 600: 6,534. Pattern: 200 (non-warm), 300 (warm: Khordad–Shahrivar). Fixed charge 11,770 per
30 days, levy 10 %, VAT 9 % of (energy + fixed), insurance 100/3 per day. 1401 = 1400 + 46 rial/kWh.
Jalali month lengths: months 1–6 have 31 days, 7–11 have 30, Esfand 1400 has 29.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import jdatetime
import pytest

from barq.errors import ValidationError
from barq.rating.book import TariffLibrary, load_default_library, parse_book
from barq.rating.engine import (
    LINE_CODES,
    TITLES_FA,
    DemandInput,
    Line,
    RatedBill,
    RatingInput,
    display,
    milli_to_decimal,
    rate_bill,
    round_half_up,
    share_by_days,
    split_period,
)


def jd(y: int, m: int, d: int) -> date:
    g = jdatetime.date(y, m, d).togregorian()
    return date(g.year, g.month, g.day)


@pytest.fixture(scope="module")
def lib() -> TariffLibrary:
    return load_default_library()


def res(prev: date, cur: date, kwh: int, **kw: object) -> RatingInput:
    return RatingInput(1, None, str(kw.pop("zone", "normal")), prev, cur, kwh, **kw)  # type: ignore[arg-type]


def amounts(bill: RatedBill) -> list[tuple[str, int]]:
    return [(line.code, line.amount) for line in bill.lines]


ABAN = (jd(1400, 8, 1), jd(1400, 9, 1))  # 30 days, non-warm
TIR = (jd(1400, 4, 1), jd(1400, 4, 31))  # 30 days, warm in every example zone


# ------------------------------------------------------------------------------- normal zone, 30 days


def test_w4_within_pattern_30_days(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 180))
    # avg = 180 ≤ 200 → within pattern: 100 × 600 = 60,000; 80 × 700 = 56,000; energy 116,000.
    # fixed 30 × 11,770/30 = 11,770; levy 10 % × 116,000 = 11,600;
    # VAT 9 % × (116,000 + 11,770) = 11,499.3 → 11,499; insurance 30 × 100/3 = 1,000.
    # total 151,869 → payable 151,000, carry 869.
    assert amounts(bill) == [
        ("energy_step_1", 60_000),
        ("energy_step_2", 56_000),
        ("fixed_charge", 11_770),
        ("levy", 11_600),
        ("vat", 11_499),
        ("insurance", 1_000),
        ("carry_out", -869),
    ]
    assert (bill.total, bill.payable, bill.carry) == (151_869, 151_000, 869)
    assert bill.lines[0] == Line(
        "energy_step_1", TITLES_FA["energy_step_1"], Decimal(100), Decimal(600), 60_000, "1400", 0
    )
    assert bill.lines[2].rate == Decimal("392.333")  # 11,770 / 30 shown to 0.001
    assert bill.lines[-1].title_fa == "کسر هزار ریال"
    assert {line.version for line in bill.lines} == {"1400"}
    assert bill.days == 30 and len(bill.parts) == 1 and bill.parts[0].season == "non_warm"
    assert sum(line.amount for line in bill.lines) == bill.payable


def test_w4_with_tou_registers(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 180, peak_kwh=40, offpeak_kwh=60))
    # steps as above 116,000; peak surcharge 40 × 600 = 24,000; off-peak discount 60 × 300 = 18,000;
    # energy 122,000; levy 12,200; VAT 9 % × 133,770 = 12,039.3 → 12,039; total 159,009.
    assert amounts(bill)[:4] == [
        ("energy_step_1", 60_000),
        ("energy_step_2", 56_000),
        ("tou_peak_surcharge", 24_000),
        ("tou_offpeak_discount", -18_000),
    ]
    assert bill.amount_of("levy") == 12_200
    assert bill.amount_of("vat") == 12_039
    assert (bill.total, bill.payable, bill.carry) == (159_009, 159_000, 9)
    discount = bill.lines[3]
    assert (discount.quantity, discount.rate) == (Decimal(60), Decimal(-300))


def test_high_user_tou_surcharge_uses_high_user_first_step(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 350, peak_kwh=50, offpeak_kwh=51))
    # high user: surcharge 50 × 913 = 45,650; discount 51 × 456.5 = 23,281.5 → 23,282
    assert bill.amount_of("tou_peak_surcharge") == 45_650
    assert bill.amount_of("tou_offpeak_discount") == -23_282


def test_60_day_period_scales_steps(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(jd(1400, 8, 1), jd(1400, 10, 1), 300))
    # 60 days, avg30 = 300 × 30/60 = 150 → within; step 1: 100 kWh of avg → 200 kWh × 600 = 120,000;
    # step 2: 50 of avg → 100 kWh × 700 = 70,000; energy 190,000 (W4).
    # fixed 60 × 11,770/30 = 23,540; levy 19,000; VAT 9 % × 213,540 = 19,218.6 → 19,219;
    # insurance 60 × 100/3 = 2,000; total 253,759.
    assert [(line.code, line.quantity, line.amount) for line in bill.lines[:2]] == [
        ("energy_step_1", Decimal(200), 120_000),
        ("energy_step_2", Decimal(100), 70_000),
    ]
    assert amounts(bill)[2:6] == [
        ("fixed_charge", 23_540),
        ("levy", 19_000),
        ("vat", 19_219),
        ("insurance", 2_000),
    ]
    assert (bill.total, bill.payable, bill.carry) == (253_759, 253_000, 759)


def test_high_user_is_priced_entirely_from_the_high_table(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 350))
    # avg 350 > 200: 100 × 913 + 100 × 1,061 + 100 × 2,278 + 50 × 4,100 = 630,200 (W4).
    # levy 63,020; VAT 9 % × 641,970 = 57,777.3 → 57,777; total 630,200 + 11,770 + 63,020 + 57,777 + 1,000.
    assert amounts(bill)[:4] == [
        ("energy_step_1", 91_300),
        ("energy_step_2", 106_100),
        ("energy_step_3", 227_800),
        ("energy_step_4", 205_000),
    ]
    assert (bill.total, bill.payable, bill.carry) == (763_767, 763_000, 767)


def test_pattern_edge_is_within_and_one_more_kwh_is_high(lib: TariffLibrary) -> None:
    at_edge = rate_bill(lib, res(*ABAN, 200))  # 100 × 600 + 100 × 700 = 130,000
    above = rate_bill(lib, res(*ABAN, 201))  # 91,300 + 106,100 + 1 × 2,278 = 199,678
    assert at_edge.amount_of("energy_step_1") + at_edge.amount_of("energy_step_2") == 130_000
    assert sum(a for c, a in amounts(above) if c.startswith("energy_step")) == 199_678


def test_warm_month_pattern_is_300(lib: TariffLibrary) -> None:
    warm = rate_bill(lib, res(*TIR, 250))
    # Tir (warm), pattern 300: within 60,000 + 70,000 + 50 × 1,500 = 205,000; levy 20,500;
    # VAT 9 % × 216,770 = 19,509.3 → 19,509; total 205,000 + 11,770 + 20,500 + 19,509 + 1,000 = 257,779.
    assert amounts(warm)[:3] == [
        ("energy_step_1", 60_000),
        ("energy_step_2", 70_000),
        ("energy_step_3", 75_000),
    ]
    assert warm.parts[0].season == "warm"
    assert (warm.total, warm.payable, warm.carry) == (257_779, 257_000, 779)
    cold = rate_bill(lib, res(*ABAN, 250))
    # Aban, pattern 200 → high user: 91,300 + 106,100 + 50 × 2,278 = 311,300
    assert sum(a for c, a in amounts(cold) if c.startswith("energy_step")) == 311_300


# ------------------------------------------------------------------------------- tropical zones


def test_tropical4_warm_within_pattern(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*TIR, 350, zone="tropical4"))
    # tropical 4 warm, pattern 400: 100 × 482 + 100 × 561 + 100 × 999 + 50 × 1,599 = 284,150
    assert amounts(bill)[:4] == [
        ("energy_step_1", 48_200),
        ("energy_step_2", 56_100),
        ("energy_step_3", 99_900),
        ("energy_step_4", 79_950),
    ]


def test_tropical1_warm_tou_scaled_by_one_third(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(jd(1400, 5, 1), jd(1400, 5, 31), 2_500, zone="tropical1", peak_kwh=600, offpeak_kwh=900))
    # Mordad is warm in tropical 1; pattern 3,000 → within: 1,000 × 200 + 1,000 × 223 + 500 × 241 = 543,500.
    # surcharge 600 × 200 × 1/3 = 40,000; discount 900 × 200 × ½ × 1/3 = 30,000; energy 553,500.
    # levy 55,350; VAT 9 % × 565,270 = 50,874.3 → 50,874; total 553,500 + 11,770 + 55,350 + 50,874 + 1,000.
    assert amounts(bill)[:5] == [
        ("energy_step_1", 200_000),
        ("energy_step_2", 223_000),
        ("energy_step_3", 120_500),
        ("tou_peak_surcharge", 40_000),
        ("tou_offpeak_discount", -30_000),
    ]
    assert bill.lines[3].rate == Decimal("66.667")
    assert (bill.total, bill.payable, bill.carry) == (672_494, 672_000, 494)


def test_tropical_zone_outside_warm_months_uses_normal_tables(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 180, zone="tropical2"))
    assert amounts(bill)[:2] == [("energy_step_1", 60_000), ("energy_step_2", 56_000)]


# ------------------------------------------------------------------------------- households, medical


def test_households_widen_the_steps(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 380, households=3))
    # f = min(5, 1 + 2 × 0.5) = 2; avg/f = 190 ≤ 200 → within; steps on 190: 100 × 600 + 90 × 700 = 123,000;
    # × f = 246,000 (lines: 200 kWh × 600 = 120,000; 180 kWh × 700 = 126,000).
    # levy 24,600; VAT 9 % × 257,770 = 23,199.3 → 23,199; total 246,000 + 11,770 + 24,600 + 23,199 + 1,000.
    assert [(line.code, line.quantity, line.amount) for line in bill.lines[:2]] == [
        ("energy_step_1", Decimal(200), 120_000),
        ("energy_step_2", Decimal(180), 126_000),
    ]
    assert bill.total == 306_569
    alone = rate_bill(lib, res(*ABAN, 380))
    # one household: 380 > 200 → high user: 91,300 + 106,100 + 227,800 + 80 × 4,100 = 753,200
    assert sum(a for c, a in amounts(alone) if c.startswith("energy_step")) == 753_200


def test_two_households_at_the_pattern_edge(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 300, households=2))
    # f = 1.5; 300 / 1.5 = 200 = pattern → within: (100 × 600 + 100 × 700) × 1.5 = 195,000
    assert amounts(bill)[:2] == [("energy_step_1", 90_000), ("energy_step_2", 105_000)]


def test_household_factor_is_capped_at_5(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 1_000, households=20))
    # f = min(5, 1 + 19 × 0.5 = 10.5) = 5; 1,000 / 5 = 200 → within: 500 × 600 + 500 × 700
    assert amounts(bill)[:2] == [("energy_step_1", 300_000), ("energy_step_2", 350_000)]


def test_medical_exemption_prices_beyond_last_step_at_high_user_rates(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 450, medical=True))
    # never high user: within 100 × 600 + 100 × 700 + 100 × 1,500, then the kWh beyond 300 at the
    # high-user rates for those kWh: 100 × 4,100 (300–400) + 50 × 4,710 (400–450) = 925,500.
    assert amounts(bill)[:5] == [
        ("energy_step_1", 60_000),
        ("energy_step_2", 70_000),
        ("energy_step_3", 150_000),
        ("energy_step_4", 410_000),
        ("energy_step_5", 235_500),
    ]
    high = rate_bill(lib, res(*ABAN, 450))
    # without the certificate: 91,300 + 106,100 + 227,800 + 410,000 + 50 × 4,710 = 1,070,700
    assert sum(a for c, a in amounts(high) if c.startswith("energy_step")) == 1_070_700


def test_medical_above_pattern_but_within_last_step(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 250, medical=True))
    # 250 > 200 but never high user: 60,000 + 70,000 + 50 × 1,500 = 205,000
    assert sum(a for c, a in amounts(bill) if c.startswith("energy_step")) == 205_000


# ------------------------------------------------------------------------------- short, empty, carry


def test_one_day_period(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(jd(1400, 8, 1), jd(1400, 8, 2), 5))
    # avg30 = 150; step 1: 100 × 600 × 1/30 = 2,000 (3.333 kWh); step 2: 50 × 700 / 30 = 1,166.67 → 1,167.
    # fixed 392.33 → 392; levy 316.7 → 317; VAT 9 % × 3,559 = 320.31 → 320; insurance 33.33 → 33.
    assert [(line.code, line.quantity, line.amount) for line in bill.lines[:2]] == [
        ("energy_step_1", Decimal("3.333"), 2_000),
        ("energy_step_2", Decimal("1.667"), 1_167),
    ]
    assert amounts(bill)[2:6] == [("fixed_charge", 392), ("levy", 317), ("vat", 320), ("insurance", 33)]
    assert (bill.total, bill.payable, bill.carry) == (4_229, 4_000, 229)


def test_zero_consumption_still_pays_fixed_charge(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 0))
    # fixed 11,770; levy 0; VAT 9 % × 11,770 = 1,059.3 → 1,059; insurance 1,000; total 13,829
    assert amounts(bill) == [
        ("fixed_charge", 11_770),
        ("levy", 0),
        ("vat", 1_059),
        ("insurance", 1_000),
        ("carry_out", -829),
    ]
    assert bill.payable == 13_000


def test_carry_in_is_added_before_truncating(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 180, carry_in=869))
    # 151,869 + 869 = 152,738 → payable 152,000, carry 738
    assert amounts(bill)[-2:] == [("carry_in", 869), ("carry_out", -738)]
    assert (bill.total, bill.payable, bill.carry) == (151_869, 152_000, 738)
    assert sum(line.amount for line in bill.lines) == bill.payable


def test_credit_carried_in_leaves_nothing_payable(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 180, carry_in=-200_000))
    # 151,869 − 200,000 = −48,131: nothing payable, the credit carries on
    assert (bill.payable, bill.carry) == (0, -48_131)
    assert amounts(bill)[-2:] == [("carry_in", -200_000), ("carry_out", 48_131)]


def test_exact_thousands_have_no_carry_line(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(*ABAN, 180, carry_in=131))  # 151,869 + 131 = 152,000
    assert (bill.payable, bill.carry) == (152_000, 0)
    assert bill.lines[-1].code == "carry_in"


# ------------------------------------------------------------------------------- splits


def test_period_across_the_warm_month_edge(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(jd(1400, 2, 16), jd(1400, 3, 16), 310))
    # 31 days: Ordibehesht 16–31 (16 days, non-warm) and Khordad 1–15 (15 days, warm).
    # kWh by days: ⌊310 × 16/31⌋ = 160, then 310 − 160 = 150.
    # part 1: avg30 = 160 × 30/16 = 300 > 200 → high user, × 16/30:
    #   91,300 × 16/30 = 48,693.3 → 48,693; 106,100 × 16/30 = 56,586.7 → 56,587; 227,800 × 16/30 = 121,493.3
    #   → 121,493.
    # part 2: avg30 = 150 × 30/15 = 300 ≤ 300 (warm) → within, × 15/30: 30,000; 35,000; 75,000.
    # energy 366,773; fixed 31 × 11,770/30 = 12,162.3 → 12,162; levy 36,677.3 → 36,677;
    # VAT 9 % × 378,935 = 34,104.15 → 34,104; insurance 31 × 100/3 = 1,033.3 → 1,033; total 450,749.
    assert [(p.days, p.season, p.kwh) for p in bill.parts] == [(16, "non_warm", 160), (15, "warm", 150)]
    assert [(line.code, line.amount, line.part) for line in bill.lines[:6]] == [
        ("energy_step_1", 48_693, 0),
        ("energy_step_2", 56_587, 0),
        ("energy_step_3", 121_493, 0),
        ("energy_step_1", 30_000, 1),
        ("energy_step_2", 35_000, 1),
        ("energy_step_3", 75_000, 1),
    ]
    assert amounts(bill)[6:10] == [
        ("fixed_charge", 12_162),
        ("levy", 36_677),
        ("vat", 34_104),
        ("insurance", 1_033),
    ]
    assert (bill.total, bill.payable, bill.carry) == (450_749, 450_000, 749)


def test_period_across_the_1400_1401_change(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(jd(1400, 12, 15), jd(1401, 1, 15), 174, carry_in=869))
    # 29 days: Esfand 15–29 1400 (15 days, book 1400) and Farvardin 1–14 1401 (14 days, book 1401).
    # kWh: ⌊174 × 15/29⌋ = 90, then 84. Both avg30 = 180 → within.
    # 1400: 100 × 600 × 15/30 = 30,000; 80 × 700 × 15/30 = 28,000; fixed 11,770 × 15/30 = 5,885;
    #       levy 5,800; VAT 9 % × 63,885 = 5,749.65 → 5,750; insurance 15 × 100/3 = 500.
    # 1401: 100 × 646 × 14/30 = 30,146.7 → 30,147; 80 × 746 × 14/30 = 27,850.7 → 27,851;
    #       fixed 11,770 × 14/30 = 5,492.7 → 5,493; levy 10 % × 57,998 = 5,799.8 → 5,800;
    #       VAT 9 % × 63,491 = 5,714.19 → 5,714; insurance 14 × 100/3 = 466.7 → 467.
    # total 75,935 + 75,472 = 151,407; + carry 869 = 152,276 → payable 152,000, carry 276.
    assert [(line.code, line.amount, line.version) for line in bill.lines] == [
        ("energy_step_1", 30_000, "1400"),
        ("energy_step_2", 28_000, "1400"),
        ("fixed_charge", 5_885, "1400"),
        ("levy", 5_800, "1400"),
        ("vat", 5_750, "1400"),
        ("insurance", 500, "1400"),
        ("energy_step_1", 30_147, "1401"),
        ("energy_step_2", 27_851, "1401"),
        ("fixed_charge", 5_493, "1401"),
        ("levy", 5_800, "1401"),
        ("vat", 5_714, "1401"),
        ("insurance", 467, "1401"),
        ("carry_in", 869, "1401"),
        ("carry_out", -276, "1401"),
    ]
    assert (bill.total, bill.payable, bill.carry) == (151_407, 152_000, 276)
    assert bill.lines[6].rate == Decimal(646)


def test_1401_rates_are_1400_plus_46(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, res(jd(1401, 8, 1), jd(1401, 9, 1), 180))
    # 100 × 646 + 80 × 746 = 64,600 + 59,680
    assert amounts(bill)[:2] == [("energy_step_1", 64_600), ("energy_step_2", 59_680)]


def test_split_period_parts(lib: TariffLibrary) -> None:
    spans = split_period(lib, "tropical3", jd(1400, 2, 20), jd(1400, 8, 10))
    # tropical 3 warm months are 3–7 (example book): Ordibehesht non-warm, Khordad–Mehr warm, Aban non-warm
    assert [(s.start, s.end, s.season) for s in spans] == [
        (jd(1400, 2, 20), jd(1400, 3, 1), "non_warm"),
        (jd(1400, 3, 1), jd(1400, 8, 1), "warm"),
        (jd(1400, 8, 1), jd(1400, 8, 10), "non_warm"),
    ]


def test_share_by_days_cumulative_floor() -> None:
    assert share_by_days(310, [16, 15]) == [160, 150]
    assert share_by_days(10, [1, 1, 1]) == [3, 3, 4]  # ⌊10/3⌋ = 3, ⌊20/3⌋ = 6, 10
    assert share_by_days(1, [15, 14]) == [0, 1]
    assert share_by_days(0, [3, 4]) == [0, 0]
    assert sum(share_by_days(999, [7, 11, 13])) == 999


# ------------------------------------------------------------------------------- groups 2–5, demand


def test_public_tariff_with_tou(lib: TariffLibrary) -> None:
    bill = rate_bill(lib, RatingInput(2, "2-الف-1", "normal", *ABAN, 1_000, peak_kwh=200, offpeak_kwh=300))
    # base 1,120: mid 500 × 1,120 = 560,000; peak 200 × 2,240 = 448,000; off-peak 300 × 560 = 168,000.
    # energy 1,176,000; levy 117,600; VAT 9 % × 1,187,770 = 106,899.3 → 106,899; total 1,413,269.
    assert amounts(bill)[:3] == [
        ("energy_mid", 560_000),
        ("energy_peak", 448_000),
        ("energy_offpeak", 168_000),
    ]
    assert bill.total == 1_413_269


def test_commercial_small_warm_tropical_table(lib: TariffLibrary) -> None:
    warm = rate_bill(lib, RatingInput(5, None, "tropical1", *TIR, 100))  # 100 × 1,936
    normal = rate_bill(lib, RatingInput(5, None, "normal", *TIR, 100))  # 100 × 2,582
    assert warm.lines[0].amount == 193_600 and normal.lines[0].amount == 258_200


def test_demand_customer(lib: TariffLibrary) -> None:
    demand = DemandInput(contract_kw=100, maximeter_kw=Decimal(120), reactive_kvarh=4, multiplier=800)
    bill = rate_bill(lib, RatingInput(4, "4-الف-2", "normal", *TIR, 7, peak_kwh=1, offpeak_kwh=2, demand=demand))
    # registers × 800: 5,600 kWh; peak 800; off-peak 1,600; mid 3,200; reactive 3,200 kvarh.
    # base 1,148: mid 3,200 × 1,148 = 3,673,600; peak 800 × 2,296 = 1,836,800; off 1,600 × 574 = 918,400.
    # billed kW = max(100 × 0.9, 120) = 120: 120 × 36,000 = 4,320,000; excess 20 × 36,000 × 2 = 1,440,000;
    # Tir is warm: seasonal 120 × 18,000 = 2,160,000;
    # kvarh/kWh = 4/7 > 0.4843: 6,428,800 × (4/7 − 0.4843) = 6,428,800 × 6,099/70,000 = 560,132.16 → 560,132.
    # energy 14,908,932; levy 1,490,893.2 → 1,490,893; VAT 9 % × 14,920,702 = 1,342,863.18 → 1,342,863;
    # total 14,908,932 + 11,770 + 1,490,893 + 1,342,863 + 1,000 = 17,755,458.
    assert amounts(bill) == [
        ("energy_mid", 3_673_600),
        ("energy_peak", 1_836_800),
        ("energy_offpeak", 918_400),
        ("demand_charge", 4_320_000),
        ("demand_excess_penalty", 1_440_000),
        ("demand_seasonal_charge", 2_160_000),
        ("power_factor_penalty", 560_132),
        ("fixed_charge", 11_770),
        ("levy", 1_490_893),
        ("vat", 1_342_863),
        ("insurance", 1_000),
        ("carry_out", -458),
    ]
    assert bill.total == 17_755_458


def test_w3_real_demand_bill_energy_block(lib: TariffLibrary) -> None:
    # domain-sources W3: mid 2,592 × 2,296 = 5,951,232; peak 1,136 × 4,592 = 5,216,512;
    # off-peak 1,864 × 1,148 = 2,139,872; 13,307,616 in all. A book with base rate 2,296 gives exactly that.
    import tomllib

    from barq.rating.book import default_books_dir

    with (default_books_dir() / "1400.toml").open("rb") as fh:
        data = tomllib.load(fh)
    data["groups"]["4"]["tables"]["industry_demand"]["rate"] = 2296
    book = parse_book(data)
    w3 = TariffLibrary([book])
    demand = DemandInput(contract_kw=500, maximeter_kw=Decimal(450))
    bill = rate_bill(
        w3, RatingInput(4, "4-ب", "normal", *ABAN, 5_592, peak_kwh=1_136, offpeak_kwh=1_864, demand=demand)
    )
    assert amounts(bill)[:3] == [
        ("energy_mid", 5_951_232),
        ("energy_peak", 5_216_512),
        ("energy_offpeak", 2_139_872),
    ]


def test_demand_sub_code_requires_demand_readings(lib: TariffLibrary) -> None:
    with pytest.raises(ValidationError) as err:
        rate_bill(lib, RatingInput(5, "5-ب", "normal", *ABAN, 100))
    assert err.value.field == "demand"


# ------------------------------------------------------------------------------- refusals and helpers


@pytest.mark.parametrize(
    ("inp", "field"),
    [
        (res(ABAN[0], ABAN[0], 10), "cur_date"),
        (res(ABAN[1], ABAN[0], 10), "cur_date"),
        (res(*ABAN, -1), "kwh"),
        (res(*ABAN, 10, peak_kwh=-1), "peak_kwh"),
        (res(*ABAN, 10, peak_kwh=6, offpeak_kwh=5), "peak_kwh"),
        (res(*ABAN, 10, households=0), "households"),
        (res(*ABAN, 10, zone="arctic"), "zone"),
        (RatingInput(7, None, "normal", *ABAN, 10), "group"),
        (RatingInput(1, "5-ب", "normal", *ABAN, 10), "sub_code"),
        (res(jd(1399, 12, 1), jd(1400, 1, 5), 10), "date"),
    ],
)
def test_refusals(lib: TariffLibrary, inp: RatingInput, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        rate_bill(lib, inp)
    assert err.value.field == field


def test_rounding_helpers() -> None:
    from fractions import Fraction

    assert round_half_up(Fraction(5, 2)) == 3
    assert round_half_up(Fraction(-5, 2)) == -3
    assert round_half_up(Fraction(7, 3)) == 2
    assert display(Fraction(100, 3)) == Decimal("33.333")
    assert display(Fraction(2, 3)) == Decimal("0.667")
    assert milli_to_decimal(-150_500) == Decimal("-150.5")
    assert str(milli_to_decimal(90_000)) == "90"


def test_every_code_has_a_persian_title() -> None:
    assert set(TITLES_FA) == set(LINE_CODES)
    assert TITLES_FA["energy_step_3"] == "بهای انرژی پله ۳"
