"""The bank file's vectorised check digits agree with ``barq.ids`` on every ID."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from barq.ids import build_bill_id, build_payment_id, is_valid_bill_id, is_valid_payment_id
from barq.payments.files import _digit_matrix, bill_check, payment_checks

digits = st.text(alphabet="0123456789", min_size=6, max_size=13)


@settings(max_examples=300)
@given(st.lists(st.tuples(digits, digits), min_size=1, max_size=40))
def test_vectorised_checks_agree_with_ids(pairs: list[tuple[str, str]]) -> None:
    pairs = [(b, p) for b, p in pairs if len(b.lstrip("0")) >= 6 and len(p.lstrip("0")) >= 6]
    if not pairs:
        return
    bm = _digit_matrix([b for b, _ in pairs])
    pm = _digit_matrix([p for _, p in pairs])
    length = np.array([len(p.lstrip("0")) for _, p in pairs], dtype=np.int64)
    bill_ok = bill_check(bm)
    wrong1, wrong2 = payment_checks(pm, length, bm)
    for k, (b, p) in enumerate(pairs):
        assert bool(bill_ok[k]) == is_valid_bill_id(b)
        if is_valid_bill_id(b):
            assert (not wrong1[k] and not wrong2[k]) == is_valid_payment_id(p, b)


@given(st.integers(1, 99_999_999), st.integers(1, 9_999_999), st.integers(0, 9), st.integers(1, 12))
def test_real_ids_pass(file_number: int, thousands: int, year: int, period: int) -> None:
    bill = build_bill_id(file_number, "123")
    pay = build_payment_id(bill_id=bill, amount=thousands * 1000, year=year, period=period)
    wrong1, wrong2 = payment_checks(_digit_matrix([pay]), np.array([len(pay)]), _digit_matrix([bill]))
    assert bill_check(_digit_matrix([bill]))[0] and not wrong1[0] and not wrong2[0]


def test_digit_matrix_right_aligns_and_drops_extra_leading_zeros() -> None:
    m = _digit_matrix(["123456", "0000001234567890123", "9"])
    assert m.tolist() == [
        [0] * 7 + [1, 2, 3, 4, 5, 6],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3],
        [0] * 12 + [9],
    ]
