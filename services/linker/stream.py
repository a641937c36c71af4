"""The linker's faust agent: each person's episodes in a table, outcomes recomputed on change.

Inputs are `ndtms.episodes.valid` (keyed by client_key) and a small internal tick topic
with the same key and partition count: the clock sweep cannot write a table itself, so it
asks the agent, on the person's own partition, to look again.
"""

from __future__ import annotations

import logging
from datetime import date
from zoneinfo import ZoneInfo

import faust
from prometheus_client import Counter
from pydantic import TypeAdapter

from ndtms.contract.episodes import AcceptedEpisode
from ndtms.contract.links import TransferLink
from ndtms.contract.topics import DLQ, LINKER_TICKS, LINKS, VALID
from ndtms.contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from ndtms.streaming import Clock, faust_app
from services.linker.people import Changes, Person, apply, tick
from services.linker.settings import LinkerSettings

log = logging.getLogger(__name__)
ENGLAND = ZoneInfo("Europe/London")
TICKS = LINKER_TICKS.name

LINK_CHANGES = Counter(
    "ndtms_linker_outcomes_published_total", "Link records published, by status", ["status"]
)
DEAD_LETTERS = Counter("ndtms_linker_dlq_records_total", "Records the linker could not decode")

PEOPLE = TypeAdapter(Person)


def today_in_england(clock: Clock) -> date:
    return clock().astimezone(ENGLAND).date()


def build(settings: LinkerSettings, clock: Clock) -> faust.App:
    app = faust_app(settings, settings.linker_app_id, settings.linker_port, settings.state_dir / "linker")
    registry = registry_client(settings.registry_url)
    valid_codec = AvroTranscoder(registry, VALID, AcceptedEpisode)
    link_codec = AvroTranscoder(registry, LINKS, TransferLink)
    grace = settings.linker_grace_days

    source = app.topic(
        VALID.name, TICKS, key_serializer="raw", value_serializer="raw", partitions=VALID.partitions
    )
    ticks = app.topic(
        TICKS, key_serializer="raw", value_serializer="raw", partitions=VALID.partitions, internal=True
    )
    links = app.topic(LINKS.name, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(DLQ.name, key_serializer="raw", value_serializer="raw")
    people = app.Table("people", partitions=VALID.partitions, key_type=str)

    async def publish(changes: Changes) -> None:
        now = clock()
        for outcome in changes.published:
            record = TransferLink(**outcome.__dict__, decided_at=now)
            LINK_CHANGES.labels(outcome.status.value).inc()
            await links.send(key=outcome.transfer_id.encode(), value=link_codec.encode(record))
        for transfer_id in changes.tombstoned:
            await links.send(key=transfer_id.encode(), value=None)

    def load(client_key: str) -> Person:
        stored = people.get(client_key)
        return PEOPLE.validate_python(stored) if stored is not None else Person(client_key)

    @app.agent(source)
    async def link(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            today = today_in_england(clock)
            if event.message.topic == TICKS:
                client_key = (event.key or b"").decode()
                if client_key not in people:
                    continue
                person, changes = tick(load(client_key), today, grace)
            else:
                try:
                    accepted = valid_codec.decode(event.value)
                except UndecodableRecord as exc:
                    DEAD_LETTERS.inc()
                    await dlq.send(
                        key=event.key,
                        value=event.value,
                        headers=[
                            ("ndtms.dlq.reason", str(exc).encode()[:2000]),
                            ("ndtms.dlq.service", b"linker"),
                        ],
                    )
                    continue
                person, changes = apply(load(accepted.client_key), accepted, today, grace)
            await publish(changes)
            people[person.client_key] = PEOPLE.dump_python(person, mode="json")

    async def sweep() -> None:
        today = today_in_england(clock)
        for client_key, stored in list(people.items()):
            due = stored.get("due")
            if due is not None and date.fromisoformat(due) <= today:
                await ticks.send(key=client_key.encode(), value=b"")

    app.timer(interval=settings.linker_sweep_seconds)(sweep)
    return app
