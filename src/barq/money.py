"""Money is an integer number of rials. Rates and quantities are Decimal, never float.

One rounding rule for the whole system (domain.md §3): every line is rounded to whole rials,
half up; a payable amount is truncated to thousands and the remainder carried to the next bill.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

Rial = int

_ONE = Decimal(1)


def round_rial(value: Decimal | int) -> Rial:
    """Round an amount to whole rials, half away from zero (half up for positive amounts)."""
    if isinstance(value, int):
        return value
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP))


def split_thousands(amount: Rial) -> tuple[Rial, Rial]:
    """Split an amount into (payable truncated to thousands, remainder carried).

    The remainder is always in [0, 1000) so a debt of 1,234,567 is payable as 1,234,000 and
    567 rials carry to the next bill. A credit (negative amount) is payable as zero and carries whole.
    """
    if amount <= 0:
        return 0, amount
    payable = (amount // 1000) * 1000
    return payable, amount - payable


def format_rial(amount: Rial) -> str:
    """Latin digits with comma separators (for logs and CLI); pages use calendar.fa_number."""
    return f"{amount:,}"
