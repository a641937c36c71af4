"""The ingest service's configuration, read from the environment (prefix NDTMS_)."""

from __future__ import annotations

from pydantic import Field

from ndtms_contract.settings import PlatformSettings


class IngestSettings(PlatformSettings):
    ingest_max_batch: int = Field(default=1000, ge=1, le=100_000)
    ingest_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # An uploaded CSV extract is spooled to disk, so the limit is about disk, not memory.
    ingest_max_extract_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    # Revisions and digests of what extracts published (SQLite under state_dir by default).
    ingest_ledger_url: str | None = None

    @property
    def effective_ledger_url(self) -> str:
        return (
            self.ingest_ledger_url
            or self.shared_local_database("ingest")
            or f"sqlite:///{(self.state_dir / 'ingest' / 'extracts.db').resolve()}"
        )
