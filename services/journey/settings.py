"""The journey service's configuration, read from the environment (prefix NDTMS_)."""

from __future__ import annotations

from pydantic import Field

from ndtms_contract.settings import PlatformSettings


class JourneySettings(PlatformSettings):
    journey_group_id: str = "ndtms-journey"
    # SQLite under the state folder by default; PostgreSQL in production, e.g.
    # postgresql+psycopg://user:password@host/ndtms
    database_url: str | None = None
    # Records applied in one store transaction: 2,000 ran 26 % faster than 500 on PostgreSQL (#27).
    journey_batch_size: int = Field(default=2000, ge=1, le=10_000)
    # The operations page (/ops) samples every service's /metrics this often; where they are
    # (JSON, e.g. {"ingest": "http://ingest:18700", ...}) defaults to this host's ports.
    ops_sample_seconds: float = Field(default=15.0, gt=0)
    # A service may list several addresses, one per instance: {"validator": ["http://validator-0...", ...]}.
    ops_targets: dict[str, str | list[str]] = Field(default_factory=dict)
    # How often the treatment-measure gauges (default period) are recomputed.
    measures_refresh_seconds: float = Field(default=60.0, gt=0)

    @property
    def dashboard_targets(self) -> dict[str, str | list[str]]:
        if self.ops_targets:
            return self.ops_targets
        host = self.service_host if self.service_host != "0.0.0.0" else "127.0.0.1"
        return {
            name: f"http://{host}:{getattr(self, f'{name}_port')}"
            for name in ("ingest", "validator", "journey", "linker")
        }

    @property
    def effective_database_url(self) -> str:
        return (
            self.database_url
            or self.shared_local_database("journey")
            or f"sqlite:///{(self.state_dir / 'journey' / 'journeys.db').resolve()}"
        )
