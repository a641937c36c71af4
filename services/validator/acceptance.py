"""Which revision of an episode is in force, and what the validator emits for each update.

An episode's state is its highest-numbered revision that passed validation (or its
withdrawal). A revision is stale only when a higher one was already *accepted*; a rejected
revision never shadows a lower valid one. Errors depend on the snapshot alone, so the final
accepted revision is the same whatever order the revisions arrive in.
"""

from __future__ import annotations

import hmac
from collections.abc import Container
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from ndtms.rules.catalogue import evaluate
from ndtms.rules.rule import PreviousRevision, RuleInput
from ndtms_contract.episodes import AcceptedEpisode, EpisodeUpdate, Setting
from ndtms_contract.findings import Finding, Severity, ValidationReport
from ndtms_contract.pseudonyms import client_key


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    STALE = "stale"
    DUPLICATE = "duplicate"
    # The client is on the erasure ledger: refused, reported, and nothing of it kept.
    ERASED = "erased"


ERASED_RULE = "ERA001"
ERASED_MESSAGE = (
    "the client has objected to NDTMS keeping their records and has been erased: this update "
    "was not kept and nothing was passed on; do not send this client's episodes again"
)


@dataclass(frozen=True)
class EpisodeHead:
    """What the validator keeps per episode: the revision in force and the last report's state."""

    accepted_revision: int = 0
    accepted_client_key: str | None = None
    accepted_setting: Setting | None = None
    accepted_deleted: bool = False
    attributor_digests: dict[str, str] = field(default_factory=dict)
    reported_revision: int = 0
    reported_findings: bool = False
    # The person the latest checked revision named (accepted or not): whose findings these are.
    checked_client_key: str | None = None

    def previous(self) -> PreviousRevision | None:
        if not self.accepted_revision or self.accepted_deleted:
            return None
        return PreviousRevision(self.accepted_revision, self.accepted_setting, self.attributor_digests)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    head: EpisodeHead
    forward: tuple[AcceptedEpisode, ...] = ()
    report: ValidationReport | None = None


def attributor_digests(secret: bytes, update: EpisodeUpdate) -> dict[str, str]:
    """Short keyed digests per attributor: enough to tell that one changed, nothing to read back."""
    if update.client is None:
        return {}
    c = update.client
    values = {
        "first_initial": c.first_initial.strip().upper(),
        "second_initial": c.second_initial.strip().upper(),
        "date_of_birth": c.date_of_birth.isoformat(),
        "sex": c.sex.value,
        "local_authority": c.local_authority.strip().upper(),
    }
    return {
        name: hmac.digest(secret, f"{name}={value}".encode(), "sha256").hex()[:16]
        for name, value in values.items()
    }


def accepted_form(
    update: EpisodeUpdate, key: str, warnings: tuple[str, ...], now: datetime
) -> AcceptedEpisode:
    client = update.client
    # Every value comes from the validated update (or is the key, the warnings and the clock's
    # instant): validating them again would cost a quarter of the validator's rule time.
    return AcceptedEpisode.model_construct(
        provider_id=update.provider_id,
        episode_id=update.episode_id,
        revision=update.revision,
        client_key=key,
        deleted=update.deleted,
        setting=update.setting,
        recorded_at=update.recorded_at,
        sex=client.sex if client else None,
        local_authority=client.local_authority if client else None,
        referral_date=update.referral_date,
        triage_date=update.triage_date,
        interventions=update.interventions,
        discharge_date=update.discharge_date,
        discharge_reason=update.discharge_reason,
        custody=update.custody,
        warnings=warnings,
        accepted_at=now,
    )


def _withdrawal(update: EpisodeUpdate, client_key: str, now: datetime) -> AcceptedEpisode:
    return AcceptedEpisode(
        provider_id=update.provider_id,
        episode_id=update.episode_id,
        revision=update.revision,
        client_key=client_key,
        deleted=True,
        accepted_at=now,
    )


def decide(
    head: EpisodeHead | None,
    update: EpisodeUpdate,
    secret: bytes,
    now: datetime,
    erased: Container[str] = frozenset(),
) -> Decision:
    head = head or EpisodeHead()
    named = _named(update, secret)
    if named is not None and named in erased:
        return Decision(Verdict.ERASED, head, report=_erased_report(update, now))
    if update.revision < head.accepted_revision:
        return Decision(Verdict.STALE, head)
    if update.revision == head.accepted_revision:
        # A resent revision: already forwarded once (the stream is exactly-once, so a crash
        # cannot have lost that forward), and downstream would change nothing for it.
        return Decision(Verdict.DUPLICATE, head)

    digests = attributor_digests(secret, update)
    findings = evaluate(RuleInput(update, head.previous(), digests))
    report = _report_for(head, update, findings, now)
    if report is not None:
        head = replace(head, reported_revision=update.revision, reported_findings=bool(findings))
    if named is not None:
        head = replace(head, checked_client_key=named)
    if any(f.severity is Severity.ERROR for f in findings):
        return Decision(Verdict.REJECTED, head, report=report)

    warnings = tuple(sorted({f.rule for f in findings}))
    forward: list[AcceptedEpisode] = []
    # The person the episode is filed under now, if it is filed at all.
    filed_under = head.accepted_client_key if head.accepted_revision and not head.accepted_deleted else None
    if update.deleted:
        if filed_under is not None:
            forward.append(_withdrawal(update, filed_under, now))
        key = head.accepted_client_key
    else:
        assert named is not None
        key = named
        if filed_under is not None and filed_under != key:
            # The attributors changed: the episode leaves the person it was filed under.
            forward.append(_withdrawal(update, filed_under, now))
        forward.append(accepted_form(update, key, warnings, now))
    new_head = replace(
        head,
        accepted_revision=update.revision,
        accepted_client_key=key,
        accepted_setting=update.setting if not update.deleted else head.accepted_setting,
        accepted_deleted=update.deleted,
        attributor_digests=digests or head.attributor_digests,
    )
    return Decision(Verdict.ACCEPTED, new_head, forward=tuple(forward), report=report)


def _named(update: EpisodeUpdate, secret: bytes) -> str | None:
    """The client key the update's attributors make (a withdrawal names nobody)."""
    c = update.client
    if c is None:
        return None
    return client_key(secret, c.first_initial, c.second_initial, c.date_of_birth, c.sex)


def _erased_report(update: EpisodeUpdate, now: datetime) -> ValidationReport:
    finding = Finding(rule=ERASED_RULE, severity=Severity.ERROR, field="client", message=ERASED_MESSAGE)
    return ValidationReport(
        provider_id=update.provider_id,
        episode_id=update.episode_id,
        revision=update.revision,
        findings=(finding,),
        checked_at=now,
    )


def _report_for(
    head: EpisodeHead, update: EpisodeUpdate, findings: tuple[Finding, ...], now: datetime
) -> ValidationReport | None:
    """A report when there is something to say, or when a newer revision clears open findings.

    A report for a revision older than the newest one already reported is not published:
    the provider's view follows their latest submission.
    """
    if update.revision < head.reported_revision:
        return None
    if not findings and not head.reported_findings:
        return None
    return ValidationReport(
        provider_id=update.provider_id,
        episode_id=update.episode_id,
        revision=update.revision,
        findings=findings,
        checked_at=now,
    )
