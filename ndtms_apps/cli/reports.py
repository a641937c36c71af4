"""`ndtms report continuity`: the continuity-of-care companion report from the journey service."""

from __future__ import annotations

import argparse
import csv
import io
import json
import textwrap
from typing import Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import settings
from ndtms_apps.cli.dates import day
from ndtms_apps.cli.journeys import journey_api
from ndtms_apps.cli.tables import WIDTH, render
from ndtms_contract.periods import Quarter

# Headed by the JSON's names, so a figure read on screen is found in --json by the same name.
FIGURES = (
    "transfers",
    "decided",
    "engaged",
    "triaged",
    "not_engaged",
    "still_open",
    "engaged_by_confirmed_match",
    "rate_percent",
    "rate_without_confirmed_percent",
)


def quarter(text: str) -> str:
    try:
        return str(Quarter.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def fetch(args: argparse.Namespace) -> dict[str, Any]:
    params = {
        "prison": args.prison,
        "la": args.la,
        "quarter": args.quarter,
        "today": args.today.isoformat() if args.today else None,
        "exact": "true" if args.exact else None,
    }
    return journey_api(
        settings(), "reports/continuity", {k: v for k, v in params.items() if v is not None}, timeout=60
    )


def shown(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def rows(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Every row of the report as (kind, prison or region, area), figures: the CSV's lines."""
    found = [("flow", f["prison"], f["la"] or "", f) for f in document["flows"]]
    found += [("region", r["region"], "", r) for r in document["regions"]]
    found.append(("selection", document["prison"] or "", document["la"] or "", document["total"]))
    found.append(("national", "England", "", document["national"]))
    return found


def as_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "prison_or_region", "la", "la_name", *FIGURES])
    for kind, who, la, figures in rows(document):
        writer.writerow([kind, who, la, figures.get("la_name", ""), *(shown(figures[f]) for f in FIGURES)])
    return out.getvalue()


def as_text(document: dict[str, Any], wide: bool) -> list[str]:
    period = document["period"]
    chosen = " ".join(
        part
        for part in (
            f"prison {document['prison']}" if document["prison"] else "",
            f"to {document['la']} {document['la_name']}" if document["la"] else "",
        )
        if part
    )
    what = f"quarter {document['quarter']}" if document["quarter"] else "rolling 12 months"
    title = (
        f"Continuity of care (PHOF 2.16) companion report, {chosen or 'England'}: prison exits "
        f"{period['from']} to {period['to']} ({what}), judged on {document['judged_on']}; "
        f"{document['figures']} figures: {document['disclosure']}"
    )
    lines = [*([title] if wide else textwrap.wrap(title, WIDTH)), ""]
    flows = [
        [f["prison"], f["la"] or "none", f["la_name"], *(shown(f[n]) for n in FIGURES)]
        for f in document["flows"]
    ]
    lines += render(["prison", "la", "la_name", *FIGURES], flows, wide) if flows else ["(no releases)"]
    lines.append("")
    totals = [[r["region"], *(shown(r[n]) for n in FIGURES)] for r in document["regions"]]
    totals.append([chosen or "all prisons", *(shown(document["total"][n]) for n in FIGURES)])
    totals.append(["England", *(shown(document["national"][n]) for n in FIGURES)])
    lines += render(["region / total", *FIGURES], totals, wide)
    lines.append("")
    trend = [
        [
            p["quarter"] + (" (to " + p["judged_on"] + ")" if p["partial"] else ""),
            shown(p["rolling"]["rate_percent"]),
            shown(p["rolling"]["decided"]),
            shown(p["own"]["rate_percent"]),
            shown(p["own"]["decided"]),
            shown(p["own"]["still_open"]),
        ]
        for p in document["trend"]
    ]
    head = [
        "quarter",
        "rolling.rate_percent",
        "rolling.decided",
        "own.rate_percent",
        "own.decided",
        "own.still_open",
    ]
    lines += render(head, trend, wide)
    note = (
        "rolling: the 12 months of releases to the quarter's end; own: the quarter's releases; each judged "
        "on the quarter's last day (a release is decided once its 21-day window has closed)"
    )
    lines += [note] if wide else textwrap.wrap(note, WIDTH)
    return lines


def cmd_report(args: argparse.Namespace) -> int:
    document = fetch(args)
    if args.json:
        print(json.dumps(document))
    elif args.csv:
        print(as_csv(document), end="")
    else:
        print("\n".join(as_text(document, args.wide)))
    return 0


def register(sub: Any) -> None:
    p = command(sub, "report")
    reports = p.add_subparsers(dest="report", required=True, metavar="REPORT")
    c = reports.add_parser(
        "continuity",
        help="the PHOF 2.16 companion report: flows from prisons to areas, pick-up rates, quarterly trend",
    )
    which = c.add_mutually_exclusive_group()
    which.add_argument("--prison", metavar="PROVIDER", help="one prison: its receiving areas")
    which.add_argument("--la", metavar="CODE", help="one local authority (ONS code): its referring prisons")
    c.add_argument(
        "--quarter", type=quarter, metavar="YYYYQN", help="a calendar quarter's releases, e.g. 2025Q1"
    )
    c.add_argument(
        "--today",
        type=day,
        metavar="YYYY-MM-DD",
        help="the day the figures are judged on (default: today); without --quarter the 12 months to it",
    )
    c.add_argument("--exact", action="store_true", help="exact counts (operations only: not for publication)")
    out = c.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true", help="every row as CSV, exactly the figures shown")
    c.add_argument("--wide", action="store_true", help="every column on one line, however wide")
    c.set_defaults(func=cmd_report)
