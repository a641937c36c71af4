"""The probable-match review over HTTP (operations role): `ndtms matches` as an API.

`GET /v1/matches` is the queue, oldest window first, with days left; `GET` on one candidate
puts the two records' attributors side by side (the only answer that shows them, audited
before it is given); `POST .../decision` confirms or rejects (audited, then recorded on
`ndtms.links.decisions`; the linker applies it and republishes the candidate with it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, create_model

from ndtms.audit import Audit, AuditUnavailable
from ndtms.web.problems import problem_responses
from ndtms_apps.pages.review.desk import DecisionDesk, DecisionOutcome
from ndtms_apps.pages.review.reading import CandidateQueue, RecordIndex
from ndtms_apps.pages.review.rules import (
    CandidateSuperseded,
    DecisionNotRecorded,
    NoSuchCandidate,
    RecordsGone,
    Waiting,
    attributors_of,
    side_by_side,
    the_two_records,
    waiting,
)
from ndtms_contract.audit import AuditAction
from ndtms_contract.candidates import Band, LinkCandidate, MatchVerdict
from ndtms_contract.episodes import IDENTIFIER_PATTERN

PrisonProvider = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, examples=["PRISON01"])]
PrisonEpisode = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, examples=["P-1001"])]
CommunityProvider = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, examples=["CMTY001"])]
CommunityEpisode = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, examples=["EP-1001"])]
CANDIDATE_PATH = (
    "/matches/{prison_provider_id}/{prison_episode_id}/{community_provider_id}/{community_episode_id}"
)
NOT_READ = (
    "the review queue is still being read (ndtms.links.candidates, the linker's records); try again soon"
)


# A candidate as `ndtms.links.candidates` has it, with its key, where to find it and days left
# (flat, as `ndtms matches list --json` prints it). Built from the contract's fields, not copied.
QueuedCandidate: type[BaseModel] = create_model(
    "QueuedCandidate",
    key=(str, ...),
    path=(str, ...),
    days_left=(int, ...),
    **{name: (field.annotation, field) for name, field in LinkCandidate.model_fields.items()},  # type: ignore[call-overload]
)


class MatchQueue(BaseModel):
    today: date
    candidates: list[QueuedCandidate]


class RecordAttributors(BaseModel):
    episode: str
    first_initial: str
    second_initial: str
    date_of_birth: date
    sex: str
    local_authority: str | None


class ComparedAttribute(BaseModel):
    attribute: str
    prison: str
    community: str
    difference: str | None


class MatchReview(BaseModel):
    candidate: QueuedCandidate
    prison: RecordAttributors
    community: RecordAttributors
    comparison: list[ComparedAttribute]


class DecisionAsked(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"decision": "confirmed"}]})

    decision: MatchVerdict


class DecisionAnswer(BaseModel):
    key: str
    decision: MatchVerdict
    outcome: DecisionOutcome
    decided_by: str | None
    decided_at: datetime | None


@dataclass
class Review:
    """What the review needs: the followed queue, the desk that records decisions, today."""

    queue: CandidateQueue
    records: RecordIndex
    desk: DecisionDesk
    today: Callable[[], date]


def queued(row: Waiting) -> dict[str, Any]:
    return {**row.as_json(), "path": "/v1" + CANDIDATE_PATH.format(**row.candidate.model_dump())}


def review_routes(review: Review, audit: Audit) -> APIRouter:
    routes = APIRouter(tags=["probable matches"])

    def ready() -> None:
        if not (review.queue.caught_up.is_set() and review.records.caught_up.is_set()):
            raise HTTPException(503, detail=NOT_READ)

    def candidate_at(
        prison_provider: str, prison_episode: str, community_provider: str, community_episode: str
    ) -> LinkCandidate:
        ready()
        key = f"{prison_provider}/{prison_episode}|{community_provider}/{community_episode}"
        candidate = review.queue.get(key)
        if candidate is None:
            raise HTTPException(404, detail=f"no candidate {key}")
        return candidate

    @routes.get(
        "/matches",
        response_model=MatchQueue,
        responses=problem_responses(s422="a filter is not valid", s503=NOT_READ),
    )
    def listing(
        band: Band | None = None,
        prison: Annotated[
            str | None, Query(pattern=IDENTIFIER_PATTERN, description="a prison's provider id")
        ] = None,
        decided: Annotated[bool, Query(description="decided and superseded candidates too")] = False,
    ) -> Any:
        """Candidates waiting for a decision, oldest window first, with the days left to decide."""
        ready()
        today = review.today()
        rows = waiting(review.queue.all(), today, band, prison, decided_too=decided)
        return {"today": today, "candidates": [queued(row) for row in rows]}

    @routes.get(
        CANDIDATE_PATH,
        response_model=MatchReview,
        responses=problem_responses(
            s404="no such candidate, or the linker no longer holds one of its two records",
            s422="an id that is not an identifier",
            s503="the audit trail could not be written (nothing is shown), or the queue is still being read",
        ),
    )
    def candidate(
        request: Request,
        prison_provider_id: PrisonProvider,
        prison_episode_id: PrisonEpisode,
        community_provider_id: CommunityProvider,
        community_episode_id: CommunityEpisode,
    ) -> Any:
        """The two records side by side, attributors included, differences marked (audited first)."""
        found = candidate_at(
            prison_provider_id, prison_episode_id, community_provider_id, community_episode_id
        )
        credential = request.state.credential
        try:
            audit(
                f"{credential.name} ({credential.id})",
                AuditAction.MATCH_VIEWED,
                found.key,
                "the two records' attributors shown",
            )
        except AuditUnavailable as exc:
            raise HTTPException(503, detail=f"{exc}; nothing is shown unless the view is recorded") from exc
        try:
            prison, community = the_two_records(review.records.records, found)
        except RecordsGone as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        row = Waiting(found, (found.window_end_date - review.today()).days)
        return {
            "candidate": queued(row),
            "prison": attributors_of(prison),
            "community": attributors_of(community),
            "comparison": [vars(line) for line in side_by_side(found, prison, community)],
        }

    @routes.post(
        CANDIDATE_PATH + "/decision",
        response_model=DecisionAnswer,
        status_code=202,
        responses={
            200: {
                "description": "the candidate already carries this decision: nothing recorded",
                "model": DecisionAnswer,
            },
            **problem_responses(
                s400="the body is not JSON",
                s404="no such candidate",
                s409="the candidate was superseded (its evidence changed): nothing to decide",
                s422='the body is not {"decision": "confirmed"|"rejected"}, or an id is not an identifier',
                s503="the audit trail or the decision topic could not be written (nothing decided), "
                "or the queue is still being read",
            ),
        },
    )
    def decide(
        request: Request,
        prison_provider_id: PrisonProvider,
        prison_episode_id: PrisonEpisode,
        community_provider_id: CommunityProvider,
        community_episode_id: CommunityEpisode,
        asked: Annotated[DecisionAsked, Body()],
    ) -> Any:
        """Confirm or reject a candidate (202: recorded, the linker applies it within seconds)."""
        found = candidate_at(
            prison_provider_id, prison_episode_id, community_provider_id, community_episode_id
        )
        credential = request.state.credential
        actor = f"{credential.name} ({credential.id})"
        try:
            outcome, decision = review.desk.decide(found.key, found, asked.decision, actor)
        except NoSuchCandidate as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        except CandidateSuperseded as exc:
            raise HTTPException(409, detail=str(exc)) from exc
        except (AuditUnavailable, DecisionNotRecorded) as exc:
            raise HTTPException(503, detail=f"{exc}; nothing was decided") from exc
        body = DecisionAnswer(
            key=found.key,
            decision=asked.decision,
            outcome=outcome,
            decided_by=decision.decided_by if decision else found.decided_by,
            decided_at=decision.decided_at if decision else found.decided_at,
        )
        status = 202 if outcome is DecisionOutcome.RECORDED else 200
        return JSONResponse(body.model_dump(mode="json"), status_code=status)

    return routes
