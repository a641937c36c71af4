"""`ndtms audit [--since DATE] [--json]`: the audit trail, oldest first."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import settings
from ndtms_apps.cli.dates import day
from ndtms_contract.topics import AUDIT


def cmd_audit(args: argparse.Namespace) -> int:
    from ndtms_apps.cli.reading import records_to_end

    events = [
        record["value"]
        for record in records_to_end(settings(), AUDIT)
        if record["value"] is not None and "undecodable" not in record["value"]
    ]
    if args.since is not None:
        events = [e for e in events if date.fromisoformat(e["at"][:10]) >= args.since]
    if args.json:
        print(json.dumps({"events": events}))
        return 0
    if not events:
        print("Nothing on the audit trail" + (f" since {args.since}" if args.since else "") + ".")
        return 0
    for event in events:
        detail = f"  {event['detail']}" if event["detail"] else ""
        print(f"{event['at'][:19]}Z  {event['actor']}  {event['action']}  {event['subject']}{detail}")
    return 0


def register(sub: Any) -> None:
    p = command(sub, "audit")
    p.add_argument("--since", type=day, metavar="YYYY-MM-DD", help="only from this day (UTC)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)
