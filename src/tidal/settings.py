"""One settings object per process, read from ``TIDAL_*`` variables (and Knative's own).

The CLI builds it once at start-up and hands it to the transports; tests pass overrides as
keyword arguments instead of touching ``os.environ``. Knative's ``K_SINK``, ``K_SERVICE`` and
``PORT`` are honoured.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class IdempotencySettings(BaseModel):
    """Where idempotency records live and how long."""

    backend: Literal["memory", "redis", "none"] = Field(
        "memory", description="memory (one process), redis (shared, production) or none"
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL when backend is redis"
    )
    ttl: float = Field(3600.0, gt=0, description="seconds a completed record is kept (1 h)")
    in_progress_ttl: float = Field(
        60.0, gt=0, description="seconds before a crashed worker's in-progress record expires"
    )
    on_in_progress: Literal["wait", "report"] = Field(
        "wait", description="a concurrent duplicate waits for the first, or is reported retryable"
    )


class Settings(BaseSettings):
    """Process-wide settings; every field is documented and validated at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="TIDAL_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    service: str | None = Field(
        None,
        validation_alias=AliasChoices("TIDAL_SERVICE", "K_SERVICE", "service"),
        description="service name in logs and metrics (defaults to the App's name)",
    )
    host: str = Field("0.0.0.0", description="address the HTTP server binds")
    port: int = Field(
        8080, validation_alias=AliasChoices("TIDAL_PORT", "PORT", "port"), description="HTTP port"
    )
    sink: str | None = Field(
        None,
        validation_alias=AliasChoices("TIDAL_SINK", "K_SINK", "sink"),
        description="where emitted events are sent (Knative SinkBinding sets K_SINK)",
    )
    max_body_bytes: int = Field(1_048_576, gt=0, description="largest accepted request body")
    shutdown_grace: float = Field(
        30.0, ge=0, description="seconds SIGTERM waits for in-flight events before exit"
    )
    log_level: str = Field("INFO", description="root log level")
    idempotency: IdempotencySettings = IdempotencySettings()
