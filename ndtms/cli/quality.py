"""`ndtms rules` and `ndtms dq`: the rule catalogue, and the findings open now per provider."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from ndtms.cli.command import settings
from ndtms.cli.topics import idle_timeout_argument, tail
from ndtms.contract.findings import ValidationReport
from ndtms.contract.topics import ERRORS
from ndtms.contract.transcoding import AvroTranscoder, registry_client
from services.validator.catalogue_doc import descriptions
from services.validator.catalogue_doc import render as render_rules
from services.validator.quality import ProviderSummary, open_findings, surviving

SHOWN_PER_RULE = 10  # findings listed under each rule; --all lists every one


def cmd_rules(_args: argparse.Namespace) -> int:
    print(render_rules(), end="")
    return 0


def cmd_dq(args: argparse.Namespace) -> int:
    platform = settings()
    codec = AvroTranscoder(registry_client(platform.registry_url), ERRORS, ValidationReport)
    records = [
        (str(record["key"]), None if record["value"] is None else codec.model.model_validate(record["value"]))
        for record in tail(platform, ERRORS, from_beginning=True, idle_timeout=args.idle_timeout)
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
    print("Each finding is open until a corrected revision of its episode is accepted.")
    return 0


def print_provider(summary: ProviderSummary, shown: int | None) -> None:
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
    sub.add_parser("rules", help="print the validation rule catalogue (Markdown)").set_defaults(
        func=cmd_rules
    )
    p = sub.add_parser("dq", help="open validation findings per provider and rule, with what to fix")
    p.add_argument("--provider", help="only this provider")
    p.add_argument("--all", action="store_true", help=f"every finding, not the first {SHOWN_PER_RULE} a rule")
    p.add_argument("--json", action="store_true")
    idle_timeout_argument(p, "the errors topic")
    p.set_defaults(func=cmd_dq)
