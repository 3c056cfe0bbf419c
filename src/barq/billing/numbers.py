"""Payment IDs for many bills at once (numpy), the same digits as ``barq.ids.build_payment_id``.

Check digit (domain.md §2): weights 2, 3, 4, 5, 6, 7, 2, 3, … from the rightmost digit; r = sum mod 11;
the digit is 0 when r < 2, else 11 − r. Pure module.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]


def _digit_count(values: I64) -> I64:
    count = np.ones_like(values)
    rest = values // 10
    while bool((rest > 0).any()):
        count += rest > 0
        rest //= 10
    return count


def _weighted_sum(values: I64, offset: I64 | int) -> I64:
    """Σ digit × weight over the digits of ``values``, the rightmost digit at position ``offset``."""
    total = np.zeros_like(values)
    rest = values.copy()
    position = np.zeros_like(values) + offset
    while bool((rest > 0).any()):
        total += (rest % 10) * (2 + position % 6)
        rest //= 10
        position += 1
    return total


def _check(weighted: I64) -> I64:
    r = weighted % 11
    return np.where(r < 2, 0, 11 - r)


def payment_ids(bill_ids: I64, payable: I64, *, year: int, period: int) -> I64:
    """Payment IDs as integers (0 where nothing is payable). ``payable`` must be whole thousands."""
    if bool((payable % 1000 != 0).any()):
        raise ValueError("payable amounts must be whole thousands of rials")
    body = (payable // 1000) * 1000 + (year % 10) * 100 + period  # amount ‖ year digit ‖ period
    cd1 = _check(_weighted_sum(body, 0))
    with_cd1 = body * 10 + cd1
    # check digit 2 runs over bill ID ‖ body ‖ cd1: the bill ID's digits sit left of with_cd1's digits
    tail = _weighted_sum(with_cd1, 0)
    head = _weighted_sum(bill_ids, _digit_count(with_cd1))
    cd2 = _check(head + tail)
    result = with_cd1 * 10 + cd2
    return np.where(payable > 0, result, 0)
