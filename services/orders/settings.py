"""The orders service's settings, from ``ORDERS_*`` variables (tidal's stay under ``TIDAL_``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PRODUCTS_FILE = Path(__file__).resolve().parent / "products.json"


class OrdersSettings(BaseSettings):
    """Where stock, points, payments and receipts live."""

    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    redis_url: SecretStr | None = Field(
        None, description="Redis for stock, points and payments; unset: in memory (tidal dev)"
    )
    key_prefix: str = Field("orders", description="prefix of every Redis key this service writes")
    marker_ttl_days: float = Field(
        30.0, gt=0, description="how long an order's done-markers last (its redelivery window)"
    )
    receipts_bucket: str | None = Field(
        None, description="S3 bucket for receipts; unset: files under receipts_dir"
    )
    receipts_prefix: str = Field("receipts/", description="key prefix of receipts in the bucket")
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO); unset: AWS"
    )
    s3_region: str = Field("us-east-1", description="region of the bucket")
    receipts_dir: Path = Field(
        Path(tempfile.gettempdir()) / "tidal-dev" / "receipts",
        description="local receipts directory when no bucket is set",
    )
    products_file: Path = Field(PRODUCTS_FILE, description="products with their starting stock")
    seed_stock: bool = Field(
        False, description="with Redis: set missing stock levels from products_file at start-up"
    )
