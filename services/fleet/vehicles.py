"""Static vehicle data the fleet service enriches readings with: plate, model, depot, route.

Loaded once from a JSON file (``vehicles.json`` beside this module by default; in production a
ConfigMap mounted at ``FLEET_VEHICLES_FILE``). The gateway's demo traffic drives these vehicles.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from services.fleet.geometry import Point

DEFAULT_FILE: Final = Path(__file__).resolve().parent / "vehicles.json"


@dataclass(frozen=True)
class Route:
    id: str
    name: str
    waypoints: tuple[Point, ...]


@dataclass(frozen=True)
class Vehicle:
    id: str
    plate: str
    model: str
    depot: str
    route: Route | None

    def static_data(self) -> dict[str, Any]:
        """What a stored reading is enriched with."""
        return {
            "plate": self.plate,
            "model": self.model,
            "depot": self.depot,
            "routeId": None if self.route is None else self.route.id,
        }


class VehicleRegistry:
    """Vehicles by id."""

    def __init__(self, vehicles: list[Vehicle]) -> None:
        self._vehicles = {v.id: v for v in vehicles}

    def get(self, vehicle_id: str) -> Vehicle | None:
        return self._vehicles.get(vehicle_id)

    def __iter__(self) -> Iterator[Vehicle]:
        return iter(self._vehicles.values())

    def __len__(self) -> int:
        return len(self._vehicles)

    @classmethod
    def load(cls, path: Path = DEFAULT_FILE) -> VehicleRegistry:
        raw = json.loads(path.read_text(encoding="utf-8"))
        routes = {
            route_id: Route(
                id=route_id,
                name=spec["name"],
                waypoints=tuple((float(lat), float(lon)) for lat, lon in spec["waypoints"]),
            )
            for route_id, spec in raw["routes"].items()
        }
        vehicles = [
            Vehicle(
                id=v["vehicleId"],
                plate=v["plate"],
                model=v["model"],
                depot=v["depot"],
                route=None if v.get("routeId") is None else routes[v["routeId"]],
            )
            for v in raw["vehicles"]
        ]
        return cls(vehicles)
