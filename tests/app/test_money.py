from __future__ import annotations

import pytest

from app.money import money


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0.0, "$0.00"),
        (213.333, "$213.33"),
        (1234.5, "$1,234.50"),
        (0.01, "$0.01"),
        (0.00037, "$0.00037"),
        (0.000063, "$0.000063"),
        (-0.0042, "-$0.0042"),
        (-12.0, "-$12.00"),
    ],
)
def test_money_keeps_measured_fractions_of_a_cent_visible(amount: float, shown: str) -> None:
    assert money(amount) == shown
