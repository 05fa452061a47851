"""Distances on the Earth: haversine, and a point's distance to a planned route (a polyline).

`alerting` calls `distance_to_route_km` for every reading of a vehicle that has a planned route.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Final

EARTH_RADIUS_KM: Final = 6371.0088  # the IUGG mean radius
Point = tuple[float, float]  # (lat, lon) in degrees


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance between two points, km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def distance_to_route_km(point: Point, route: Sequence[Point]) -> float:
    """Haversine distance from ``point`` to the nearest point of the polyline ``route``.

    The nearest point of each segment is found on an equirectangular projection centred on
    ``point`` (good to well under 1 % for segments of tens of km), then measured exactly.
    """
    if not route:
        raise ValueError("a route needs at least one point")
    if len(route) == 1:
        return haversine_km(point, route[0])
    return min(haversine_km(point, _nearest(point, a, b)) for a, b in itertools.pairwise(route))


def _nearest(point: Point, a: Point, b: Point) -> Point:
    """The point of segment a-b nearest to ``point`` (projected plane, then back)."""
    scale = math.cos(math.radians(point[0]))
    ax, ay = (a[1] - point[1]) * scale, a[0] - point[0]
    bx, by = (b[1] - point[1]) * scale, b[0] - point[0]
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
