"""The journey service's configuration, read from the environment (prefix NDTMS_)."""

from __future__ import annotations

from pydantic import Field

from ndtms.contract.settings import PlatformSettings


class JourneySettings(PlatformSettings):
    journey_group_id: str = "ndtms-journey"
    # SQLite under the state folder by default; PostgreSQL in production, e.g.
    # postgresql+psycopg://user:password@host/ndtms
    database_url: str | None = None
    journey_batch_size: int = Field(default=500, ge=1, le=10_000)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'journey' / 'journeys.db').resolve()}"
