"""The topic catalogue: every public topic, its key, its value and the configuration chosen for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class KeyKind(StrEnum):
    EPISODE = "provider_id/episode_id"
    CLIENT = "client_key"
    TRANSFER = "transfer_id"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    short_name: str
    key: KeyKind
    value_schema: str | None  # file under schemas/, None for raw bytes
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""

    @property
    def compacted(self) -> bool:
        return "compact" in self.config.get("cleanup.policy", "")


# Partition counts are the ceiling of each consumer group's parallelism. The episode topics
# share one count so that a person's records stay co-partitioned from `valid` onwards.
EPISODE_PARTITIONS = 6
_WEEK_MS = str(7 * 24 * 3600 * 1000)
_FOREVER = "-1"

RAW = TopicSpec(
    name="ndtms.episodes.raw",
    short_name="raw",
    key=KeyKind.EPISODE,
    value_schema="episode_update.avsc",
    partitions=EPISODE_PARTITIONS,
    # Kept for ever: the raw log is the replayable record of everything accepted by ingest.
    config={"cleanup.policy": "delete", "retention.ms": _FOREVER, "min.insync.replicas": "1"},
    purpose="Every episode update accepted by ingest (shape-checked, not yet rule-checked).",
)
VALID = TopicSpec(
    name="ndtms.episodes.valid",
    short_name="valid",
    key=KeyKind.CLIENT,
    value_schema="accepted_episode.avsc",
    partitions=EPISODE_PARTITIONS,
    config={"cleanup.policy": "delete", "retention.ms": _FOREVER},
    purpose="Accepted revisions and withdrawals, pseudonymised, keyed by person.",
)
ERRORS = TopicSpec(
    name="ndtms.episodes.errors",
    short_name="errors",
    key=KeyKind.EPISODE,
    value_schema="validation_report.avsc",
    partitions=EPISODE_PARTITIONS,
    # Compacted: the latest report per episode is the provider's current error view.
    config={"cleanup.policy": "compact", "min.compaction.lag.ms": "3600000"},
    purpose="Validation findings per checked revision, for the provider's own error feed.",
)
JOURNEYS = TopicSpec(
    name="ndtms.journeys",
    short_name="journeys",
    key=KeyKind.CLIENT,
    value_schema="client_journeys.avsc",
    partitions=EPISODE_PARTITIONS,
    config={"cleanup.policy": "compact", "delete.retention.ms": _WEEK_MS},
    purpose="Each person's current treatment journeys; tombstone when nothing is left.",
)
LINKS = TopicSpec(
    name="ndtms.links",
    short_name="links",
    key=KeyKind.TRANSFER,
    value_schema="transfer_link.avsc",
    partitions=EPISODE_PARTITIONS,
    config={"cleanup.policy": "compact", "delete.retention.ms": _WEEK_MS},
    purpose="Continuity-of-care outcome per prison release; tombstone when no longer a transfer.",
)
DLQ = TopicSpec(
    name="ndtms.dlq",
    short_name="dlq",
    key=KeyKind.EPISODE,
    value_schema=None,
    partitions=1,
    config={"cleanup.policy": "delete", "retention.ms": str(90 * 24 * 3600 * 1000)},
    purpose="Records no service could decode, as received, with the reason in headers.",
)

CATALOGUE: tuple[TopicSpec, ...] = (RAW, VALID, ERRORS, JOURNEYS, LINKS, DLQ)


def _state(name: str, key: KeyKind) -> TopicSpec:
    # A stage's state changelog (ndtms.stream.state), created up front with the rest so that a
    # stage never restores from a topic that does not exist yet. Not part of the public contract.
    return TopicSpec(
        name=f"{name}-state",
        short_name=f"{name}-state",
        key=key,
        value_schema=None,
        partitions=EPISODE_PARTITIONS,
        config={"cleanup.policy": "compact", "delete.retention.ms": str(6 * 24 * 3600 * 1000)},
        purpose="Changelog of a stream stage's state (one record per changed key per transaction).",
    )


INTERNAL: tuple[TopicSpec, ...] = (
    _state("ndtms-validator-heads", KeyKind.EPISODE),
    _state("ndtms-linker-people", KeyKind.CLIENT),
    _state("ndtms-linker-episode-dates", KeyKind.CLIENT),
)


def resolve(name: str) -> TopicSpec:
    """A topic by full or short name (`links` or `ndtms.links`)."""
    for spec in CATALOGUE:
        if name in (spec.name, spec.short_name):
            return spec
    known = ", ".join(s.short_name for s in CATALOGUE)
    raise KeyError(f"unknown topic {name!r}; known topics: {known} (or their full names)")
