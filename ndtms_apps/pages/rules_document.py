"""`docs/validation-rules.md`, rendered from the rule catalogue (`ndtms rules` prints it)."""

from __future__ import annotations

from ndtms.rules.catalogue import CATALOGUE
from ndtms.rules.person import PERSON_CATALOGUE
from services.linker import exit_dates
from services.validator.acceptance import ERASED_RULE

HEADER = """\
# Validation rules

Generated from the rule catalogue in `ndtms/rules/` by `ndtms rules > docs/validation-rules.md`;
a test fails when this file and the catalogue disagree.

An update with any **error** is not forwarded: the previously accepted revision of the
episode stays in force. Updates with only **warnings** are forwarded with the warnings'
codes attached. Every finding is published on `ndtms.episodes.errors` with the field it
concerns and a message saying what to fix. Errors depend only on the submitted snapshot,
so which revision is in force never depends on the order revisions arrive in.
"""


ERASED_SUMMARY = (
    "The client is not on the erasure ledger: an update for a client who objected and was erased "
    "is refused, and nothing of it kept."
)


def render() -> str:
    lines = [
        HEADER,
        "## Before any rule",
        "",
        "An update whose attributors make the client key of a person on the erasure ledger",
        "(`ndtms.erasures`) is refused with this error alone, and no rule is checked.",
        "",
        "| code | severity | fields | rule |",
        "|---|---|---|---|",
        f"| {ERASED_RULE} | error | client | {ERASED_SUMMARY} |",
        "",
        "## Rules on each update",
        "",
        "| code | severity | fields | rule |",
        "|---|---|---|---|",
    ]
    for rule in CATALOGUE:
        lines.append(f"| {rule.code} | {rule.severity.value} | {', '.join(rule.fields)} | {rule.summary} |")
    lines += [
        "",
        "## Rules across one person's episodes",
        "",
        "Checked on accepted episodes of the same person (`client_key`); reported with",
        "`checked_by: validator-cross-episode` and never blocking.",
        "",
        "| code | severity | fields | rule |",
        "|---|---|---|---|",
    ]
    for person_rule in PERSON_CATALOGUE:
        lines.append(
            f"| {person_rule.code} | {person_rule.severity.value} | {', '.join(person_rule.fields)} "
            f"| {person_rule.summary} |"
        )
    lines += [
        "",
        "## Checked by the linker",
        "",
        "Raised on the prison episode, reported with `checked_by: linker`, never blocking; cleared",
        "(an empty report) when a correction removes the doubt.",
        "",
        "| code | severity | fields | rule |",
        "|---|---|---|---|",
        f"| {exit_dates.RULE} | warning | {exit_dates.FIELD} | {LINKER_RULE} |",
    ]
    return "\n".join(lines) + "\n"


LINKER_RULE = (
    f"No community triage in the {exit_dates.LOOKBACK_DAYS} days before a recorded release (after the "
    "reception): one there means the exit date was probably recorded late, and the triage does not count."
)


def descriptions() -> dict[str, str]:
    """Every rule code with its one-line description, for screens that show codes."""
    found = {rule.code: rule.summary for rule in CATALOGUE}
    found |= {rule.code: rule.summary for rule in PERSON_CATALOGUE}
    found[exit_dates.RULE] = LINKER_RULE
    found[ERASED_RULE] = ERASED_SUMMARY
    return found
