"""A rule of the NDTMS catalogue: data (code, severity, fields, summary) plus a pure check.

Errors depend on the submitted snapshot alone, never on what arrived before it, so the
accepted state of an episode cannot depend on arrival order. Warnings may also look at the
previously accepted revision (consistency between revisions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

from ndtms_contract.episodes import EpisodeUpdate, Setting
from ndtms_contract.findings import Finding, Severity

E, W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True)
class PreviousRevision:
    """What the validator remembers of an episode's last accepted revision."""

    revision: int
    setting: Setting | None
    attributor_digests: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleInput:
    update: EpisodeUpdate
    previous: PreviousRevision | None = None
    attributor_digests: dict[str, str] = field(default_factory=dict)


Check = Callable[[RuleInput], Iterator[tuple[str, str]]]  # (field path, message)


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    fields: tuple[str, ...]
    summary: str
    check: Check

    def evaluate(self, subject: RuleInput) -> Iterator[Finding]:
        for path, message in self.check(subject):
            yield Finding(rule=self.code, severity=self.severity, field=path, message=message)


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
