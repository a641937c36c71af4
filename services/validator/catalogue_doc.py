"""`docs/validation-rules.md`, rendered from the rule catalogue (`ndtms rules` prints it)."""

from __future__ import annotations

from services.validator.rules import CATALOGUE, PERSON_CATALOGUE

HEADER = """\
# Validation rules

Generated from `services/validator/rules.py` by `ndtms rules > docs/validation-rules.md`;
a test fails when this file and the catalogue disagree.

An update with any **error** is not forwarded: the previously accepted revision of the
episode stays in force. Updates with only **warnings** are forwarded with the warnings'
codes attached. Every finding is published on `ndtms.episodes.errors` with the field it
concerns and a message saying what to fix. Errors depend only on the submitted snapshot,
so which revision is in force never depends on the order revisions arrive in.
"""


def render() -> str:
    lines = [
        HEADER,
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
    return "\n".join(lines) + "\n"
