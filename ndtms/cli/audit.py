"""`ndtms audit [--since DATE] [--json]`: the audit trail, oldest first."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from ndtms.cli.command import settings
from ndtms.cli.topics import idle_timeout_argument, tail
from ndtms.contract.topics import AUDIT


def cmd_audit(args: argparse.Namespace) -> int:
    events = [
        record["value"]
        for record in tail(settings(), AUDIT, from_beginning=True, idle_timeout=args.idle_timeout)
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
    p = sub.add_parser("audit", help="the audit trail: keys issued and revoked, people viewed; who and when")
    p.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD", help="only from this day (UTC)")
    p.add_argument("--json", action="store_true")
    idle_timeout_argument(p, "the audit topic")
    p.set_defaults(func=cmd_audit)
