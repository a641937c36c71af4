"""Recording an operator's decision: audited first, then on `ndtms.links.decisions`, acknowledged."""

from __future__ import annotations

from enum import StrEnum

from confluent_kafka import Producer

from ndtms.audit import Audit
from ndtms.clocks import Clock
from ndtms.delivery import NotDelivered, deliver
from ndtms_apps.pages.review.rules import CandidateSuperseded, DecisionNotRecorded, NoSuchCandidate
from ndtms_contract.audit import AuditAction
from ndtms_contract.candidates import Decision, LinkCandidate, MatchDecision, MatchVerdict
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import DECISIONS
from ndtms_contract.transcoding import AvroTranscoder, registry_client


class DecisionOutcome(StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"  # the candidate already carries this decision: nothing written


class DecisionDesk:
    """Records operators' decisions: audited, then on `ndtms.links.decisions`, acknowledged."""

    def __init__(self, settings: PlatformSettings, audit: Audit, clock: Clock, timeout: float = 10.0):
        self._producer = Producer(settings.producer_config())
        self._codec = AvroTranscoder(registry_client(settings.registry_url), DECISIONS, MatchDecision)
        self._audit = audit
        self._clock = clock
        self._timeout = timeout

    def decide(
        self, key: str, candidate: LinkCandidate | None, verdict: MatchVerdict, actor: str
    ) -> tuple[DecisionOutcome, MatchDecision | None]:
        """Raises NoSuchCandidate, CandidateSuperseded, AuditUnavailable or DecisionNotRecorded."""
        if candidate is None:
            raise NoSuchCandidate(f"no candidate {key}")
        if candidate.decision.value == verdict.value:
            return DecisionOutcome.ALREADY, None
        if candidate.decision is Decision.SUPERSEDED:
            raise CandidateSuperseded(f"{key} was superseded (its evidence changed): nothing to decide")
        self._audit(actor, AuditAction.MATCH_DECIDED, key, verdict.value)
        decision = MatchDecision(
            candidate_key=key, decision=verdict, decided_by=actor, decided_at=self._clock()
        )
        try:
            deliver(self._producer, DECISIONS.name, key, lambda: self._codec.encode(decision), self._timeout)
        except NotDelivered as exc:
            raise DecisionNotRecorded(f"the decision could not be written: {exc}") from exc
        return DecisionOutcome.RECORDED, decision
