"""`ndtms tail TOPIC`: decoded records of a topic, as they arrive or from the beginning."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import CommandFailed, settings
from ndtms_contract.topics import CATALOGUE, TopicSpec, resolve


def cmd_tail(args: argparse.Namespace) -> int:
    try:
        spec = resolve(args.topic)
    except KeyError as exc:
        raise CommandFailed(str(exc.args[0])) from exc
    if args.to_end:
        from ndtms_apps.cli.reading import records_to_end

        printed = records_to_end(settings(), spec)
    else:
        printed = following(spec, args)
    for record in printed:
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            value = json.dumps(record["value"], separators=(",", ":"))
            print(f"{record['partition']}:{record['offset']} {record['key']} {value}", flush=True)
    return 0


def following(spec: TopicSpec, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    from ndtms_apps.cli.reading import tail

    if not args.from_beginning:
        # Without this a person sees nothing and cannot tell a quiet topic from a stuck command.
        print(
            f"Waiting for new records on {spec.name} (Ctrl-C to stop); "
            f"`ndtms tail {spec.short_name} --from-beginning` prints what is already there.",
            file=sys.stderr,
            flush=True,
        )
    yield from tail(settings(), spec, args.from_beginning, args.idle_timeout)


def register(sub: Any) -> None:
    p = command(sub, "tail")
    p.add_argument("topic", help=f"{', '.join(spec.short_name for spec in CATALOGUE)}, or a full topic name")
    start = p.add_mutually_exclusive_group()
    start.add_argument(
        "--from-beginning", action="store_true", help="print what is already there first, then follow"
    )
    start.add_argument(
        "--to-end",
        action="store_true",
        help="print what is there now, from the beginning, and stop (read committed; what arrives "
        "after the command starts is not printed)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=float("inf"),
        metavar="SECONDS",
        help="stop following after this long with nothing new (default: follow until Ctrl-C)",
    )
    p.set_defaults(func=cmd_tail)
