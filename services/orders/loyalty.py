"""Loyalty arithmetic: points per order and the tier of a running total.

Rounding rule: 10 points per currency unit, rounded down to a whole point, computed on the exact
decimal total (``floor(Decimal("19.99") * 10) = 199``; ``int(19.99 * 10)`` in floats is 199 too
only by luck: ``int(0.29 * 10) == 2``). Fractions of a point are never credited or carried over.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Final

POINTS_PER_UNIT: Final = 10
# (tier, points from which it applies), highest first.
TIERS: Final = (("platinum", 20_000), ("gold", 5_000), ("silver", 1_000), ("bronze", 0))


def points_for(total: Decimal) -> int:
    return int((total * POINTS_PER_UNIT).to_integral_value(rounding=ROUND_FLOOR))


def tier_for(points: int) -> str:
    return next(name for name, floor in TIERS if points >= floor)
