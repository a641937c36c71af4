"""The `ndtms` command: run the platform locally, publish, watch topics, check health.

One module per command group; each adds its commands to the parser with `register`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ndtms.cli import (
    audit,
    credentials,
    erasures,
    indicator,
    journeys,
    matches,
    measures,
    platform,
    publishing,
    quality,
    status,
    topics,
)
from ndtms.cli.command import CommandFailed

GROUPS = (
    platform,
    publishing,
    topics,
    status,
    quality,
    indicator,
    measures,
    credentials,
    journeys,
    matches,
    erasures,
    audit,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ndtms", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except CommandFailed as exc:
        print(f"ndtms {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (`| head`) has gone: not an error of ours.
        sys.stderr.close()
        return 0
    return result
