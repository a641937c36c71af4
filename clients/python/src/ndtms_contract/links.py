"""Continuity-of-care outcomes published on `ndtms.links`."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class LinkStatus(StrEnum):
    PENDING = "pending"
    ENGAGED = "engaged"
    TRIAGED = "triaged"
    NOT_ENGAGED = "not_engaged"


class MatchedOn(StrEnum):
    CLIENT_KEY = "client_key"
    CONFIRMED_CANDIDATE = "confirmed_candidate"


class TransferLink(BaseModel):
    """The outcome of one prison release. No attributors: the person is `client_key` only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transfer_id: str
    client_key: str
    prison_provider_id: str
    prison_episode_id: str
    prison_exit_date: date
    exit_destination_la: str | None
    window_end_date: date
    status: LinkStatus
    community_provider_id: str | None = None
    community_episode_id: str | None = None
    triage_date: date | None = None
    structured_start_date: date | None = None
    days_to_engagement: int | None = None
    matched_on: MatchedOn = MatchedOn.CLIENT_KEY
    window_triage_date: date | None = None
    decided_at: datetime
