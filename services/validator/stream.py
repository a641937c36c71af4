"""The validator's faust agent: decode, decide (pure), then forward, report or dead-letter.

Runs with at-least-once delivery. Outputs are idempotent: a redelivered revision is
forwarded again and downstream applies it once, so a crash anywhere loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from prometheus_client import Counter
from pydantic import TypeAdapter

from ndtms.clocks import Clock
from ndtms.contract.episodes import AcceptedEpisode, EpisodeUpdate
from ndtms.contract.findings import ValidationReport
from ndtms.contract.topics import DLQ, ERRORS, RAW, VALID
from ndtms.contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from ndtms.metrics import PRODUCED, LagSampler, observe
from ndtms.streaming import faust_app
from services.validator.acceptance import EpisodeHead, Verdict, decide
from services.validator.cross_episode import PersonEpisodes, apply_accepted
from services.validator.settings import ValidatorSettings

log = logging.getLogger(__name__)

UPDATES = Counter("ndtms_validator_updates_total", "Episode updates checked, by verdict", ["verdict"])
FINDINGS = Counter(
    "ndtms_validator_findings_total", "Findings published, by rule and severity", ["rule", "severity"]
)
DEAD_LETTERS = Counter("ndtms_dlq_records_total", "Records sent to the dead-letter queue", ["service"])

HEADS = TypeAdapter(EpisodeHead)
PEOPLE = TypeAdapter(PersonEpisodes)


def dead_letter_headers(reason: str, message: Any) -> list[tuple[str, bytes]]:
    return [
        ("ndtms.dlq.reason", reason.encode("utf-8")[:2000]),
        ("ndtms.dlq.service", b"validator"),
        ("ndtms.dlq.source", f"{message.topic}/{message.partition}/{message.offset}".encode()),
    ]


def build(settings: ValidatorSettings, clock: Clock) -> faust.App:
    app = faust_app(
        settings, settings.validator_app_id, settings.validator_port, settings.state_dir / "validator"
    )
    registry = registry_client(settings.registry_url)
    raw_codec = AvroTranscoder(registry, RAW, EpisodeUpdate)
    valid_codec = AvroTranscoder(registry, VALID, AcceptedEpisode)
    report_codec = AvroTranscoder(registry, ERRORS, ValidationReport)
    secret = settings.pseudonym_secret()

    def topic(name: str, partitions: int) -> faust.TopicT:
        return app.topic(name, key_serializer="raw", value_serializer="raw", partitions=partitions)

    raw, valid, errors, dlq = (topic(t.name, t.partitions) for t in (RAW, VALID, ERRORS, DLQ))
    heads = app.Table("episode-heads", partitions=RAW.partitions, key_type=str)
    people = app.Table("people", partitions=VALID.partitions, key_type=str)

    async def dead_letter(event: faust.types.EventT[bytes], reason: str) -> None:
        DEAD_LETTERS.labels("validator").inc()
        message = event.message
        log.warning(
            "dead-lettered: %s",
            reason.split("\n", maxsplit=1)[0][:300],
            extra={"topic": message.topic, "partition": message.partition, "offset": message.offset},
        )
        await dlq.send(key=event.key, value=event.value, headers=dead_letter_headers(reason, event.message))

    @app.agent(raw)
    async def validate(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                update = raw_codec.decode(event.value)
            except UndecodableRecord as exc:
                await dead_letter(event, str(exc))
                continue
            key = update.episode_key
            if event.key is not None and event.key != key.encode():
                await dead_letter(event, f"record key {event.key!r} does not match its episode {key}")
                continue
            stored = heads.get(key)
            head = HEADS.validate_python(stored) if stored is not None else None
            now = clock()
            decision = decide(head, update, secret, now)
            observe("validator", RAW.name, _millis(event.message.timestamp), update.recorded_at, now)
            UPDATES.labels(decision.verdict.value).inc()
            for accepted in decision.forward:
                await valid.send(key=accepted.client_key.encode(), value=valid_codec.encode(accepted))
                PRODUCED.labels("validator", VALID.name).inc()
            if decision.report is not None:
                for finding in decision.report.findings:
                    FINDINGS.labels(finding.rule, finding.severity.value).inc()
                await errors.send(key=key.encode(), value=report_codec.encode(decision.report))
                PRODUCED.labels("validator", ERRORS.name).inc()
            if decision.verdict in (Verdict.ACCEPTED, Verdict.REJECTED) and decision.head != head:
                heads[key] = HEADS.dump_python(decision.head, mode="json")
            if decision.verdict is Verdict.REJECTED:
                log.info(
                    "rejected: %s",
                    ", ".join(sorted({f.rule for f in decision.report.findings})) if decision.report else "",
                    extra={
                        "provider_id": update.provider_id,
                        "episode_id": update.episode_id,
                        "revision": update.revision,
                        "verdict": decision.verdict.value,
                    },
                )

    @app.agent(valid)
    async def check_across_episodes(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                accepted = valid_codec.decode(event.value)
            except UndecodableRecord as exc:
                await dead_letter(event, str(exc))
                continue
            stored = people.get(accepted.client_key)
            state = PEOPLE.validate_python(stored) if stored is not None else PersonEpisodes()
            new_state, reports = apply_accepted(state, accepted, clock())
            for report in reports:
                for finding in report.findings:
                    FINDINGS.labels(finding.rule, finding.severity.value).inc()
                key = f"{report.provider_id}/{report.episode_id}".encode()
                await errors.send(key=key, value=report_codec.encode(report))
            if new_state != state:
                people[accepted.client_key] = PEOPLE.dump_python(new_state, mode="json")

    lag = LagSampler(settings, "validator", settings.validator_app_id, {RAW.name: RAW.partitions})
    app.task(_started(lag))
    return app


def _millis(seconds: float | None) -> int | None:
    """faust gives the Kafka timestamp in seconds."""
    return int(seconds * 1000) if seconds else None


def _started(sampler: LagSampler) -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        sampler.start()

    return start
