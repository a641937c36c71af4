"""Validation reports published on `ndtms.episodes.errors`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    severity: Severity
    field: str
    message: str


class ValidationReport(BaseModel):
    """The findings on one checked revision; empty findings clear earlier ones.

    `checked_by` names the stream that checked it (`validator`, or `linker` for the
    cross-provider release warnings), so one stream's report never clears another's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider_id: str
    episode_id: str
    revision: int
    findings: tuple[Finding, ...]
    checked_at: datetime
    checked_by: str = "validator"

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)
