"""The `ndtms` command: run the platform locally, publish, watch topics, check health.

One module per command group; each adds its commands to the parser with `register`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ndtms_apps.cli.catalogue import COMMANDS
from ndtms_apps.cli.command import CommandFailed


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for this command line: the named command's group in full, the others by name
    and help only, so nothing a command does not need is imported (start-up is most of a
    short command's time)."""
    parser = argparse.ArgumentParser(prog="ndtms", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = chosen(sys.argv[1:] if argv is None else argv)
    groups = {COMMANDS[wanted].group} if wanted else set()
    registered: set[str] = set()
    for name, entry in COMMANDS.items():
        if entry.group in groups:
            if entry.group not in registered:
                importlib.import_module(f"ndtms_apps.cli.{entry.group}").register(sub)
                registered.add(entry.group)
        else:
            sub.add_parser(name, help=entry.help)
    return parser


def every_command_parser() -> argparse.ArgumentParser:
    """The parser with every group registered (for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="ndtms", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in dict.fromkeys(entry.group for entry in COMMANDS.values()):
        importlib.import_module(f"ndtms_apps.cli.{group}").register(sub)
    return parser


def chosen(argv: Sequence[str]) -> str | None:
    """The command named on the line: the first word that is not an option."""
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in COMMANDS else None


def quiet_terminal_logging() -> None:
    """A person at a terminal sees what a command says, and library lines only when they matter:
    librdkafka's retries ("coordinator load in progress") are routine and the command's own
    timeouts say when the broker is really out of reach."""
    logging.basicConfig(level=logging.WARNING, format="ndtms: %(name)s: %(message)s")
    logging.getLogger("librdkafka").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    quiet_terminal_logging()
    args = build_parser(argv).parse_args(argv)
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
