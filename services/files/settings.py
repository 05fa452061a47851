"""The files service's settings, from ``FILES_*`` variables (tidal's stay under ``TIDAL_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FilesSettings(BaseSettings):
    """Where uploads are read and outputs written."""

    model_config = SettingsConfigDict(env_prefix="FILES_", extra="ignore")

    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO); unset: AWS"
    )
    s3_region: str = Field("us-east-1", description="region of the buckets")
    use_s3: bool = Field(
        False, description="read and write S3; false: an in-memory store (tidal dev's demo)"
    )
    thumbnails_bucket: str = Field(
        "acme-thumbnails",
        description="bucket the thumbnails go to (never the uploads bucket: no re-trigger)",
    )
    processed_prefix: str = Field(
        "processed/", description="key prefix of the records written beside an uploaded CSV"
    )
    max_object_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="largest upload read; a larger one is dead-lettered"
    )
