"""Subscription numbers are matched as integers only when that cannot change which ones are equal."""

from __future__ import annotations

from barq.reading.pipeline import _number_keys


def test_plain_digits_become_integers() -> None:
    known, wanted = _number_keys(["110000001", "9"], ["123456789012345678", "9"])
    assert known.tolist() == [110000001, 9] and wanted.tolist() == [123456789012345678, 9]


def test_fixed_width_numbers_with_leading_zeros_become_integers() -> None:
    known, wanted = _number_keys(["000000000001", "000000000002"], ["000000000002"])
    assert known.tolist() == [1, 2] and wanted.tolist() == [2]


def test_numbers_that_integers_would_confuse_keep_the_text() -> None:
    for known, wanted in (
        (["000000000001"], ["00000000001"]),  # a leading zero and another length: not the same number
        (["110000001"], ["11A"]),
        (["1234567890123456789"], ["1"]),
        (["1,2"], ["1"]),
    ):
        k, w = _number_keys(known, wanted)
        assert k.dtype.kind == w.dtype.kind == "U" and k.tolist() == known and w.tolist() == wanted


def test_none() -> None:
    known, wanted = _number_keys([], ["5"])
    assert known.shape == (0,) and wanted.tolist() == [5]
