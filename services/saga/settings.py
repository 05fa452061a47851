"""The saga service's settings, from ``SAGA_*`` variables (tidal's stay under ``TIDAL_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.orders.settings import PRODUCTS_FILE


class SagaSettings(BaseSettings):
    """Where the saga keeps its state, and each step's deadline."""

    model_config = SettingsConfigDict(env_prefix="SAGA_", extra="ignore")

    redis_url: SecretStr | None = Field(
        None, description="Redis for saga state, stock and the payment ledger; unset: in memory"
    )
    key_prefix: str = Field("saga", description="prefix of every Redis key this service writes")
    state_ttl_days: float = Field(
        30.0, gt=0, description="how long an order's state and timeline last after its last change"
    )
    payment_timeout: float = Field(
        30.0, gt=0, description="seconds the payment step may take before the order is compensated"
    )
    shipping_timeout: float = Field(
        300.0, gt=0, description="seconds the shipping step may take before compensation"
    )
    provider_hang: float = Field(
        3600.0, gt=0, description="how long the simulated provider stalls on card tok_timeout"
    )
    products_file: Path = Field(
        PRODUCTS_FILE, description="products with their starting stock (the orders service's)"
    )
    seed_stock: bool = Field(
        False, description="with Redis: set missing stock levels from products_file at start-up"
    )
