"""`ndtms matches list|show|confirm|reject`: the probable-match review queue (operations key).

`list` reads `ndtms.links.candidates`; `show` puts the two records' attributors side by side,
the only place that shows them, and records the view on the audit trail first; `confirm` and
`reject` record the decision on the audit trail and on `ndtms.links.decisions`, then wait until
the queue shows it. The journey API offers the same under `/v1/matches` (`ndtms_apps.pages.review`).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import CommandFailed, audit_trail, operator_name, settings
from ndtms_apps.cli.erasures import operations_credential

if TYPE_CHECKING:
    from ndtms_apps.pages.review.reading import CandidateQueue
    from ndtms_apps.pages.review.rules import Compared
    from ndtms_contract.candidates import LinkCandidate
    from ndtms_contract.settings import PlatformSettings

LABELS = {
    "initials": "initials",
    "date_of_birth": "date of birth",
    "sex": "sex",
    "local_authority": "local authority",
}


def queue(platform: PlatformSettings) -> CandidateQueue:
    from ndtms_apps.pages.review.reading import CandidateQueue

    candidates = CandidateQueue(platform)
    try:
        candidates.catch_up()
    except TimeoutError as exc:
        raise CommandFailed(str(exc)) from exc
    finally:
        candidates.close()
    return candidates


def cmd_list(args: argparse.Namespace) -> int:
    from ndtms.clocks import clock_from, today_in_england
    from ndtms_apps.pages.review.rules import waiting
    from ndtms_contract.candidates import Band

    platform = settings()
    operations_credential(platform)
    today = today_in_england(clock_from(platform.clock_file))
    band = Band(args.band) if args.band else None
    rows = waiting(queue(platform).all(), today, band, args.prison, decided_too=args.all)
    if args.json:
        print(json.dumps({"candidates": [row.as_json() for row in rows]}))
        return 0
    if not rows:
        print("No candidates waiting for a decision." if not args.all else "No candidates.")
        return 0
    print(
        f"{'candidate':<44} {'band':<9} {'p':>6} {'window ends':<11} {'left':>5}  "
        f"{'decision':<10} differences"
    )
    for row in rows:
        c = row.candidate
        kinds = ", ".join(f"{d.attribute}: {d.kind}" for d in c.differences) or "-"
        print(
            f"{c.key:<44} {c.band.value:<9} {c.probability:>6.3f} {c.window_end_date.isoformat():<11} "
            f"{row.days_left:>5}  {c.decision.value:<10} {kinds}"
        )
    return 0


def printed(candidate: LinkCandidate, prison: str, community: str, lines: list[Compared]) -> list[str]:
    c = candidate
    out = [
        f"Candidate {c.key}: {c.band.value}, probability {c.probability:.3f}, "
        f"weight {c.match_weight:.2f} ({c.model_version}); {c.decision.value}",
        f"{'':<17} {'prison ' + prison:<30} {'community ' + community:<30}",
    ]
    for line in lines:
        left = f"{line.prison} (released to)" if line.attribute == "local_authority" else line.prison
        note = f"  <- {line.difference}" if line.difference else ""
        out.append(f"{LABELS[line.attribute]:<17} {left:<30} {line.community:<30}{note}")
    out.append(
        f"{'dates':<17} {'exit ' + c.prison_exit_date.isoformat():<30} "
        f"{'triage ' + (c.triage_date.isoformat() if c.triage_date else '-'):<30}"
    )
    start = c.structured_start_date.isoformat() if c.structured_start_date else "-"
    out.append(
        f"{'':<17} {'window to ' + c.window_end_date.isoformat():<30} {'structured start ' + start:<30}"
    )
    return out


def cmd_show(args: argparse.Namespace) -> int:
    from ndtms.audit import AuditUnavailable
    from ndtms_apps.pages.review.reading import held_episodes
    from ndtms_apps.pages.review.rules import RecordsGone, attributors_of, side_by_side, the_two_records
    from ndtms_contract.audit import AuditAction

    platform = settings()
    credential = operations_credential(platform)
    candidate = queue(platform).get(args.key)
    if candidate is None:
        raise CommandFailed(f"no candidate {args.key}: see `ndtms matches list --all`")
    actor = f"{operator_name()} with {credential.name} ({credential.id})"
    try:
        audit_trail(platform)(actor, AuditAction.MATCH_VIEWED, args.key, "the two records' attributors shown")
    except AuditUnavailable as exc:
        raise CommandFailed(f"{exc}; nothing is shown unless the view is recorded") from exc
    try:
        prison, community = the_two_records(lambda keys: held_episodes(platform, keys), candidate)
    except RecordsGone as exc:
        raise CommandFailed(str(exc)) from exc
    if args.json:
        document = {
            "candidate": candidate.model_dump(mode="json"),
            "prison": attributors_of(prison),
            "community": attributors_of(community),
        }
        print(json.dumps(document))
    else:
        print(
            "\n".join(
                printed(candidate, prison.key, community.key, side_by_side(candidate, prison, community))
            )
        )
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from ndtms.audit import AuditUnavailable
    from ndtms.clocks import clock_from
    from ndtms_apps.pages.review.desk import DecisionDesk, DecisionOutcome
    from ndtms_apps.pages.review.rules import CandidateSuperseded, DecisionNotRecorded
    from ndtms_contract.candidates import MatchVerdict

    platform = settings()
    credential = operations_credential(platform)
    verdict = MatchVerdict(args.decision)
    actor = f"{operator_name()} with {credential.name} ({credential.id})"
    desk = DecisionDesk(platform, audit_trail(platform), clock_from(platform.clock_file))
    try:
        outcome, _ = desk.decide(args.key, queue(platform).get(args.key), verdict, actor)
    except LookupError as exc:
        raise CommandFailed(f"{exc}: see `ndtms matches list --all`") from exc
    except CandidateSuperseded as exc:
        raise CommandFailed(str(exc)) from exc
    except AuditUnavailable as exc:
        raise CommandFailed(f"{exc}; nothing was decided") from exc
    except DecisionNotRecorded as exc:
        raise CommandFailed(f"{exc}: send it again") from exc
    if outcome is DecisionOutcome.ALREADY:
        print(f"{args.key} is already {verdict.value}.")
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        shown = queue(platform).get(args.key)
        if shown is not None and shown.decision.value == verdict.value:
            print(f"{args.key}: {verdict.value}.")
            return 0
        time.sleep(0.5)
    print(f"{args.key}: the decision is recorded, but the queue does not show it yet (is the linker up?)")
    return 1


def register(sub: Any) -> None:
    p = command(sub, "matches")
    actions = p.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="candidates waiting for a decision, oldest window first")
    listing.add_argument("--band", choices=("likely", "possible"))
    listing.add_argument("--prison", metavar="PROVIDER", help="only this prison's releases")
    listing.add_argument("--all", action="store_true", help="decided and superseded ones too")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)
    show = actions.add_parser("show", help="the two records side by side (attributors; the view is audited)")
    show.add_argument("key", metavar="CANDIDATE_KEY")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    for name in ("confirm", "reject"):
        decide = actions.add_parser(name, help=f"{name} a candidate (recorded and audited)")
        decide.add_argument("key", metavar="CANDIDATE_KEY")
        decide.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
        decide.set_defaults(func=cmd_decide, decision=f"{name}ed" if name == "confirm" else "rejected")
