"""`ndtms matches list|show|confirm|reject`: the probable-match review queue (operations key).

`list` reads `ndtms.links.candidates`; `show` puts the two records' attributors side by side,
the only place that shows them, and records the view on the audit trail first; `confirm` and
`reject` record the decision on the audit trail and on `ndtms.links.decisions`, then wait until
the queue shows it.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from typing import Any

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from ndtms.audit import AuditUnavailable
from ndtms.cli.command import CommandFailed, audit_trail, operator_name, settings
from ndtms.cli.erasures import operations_credential
from ndtms.cli.topics import tail
from ndtms.clocks import clock_from, today_in_england
from ndtms.contract.audit import AuditAction
from ndtms.contract.candidates import MatchDecision, MatchVerdict
from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import CANDIDATES, DECISIONS, MATCH_EPISODES_STATE
from ndtms.contract.transcoding import AvroTranscoder, registry_client
from services.linker.proposals import HeldEpisode

DIFFERENCE_WORDS = {
    "day_month_transposed": "day and month swapped",
    "one_edit": "one digit apart",
    "year_off": "year off by 1 or 10",
    "swapped": "first and second swapped",
    "one_differs": "one differs",
    "both_differ": "both differ",
}


def queue(platform: PlatformSettings, idle: float = 2.0) -> dict[str, dict[str, Any]]:
    """The candidates now: the latest record per key, tombstones removing it."""
    latest: dict[str, dict[str, Any]] = {}
    for record in tail(platform, CANDIDATES, from_beginning=True, idle_timeout=idle):
        if record["value"] is None:
            latest.pop(str(record["key"]), None)
        else:
            latest[str(record["key"])] = record["value"]
    return latest


def days_left(candidate: dict[str, Any], today: date) -> int:
    return (date.fromisoformat(candidate["window_end_date"]) - today).days


def cmd_list(args: argparse.Namespace) -> int:
    platform = settings()
    operations_credential(platform)
    today = today_in_england(clock_from(platform.clock_file))
    rows = [
        (key, c)
        for key, c in queue(platform).items()
        if (args.all or c["decision"] == "open")
        and (args.band is None or c["band"] == args.band)
        and (args.prison is None or c["prison_provider_id"] == args.prison)
    ]
    rows.sort(key=lambda row: (row[1]["window_end_date"], -row[1]["probability"], row[0]))
    if args.json:
        print(
            json.dumps({"candidates": [{"key": k, **c, "days_left": days_left(c, today)} for k, c in rows]})
        )
        return 0
    if not rows:
        print("No candidates waiting for a decision." if not args.all else "No candidates.")
        return 0
    print(
        f"{'candidate':<44} {'band':<9} {'p':>6} {'window ends':<11} {'left':>5}  "
        f"{'decision':<10} differences"
    )
    for key, c in rows:
        kinds = ", ".join(f"{d['attribute']}: {d['kind']}" for d in c["differences"]) or "-"
        print(
            f"{key:<44} {c['band']:<9} {c['probability']:>6.3f} {c['window_end_date']:<11} "
            f"{days_left(c, today):>5}  {c['decision']:<10} {kinds}"
        )
    return 0


def held_episodes(platform: PlatformSettings, keys: set[str]) -> dict[str, HeldEpisode]:
    """The linker's record of these episodes, attributors included, from its state changelog."""
    decoder = msgspec.msgpack.Decoder(HeldEpisode)
    reader = Consumer(
        {
            **platform.kafka_client_config(),
            "group.id": f"ndtms-matches-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    found: dict[str, HeldEpisode | None] = {}
    try:
        topic = MATCH_EPISODES_STATE.name
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        ended: set[int] = set()
        deadline = time.monotonic() + 60
        while len(ended) < len(partitions) and time.monotonic() < deadline:
            for message in reader.consume(1000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ended.add(message.partition() or 0)
                    continue
                key = (message.key() or b"").decode()
                if key in keys:
                    value = message.value()
                    found[key] = decoder.decode(value) if value else None
    finally:
        reader.close()
    return {key: held for key, held in found.items() if held is not None}


def side_by_side(
    key: str, candidate: dict[str, Any], prison: HeldEpisode, community: HeldEpisode
) -> list[str]:
    marked = {d["attribute"]: DIFFERENCE_WORDS.get(d["kind"], d["kind"]) for d in candidate["differences"]}
    p, c = prison.attributors, community.attributors
    rows = [
        (
            "initials",
            f"{p.first_initial} {p.second_initial}",
            f"{c.first_initial} {c.second_initial}",
            "initials",
        ),
        ("date of birth", p.date_of_birth.isoformat(), c.date_of_birth.isoformat(), "date_of_birth"),
        ("sex", p.sex, c.sex, "sex"),
        (
            "local authority",
            f"{prison.facts.exit_destination_la or '-'} (released to)",
            community.local_authority or "-",
            "local_authority",
        ),
    ]
    lines = [
        f"Candidate {key}: {candidate['band']}, probability {candidate['probability']:.3f}, "
        f"weight {candidate['match_weight']:.2f} ({candidate['model_version']}); {candidate['decision']}",
        f"{'':<17} {'prison ' + prison.key:<30} {'community ' + community.key:<30}",
    ]
    for label, left, right, attribute in rows:
        note = f"  <- {marked[attribute]}" if attribute in marked else ""
        lines.append(f"{label:<17} {left:<30} {right:<30}{note}")
    lines.append(
        f"{'dates':<17} {'exit ' + candidate['prison_exit_date']:<30} "
        f"{'triage ' + str(candidate['triage_date'] or '-'):<30}"
    )
    lines.append(
        f"{'':<17} {'window to ' + candidate['window_end_date']:<30} "
        f"{'structured start ' + str(candidate['structured_start_date'] or '-'):<30}"
    )
    return lines


def cmd_show(args: argparse.Namespace) -> int:
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
    transfer, _, community = args.key.partition("|")
    held = held_episodes(platform, {transfer, community})
    if transfer not in held or community not in held:
        raise CommandFailed(
            "the linker no longer holds one of the two records (withdrawn, erased or aged out)"
        )
    if args.json:
        print(
            json.dumps(
                {
                    "candidate": candidate,
                    "prison": _plain(held[transfer]),
                    "community": _plain(held[community]),
                }
            )
        )
    else:
        print("\n".join(side_by_side(args.key, candidate, held[transfer], held[community])))
    return 0


def _plain(episode: HeldEpisode) -> dict[str, Any]:
    a = episode.attributors
    return {
        "episode": episode.key,
        "first_initial": a.first_initial,
        "second_initial": a.second_initial,
        "date_of_birth": a.date_of_birth.isoformat(),
        "sex": a.sex,
        "local_authority": episode.local_authority,
    }


def cmd_decide(args: argparse.Namespace) -> int:
    platform = settings()
    credential = operations_credential(platform)
    verdict = MatchVerdict(args.decision)
    candidate = queue(platform).get(args.key)
    if candidate is None:
        raise CommandFailed(f"no candidate {args.key}: see `ndtms matches list --all`")
    if candidate["decision"] == verdict.value:
        print(f"{args.key} is already {verdict.value}.")
        return 0
    if candidate["decision"] == "superseded":
        raise CommandFailed(f"{args.key} was superseded (its evidence changed): nothing to decide")
    actor = f"{operator_name()} with {credential.name} ({credential.id})"
    try:
        audit_trail(platform)(actor, AuditAction.MATCH_DECIDED, args.key, verdict.value)
    except AuditUnavailable as exc:
        raise CommandFailed(f"{exc}; nothing was decided") from exc
    decision = MatchDecision(
        candidate_key=args.key,
        decision=verdict,
        decided_by=actor,
        decided_at=clock_from(platform.clock_file)(),
    )
    codec = AvroTranscoder(registry_client(platform.registry_url), DECISIONS, MatchDecision)
    producer = Producer(platform.producer_config())
    producer.produce(DECISIONS.name, key=args.key.encode(), value=codec.encode(decision))
    if producer.flush(15):
        raise CommandFailed("the broker did not acknowledge the decision: send it again")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if (queue(platform, idle=1.0).get(args.key) or {}).get("decision") == verdict.value:
            print(f"{args.key}: {verdict.value}.")
            return 0
        time.sleep(0.5)
    print(f"{args.key}: the decision is recorded, but the queue does not show it yet (is the linker up?)")
    return 1


def register(sub: Any) -> None:
    p = sub.add_parser("matches", help="the probable-match review queue (operations key)")
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
