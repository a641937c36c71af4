"""`ndtms indicator`: the live continuity-of-care indicator (PHOF 2.16) from ndtms.links."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict
from datetime import date
from typing import Any

from ndtms.cli.command import CommandFailed, settings
from ndtms.cli.topics import tail
from ndtms.clocks import clock_from, today_in_england
from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import CANDIDATES
from services.linker.indicator import COLUMNS, Grouping, IndicatorRow, indicator, period_start
from services.linker.link_view import LinksUnavailable, link_view

# The table's columns are the JSON's names, in the same order: the six counted columns add up
# to `transfers`, and the three decided ones to `decided`.
TABLE = ("rate", "rate_without_confirmed", *COLUMNS, "decided", "transfers", "engaged_by_confirmed_match")
RATES = ("rate", "rate_without_confirmed")


def row_json(row: IndicatorRow) -> dict[str, Any]:
    return {**asdict(row), "rate": row.rate, "rate_without_confirmed": row.rate_without_confirmed}


def cmd_indicator(args: argparse.Namespace) -> int:
    platform = settings()
    today = args.today or today_in_england(clock_from(platform.clock_file))
    by = Grouping(args.by)
    try:
        with link_view(platform) as view:
            links = view.read_to_end()
    except LinksUnavailable as exc:
        raise CommandFailed(str(exc)) from exc
    rows = indicator(links, today, by)
    national = indicator(links, today, Grouping.NATIONAL)
    period = {"from": period_start(today).isoformat(), "to": today.isoformat()}
    if args.json:
        print(
            json.dumps(
                {
                    "period": period,
                    "by": by.value,
                    "rows": [row_json(r) for r in rows],
                    "national": [row_json(r) for r in national],
                    "open_candidates_by_prison": open_candidates(platform),
                }
            )
        )
        return 0
    print(f"Continuity of care (PHOF 2.16), prison exits {period['from']} to {period['to']}")
    print(table(rows, "group" if by is not Grouping.NATIONAL else "national"))
    if not rows:
        print("(no prison releases in the period)")
    print(
        "rate = engaged / decided (releases whose 21-day window has closed); every release is in one of "
        f"{', '.join(COLUMNS)}; rate_without_confirmed leaves out the engaged_by_confirmed_match"
    )
    waiting = open_candidates(platform)
    if waiting:
        listed = ", ".join(f"{prison} {n}" for prison, n in sorted(waiting.items()))
        print(f"Probable matches waiting for a decision (ndtms matches list), by prison: {listed}")
    return 0


def open_candidates(platform: PlatformSettings) -> dict[str, int]:
    """Open probable-match candidates per prison: work waiting for a person."""
    latest: dict[str, Any] = {}
    for record in tail(platform, CANDIDATES, from_beginning=True, idle_timeout=1.0):
        latest[str(record["key"])] = record["value"]
    return dict(Counter(v["prison_provider_id"] for v in latest.values() if v and v["decision"] == "open"))


def table(rows: list[IndicatorRow], heading: str) -> str:
    cells = [[heading, *TABLE]]
    for row in rows:
        values = row_json(row)
        rates = [f"{values[r]:.1%}" if values[r] is not None else "-" for r in RATES]
        cells.append([row.group, *rates, *(str(values[c]) for c in TABLE[len(RATES) :])])
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    )


def register(sub: Any) -> None:
    p = sub.add_parser("indicator", help="the live continuity-of-care indicator from ndtms.links")
    p.add_argument("--by", choices=[g.value for g in Grouping], default=Grouping.NATIONAL.value)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the last day of the rolling 12 months (default: today in England)",
    )
    p.set_defaults(func=cmd_indicator)
