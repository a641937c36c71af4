"""Every `ndtms` command: its name, the module of the group that runs it, and its one-line help.

Kept apart from the groups, and importing nothing, so `ndtms --help` lists every command without
loading any of them, and a command loads its own group alone (`ndtms_apps.cli.main`).
"""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple


class Command(NamedTuple):
    group: str  # the module under ndtms_apps.cli that registers and runs it
    help: str


COMMANDS: dict[str, Command] = {
    "fetch": Command("platform", "fetch Kafka and the schema registry from Maven Central"),
    "kafka": Command("platform", "start or stop the local kafka"),
    "registry": Command("platform", "start or stop the local registry"),
    "up": Command("platform", "start broker, registry, topics and the four services"),
    "init": Command(
        "platform", "create the topics and register the schemas on the configured cluster and registry"
    ),
    "down": Command("platform", "stop the services (and the local broker and registry)"),
    "demo": Command("platform", "bring everything up and run a synthetic feed through it"),
    "publish": Command("publishing", "publish episode updates from a .jsonl file or a .csv extract"),
    "tail": Command("topics", "print decoded records of a topic"),
    "status": Command("status", "services up, lag and its trend, throughput, silent providers"),
    "rules": Command("quality", "print the validation rule catalogue (Markdown)"),
    "dq": Command("quality", "open validation findings per provider and rule, with what to fix"),
    "indicator": Command("indicator", "the live continuity-of-care indicator from ndtms.links"),
    "report": Command("reports", "the continuity-of-care companion report: prisons to areas, rates, trend"),
    "measures": Command("measures", "live treatment measures: in treatment, waits, retention, exits"),
    "credentials": Command("credentials", "issue, list and revoke API keys for vendors and operators"),
    "journeys": Command("journeys", "a person's treatment journeys; rebuild the journey store"),
    "matches": Command("matches", "the probable-match review queue (operations key)"),
    "erase": Command("erasures", "erase a person everywhere, for good (operations key)"),
    "audit": Command("audit", "the audit trail: keys issued and revoked, people viewed; who and when"),
}


def command(sub: Any, name: str, **options: Any) -> argparse.ArgumentParser:
    """Add the named command's parser (its group adds the arguments)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=COMMANDS[name].help, **options)
    return parser
