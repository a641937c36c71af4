"""Cross-episode checks on one person's accepted episodes, and the reports they publish.

Pure: the stream passes the stored state, an accepted revision and the time, and gets back
the new state and the reports whose findings changed (an empty report clears a finding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ndtms.rules.person import EpisodeDates, evaluate_person
from ndtms_contract.episodes import AcceptedEpisode
from ndtms_contract.findings import Finding, ValidationReport

CHECKED_BY = "validator-cross-episode"


@dataclass(frozen=True)
class PersonEpisodes:
    episodes: dict[str, EpisodeDates] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)
    reported: dict[str, tuple[Finding, ...]] = field(default_factory=dict)


def apply_accepted(
    state: PersonEpisodes, accepted: AcceptedEpisode, now: datetime
) -> tuple[PersonEpisodes, tuple[ValidationReport, ...]]:
    key = accepted.episode_key
    known = state.episodes[key].revision if key in state.episodes else state.withdrawn.get(key, 0)
    if accepted.revision <= known:
        return state, ()
    episodes = dict(state.episodes)
    withdrawn = dict(state.withdrawn)
    if accepted.deleted:
        episodes.pop(key, None)
        withdrawn[key] = accepted.revision
    else:
        episodes[key] = EpisodeDates.of(accepted)
        withdrawn.pop(key, None)
    findings = evaluate_person(list(episodes.values()))
    reports = []
    reported = {}
    for episode_key, found in findings.items():
        if found:
            reported[episode_key] = found
        if found != state.reported.get(episode_key, ()):
            reports.append(_report(episodes[episode_key], found, now))
    for gone in set(state.reported) - set(episodes):
        # Withdrawn while a finding was open: clear it in the provider's view.
        reports.append(_report(accepted, (), now, episode_key=gone))
    return PersonEpisodes(episodes, withdrawn, reported), tuple(reports)


def _report(
    episode: AcceptedEpisode | EpisodeDates,
    findings: tuple[Finding, ...],
    now: datetime,
    episode_key: str | None = None,
) -> ValidationReport:
    provider_id, episode_id = (episode_key or episode.episode_key).split("/", 1)
    return ValidationReport(
        provider_id=provider_id,
        episode_id=episode_id,
        revision=episode.revision,
        findings=findings,
        checked_at=now,
        checked_by=CHECKED_BY,
    )
