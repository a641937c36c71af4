"""The linker's configuration, read from the environment (prefix NDTMS_)."""

from __future__ import annotations

from pydantic import Field

from ndtms.contract.settings import PlatformSettings


class LinkerSettings(PlatformSettings):
    linker_app_id: str = "ndtms-linker"
    # Days after the 21-day window before an unmatched transfer is called not_engaged,
    # so that late submissions (monthly extracts) can still count.
    linker_grace_days: int = Field(default=0, ge=0, le=90)
    # How often the clock sweep looks for windows that have closed.
    linker_sweep_seconds: float = Field(default=30.0, gt=0)
