"""The fleet service's settings, from ``FLEET_*`` variables (tidal's own stay under ``TIDAL_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.fleet.vehicles import DEFAULT_FILE


class FleetSettings(BaseSettings):
    """Thresholds (with explicit units) and where state lives."""

    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore")

    redis_url: SecretStr | None = Field(
        None, description="Redis for readings and alert outboxes; unset: in memory (tidal dev)"
    )
    key_prefix: str = Field("fleet", description="prefix of every Redis key this service writes")
    overheat_threshold: float = Field(
        105.0, description="critical engine temperature, in overheat_unit (alert when above)"
    )
    overheat_unit: Literal["C", "F"] = Field("C", description="C (Celsius) or F (Fahrenheit)")
    low_fuel_percent: float = Field(
        15.0, ge=0, le=100, description="low-fuel alert when the tank is below this, %"
    )
    route_deviation_km: float = Field(
        2.0, gt=0, description="route-deviation alert when farther than this from the route, km"
    )
    vehicles_file: Path = Field(DEFAULT_FILE, description="static vehicle data and routes (JSON)")
    marker_ttl_days: float = Field(
        30.0, gt=0, description="how long an outbox remembers an alert key (redelivery window)"
    )
