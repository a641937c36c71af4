"""`ndtms journeys show CLIENT_KEY | --provider P --episode E` and `ndtms journeys rebuild`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import CommandFailed, settings
from ndtms_apps.cli.credentials import operator_key

if TYPE_CHECKING:
    from ndtms_contract.settings import PlatformSettings


def journey_api(
    platform: PlatformSettings, path: str, params: dict[str, str] | None = None, timeout: float = 10
) -> dict[str, Any]:
    """A GET on the journey service's query API (`path` under /v1) with the operator's key.

    The standard library's client, not httpx: importing httpx was a fifth of a short command's time."""
    from urllib.error import HTTPError, URLError
    from urllib.parse import urlencode
    from urllib.request import Request, urlopen

    url = f"http://{platform.service_host}:{platform.journey_port}/v1/{path}"
    query = f"?{urlencode(params)}" if params else ""
    request = Request(url + query, headers={"Authorization": f"Bearer {operator_key(platform)}"})
    try:
        with urlopen(request, timeout=timeout) as response:
            found: dict[str, Any] = json.loads(response.read())
            return found
    except HTTPError as refusal:
        try:
            detail = json.loads(refusal.read()).get("detail") or refusal.reason
        except ValueError:
            detail = refusal.reason
        raise CommandFailed(str(detail)) from refusal
    except (URLError, TimeoutError, ConnectionError) as exc:
        raise CommandFailed(f"the journey service at {url} does not answer ({exc}); is it up?") from exc


def _who(args: argparse.Namespace) -> str:
    if args.client_key and not (args.provider or args.episode):
        return f"clients/{args.client_key}/journeys"
    if args.provider and args.episode and not args.client_key:
        return f"providers/{args.provider}/episodes/{args.episode}/journeys"
    raise CommandFailed("say whose journeys: a CLIENT_KEY, or --provider CODE --episode EPISODE_ID")


def timeline(record: dict[str, Any]) -> list[str]:
    """Journeys and custody periods in date order, episodes under their journey."""
    entries: list[tuple[str, list[str]]] = []
    for journey in record["journeys"]:
        ended = (
            f"closed {journey['discharge_date']} ({journey['discharge_reason'] or 'reason not given'})"
            if journey["status"] == "closed"
            else "open"
        )
        lines = [f"{journey['start_date']}  journey {journey['journey_id']}: {ended}"]
        for episode in journey["episodes"]:
            until = episode["discharge_date"] or "open"
            name = f"{episode['provider_id']}/{episode['episode_id']}"
            lines.append(f"              {name}  {episode['start_date']} -> {until}")
        entries.append((journey["start_date"], lines))
    for period in record["custody_periods"]:
        when = period["reception_date"] or period["prison_exit_date"] or ""
        exit_part = (
            f", {period['exit_reason'] or 'left'} {period['prison_exit_date']}"
            f" to {period['exit_destination_la'] or 'an unknown local authority'}"
            if period["prison_exit_date"]
            else ", still in custody"
        )
        entries.append(
            (
                when,
                [
                    f"{when}  custody {period['provider_id']}/{period['episode_id']}: "
                    f"received {period['reception_date'] or 'date unknown'}{exit_part}"
                ],
            )
        )
    lines = [
        f"Client {record['client_key']}: {len(record['journeys'])} journey(s), "
        f"{len(record['custody_periods'])} custody period(s); updated {record['updated_at']}"
    ]
    for _, block in sorted(entries, key=lambda entry: entry[0]):
        lines.extend(block)
    return lines


def cmd_journeys(args: argparse.Namespace) -> int:
    platform = settings()
    if args.action == "show":
        record = journey_api(platform, _who(args))
        print(json.dumps(record) if args.json else "\n".join(timeline(record)))
        return 0
    return rebuild_store(platform, args)


def rebuild_store(platform: PlatformSettings, args: argparse.Namespace) -> int:
    from ndtms.clocks import clock_from
    from ndtms.localrun.services import instances, start_all
    from services.journey.rebuild import rebuild
    from services.journey.settings import JourneySettings

    journey_settings = JourneySettings(**platform.model_dump())
    if args.into:
        journey_settings = journey_settings.model_copy(update={"database_url": args.into})
        summary = rebuild(journey_settings, clock_from(platform.clock_file), publish=False)
    else:
        # Every local instance stops first: a rebuild in place claims every partition.
        stopped = [
            i.process(platform).stop(timeout=30) for i in instances(platform) if i.spec.name == "journey"
        ]
        was_running = any(stopped)
        try:
            summary = rebuild(journey_settings, clock_from(platform.clock_file), publish=True)
        finally:
            if was_running:
                start_all(platform)
    if args.json:
        print(json.dumps(asdict(summary)))
    else:
        print(
            f"Rebuilt from {summary.records} records: {summary.people} people, {summary.journeys} journeys "
            f"in {summary.seconds:.1f}s" + (f" into {args.into}" if args.into else "; journeys republished")
        )
    return 0


def register(sub: Any) -> None:
    p = command(sub, "journeys")
    actions = p.add_subparsers(dest="action", required=True)
    show = actions.add_parser(
        "show", help="a readable timeline of one client's journeys, by client key or by one of their episodes"
    )
    show.add_argument("client_key", nargs="?", help="the client key (32 hex characters)")
    show.add_argument("--provider", metavar="CODE", help="with --episode: find the person by an episode")
    show.add_argument("--episode", metavar="EPISODE_ID", help="the provider's own episode id")
    show.add_argument("--json", action="store_true")
    again = actions.add_parser(
        "rebuild",
        help="rebuild the store from ndtms.episodes.valid (stops and restarts a local journey service)",
    )
    again.add_argument(
        "--into", metavar="DATABASE_URL", help="rebuild into another database, publish nothing"
    )
    again.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_journeys)
