"""The validator stage: decode, decide (pure), then forward, report or dead-letter.

Each update on `ndtms.episodes.raw` is checked against its episode's head. The checks across
one person's accepted episodes run in the linker stage, which reads `ndtms.episodes.valid`
anyway (one decode of each accepted record instead of two). Everything this stage writes goes
out exactly once, in the stage's transaction (`ndtms.stream`).
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Message
from prometheus_client import Counter

from ndtms import error_feed
from ndtms.clocks import Clock
from ndtms.metrics import labelled, observe
from ndtms.stream.processor import Transaction
from ndtms.stream.state import Store, StoreSpec
from ndtms_contract.candidates import MATCH_ENCODER, MatchEpisode
from ndtms_contract.episodes import AcceptedEpisode, EpisodeUpdate
from ndtms_contract.findings import ValidationReport
from ndtms_contract.topics import ERRORS, MATCHING, RAW, VALID
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from services.validator.acceptance import EpisodeHead, Verdict, decide
from services.validator.erasure import erase_heads
from services.validator.settings import ValidatorSettings

log = logging.getLogger(__name__)

UPDATES = Counter("ndtms_validator_updates_total", "Episode updates checked, by verdict", ["verdict"])


class Validator:
    service = "validator"
    topics: tuple[str, ...] = (RAW.name,)
    punctuate_seconds = 3600.0  # nothing here depends on the clock alone

    def __init__(self, settings: ValidatorSettings, clock: Clock):
        self.stores: tuple[StoreSpec[Any], ...] = (
            StoreSpec("heads", RAW.name, f"{settings.validator_app_id}-heads-state", EpisodeHead),
        )
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

    def after_batch(self, out: Transaction) -> None:
        pass

    def erase(self, client_key: str, topic: str, partition: int, out: Transaction) -> dict[str, int]:
        heads: Store[EpisodeHead] = out.stores["heads"]
        # A client key appears verbatim in the head of every episode filed or checked under it.
        erased = erase_heads(client_key, heads.containing(partition, client_key.encode()), self.clock())
        for key in erased.heads:
            heads.put(partition, key, None)
        for withdrawal in erased.withdrawals:
            out.produce(VALID.name, client_key.encode(), self.valid_codec.encode(withdrawal))
        for key in erased.reports_cleared:
            out.produce(ERRORS.name, key.encode(), None)
        return {
            "validator heads deleted": len(erased.heads),
            f"withdrawals on {VALID.name}": len(erased.withdrawals),
            f"tombstones on {ERRORS.name}": len(erased.reports_cleared),
        }

    @staticmethod
    def _for_matching(update: EpisodeUpdate, accepted: AcceptedEpisode, out: Transaction) -> None:
        """The probable-match search needs the attributors the valid topic leaves out."""
        c = update.client
        record = (
            MatchEpisode.of(accepted, c.first_initial, c.second_initial, c.date_of_birth)
            if c is not None and not accepted.deleted
            else MatchEpisode.of(accepted, None, None, None)
        )
        out.produce(MATCHING.name, accepted.episode_key.encode(), MATCH_ENCODER.encode(record))

    def process(self, message: Message, out: Transaction) -> None:
        update = out.decoded(message, self.raw_codec)
        if update is None:
            return
        key = update.episode_key
        if message.key() is not None and message.key() != key.encode():
            out.dead_letter(message, f"record key {message.key()!r} does not match its episode {key}")
            return
        heads: Store[EpisodeHead] = out.stores["heads"]
        partition = message.partition() or 0
        head = heads.get(partition, key)
        now = self.clock()
        decision = decide(head, update, self.secret, now, out.erased)
        observe("validator", RAW.name, message.timestamp()[1], update.recorded_at, now)
        labelled(UPDATES, decision.verdict.value).inc()
        for accepted in decision.forward:
            out.produce(VALID.name, accepted.client_key.encode(), self.valid_codec.encode(accepted))
            self._for_matching(update, accepted, out)
        if decision.report is not None:
            error_feed.publish(decision.report, self.report_codec, out)
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
