"""Probable matches published on `ndtms.links.candidates`, and the record the matcher reads.

A candidate pairs a prison release with a community episode of *another* client key whose
attributors are close. It carries kinds of difference (`date_of_birth: day_month_transposed`),
never initials, dates of birth or client keys; a person decides (`decision`).

`MatchEpisode` is internal (`ndtms.matching.episodes`, validator to matcher): an accepted
revision with the attributors the matcher compares. It is one of the few records with
attributors, kept no longer than the raw topic.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import msgspec
from pydantic import BaseModel, ConfigDict

from ndtms_contract.episodes import AcceptedEpisode


class Band(StrEnum):
    LIKELY = "likely"
    POSSIBLE = "possible"


class Decision(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class MatchVerdict(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class MatchDecision(BaseModel):
    """An operator's decision on a candidate (`ndtms.links.decisions`, key `candidate_key`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate_key: str
    decision: MatchVerdict
    decided_by: str
    decided_at: datetime


class DifferenceKind(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str
    kind: str


class LinkCandidate(BaseModel):
    """One probable match: key `{transfer_id}|{community_provider_id}/{community_episode_id}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transfer_id: str
    prison_provider_id: str
    prison_episode_id: str
    prison_exit_date: date
    window_end_date: date
    community_provider_id: str
    community_episode_id: str
    triage_date: date | None = None
    structured_start_date: date | None = None
    band: Band
    match_weight: float
    probability: float
    differences: tuple[DifferenceKind, ...] = ()
    model_version: str
    decision: Decision = Decision.OPEN
    decided_by: str | None = None
    decided_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.transfer_id}|{self.community_provider_id}/{self.community_episode_id}"


class MatchEpisode(msgspec.Struct, frozen=True):
    """An accepted revision (or withdrawal) with the attributors the matcher compares."""

    accepted: dict[str, Any]  # AcceptedEpisode, as JSON-ready data
    first_initial: str | None = None
    second_initial: str | None = None
    date_of_birth: date | None = None

    @classmethod
    def of(
        cls, accepted: AcceptedEpisode, first: str | None, second: str | None, born: date | None
    ) -> MatchEpisode:
        return cls(accepted.model_dump(mode="json"), first, second, born)


class ConfirmedMatch(msgspec.Struct, frozen=True):
    """A confirmed probable match on its way to the released person's linker partition
    (`ndtms.matching.confirmed`, key client_key): the community episode's facts, or None when
    the confirmation no longer holds (the outcome reverts)."""

    transfer_id: str
    client_key: str
    community: dict[str, Any] | None  # the linker's EpisodeFacts, as plain data


MATCH_ENCODER = msgspec.msgpack.Encoder()
MATCH_DECODER = msgspec.msgpack.Decoder(MatchEpisode)
CONFIRMED_DECODER = msgspec.msgpack.Decoder(ConfirmedMatch)
