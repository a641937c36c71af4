"""`ndtms fetch | kafka | registry | up | init | down | demo`: the platform on this machine."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import CommandFailed, settings
from ndtms_contract.topics import CATALOGUE, WITH_ATTRIBUTORS, resolve

if TYPE_CHECKING:
    from ndtms.localrun.kafka import LocalCluster
    from ndtms.localrun.postgres import LocalPostgres
    from ndtms.localrun.registry import LocalRegistry
    from ndtms_contract.settings import PlatformSettings


def started(
    server: LocalCluster | LocalRegistry | LocalPostgres, name: str, running: bool | None = None
) -> str:
    """Start a local server (every node of a cluster) unless it runs already, and say which, with
    where it answers. `running`: whether it ran before the caller launched it."""
    if running is None:
        running = server.is_running()
    where = server.start()
    done = f"the local {name} is already running" if running else f"started the local {name}"
    return f"{done}, ready at {where}"


def cmd_fetch(_args: argparse.Namespace) -> int:
    from ndtms.localrun.artifacts import fetch_kafka, fetch_registry

    print(f"Kafka libraries: {fetch_kafka()}")
    print(f"Schema registry: {fetch_registry()}")
    return 0


def cmd_kafka(args: argparse.Namespace) -> int:
    from ndtms.localrun.kafka import LocalCluster

    kafka = LocalCluster(settings())
    if args.action == "start":
        logs = ", ".join(str(node.process.log_file) for node in kafka.nodes)
        print(f"Kafka (KRaft): {started(kafka, 'broker')}; log: {logs}")
    else:
        print("Kafka stopped" if kafka.stop() else "Kafka was not running")
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    from ndtms.localrun.registry import LocalRegistry

    registry = LocalRegistry(settings())
    if args.action == "start":
        print(f"Schema registry: {started(registry, 'registry')}; log: {registry.process.log_file}")
    else:
        print("Schema registry stopped" if registry.stop() else "Schema registry was not running")
    return 0


def bring_up(platform: PlatformSettings, warn: bool = True) -> None:
    """`warn=False` leaves the development-key warning to the caller, to say it once, last."""
    from ndtms.localrun.kafka import LocalCluster
    from ndtms.localrun.registry import LocalRegistry
    from ndtms.localrun.services import start_all
    from ndtms_apps.cli.credentials import ensure_local_operator

    registry = LocalRegistry(platform) if platform.uses_local_registry else None
    registry_ran = registry is not None and registry.is_running()
    if registry is not None:
        registry.launch()  # comes up while the broker does: it needs none
    if platform.uses_local_kafka:
        cluster = LocalCluster(platform)
        nodes = len(cluster.nodes)
        print(f"Kafka: {started(cluster, 'broker' if nodes == 1 else f'{nodes}-node cluster')}")
    else:
        print(f"Kafka: using {platform.bootstrap_servers}")
    if registry is not None:
        print(f"Schema registry: {started(registry, 'registry', registry_ran)}")
    else:
        print(f"Schema registry: using {platform.registry_url}")
    if platform.shared_local_database("journey") is not None:
        from ndtms.localrun.postgres import LocalPostgres

        postgres = LocalPostgres(platform.state_dir, platform.local_postgres_port)
        print(f"PostgreSQL (the stores instances share): {started(postgres, 'database server')}")
    report_topics(platform)
    register_schemas(platform)
    key_file = ensure_local_operator(platform)
    print(f"Operator key for this machine's ndtms commands: {key_file}")
    start_all(platform)
    print("Services: ingest, validator, journey and linker are running and healthy")
    if warn:
        warn_if_development_key(platform)


def retention_line(platform: PlatformSettings) -> str:
    *others, last = [spec.name for spec in WITH_ATTRIBUTORS]
    names = f"{', '.join(others)} and {last}" if others else last
    return f"Retention of {names} (the only topics with attributors): {platform.raw_retention_days} days"


def warn_if_development_key(platform: PlatformSettings) -> None:
    from ndtms_contract.settings import DEVELOPMENT_KEY_WARNING

    if platform.uses_development_key:
        print(f"WARNING: {DEVELOPMENT_KEY_WARNING}", file=sys.stderr)


def register_schemas(platform: PlatformSettings) -> None:
    from ndtms_contract.transcoding import registry_client, transcoder_for

    registry = registry_client(platform.registry_url)
    for spec in CATALOGUE:
        if spec.value_schema is not None:
            transcoder_for(registry, spec).register()


def cmd_init(_args: argparse.Namespace) -> int:
    """Topics and schemas on a configured cluster and registry, nothing else (deployments run it once)."""
    platform = settings()
    report_topics(platform)
    register_schemas(platform)
    print(f"Schemas: registered at {platform.registry_url}")
    return 0


def report_topics(platform: PlatformSettings) -> None:
    """Create what is missing and say what differs from the settings (changing nothing else)."""
    from ndtms.localrun.topics import ClusterUnreachable, TopicLayoutRefused, prepare_topics

    try:
        report = prepare_topics(
            platform.kafka_client_config(),
            platform.raw_retention_days,
            platform.topic_replication_factor,
            platform.topic_min_insync_replicas,
            platform.topic_partitions,
        )
    except (ClusterUnreachable, TopicLayoutRefused) as exc:
        raise CommandFailed(str(exc)) from exc
    created = report.created
    print(f"Topics: {len(created)} created, the others already there" if created else "Topics: all there")
    print(
        f"Replication: {report.replication.factor} copies of every topic, min.insync.replicas "
        f"{report.replication.min_insync} ({report.brokers} broker(s) in the cluster)"
    )
    for difference in report.differences:
        print(f"  differs: {difference}")
    print(retention_line(platform))


def cmd_up(args: argparse.Namespace) -> int:
    platform = settings()
    shape = rehearsal(platform, args.brokers, args.instances)
    if shape != (1, 1):
        print(f"Rehearsal: {shape[0]} Kafka node(s), {shape[1]} instance(s) of each service")
    bring_up(settings())
    print("Stop everything with: ndtms down")
    return 0


def rehearsal(platform: PlatformSettings, brokers: int | None, instances: int | None) -> tuple[int, int]:
    """Record the shape `ndtms up` was asked for in the state folder (later commands read it);
    a cluster's size cannot change under its data, so a different --brokers is refused."""
    from ndtms_contract.settings import LOCAL_CLUSTER_FILE

    if brokers and not platform.uses_local_kafka:
        raise CommandFailed(
            f"--brokers starts a local cluster, but KAFKA_BOOTSTRAP_SERVERS points at "
            f"{platform.bootstrap_servers}: leave one of them out"
        )
    now = (platform.local_broker_count, platform.local_instance_count)
    wanted = (brokers or now[0], instances or now[1])
    has_data = any(platform.state_dir.glob("kafka*/data/meta.properties"))
    if wanted[0] != now[0] and has_data and platform.uses_local_kafka:
        raise CommandFailed(
            f"this state folder ({platform.state_dir}) holds a {now[0]}-node Kafka cluster: "
            f"`ndtms down` and `make clean` (or another NDTMS_STATE_DIR) for {wanted[0]}"
        )
    if wanted != now or brokers or instances:
        platform.state_dir.mkdir(parents=True, exist_ok=True)
        (platform.state_dir / LOCAL_CLUSTER_FILE).write_text(
            json.dumps({"brokers": wanted[0], "instances": wanted[1]})
        )
    return wanted


def cmd_down(_args: argparse.Namespace) -> int:
    from ndtms.localrun.kafka import LocalCluster
    from ndtms.localrun.registry import LocalRegistry
    from ndtms.localrun.services import stop_all

    platform = settings()
    stopped = stop_all(platform)
    print(f"Services stopped: {', '.join(stopped) or 'none were running'}")
    if platform.uses_local_registry and LocalRegistry(platform).stop():
        print("Schema registry stopped")
    if platform.uses_local_kafka and LocalCluster(platform).stop():
        print("Kafka stopped")
    from ndtms.localrun.postgres import LocalPostgres

    if LocalPostgres(platform.state_dir, platform.local_postgres_port).stop():
        print("PostgreSQL stopped")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ndtms_apps.cli.publishing import publish_file
    from ndtms_apps.cli.reading import tail
    from ndtms_apps.feeds.synthetic import demo_feed

    platform = settings()
    bring_up(platform, warn=False)
    today = datetime.now(UTC).date()
    feed = demo_feed(today, people=args.people)
    path = platform.state_dir / "demo-feed.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in feed))
    summary = publish_file(platform, path)
    print(
        f"Published a synthetic feed ({path}): accepted {summary['accepted']}, rejected {summary['rejected']}"
    )
    latest: dict[str, Any] = {}
    for record in tail(platform, resolve("links"), from_beginning=True, idle_timeout=args.wait):
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
    warn_if_development_key(platform)
    return 0


def register(sub: Any) -> None:
    command(sub, "fetch").set_defaults(func=cmd_fetch)
    for name, func in (("kafka", cmd_kafka), ("registry", cmd_registry)):
        p = command(sub, name)
        p.add_argument("action", choices=("start", "stop"))
        p.set_defaults(func=func)
    up = command(sub, "up")
    up.add_argument(
        "--brokers",
        type=int,
        choices=range(1, 6),
        metavar="N",
        help="a local Kafka cluster of N nodes, each broker and controller (the rehearsal: 3)",
    )
    up.add_argument(
        "--instances",
        type=int,
        choices=range(1, 5),
        metavar="N",
        help="N instances of every service (N > 1: their shared stores in a local PostgreSQL)",
    )
    up.set_defaults(func=cmd_up)
    command(sub, "init").set_defaults(func=cmd_init)
    command(sub, "down").set_defaults(func=cmd_down)
    p = command(sub, "demo")
    p.add_argument("--people", type=int, default=12)
    p.add_argument(
        "--wait", type=float, default=15.0, help="seconds without new links before the demo stops reading"
    )
    p.set_defaults(func=cmd_demo)
