"""Treatment journeys published on `ndtms.journeys`."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from ndtms_contract.episodes import DischargeReason, ExitReason


class JourneyStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JourneyEpisode(_Frozen):
    provider_id: str
    episode_id: str
    start_date: date
    discharge_date: date | None


class Journey(_Frozen):
    journey_id: str
    start_date: date
    discharge_date: date | None
    discharge_reason: DischargeReason | None
    status: JourneyStatus
    episodes: tuple[JourneyEpisode, ...]


class CustodyPeriod(_Frozen):
    provider_id: str
    episode_id: str
    reception_date: date | None
    prison_exit_date: date | None
    exit_reason: ExitReason | None
    exit_destination_la: str | None


class ClientJourneys(_Frozen):
    client_key: str
    journeys: tuple[Journey, ...]
    custody_periods: tuple[CustodyPeriod, ...]
    updated_at: datetime
