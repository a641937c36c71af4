"""`ndtms indicator`: the live continuity-of-care indicator (PHOF 2.16) from ndtms.links."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections import Counter
from typing import TYPE_CHECKING, Any

from ndtms.continuity.indicator import COLUMNS, Grouping, IndicatorRow, indicator, period_start
from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import CommandFailed, settings
from ndtms_apps.cli.dates import day
from ndtms_apps.cli.tables import WIDTH, render
from ndtms_contract.topics import CANDIDATES

if TYPE_CHECKING:
    from ndtms_contract.settings import PlatformSettings

# The table's columns are the JSON's names, in the same order: the six counted columns add up
# to `transfers`, and the three decided ones to `decided`.
TABLE = ("rate", "rate_without_confirmed", *COLUMNS, "decided", "transfers", "engaged_by_confirmed_match")
RATES = ("rate", "rate_without_confirmed")


def row_json(row: IndicatorRow) -> dict[str, Any]:
    return {
        "group": row.group,
        "transfers": row.transfers,
        "decided": row.decided,
        **{column: getattr(row, column) for column in COLUMNS},
        "engaged_by_confirmed_match": row.engaged_by_confirmed_match,
        "rate": row.rate,
        "rate_without_confirmed": row.rate_without_confirmed,
    }


def cmd_indicator(args: argparse.Namespace) -> int:
    from ndtms.clocks import clock_from, today_in_england
    from ndtms.link_view import LinksUnavailable, link_view

    platform = settings()
    today = args.today or today_in_england(clock_from(platform.clock_file))
    by = Grouping(args.by)
    try:
        with link_view(platform) as view:
            links = view.read_to_end()
    except LinksUnavailable as exc:
        raise CommandFailed(str(exc)) from exc
    # The linker's grace decides when an unmatched window closes: the command uses the same.
    grace = platform.linker_grace_days
    rows = indicator(links, today, by, grace)
    national = indicator(links, today, Grouping.NATIONAL, grace)
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
    print(table(rows, "group" if by is not Grouping.NATIONAL else "national", args.wide))
    if not rows:
        print("(no prison releases in the period)")
    notes = [
        "rate = engaged / decided (releases whose 21-day window had closed on the day); every release "
        f"is in one of {', '.join(COLUMNS)}; rate_without_confirmed leaves out the "
        "engaged_by_confirmed_match"
    ]
    waiting = open_candidates(platform)
    if waiting:
        listed = ", ".join(f"{prison} {n}" for prison, n in sorted(waiting.items()))
        notes.append(f"Probable matches waiting for a decision (ndtms matches list), by prison: {listed}")
    for note in notes:
        print(note if args.wide else textwrap.fill(note, WIDTH))
    return 0


def open_candidates(platform: PlatformSettings) -> dict[str, int]:
    """Open probable-match candidates per prison: work waiting for a person."""
    from ndtms_apps.cli.reading import records_to_end

    latest: dict[str, Any] = {}
    for record in records_to_end(platform, CANDIDATES):
        latest[str(record["key"])] = record["value"]
    return dict(Counter(v["prison_provider_id"] for v in latest.values() if v and v["decision"] == "open"))


def table(rows: list[IndicatorRow], heading: str, wide: bool = False) -> str:
    cells = []
    for row in rows:
        values = row_json(row)
        rates = [f"{values[r]:.1%}" if values[r] is not None else "-" for r in RATES]
        cells.append([row.group, *rates, *(str(values[c]) for c in TABLE[len(RATES) :])])
    return "\n".join(render([heading, *TABLE], cells, wide))


def register(sub: Any) -> None:
    p = command(sub, "indicator")
    p.add_argument("--by", choices=[g.value for g in Grouping], default=Grouping.NATIONAL.value)
    p.add_argument("--json", action="store_true")
    p.add_argument("--wide", action="store_true", help="every column on one line, however wide")
    p.add_argument(
        "--today",
        type=day,
        metavar="YYYY-MM-DD",
        help="the last day of the rolling 12 months (default: today in England)",
    )
    p.set_defaults(func=cmd_indicator)
