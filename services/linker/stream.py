"""The linker's faust agent: each person's episodes in a table, outcomes recomputed on change.

Inputs are `ndtms.episodes.valid` (keyed by client_key) and a small internal tick topic
with the same key and partition count: the clock sweep cannot write a table itself, so it
asks the agent, on the person's own partition, to look again.

Delivery is at-least-once and outputs are state-based (the latest record per key on
compacted topics), so a replay after a crash republishes the same answers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import faust
from prometheus_client import REGISTRY, Counter, Gauge
from pydantic import TypeAdapter

from ndtms.clocks import Clock, today_in_england
from ndtms.contract.episodes import AcceptedEpisode
from ndtms.contract.findings import Finding, Severity, ValidationReport
from ndtms.contract.links import TransferLink
from ndtms.contract.topics import DLQ, ERRORS, LINKER_TICKS, LINKS, VALID
from ndtms.contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from ndtms.metrics import PRODUCED, LagSampler, observe
from ndtms.streaming import faust_app
from services.linker import exit_dates
from services.linker.indicator_metrics import IndicatorCollector
from services.linker.link_view import LinkView
from services.linker.people import Changes, ExitDateReport, Person, apply, tick
from services.linker.schedule import Schedule
from services.linker.settings import LinkerSettings

log = logging.getLogger(__name__)
TICKS = LINKER_TICKS.name
CHECKED_BY = "linker"

LINK_CHANGES = Counter(
    "ndtms_linker_outcomes_published_total", "Link records published, by status", ["status"]
)
TOMBSTONES = Counter("ndtms_linker_tombstones_total", "Transfers withdrawn from ndtms.links")
RETIRED = Counter("ndtms_linker_episodes_retired_total", "Episodes compacted away by retention")
DOUBTS = Counter("ndtms_linker_exit_date_reports_total", "Exit-date reports published", ["doubt"])
DEAD_LETTERS = Counter("ndtms_dlq_records_total", "Records sent to the dead-letter queue", ["service"])
OPEN_WINDOWS = Gauge("ndtms_linker_pending_transfers", "Transfers pending in this instance's partitions")

PEOPLE = TypeAdapter(Person)


def validation_report(item: ExitDateReport, clock: Clock) -> ValidationReport:
    findings: tuple[Finding, ...] = ()
    if item.doubt is not None:
        findings = (
            Finding(
                rule=exit_dates.RULE,
                severity=Severity.WARNING,
                field=exit_dates.FIELD,
                message=item.doubt.message,
            ),
        )
    return ValidationReport(
        provider_id=item.provider_id,
        episode_id=item.episode_id,
        revision=item.revision,
        findings=findings,
        checked_at=clock(),
        checked_by=CHECKED_BY,
    )


def build(settings: LinkerSettings, clock: Clock) -> faust.App:
    app = faust_app(settings, settings.linker_app_id, settings.linker_port, settings.state_dir / "linker")
    registry = registry_client(settings.registry_url)
    valid_codec = AvroTranscoder(registry, VALID, AcceptedEpisode)
    link_codec = AvroTranscoder(registry, LINKS, TransferLink)
    report_codec = AvroTranscoder(registry, ERRORS, ValidationReport)
    policy = settings.policy

    def topic(name: str, partitions: int | None = None, internal: bool = False) -> faust.TopicT:
        return app.topic(
            name, key_serializer="raw", value_serializer="raw", partitions=partitions, internal=internal
        )

    source = app.topic(
        VALID.name, TICKS, key_serializer="raw", value_serializer="raw", partitions=VALID.partitions
    )
    ticks = topic(TICKS, VALID.partitions, internal=True)
    links, errors, dlq = topic(LINKS.name), topic(ERRORS.name), topic(DLQ.name)
    people = app.Table("people", partitions=VALID.partitions, key_type=str)

    async def publish(changes: Changes) -> None:
        now = clock()
        for outcome in changes.published:
            record = TransferLink(**outcome.__dict__, decided_at=now)
            LINK_CHANGES.labels(outcome.status.value).inc()
            await links.send(key=outcome.transfer_id.encode(), value=link_codec.encode(record))
            PRODUCED.labels("linker", LINKS.name).inc()
        for transfer_id in changes.tombstoned:
            TOMBSTONES.inc()
            await links.send(key=transfer_id.encode(), value=None)
            PRODUCED.labels("linker", LINKS.name).inc()
        for item in changes.reports:
            DOUBTS.labels("raised" if item.doubt else "cleared").inc()
            report = validation_report(item, clock)
            key = f"{item.provider_id}/{item.episode_id}".encode()
            await errors.send(key=key, value=report_codec.encode(report))
            PRODUCED.labels("linker", ERRORS.name).inc()
        RETIRED.inc(len(changes.retired))

    def load(client_key: str) -> Person:
        stored = people.get(client_key)
        return PEOPLE.validate_python(stored) if stored is not None else Person(client_key)

    schedule = Schedule()
    rescanned_at: list[float] = []

    def store(before: Person, after: Person) -> None:
        if after.is_empty:
            schedule.forget(after.client_key)
            if after.client_key in people:
                del people[after.client_key]
        elif after != before:
            schedule.note(after)
            people[after.client_key] = PEOPLE.dump_python(after, mode="json")

    async def dead_letter(event: faust.types.EventT[bytes], reason: str) -> None:
        DEAD_LETTERS.labels("linker").inc()
        message = event.message
        await dlq.send(
            key=event.key,
            value=event.value,
            headers=[
                ("ndtms.dlq.reason", reason.encode()[:2000]),
                ("ndtms.dlq.service", b"linker"),
                ("ndtms.dlq.source", f"{message.topic}/{message.partition}/{message.offset}".encode()),
            ],
        )

    @app.agent(source)
    async def link(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            today = today_in_england(clock)
            if event.message.topic == TICKS:
                client_key = (event.key or b"").decode()
                if client_key not in people:
                    continue
                before = load(client_key)
                person, changes = tick(before, today, policy)
            else:
                try:
                    accepted = valid_codec.decode(event.value)
                except UndecodableRecord as exc:
                    await dead_letter(event, str(exc))
                    continue
                before = load(accepted.client_key)
                person, changes = apply(before, accepted, today, policy)
                observe("linker", VALID.name, _millis(event.message.timestamp), accepted.recorded_at, clock())
            await publish(changes)
            store(before, person)

    async def rescan() -> None:
        """Rebuild the schedule from the table, yielding to the stream every thousand people."""
        found: list[tuple[str, dict[str, Any]]] = []
        for n, item in enumerate(people.items()):
            found.append(item)
            if n % 1000 == 999:
                await asyncio.sleep(0)
        schedule.replace_all(found)
        rescanned_at[:] = [time.monotonic()]

    def partitions_moved(_app: faust.App, **_kwargs: object) -> None:
        rescanned_at.clear()  # people on newly assigned partitions are only in the table

    app.on_rebalance_complete.connect(partitions_moved)  # type: ignore[arg-type]

    async def sweep() -> None:
        tables: Any = app.tables
        if app.rebalancing or not tables.recovery.completed.is_set():
            return  # the table is still being restored: nothing reliable to sweep yet
        if not rescanned_at or time.monotonic() - rescanned_at[0] > settings.linker_rescan_seconds:
            await rescan()
        for client_key in schedule.due_on(today_in_england(clock)):
            await ticks.send(key=client_key.encode(), value=b"")
        OPEN_WINDOWS.set(schedule.pending)

    app.timer(interval=settings.linker_sweep_seconds)(sweep)
    lag = LagSampler(settings, "linker", settings.linker_app_id, {VALID.name: VALID.partitions})

    async def sample_lag() -> None:
        lag.start()

    app.task(sample_lag)
    if settings.linker_indicator:
        _serve_indicator(app, settings, clock)
    return app


def _millis(seconds: float | None) -> int | None:
    """faust gives the Kafka timestamp in seconds."""
    return int(seconds * 1000) if seconds else None


def _serve_indicator(app: faust.App, settings: LinkerSettings, clock: Clock) -> None:
    """Keep a national view of ndtms.links in a thread and serve the indicator gauges from it."""
    view = LinkView(settings)
    stop = threading.Event()
    REGISTRY.register(IndicatorCollector(view.snapshot, clock))

    async def follow_links() -> None:
        view.open()
        threading.Thread(target=view.follow, args=(stop,), name="link-view", daemon=True).start()

    def stop_following(_app: faust.App, **_kwargs: object) -> None:
        stop.set()

    app.task(follow_links)
    app.on_before_shutdown.connect(stop_following)  # type: ignore[arg-type]
