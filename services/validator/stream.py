"""The validator stage: decode, decide (pure), then forward, report or dead-letter.

Two inputs on one stage: `ndtms.episodes.raw` (each update checked against the episode's head)
and `ndtms.episodes.valid` (the cross-episode checks over one person's accepted episodes).
Everything it writes goes out exactly once, in the stage's transaction (`ndtms.stream`).
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Message
from prometheus_client import Counter

from ndtms.clocks import Clock
from ndtms.contract.episodes import AcceptedEpisode, EpisodeUpdate
from ndtms.contract.findings import ValidationReport
from ndtms.contract.topics import ERRORS, RAW, VALID
from ndtms.contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from ndtms.metrics import labelled, observe
from ndtms.stream.runner import Transaction
from ndtms.stream.state import Store, StoreSpec
from services.validator.acceptance import EpisodeHead, Verdict, decide
from services.validator.cross_episode import PersonEpisodes, apply_accepted
from services.validator.settings import ValidatorSettings

log = logging.getLogger(__name__)

UPDATES = Counter("ndtms_validator_updates_total", "Episode updates checked, by verdict", ["verdict"])
FINDINGS = Counter(
    "ndtms_validator_findings_total", "Findings published, by rule and severity", ["rule", "severity"]
)


def store_specs(group_id: str) -> tuple[StoreSpec[EpisodeHead], StoreSpec[PersonEpisodes]]:
    return (
        StoreSpec("heads", RAW.name, f"{group_id}-heads-state", EpisodeHead),
        StoreSpec("people", VALID.name, f"{group_id}-people-state", PersonEpisodes),
    )


class Validator:
    service = "validator"
    topics: tuple[str, ...] = (RAW.name, VALID.name)
    punctuate_seconds = 3600.0  # nothing here depends on the clock alone

    def __init__(self, settings: ValidatorSettings, clock: Clock):
        self.stores: tuple[StoreSpec[Any], ...] = store_specs(settings.validator_app_id)
        registry = registry_client(settings.registry_url)
        self.raw_codec = AvroTranscoder(registry, RAW, EpisodeUpdate)
        self.valid_codec = AvroTranscoder(registry, VALID, AcceptedEpisode)
        self.report_codec = AvroTranscoder(registry, ERRORS, ValidationReport)
        self.secret = settings.pseudonym_secret()
        self.clock = clock

    def assigned(self, stores: dict[str, Store[Any]], partitions: dict[str, list[int]]) -> None:
        pass

    def punctuate(self, out: Transaction) -> None:
        pass

    def process(self, message: Message, out: Transaction) -> None:
        if message.topic() == RAW.name:
            self.validate(message, out)
        else:
            self.check_across_episodes(message, out)

    def validate(self, message: Message, out: Transaction) -> None:
        try:
            update = self.raw_codec.decode(message.value())
        except UndecodableRecord as exc:
            out.dead_letter(message, str(exc))
            return
        key = update.episode_key
        if message.key() is not None and message.key() != key.encode():
            out.dead_letter(message, f"record key {message.key()!r} does not match its episode {key}")
            return
        heads: Store[EpisodeHead] = out.stores["heads"]
        partition = message.partition() or 0
        head = heads.get(partition, key)
        now = self.clock()
        decision = decide(head, update, self.secret, now)
        observe("validator", RAW.name, message.timestamp()[1], update.recorded_at, now)
        labelled(UPDATES, decision.verdict.value).inc()
        for accepted in decision.forward:
            out.produce(VALID.name, accepted.client_key.encode(), self.valid_codec.encode(accepted))
        if decision.report is not None:
            self._report(decision.report, out)
        if decision.verdict in (Verdict.ACCEPTED, Verdict.REJECTED) and decision.head != head:
            heads.put(partition, key, decision.head)
        if decision.verdict is Verdict.REJECTED and decision.report is not None:
            log.info(
                "rejected: %s",
                ", ".join(sorted({f.rule for f in decision.report.findings})),
                extra={
                    "provider_id": update.provider_id,
                    "episode_id": update.episode_id,
                    "revision": update.revision,
                    "verdict": decision.verdict.value,
                },
            )

    def check_across_episodes(self, message: Message, out: Transaction) -> None:
        try:
            accepted = self.valid_codec.decode(message.value())
        except UndecodableRecord as exc:
            out.dead_letter(message, str(exc))
            return
        people: Store[PersonEpisodes] = out.stores["people"]
        partition = message.partition() or 0
        state = people.get(partition, accepted.client_key) or PersonEpisodes()
        new_state, reports = apply_accepted(state, accepted, self.clock())
        for report in reports:
            self._report(report, out)
        if new_state != state:
            people.put(partition, accepted.client_key, new_state)

    def _report(self, report: ValidationReport, out: Transaction) -> None:
        for finding in report.findings:
            labelled(FINDINGS, finding.rule, finding.severity.value).inc()
        key = f"{report.provider_id}/{report.episode_id}".encode()
        out.produce(ERRORS.name, key, self.report_codec.encode(report))
