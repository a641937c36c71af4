"""The `ndtms` command: run the platform locally, publish, watch topics, check health."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, Producer, TopicPartition
from rich.console import Console as RichConsole
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from ndtms import credentials_cli, journeys_cli
from ndtms.clocks import clock_from, today_in_england
from ndtms.contract.episodes import EpisodeUpdate
from ndtms.contract.findings import ValidationReport
from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import CATALOGUE, ERRORS, RAW, TopicSpec, resolve
from ndtms.contract.transcoding import (
    AvroTranscoder,
    UndecodableRecord,
    registry_client,
    transcoder_for,
)
from ndtms.localrun.artifacts import fetch_kafka, fetch_registry
from ndtms.localrun.kafka import LocalKafka
from ndtms.localrun.registry import LocalRegistry
from ndtms.localrun.services import start_all, stop_all
from ndtms.localrun.topics import ClusterUnreachable, ensure_topics
from ndtms.status import collect
from ndtms.status_view import Trend, services_view, silent_providers, topic_rates
from ndtms.synthetic import demo_feed
from services.ingest.extract_runs import publish_extract
from services.ingest.extracts import BadExtract
from services.ingest.ledger import ExtractLedger
from services.ingest.parsing import Parsed, parse_jsonl, reject_duplicates
from services.ingest.publishing import RawTopicWriter
from services.ingest.settings import IngestSettings
from services.linker.indicator import Grouping, IndicatorRow, indicator, period_start
from services.linker.link_view import LinksUnavailable, link_view
from services.validator.catalogue_doc import render as render_rules
from services.validator.quality import open_findings


class CommandFailed(Exception):
    """A failure to report in one line and exit non-zero."""


def _settings() -> PlatformSettings:
    return PlatformSettings()


def cmd_fetch(_args: argparse.Namespace) -> int:
    print(f"Kafka libraries: {fetch_kafka()}")
    print(f"Schema registry: {fetch_registry()}")
    return 0


def cmd_kafka(args: argparse.Namespace) -> int:
    kafka = LocalKafka(_settings())
    if args.action == "start":
        print(f"Kafka (KRaft) ready at {kafka.start()}; log: {kafka.process.log_file}")
    else:
        print("Kafka stopped" if kafka.stop() else "Kafka was not running")
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    registry = LocalRegistry(_settings())
    if args.action == "start":
        print(f"Schema registry ready at {registry.start()}; log: {registry.process.log_file}")
    else:
        print("Schema registry stopped" if registry.stop() else "Schema registry was not running")
    return 0


def bring_up(settings: PlatformSettings) -> None:
    if settings.uses_local_kafka:
        print(f"Kafka: starting the local broker at {LocalKafka(settings).start()}")
    else:
        print(f"Kafka: using {settings.bootstrap_servers}")
    if settings.uses_local_registry:
        print(f"Schema registry: starting the local registry at {LocalRegistry(settings).start()}")
    else:
        print(f"Schema registry: using {settings.registry_url}")
    created = ensure_topics(settings.kafka_client_config())
    print(f"Topics: {len(created)} created, the others already there" if created else "Topics: all there")
    register_schemas(settings)
    key_file = credentials_cli.ensure_local_operator(settings)
    print(f"Operator key for this machine's ndtms commands: {key_file}")
    start_all(settings)
    print("Services: ingest, validator, journey and linker are running and healthy")


def register_schemas(settings: PlatformSettings) -> None:
    registry = registry_client(settings.registry_url)
    for spec in CATALOGUE:
        if spec.value_schema is not None:
            transcoder_for(registry, spec).register()


def cmd_init(_args: argparse.Namespace) -> int:
    """Topics and schemas on a configured cluster and registry, nothing else (deployments run it once)."""
    settings = _settings()
    try:
        created = ensure_topics(settings.kafka_client_config())
    except ClusterUnreachable as exc:
        raise CommandFailed(str(exc)) from exc
    print(f"Topics: {len(created)} created, the others already there" if created else "Topics: all there")
    register_schemas(settings)
    print(f"Schemas: registered at {settings.registry_url}")
    return 0


def cmd_up(_args: argparse.Namespace) -> int:
    bring_up(_settings())
    print("Stop everything with: ndtms down")
    return 0


def cmd_down(_args: argparse.Namespace) -> int:
    settings = _settings()
    stopped = stop_all(settings)
    print(f"Services stopped: {', '.join(stopped) or 'none were running'}")
    if settings.uses_local_registry and LocalRegistry(settings).stop():
        print("Schema registry stopped")
    if settings.uses_local_kafka and LocalKafka(settings).stop():
        print("Kafka stopped")
    return 0


def _describe(item: Parsed) -> str:
    return "; ".join(str(p) for p in item.problems)


def publish_file(settings: PlatformSettings, path: Path) -> dict[str, Any]:
    """Shape-check every line, publish the good ones, and summarise."""
    if not path.exists():
        raise CommandFailed(f"{path}: no such file")
    if path.suffix.lower() != ".jsonl":
        raise CommandFailed(
            f"{path}: expected a .jsonl file (one episode update per line) or a .csv extract with --provider"
        )
    codec = AvroTranscoder(registry_client(settings.registry_url), RAW, EpisodeUpdate)
    writer = RawTopicWriter(Producer(settings.producer_config()), codec)
    rejected: list[dict[str, Any]] = []
    counted = {"lines": 0, "sent": 0}

    def good_updates(lines: Iterable[bytes]) -> Iterator[tuple[int, EpisodeUpdate]]:
        for item in reject_duplicates(parse_jsonl(lines)):
            counted["lines"] += 1
            if item.accepted and item.update is not None:
                counted["sent"] += 1
                yield item.position, item.update
            else:
                problems = [{"path": p.path, "message": p.message} for p in item.problems]
                rejected.append({"line": item.position, "problems": problems})

    with path.open("rb") as lines:
        # Streamed: memory stays flat however long the file is, and the broker's
        # acknowledgements are awaited once, at the end, not between parts of the file.
        failures = writer.write_stream(good_updates(lines))
    seen = counted["lines"]
    accepted = counted["sent"] - len(failures)
    rejected += [
        {"line": line, "problems": [{"path": "", "message": error}]} for line, error in failures.items()
    ]
    rejected.sort(key=lambda r: int(r["line"]))
    if not seen:
        raise CommandFailed(f"{path}: the file is empty; expected one episode update (JSON object) per line")
    return {"file": str(path), "accepted": accepted, "rejected": len(rejected), "rejections": rejected}


def publish_csv(settings: PlatformSettings, path: Path, provider: str, show_progress: bool) -> dict[str, Any]:
    """Publish a provider's CSV extract: revisions from content, unchanged rows skipped."""
    if not path.exists():
        raise CommandFailed(f"{path}: no such file")
    ingest = IngestSettings(**settings.model_dump())
    codec = AvroTranscoder(registry_client(settings.registry_url), RAW, EpisodeUpdate)
    writer = RawTopicWriter(Producer(settings.producer_config()), codec)
    ledger = ExtractLedger(ingest.effective_ledger_url)
    with (
        path.open("rb") as lines,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            disable=not show_progress,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task(f"{path.name}", total=path.stat().st_size)
        try:
            summary = publish_extract(
                lines,
                provider,
                writer,
                ledger,
                datetime.now(UTC),
                progress=lambda _rows: progress.update(task, completed=lines.tell()),
            )
        except BadExtract as exc:
            raise CommandFailed(f"{path}: {exc}") from exc
    return {"file": str(path), **summary.as_json()}


def cmd_publish(args: argparse.Namespace) -> int:
    if Path(args.file).suffix.lower() == ".csv":
        if not args.provider:
            raise CommandFailed("a CSV extract needs --provider CODE (the AGNCY it is for)")
        csv_summary = publish_csv(
            _settings(), Path(args.file), args.provider, show_progress=sys.stdout.isatty() and not args.json
        )
        if args.json:
            print(json.dumps(csv_summary))
        else:
            print(
                f"{csv_summary['file']}: {csv_summary['rows']} rows; published {csv_summary['published']} "
                f"({csv_summary['new']} new, {csv_summary['changed']} changed), "
                f"unchanged {csv_summary['unchanged']}, rejected {csv_summary['rejected']}"
            )
            for rejection in csv_summary["rejections"]:
                for problem in rejection["problems"]:
                    where = f" {problem['path']}:" if problem["path"] else ""
                    print(f"  row {rejection['row']}:{where} {problem['message']}")
            if csv_summary["missing_from_extract"]:
                missing = csv_summary["missing_from_extract"]
                print(
                    f"  {len(missing)} episode(s) published before are missing from this extract "
                    f"(not deleted; withdraw them explicitly if they should go): {', '.join(missing[:20])}"
                    + (" ..." if len(missing) > 20 else "")
                )
        return 1 if csv_summary["rejected"] else 0
    summary = publish_file(_settings(), Path(args.file))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['file']}: accepted {summary['accepted']}, rejected {summary['rejected']}")
        for rejection in summary["rejections"]:
            for problem in rejection["problems"]:
                where = f"line {rejection['line']}" + (f": {problem['path']}" if problem["path"] else "")
                print(f"  {where}: {problem['message']}")
    return 1 if summary["rejected"] else 0


def _value_json(spec: TopicSpec, codec: AvroTranscoder[Any] | None, value: bytes | None, headers: Any) -> Any:
    if value is None:
        return None
    if codec is None:
        return {
            "bytes_base64": base64.b64encode(value).decode(),
            "headers": {k: (v.decode("utf-8", "replace") if v else None) for k, v in (headers or [])},
        }
    try:
        return codec.decode(value).model_dump(mode="json")
    except UndecodableRecord as exc:
        return {"undecodable": str(exc)}


def tail(settings: PlatformSettings, spec: TopicSpec, from_beginning: bool, idle_timeout: float) -> Any:
    """Yield every record of the topic (all partitions) until nothing new arrives for idle_timeout."""
    codec = transcoder_for(registry_client(settings.registry_url), spec) if spec.value_schema else None
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"ndtms-tail-{time.time_ns()}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(spec.name, timeout=10).topics.get(spec.name)
        if metadata is None or metadata.error is not None:
            raise CommandFailed(f"topic {spec.name} does not exist; run `ndtms up` first")
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(spec.name, p, start) for p in metadata.partitions])
        last = time.monotonic()
        while time.monotonic() - last < idle_timeout:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            last = time.monotonic()
            key = message.key()
            yield {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
                "key": key.decode("utf-8", "replace") if key is not None else None,
                "value": _value_json(spec, codec, message.value(), message.headers()),
            }
    finally:
        consumer.close()


def cmd_tail(args: argparse.Namespace) -> int:
    try:
        spec = resolve(args.topic)
    except KeyError as exc:
        raise CommandFailed(str(exc.args[0])) from exc
    for record in tail(_settings(), spec, args.from_beginning, args.idle_timeout):
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            value = json.dumps(record["value"], separators=(",", ":"))
            print(f"{record['partition']}:{record['offset']} {record['key']} {value}", flush=True)
    return 0


def status_tables(previous: dict[str, Any] | None, current: dict[str, Any], silent_hours: float) -> Group:
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
    topics = Table(title="topics", title_justify="left")
    for column in ("topic", "records", "records/s"):
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
    settings = _settings()
    report = collect(settings)
    if args.json:
        report["silent_providers"] = silent_providers(
            report["providers_last_published"], report["at"], settings.silent_provider_hours
        )
        print(json.dumps(report))
        return 0
    console = RichConsole()
    if not args.watch:
        console.print(status_tables(None, report, settings.silent_provider_hours))
        return 0
    with Live(status_tables(None, report, settings.silent_provider_hours), console=console) as live:
        while True:
            time.sleep(args.interval)
            previous, report = report, collect(settings)
            live.update(status_tables(previous, report, settings.silent_provider_hours))


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings()
    bring_up(settings)
    today = datetime.now(UTC).date()
    feed = demo_feed(today, people=args.people)
    path = settings.state_dir / "demo-feed.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in feed))
    summary = publish_file(settings, path)
    print(
        f"Published a synthetic feed ({path}): accepted {summary['accepted']}, rejected {summary['rejected']}"
    )
    latest: dict[str, Any] = {}
    for record in tail(settings, resolve("links"), from_beginning=True, idle_timeout=args.wait):
        # ndtms.links is compacted: the last record per transfer is its current outcome.
        if record["value"] is None:
            latest.pop(record["key"], None)
        else:
            latest[record["key"]] = record["value"]
    print(f"Continuity of care, {len(latest)} prison releases (latest outcome per transfer on ndtms.links):")
    for transfer_id, value in sorted(latest.items()):
        days = value["days_to_engagement"]
        detail = f" after {days} days" if days is not None else ""
        print(
            f"  {transfer_id:<20} released {value['prison_exit_date']} to {value['exit_destination_la']}: "
            f"{value['status']}{detail}"
        )
    counts = Counter(v["status"] for v in latest.values())
    print("  " + ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())))
    print("Everything is still running: try `ndtms status` or `ndtms tail links`; stop it with `ndtms down`.")
    return 0


def cmd_rules(_args: argparse.Namespace) -> int:
    print(render_rules(), end="")
    return 0


def cmd_dq(args: argparse.Namespace) -> int:
    settings = _settings()
    codec = AvroTranscoder(registry_client(settings.registry_url), ERRORS, ValidationReport)
    reports = []
    for record in tail(settings, ERRORS, from_beginning=True, idle_timeout=args.idle_timeout):
        if record["value"] is not None and "undecodable" not in record["value"]:
            reports.append(codec.model.model_validate(record["value"]))
    summaries = open_findings(reports, args.provider)
    if args.json:
        print(json.dumps({"providers": [asdict(s) for s in summaries]}, default=str))
        return 0
    if not summaries:
        print("No open findings" + (f" for {args.provider}" if args.provider else "") + ".")
        return 0
    for summary in summaries:
        print(f"{summary.provider_id}: {summary.errors} error(s), {summary.warnings} warning(s) open")
        for rule in summary.rules:
            shown = ", ".join(rule.episodes[:8]) + (
                f" and {len(rule.episodes) - 8} more" if len(rule.episodes) > 8 else ""
            )
            print(f"  {rule.rule} {rule.severity.value:<7} {rule.count:>5} episode(s): {shown}")
    print("Rules are explained in docs/validation-rules.md (or `ndtms rules`).")
    return 0


def _row_json(row: IndicatorRow) -> dict[str, Any]:
    return {**asdict(row), "rate": row.rate}


def cmd_indicator(args: argparse.Namespace) -> int:
    settings = _settings()
    today = args.today or today_in_england(clock_from(settings.clock_file))
    by = Grouping(args.by)
    try:
        with link_view(settings) as view:
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
                    "rows": [_row_json(r) for r in rows],
                    "national": [_row_json(r) for r in national],
                }
            )
        )
        return 0
    print(f"Continuity of care (PHOF 2.16), prison exits {period['from']} to {period['to']}")
    heading = {Grouping.NATIONAL: "", Grouping.PRISON: "prison", Grouping.LA: "destination LA"}[by]
    print(
        f"{heading or 'national':<16} {'rate':>7} {'engaged':>8} {'decided':>8} {'triaged':>8} "
        f"{'not_eng':>8} {'pending':>8} {'releases':>9}"
    )
    for row in rows if by is not Grouping.NATIONAL else national:
        rate = f"{row.rate:.1%}" if row.rate is not None else "-"
        print(
            f"{row.group:<16} {rate:>7} {row.engaged:>8} {row.decided:>8} {row.triaged:>8} "
            f"{row.not_engaged:>8} {row.pending:>8} {row.transfers:>9}"
        )
    if not rows:
        print("(no prison releases in the period)")
    print("rate = engaged within 21 days / releases whose window has closed (decided)")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    try:
        return credentials_cli.run(_settings(), args)
    except credentials_cli.CredentialCommandFailed as exc:
        raise CommandFailed(str(exc)) from exc


def cmd_journeys(args: argparse.Namespace) -> int:
    try:
        return journeys_cli.run(_settings(), args)
    except (journeys_cli.JourneyCommandFailed, credentials_cli.CredentialCommandFailed) as exc:
        raise CommandFailed(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ndtms", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch Kafka and the schema registry from Maven Central").set_defaults(
        func=cmd_fetch
    )
    for name, func in (("kafka", cmd_kafka), ("registry", cmd_registry)):
        p = sub.add_parser(name, help=f"start or stop the local {name}")
        p.add_argument("action", choices=("start", "stop"))
        p.set_defaults(func=func)
    sub.add_parser("up", help="start broker, registry, topics and the four services").set_defaults(
        func=cmd_up
    )
    sub.add_parser(
        "init", help="create the topics and register the schemas on the configured cluster and registry"
    ).set_defaults(func=cmd_init)
    sub.add_parser("down", help="stop the services (and the local broker and registry)").set_defaults(
        func=cmd_down
    )
    p = sub.add_parser("publish", help="publish episode updates from a .jsonl file or a .csv extract")
    p.add_argument("file")
    p.add_argument("--provider", help="for a .csv extract: the provider code (AGNCY) it is a snapshot of")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(func=cmd_publish)
    p = sub.add_parser("tail", help="print decoded records of a topic")
    p.add_argument("topic", help="links, errors, journeys, valid, raw, dlq, or a full topic name")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("--idle-timeout", type=float, default=float("inf"), metavar="SECONDS")
    p.set_defaults(func=cmd_tail)
    p = sub.add_parser("status", help="services up, lag and its trend, throughput, silent providers")
    p.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    p.add_argument("--interval", type=float, default=5.0, metavar="SECONDS")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    sub.add_parser("rules", help="print the validation rule catalogue (Markdown)").set_defaults(
        func=cmd_rules
    )
    p = sub.add_parser("dq", help="open validation findings per provider and rule")
    p.add_argument("--provider", help="only this provider")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="stop reading the errors topic after this long with nothing new",
    )
    p.set_defaults(func=cmd_dq)
    p = sub.add_parser("indicator", help="the live continuity-of-care indicator from ndtms.links")
    p.add_argument("--by", choices=[g.value for g in Grouping], default=Grouping.NATIONAL.value)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the last day of the rolling 12 months (default: today in England)",
    )
    p.set_defaults(func=cmd_indicator)
    credentials_cli.add_parser(sub, cmd_credentials)
    journeys_cli.add_parser(sub, cmd_journeys)
    p = sub.add_parser("demo", help="bring everything up and run a synthetic feed through it")
    p.add_argument("--people", type=int, default=12)
    p.add_argument(
        "--wait", type=float, default=15.0, help="seconds without new links before the demo stops reading"
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
