"""The audit trail on `ndtms.audit`: who did what to whom, and when; never the attributors."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class AuditAction(StrEnum):
    CREDENTIAL_ISSUED = "credential_issued"
    CREDENTIAL_REVOKED = "credential_revoked"
    PERSON_VIEWED = "person_viewed"
    JOURNEYS_LISTED = "journeys_listed"
    ERASURE_REQUESTED = "erasure_requested"
    ERASURE_APPLIED = "erasure_applied"
    MATCH_VIEWED = "match_viewed"
    MATCH_DECIDED = "match_decided"


class AuditEvent(BaseModel):
    """One audited act. `subject` is a credential id, a client key or a query, never attributors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    actor: str
    action: AuditAction
    subject: str
    detail: str = ""
