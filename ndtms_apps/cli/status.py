"""`ndtms status`: services up, lag and its trend, throughput, silent providers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import settings

if TYPE_CHECKING:
    from rich.console import Group

RATE_SECONDS = 1.0  # rates need two readings: this far apart when asked once


def status_tables(previous: dict[str, Any] | None, current: dict[str, Any], silent_hours: float) -> Group:
    from rich.console import Group
    from rich.table import Table

    from ndtms_apps.cli.status_view import Trend, services_view, silent_providers, topic_rates

    seconds = current["at"] - previous["at"] if previous else 0.0
    services = Table(title="services", title_justify="left")
    for column in ("service", "up", "health", "lag", "trend", "consumed/s", "latency", "stalled"):
        services.add_column(column, justify="right" if column in ("lag", "consumed/s", "latency") else "left")
    healths = {name: s["health"] for name, s in current["services"].items()}
    for view in services_view(previous, current, seconds):
        rate = f"{view.consumed_per_second:,.1f}" if view.consumed_per_second is not None else "-"
        services.add_row(
            view.name,
            "yes" if view.up else "[bold red]NO[/]",
            healths[view.name],
            f"{view.lag:,}",
            view.trend.value if view.trend is not Trend.UNKNOWN else "-",
            rate,
            f"{view.latency * 1000:,.0f} ms" if view.latency is not None else "-",
            "[bold red]STALLED[/]" if view.stalled else "",
        )
        listed = current["services"][view.name].get("instances", [])
        if len(listed) > 1:
            for instance in listed:
                services.add_row(
                    f"  {instance['name']}",
                    "yes" if instance["up"] else "[bold red]NO[/]",
                    instance["health"],
                    f"{instance['lag']:,}",
                    "",
                    "",
                    "",
                    "",
                )
    topics = Table(
        title="topics",
        title_justify="left",
        caption="end offset: the next offset of each partition, added up. Every transaction also writes "
        "a commit marker, which takes an offset, so a topic written in transactions (all but raw) shows "
        "more than the records on it; `ndtms tail TOPIC --from-beginning` counts records.",
        caption_justify="left",
    )
    for column in ("topic", "end offset", "offsets/s"):
        topics.add_column(column, justify="left" if column == "topic" else "right")
    rates = topic_rates(previous, current, seconds)
    for name, topic in current["topics"].items():
        rate = f"{rates[name]:,.1f}" if name in rates else "-"
        topics.add_row(name, f"{topic['end_offset_total']:,}", rate)
    silent = silent_providers(current["providers_last_published"], current["at"], silent_hours)
    quiet = (
        f"[bold yellow]silent for over {silent_hours:g} h:[/] "
        + ", ".join(f"{p} ({h:.0f} h)" for p, h in silent.items())
        if silent
        else f"no provider silent for over {silent_hours:g} h "
        f"({len(current['providers_last_published'])} seen by this ingest service)"
    )
    return Group(services, topics, quiet)


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from ndtms_apps.cli.platform_status import collect
    from ndtms_apps.cli.status_view import silent_providers

    platform = settings()
    silent_hours = platform.silent_provider_hours
    report = collect(platform)
    if args.json:
        report["silent_providers"] = silent_providers(
            report["providers_last_published"], report["at"], silent_hours
        )
        print(json.dumps(report))
        return 0
    console = Console()
    time.sleep(RATE_SECONDS)
    previous, report = report, collect(platform)
    if not args.watch:
        console.print(status_tables(previous, report, silent_hours))
        return 0
    if not sys.stdout.isatty():
        # Piped or logged: a reading per interval, one after another, instead of redrawing in place.
        while True:
            stamp = datetime.fromtimestamp(report["at"], UTC).isoformat(timespec="seconds")
            console.print(f"reading at {stamp}")
            console.print(status_tables(previous, report, silent_hours))
            time.sleep(args.interval)
            previous, report = report, collect(platform)
    with Live(status_tables(previous, report, silent_hours), console=console) as live:
        while True:
            time.sleep(args.interval)
            previous, report = report, collect(platform)
            live.update(status_tables(previous, report, silent_hours))


def register(sub: Any) -> None:
    p = command(sub, "status")
    p.add_argument("--watch", action="store_true", help="refresh every --interval until Ctrl-C")
    p.add_argument("--interval", type=float, default=5.0, metavar="SECONDS")
    p.add_argument("--json", action="store_true", help="one reading as JSON (no rates)")
    p.set_defaults(func=cmd_status)
