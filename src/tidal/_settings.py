"""One settings object per process, read from ``TIDAL_*`` variables (and Knative's own).

The CLI builds it once at start-up and hands it to the transports; tests pass overrides as
keyword arguments instead of touching ``os.environ``. Knative's ``K_SINK``, ``K_SERVICE`` and
``PORT`` are honoured.
"""

from __future__ import annotations

import json
from typing import Annotated, Final, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# what redis-py's ``from_url`` accepts
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")


class IdempotencySettings(BaseModel):
    """Where idempotency records live and how long."""

    backend: Literal["memory", "redis", "none"] = Field(
        "memory", description="memory (one process), redis (shared, production) or none"
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL when backend is redis"
    )
    redis_connect_timeout: float = Field(
        5.0, gt=0, description="seconds to connect to Redis before it counts as down"
    )
    redis_timeout: float = Field(
        5.0, gt=0, description="seconds a Redis call may go unanswered before it counts as down"
    )
    ttl: float = Field(3600.0, gt=0, description="seconds a completed record is kept (1 h)")
    in_progress_ttl: float = Field(
        60.0, gt=0, description="seconds before a crashed worker's in-progress record expires"
    )
    on_in_progress: Literal["wait", "report"] = Field(
        "wait", description="a concurrent duplicate waits for the first, or is reported retryable"
    )
    memory_max_entries: int = Field(
        100_000, ge=1, description="memory backend: records kept at most (the oldest go first)"
    )
    memory_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="memory backend: bytes of records kept at most (64 MiB)"
    )

    @field_validator("redis_url")
    @classmethod
    def _has_scheme(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().partition("://")[0]
        if scheme not in REDIS_SCHEMES:
            schemes = ", ".join(f"{s}://" for s in REDIS_SCHEMES)
            raise ValueError(f"a Redis URL starts with {schemes} (e.g. redis://127.0.0.1:6379/0)")
        return value


class ClaimCheckSettings(BaseModel):
    """Where the Kafka worker stores the value of a retry or dead letter too large for its topic
    (the claim-check pattern; `tidal._transports.kafka.fitting`). Off without a bucket: such a
    record is dead-lettered without its value, with the reason and a pointer to the original."""

    bucket: str | None = Field(None, description="S3 bucket for oversized values (None: off)")
    prefix: str = Field("tidal-claims/", description="key prefix of stored values")
    region: str | None = Field(None, description="the bucket's region")
    endpoint: str | None = Field(None, description="S3 endpoint URL (MinIO, a test server)")
    path_style: bool = Field(False, description="path-style addressing (MinIO)")


class KafkaSettings(BaseModel):
    """The Kafka worker (`tidal run --transport kafka`) and its producer; see docs/kafka.md.

    Topic patterns may use ``{app}``, ``{subscription}``, ``{group}`` and (DLQ only) ``{topic}``,
    the topic the failed record was first read from.
    """

    bootstrap_servers: str = Field(
        "localhost:9092", description="comma-separated host:port list of the Kafka cluster"
    )
    topics: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["events"],
        description="topics every subscription consumes (JSON list or comma-separated)",
    )
    client_id: str = Field("tidal", description="client id sent to the brokers (logs, quotas)")
    group_id_prefix: str = Field(
        "tidal", description="the App's consumer group, shared by its subscriptions: <prefix>.<app>"
    )
    group_ids: dict[str, str] = Field(
        default_factory=dict,
        description="a group of its own per subscription name (its own consumer and offsets)",
    )
    retry_topic: str = Field(
        "{group}.{subscription}.retry",
        description="per-subscription topic holding events waiting for a retry",
    )
    dlq_topic: str = Field(
        "{topic}.dlq",
        description="dead-letter topic; a subscription's policy.dead_letter overrides it",
    )
    emit_topic: str | None = Field(
        None, description="where events returned by handlers are produced (None: emitting fails)"
    )
    emit_mode: Literal["binary", "structured"] = Field(
        "binary", description="CloudEvents Kafka binding mode of produced events"
    )
    max_in_flight: int = Field(
        64, ge=1, description="records per partition being handled at once (different keys)"
    )
    max_uncommitted: int = Field(
        2000, ge=1, description="records per partition fetched past the committed offset"
    )
    retry_max_held: int = Field(
        1000, ge=1, description="retry records per partition held in memory until they are due"
    )
    ordered: bool = Field(
        False, description="handle each partition strictly in sequence (ignores record keys)"
    )
    commit_interval: float = Field(
        0.5, gt=0, description="seconds between offset commits (each commits all that is done)"
    )
    revoke_grace: float = Field(
        10.0, ge=0, description="seconds a revoked partition's running handlers may finish"
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="where a new consumer group starts"
    )
    max_poll_records: int = Field(500, ge=1, description="records one fetch returns at most")
    fetch_max_wait_ms: int = Field(
        100,
        ge=0,
        description="longest a fetch waits for data on the broker (Kafka's default 500 ms adds"
        " up to that much per hop on brokers that hold fetches until it expires)",
    )
    session_timeout_ms: int = Field(10_000, gt=0, description="group session timeout")
    heartbeat_interval_ms: int = Field(3_000, gt=0, description="group heartbeat interval")
    max_poll_interval_ms: int = Field(
        300_000, gt=0, description="rebalance timeout: how long the group waits for a member"
    )
    idempotent_producer: bool = Field(
        True, description="enable_idempotence on the producer (turn off for brokers without it)"
    )
    linger_ms: int = Field(5, ge=0, description="producer batching delay in milliseconds")
    request_timeout_ms: int = Field(
        40_000,
        gt=0,
        description="producer: how long a produce waits for the broker before the broker counts "
        "as down (the attempt pauses, uncounted)",
    )
    max_request_size: int = Field(
        1_048_576,
        ge=1024,
        description="largest record the producer sends (aiokafka's max_request_size; retry"
        " records and dead letters over it, or over a topic's max.message.bytes, are made to fit)",
    )
    claim_check: ClaimCheckSettings = Field(default_factory=ClaimCheckSettings)
    create_topics: bool = Field(
        True, description="create missing retry and dead-letter topics at start-up"
    )
    topic_partitions: int | None = Field(
        None, ge=1, description="partitions of created topics (None: as the first source topic)"
    )
    replication_factor: int | None = Field(
        None,
        ge=1,
        description="replication factor of created topics (None: the cluster's"
        " default.replication.factor, else min(3, brokers))",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how clients talk to the brokers"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism with a SASL_* protocol"
    )
    sasl_username: str | None = Field(None, description="SASL user name")
    sasl_password: SecretStr | None = Field(None, description="SASL password")

    @field_validator("topics", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [t.strip() for t in value.split(",") if t.strip()]


class ObservabilitySettings(BaseModel):
    """Metrics, tracing and logs (see docs/observability.md); tracing also reads ``OTEL_*``."""

    metrics: bool = Field(True, description="serve Prometheus metrics at /metrics")
    max_event_types: int = Field(
        50,
        ge=0,
        description="distinct event_type label values per subscription; producers choose types,"
        ' so the rest (and every filtered-out event) are counted as event_type="other"',
    )
    metrics_port: int = Field(
        9464,
        ge=0,
        le=65535,
        description="port of /metrics for processes without an HTTP server (0: none)",
    )
    tracing: Literal["auto", "on", "off"] = Field(
        "auto",
        description="auto: trace when OTEL_TRACES_EXPORTER or an OTLP endpoint is set",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="json: one object per line; text: for a terminal; auto: text when stderr"
        " is a terminal, else json",
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
    sync_threads: int = Field(
        8,
        ge=1,
        description="threads per subscription for sync handlers (as many again may hang past"
        " their timeout before /healthz reports the process unhealthy)",
    )
    header_timeout: float = Field(
        10.0, gt=0, description="seconds a connection may take to send a request's head (408)"
    )
    body_timeout: float = Field(
        20.0, gt=0, description="seconds a request may take to send its body after the head (408)"
    )
    shutdown_grace: float = Field(
        30.0, ge=0, description="seconds SIGTERM waits for in-flight events before exit"
    )
    log_level: str = Field("INFO", description="root log level")
    idempotency: IdempotencySettings = IdempotencySettings()
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
