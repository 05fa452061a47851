"""The gateway's settings, from ``GATEWAY_*`` variables. tidal's own settings choose where
events go (``TIDAL_KAFKA__*`` or ``K_SINK``) and where the server listens (``PORT``)."""

from __future__ import annotations

import json
from typing import Annotated, Final, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MAX_BODY_BYTES: Final = 256 * 1024

Secrets = Annotated[list[SecretStr], NoDecode]


class GatewaySettings(BaseSettings):
    """Credentials (several of each, for rotation), limits and the publishing transport."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    tokens: Secrets = Field(
        default_factory=list,
        description="bearer tokens producers may present (JSON list or comma-separated)",
    )
    pos_secrets: Secrets = Field(
        default_factory=list, description="HMAC-SHA256 secrets of the POS webhook"
    )
    payment_secrets: Secrets = Field(
        default_factory=list, description="signing secrets of the payment provider's webhook"
    )
    tolerance_seconds: int = Field(
        300, gt=0, description="how far a webhook's signed timestamp may be from now, s"
    )
    redis_url: SecretStr | None = Field(
        None,
        description="Redis for the webhook replay cache, shared by every replica (None: each"
        " process remembers the signed requests it has seen)",
    )
    replay_cache_size: int = Field(
        100_000, gt=0, description="signed requests the in-process replay cache holds at most"
    )
    max_body_bytes: int = Field(
        MAX_BODY_BYTES, gt=0, description="largest request body accepted (256 KiB)"
    )
    saga_redis_url: SecretStr | None = Field(
        None,
        description="the saga's Redis (its SAGA_REDIS_URL): serves GET /orders/{id}/timeline"
        " (None: that route answers 404 timeline_disabled)",
    )
    saga_key_prefix: str = Field(
        "saga", min_length=1, description="the saga's key prefix (its SAGA_KEY_PREFIX)"
    )
    transport: Literal["kafka", "http"] = Field(
        "kafka",
        description="publish to TIDAL_KAFKA__EMIT_TOPIC (kafka) or to K_SINK (http)",
    )

    @field_validator("tokens", "pos_secrets", "payment_secrets", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
