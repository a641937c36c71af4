"""`ndtms measures`: the live treatment measures from the journey service (operations key)."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Callable
from typing import Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import CommandFailed, settings
from ndtms_apps.cli.dates import day
from ndtms_apps.cli.journeys import journey_api
from ndtms_apps.cli.tables import WIDTH, render

# The table's headers are the JSON's names, so that a figure read on screen is found in --json.
COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("in_treatment", lambda r: r["in_treatment"]),
    ("new_presentations", lambda r: r["new_presentations"]),
    ("waits.count", lambda r: r["waits"]["count"]),
    (
        "waits.median_days",
        lambda r: "-" if r["waits"]["median_days"] is None else f"{r['waits']['median_days']:g}",
    ),
    ("waits.within_21_days", lambda r: r["waits"]["within_21_days"]),
    ("waiting_now_over_21_days", lambda r: r["waiting_now_over_21_days"]),
    (
        "retained_12_weeks",
        lambda r: f"{r['retained_12_weeks']['numerator']}/{r['retained_12_weeks']['denominator']}",
    ),
    ("successful_completions", lambda r: r["successful_completions"]),
    ("representations_6_months", lambda r: r["representations_6_months"]),
    ("representations_window_open", lambda r: r["representations_window_open"]),
    ("unplanned_exits", lambda r: r["unplanned_exits"]),
    ("early_unplanned_exits", lambda r: r["early_unplanned_exits"]),
)


def fetch_measures(args: argparse.Namespace) -> dict[str, Any]:
    params = {
        "from": args.start.isoformat() if args.start else None,
        "to": args.end.isoformat() if args.end else None,
        "by": args.by,
        "published": "true" if args.published else None,
    }
    return journey_api(
        settings(), "measures", {k: v for k, v in params.items() if v is not None}, timeout=120
    )


def counted_in(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The measures counted directly in a journey store (one rebuilt with `--into`, say)."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from ndtms.clocks import clock_from, today_in_england
    from ndtms.databases import engine_for
    from services.journey.measures import Breakdown, period_of
    from services.journey.measuring import MeasuresIncomplete, measure_rows
    from services.journey.reports import document

    platform = settings()
    today = today_in_england(clock_from(platform.clock_file))
    try:
        period = period_of(args.start, args.end, today)
    except ValueError as exc:
        raise CommandFailed(str(exc)) from exc
    engine = engine_for(database_url)
    try:
        with Session(engine) as session:
            rows = measure_rows(session, period, Breakdown(args.by) if args.by else None)
    except MeasuresIncomplete as exc:
        raise CommandFailed(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CommandFailed(
            f"the journey store at --database could not be read: {exc.__class__.__name__}"
        ) from exc
    finally:
        engine.dispose()
    return document(rows, period, args.published)


def table(document: dict[str, Any], published: bool, wide: bool = False) -> list[str]:
    """One line per row (national first), a column per measure headed by its JSON name."""
    cells = [
        ["national" if row["scope"] == "national" else str(row["group"]), *(str(f(row)) for _, f in COLUMNS)]
        for row in document["rows"]
    ]
    head = [document["rows"][0]["scope"] if len(document["rows"]) == 1 else "group", *(n for n, _ in COLUMNS)]
    note = " (published: counts under 5 shown as <5, others rounded to the nearest 5)" if published else ""
    title = f"Treatment measures, community settings, {document['from']} to {document['to']}{note}"
    return [*([title] if wide else textwrap.wrap(title, WIDTH)), *render(head, cells, wide)]


def cmd_measures(args: argparse.Namespace) -> int:
    document = counted_in(args.database, args) if args.database else fetch_measures(args)
    if args.json:
        print(json.dumps(document))
    else:
        print("\n".join(table(document, args.published, args.wide)))
    return 0


def register(sub: Any) -> None:
    p = command(sub, "measures")
    p.add_argument(
        "--from", dest="start", type=day, metavar="YYYY-MM-DD", help="first day (default: a year before --to)"
    )
    p.add_argument("--to", dest="end", type=day, metavar="YYYY-MM-DD", help="last day (default: today)")
    p.add_argument("--by", choices=("provider", "la"), help="also a row per provider or local authority")
    p.add_argument(
        "--published", action="store_true", help="NDTMS disclosure control for outputs leaving the team"
    )
    p.add_argument(
        "--database",
        metavar="URL",
        help="count in this journey store directly (e.g. one rebuilt with `ndtms journeys rebuild --into`)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--wide", action="store_true", help="every column on one line, however wide")
    p.set_defaults(func=cmd_measures)
