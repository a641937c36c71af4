"""Cross-episode warnings: an open community episode when the person later enters custody."""

from __future__ import annotations

from ndtms.rules.cross_episode import CHECKED_BY, PersonEpisodes, apply_accepted
from ndtms_contract.episodes import AcceptedEpisode
from ndtms_contract.findings import Severity, ValidationReport
from tests.builders import NOW, accepted, community, secure

OPEN_COMMUNITY = community(episode_id="CE1")  # triaged 2024-03-06, no discharge
LATER_CUSTODY = secure(
    episode_id="EP9",
    referral_date="2024-04-10",
    triage_date="2024-04-10",
    interventions=[],
    recorded_at="2024-06-01T00:00:00Z",
    discharge_date=...,
    discharge_reason=...,
    custody={
        "reception_date": "2024-04-10",
        "prison_exit_date": None,
        "exit_reason": None,
        "exit_destination_la": None,
        "referral_on_release": None,
    },
)


def feed(
    *records: AcceptedEpisode, state: PersonEpisodes | None = None
) -> tuple[PersonEpisodes, list[ValidationReport]]:
    state = state or PersonEpisodes()
    reports: list[ValidationReport] = []
    for record in records:
        state, out = apply_accepted(state, record, NOW)
        reports.extend(out)
    return state, reports


def test_open_community_episode_at_a_later_reception_is_warned_on_the_community_episode() -> None:
    _, reports = feed(accepted(OPEN_COMMUNITY), accepted(LATER_CUSTODY))
    [report] = reports
    assert (report.provider_id, report.episode_id, report.checked_by) == ("CMTY001", "CE1", CHECKED_BY)
    [finding] = report.findings
    assert (
        finding.rule == "CMT003" and finding.severity is Severity.WARNING and "2024-04-10" in finding.message
    )


def test_order_of_arrival_does_not_matter() -> None:
    _, reports = feed(accepted(LATER_CUSTODY), accepted(OPEN_COMMUNITY))
    assert [f.rule for r in reports for f in r.findings] == ["CMT003"]


def test_closing_the_episode_clears_the_warning() -> None:
    state, _ = feed(accepted(OPEN_COMMUNITY), accepted(LATER_CUSTODY))
    closed = community(
        episode_id="CE1",
        revision=2,
        discharge_date="2024-04-09",
        discharge_reason="transferred_in_custody",
        recorded_at="2024-05-01T00:00:00Z",
    )
    _, reports = feed(accepted(closed), state=state)
    [report] = reports
    assert report.findings == () and report.revision == 2


def test_withdrawing_the_custody_episode_clears_the_warning() -> None:
    state, _ = feed(accepted(OPEN_COMMUNITY), accepted(LATER_CUSTODY))
    withdrawal = accepted({"provider_id": "PRISON01", "episode_id": "EP9", "revision": 2, "deleted": True})
    _, reports = feed(withdrawal, state=state)
    assert [(r.episode_id, r.findings) for r in reports] == [("CE1", ())]


def test_reception_before_the_episode_began_is_fine_and_repeats_change_nothing() -> None:
    earlier = secure(episode_id="EP8")  # received 2023-11-02, before the 2024-03-06 triage
    _, reports = feed(accepted(OPEN_COMMUNITY), accepted(earlier), accepted(earlier))
    assert reports == []
