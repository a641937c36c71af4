"""The linker's configuration, read from the environment (prefix NDTMS_)."""

from __future__ import annotations

from pydantic import Field, model_validator

from ndtms.continuity.window import WINDOW_DAYS
from ndtms_contract.settings import PlatformSettings
from services.linker.people import Policy


class LinkerSettings(PlatformSettings):
    linker_app_id: str = "ndtms-linker"
    # How long an episode is kept after its latest date; older ones are compacted away (README).
    linker_retention_days: int = Field(default=1095, ge=60)
    # How often the clock sweep looks for windows that have closed.
    linker_sweep_seconds: float = Field(default=30.0, gt=0)
    # Serve the live continuity-of-care indicator as Prometheus gauges (reads all of ndtms.links).
    linker_indicator: bool = True
    # Probable matches (services/linker/models/): the bands, and how long after an episode's
    # latest date it stays in the search (and its attributors in the linker's state).
    linker_match_likely: float = Field(default=0.95, gt=0, lt=1)
    linker_match_possible: float = Field(default=0.1, gt=0, lt=1)
    linker_match_horizon_days: int = Field(default=120, ge=60, le=3650)

    @model_validator(mode="after")
    def _retention_outlives_windows(self) -> LinkerSettings:
        if self.linker_retention_days <= WINDOW_DAYS + self.linker_grace_days:
            raise ValueError(
                "NDTMS_LINKER_RETENTION_DAYS must be longer than the 21-day window "
                "plus NDTMS_LINKER_GRACE_DAYS"
            )
        return self

    @model_validator(mode="after")
    def _bands_in_order(self) -> LinkerSettings:
        if self.linker_match_possible > self.linker_match_likely:
            raise ValueError("NDTMS_LINKER_MATCH_POSSIBLE must not be above NDTMS_LINKER_MATCH_LIKELY")
        return self

    @property
    def policy(self) -> Policy:
        return Policy(grace_days=self.linker_grace_days, retention_days=self.linker_retention_days)
