"""Amounts of money as people read them: to the cent, and never a measured cost rounded away to $0.00."""

from __future__ import annotations

import math


def money(amount: float) -> str:
    """`amount` in dollars to the cent; under a cent, to its first two significant digits ($0.00037)."""
    sign = "-" if amount < 0 else ""
    size = abs(amount)
    if size == 0 or size >= 0.01:
        return f"{sign}${size:,.2f}"
    places = 1 - math.floor(math.log10(size))
    return f"{sign}${size:.{places}f}"
