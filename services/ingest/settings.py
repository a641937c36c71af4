"""The ingest service's configuration, read from the environment (prefix NDTMS_)."""

from __future__ import annotations

from pydantic import Field

from ndtms.contract.settings import PlatformSettings


class IngestSettings(PlatformSettings):
    ingest_max_batch: int = Field(default=1000, ge=1, le=100_000)
    ingest_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
