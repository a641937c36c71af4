"""`ndtms rules` and `ndtms dq`: the rule catalogue, and the findings open now per provider."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import settings
from ndtms_contract.topics import ERRORS

if TYPE_CHECKING:
    from services.validator.quality import ProviderSummary

SHOWN_PER_RULE = 10  # findings listed under each rule; --all lists every one


def cmd_rules(_args: argparse.Namespace) -> int:
    from ndtms_apps.pages.rules_document import render

    print(render(), end="")
    return 0


def cmd_dq(args: argparse.Namespace) -> int:
    from ndtms_apps.cli.reading import records_to_end
    from ndtms_contract.findings import ValidationReport
    from ndtms_contract.transcoding import AvroTranscoder, registry_client
    from services.validator.quality import open_findings, surviving

    platform = settings()
    codec = AvroTranscoder(registry_client(platform.registry_url), ERRORS, ValidationReport)
    records = [
        (str(record["key"]), None if record["value"] is None else codec.model.model_validate(record["value"]))
        for record in records_to_end(platform, ERRORS)
        if record["value"] is None or "undecodable" not in record["value"]
    ]
    summaries = open_findings(surviving(records), args.provider)
    if args.json:
        print(json.dumps({"providers": [asdict(s) for s in summaries]}, default=str))
        return 0
    if not summaries:
        print("No open findings" + (f" for {args.provider}" if args.provider else "") + ".")
        return 0
    for summary in summaries:
        print_provider(summary, None if args.all else SHOWN_PER_RULE)
    print(closing_line({rule.rule for summary in summaries for rule in summary.rules}))
    return 0


def closing_line(rules: set[str]) -> str:
    """How findings close: a correction closes most, never an erased client's."""
    from services.validator.acceptance import ERASED_RULE

    if rules == {ERASED_RULE}:
        return f"{ERASED_RULE}: the client was erased at their objection; do not send their episodes again."
    line = "Each finding is open until a corrected revision of its episode is accepted"
    if ERASED_RULE in rules:
        return f"{line}, except {ERASED_RULE}: the client was erased; do not send their episodes again."
    return f"{line}."


def print_provider(summary: ProviderSummary, shown: int | None) -> None:
    from ndtms_apps.pages.rules_document import descriptions

    explained = descriptions()
    print(f"{summary.provider_id}: {summary.errors} error(s), {summary.warnings} warning(s) open")
    for rule in summary.rules:
        print(f"  {rule.rule} {rule.severity.value}, {rule.count} episode(s): {explained.get(rule.rule, '')}")
        listed = rule.findings if shown is None else rule.findings[:shown]
        for finding in listed:
            print(
                f"    {finding.episode_id} (revision {finding.revision}) {finding.field}: {finding.message}"
            )
        if len(listed) < len(rule.findings):
            print(f"    ... and {len(rule.findings) - len(listed)} more (--all lists them, --json for tools)")


def register(sub: Any) -> None:
    command(sub, "rules").set_defaults(func=cmd_rules)
    p = command(sub, "dq")
    p.add_argument("--provider", help="only this provider")
    p.add_argument("--all", action="store_true", help=f"every finding, not the first {SHOWN_PER_RULE} a rule")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dq)
