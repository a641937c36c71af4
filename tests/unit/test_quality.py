"""The data-quality view keeps each episode's current findings, whatever order reports are read in."""

from __future__ import annotations

from datetime import timedelta
from itertools import permutations
from pathlib import Path

from ndtms_apps.pages.rules_document import render
from ndtms_contract.findings import Finding, Severity, ValidationReport
from services.validator.quality import open_findings, surviving
from tests.builders import NOW

ERROR = Finding(rule="DAT002", severity=Severity.ERROR, field="triage_date", message="m")
WARNING = Finding(rule="SEC005", severity=Severity.WARNING, field="custody.referral_on_release", message="m")


def report(
    provider: str, episode: str, revision: int, *findings: Finding, by: str = "validator", minutes: int = 0
) -> ValidationReport:
    return ValidationReport(
        provider_id=provider,
        episode_id=episode,
        revision=revision,
        findings=findings,
        checked_at=NOW + timedelta(minutes=minutes),
        checked_by=by,
    )


def test_latest_revision_wins_in_any_order() -> None:
    reports = [report("P1", "E1", 1, ERROR), report("P1", "E1", 2), report("P1", "E2", 1, ERROR, WARNING)]
    views = {repr(open_findings(list(order))) for order in permutations(reports)}
    assert len(views) == 1
    [summary] = open_findings(reports)
    assert (summary.provider_id, summary.errors, summary.warnings) == ("P1", 1, 1)
    assert [(r.rule, r.episodes) for r in summary.rules] == [("DAT002", ("E2",)), ("SEC005", ("E2",))]


def test_checkers_do_not_clear_each_others_findings() -> None:
    reports = [report("P1", "E1", 3, WARNING, by="validator-cross-episode"), report("P1", "E1", 4)]
    [summary] = open_findings(reports)
    assert summary.warnings == 1


def test_a_tombstone_clears_every_earlier_report_of_its_episode_and_nothing_later() -> None:
    records = [
        ("P1/E1", report("P1", "E1", 1, ERROR)),
        ("P1/E1", report("P1", "E1", 1, WARNING, by="linker")),
        ("P1/E2", report("P1", "E2", 1, ERROR)),
        ("P1/E1", None),  # the person was erased
        ("P1/E1", report("P1", "E1", 2, ERROR, minutes=5)),  # a later update, refused
    ]
    kept = surviving(records)
    assert sorted((r.episode_id, r.revision) for r in kept) == [("E1", 2), ("E2", 1)]
    assert surviving([("P1/E1", None)]) == []


def test_provider_filter() -> None:
    reports = [report("P1", "E1", 1, ERROR), report("P2", "E1", 1, ERROR)]
    assert [s.provider_id for s in open_findings(reports, "P2")] == ["P2"]


def test_rules_document_is_generated_from_the_catalogue() -> None:
    document = Path(__file__).resolve().parents[2] / "docs" / "validation-rules.md"
    assert document.read_text() == render(), (
        "docs/validation-rules.md is stale: run `ndtms rules > docs/validation-rules.md`"
    )
