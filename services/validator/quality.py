"""The data-quality view: the findings open now, per provider and rule, from the reports published.

A report replaces the earlier one of the same episode and checker when its revision is higher
(or equal and checked later), so reading `ndtms.episodes.errors` from the beginning in any
order leaves each episode with its current findings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ndtms_contract.findings import Severity, ValidationReport


@dataclass(frozen=True)
class OpenFinding:
    """One finding open now: the episode and revision it is on, the field, what to fix."""

    episode_id: str
    revision: int
    field: str
    message: str


@dataclass(frozen=True)
class RuleSummary:
    rule: str
    severity: Severity
    count: int
    episodes: tuple[str, ...]
    findings: tuple[OpenFinding, ...] = ()


@dataclass(frozen=True)
class ProviderSummary:
    provider_id: str
    errors: int
    warnings: int
    rules: tuple[RuleSummary, ...]


def surviving(records: Iterable[tuple[str, ValidationReport | None]]) -> list[ValidationReport]:
    """The reports still on the compacted error topic: (key, report) in topic order, where a
    tombstone (None; written when a person is erased) removes every earlier report of its episode."""
    kept: dict[str, list[ValidationReport]] = defaultdict(list)
    for key, report in records:
        if report is None:
            kept.pop(key, None)
        else:
            kept[key].append(report)
    return [report for reports in kept.values() for report in reports]


def current_reports(reports: Iterable[ValidationReport]) -> dict[tuple[str, str, str], ValidationReport]:
    latest: dict[tuple[str, str, str], ValidationReport] = {}
    for report in reports:
        key = (report.provider_id, report.episode_id, report.checked_by)
        held = latest.get(key)
        if held is None or (report.revision, report.checked_at) >= (held.revision, held.checked_at):
            latest[key] = report
    return latest


def open_findings(reports: Iterable[ValidationReport], provider: str | None = None) -> list[ProviderSummary]:
    by_provider: dict[str, dict[tuple[str, Severity], list[OpenFinding]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (provider_id, episode_id, _), report in current_reports(reports).items():
        if provider is not None and provider_id != provider:
            continue
        for finding in report.findings:
            by_provider[provider_id][(finding.rule, finding.severity)].append(
                OpenFinding(episode_id, report.revision, finding.field, finding.message)
            )
    summaries = []
    for provider_id, rules in sorted(by_provider.items()):
        rule_summaries = tuple(
            RuleSummary(
                rule,
                severity,
                len({f.episode_id for f in found}),
                tuple(sorted({f.episode_id for f in found})),
                tuple(sorted(found, key=lambda f: (f.episode_id, f.field))),
            )
            for (rule, severity), found in sorted(rules.items(), key=lambda item: (item[0][1], item[0][0]))
        )
        summaries.append(
            ProviderSummary(
                provider_id,
                errors=sum(r.count for r in rule_summaries if r.severity is Severity.ERROR),
                warnings=sum(r.count for r in rule_summaries if r.severity is Severity.WARNING),
                rules=rule_summaries,
            )
        )
    return summaries
