"""The NDTMS rule catalogue of one update, in its published order (docs/validation-rules.md)."""

from __future__ import annotations

from ndtms.rules import attributors, community, dates, revisions, secure
from ndtms.rules.rule import Rule, RuleInput
from ndtms_contract.findings import Finding

CATALOGUE: tuple[Rule, ...] = (
    *attributors.RULES,
    *dates.RULES,
    *secure.RULES,
    *community.RULES,
    *revisions.RULES,
)


def evaluate(subject: RuleInput) -> tuple[Finding, ...]:
    """Every finding of the catalogue on one update; a withdrawal has nothing to check."""
    if subject.update.deleted:
        return ()
    return tuple(finding for rule in CATALOGUE for finding in rule.evaluate(subject))
