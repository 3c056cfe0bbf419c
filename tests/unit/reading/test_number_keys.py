"""Subscription numbers are matched as integers only when that cannot change which ones are equal."""

from __future__ import annotations

import numpy as np

from barq.reading.pipeline import _number_keys


def test_plain_digits_become_integers() -> None:
    keys = _number_keys(["110000001", "9", "123456789012345678"])
    assert keys.dtype == np.int64 and keys.tolist() == [110000001, 9, 123456789012345678]


def test_a_leading_zero_a_letter_or_too_many_digits_keep_the_text() -> None:
    for numbers in (["110000001", "0110000001"], ["110000001", "11A"], ["1234567890123456789"], ["1,2"]):
        keys = _number_keys(numbers)
        assert keys.dtype.kind == "U" and keys.tolist() == numbers


def test_none() -> None:
    assert _number_keys([]).shape == (0,)
