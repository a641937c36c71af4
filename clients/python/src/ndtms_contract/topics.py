"""The topic catalogue: every public topic, its key, its value and the configuration chosen for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class KeyKind(StrEnum):
    EPISODE = "provider_id/episode_id"
    CLIENT = "client_key"
    TRANSFER = "transfer_id"
    SUBJECT = "subject"
    CANDIDATE = "transfer_id|provider_id/episode_id"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    short_name: str
    key: KeyKind
    value_schema: str | None  # file under schemas/, None for raw bytes
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""
    # The topic whose partitions this one must have: a state changelog's input, or an input read
    # partition by partition beside another (ndtms_contract.topic_layout).
    follows: str | None = None

    @property
    def compacted(self) -> bool:
        return "compact" in self.config.get("cleanup.policy", "")


# Partition counts are the ceiling of each consumer group's parallelism. The episode topics
# share one count so that a person's records stay co-partitioned from `valid` onwards.
EPISODE_PARTITIONS = 6
_WEEK_MS = str(7 * 24 * 3600 * 1000)
_FOREVER = "-1"

DAY_MS = 24 * 3600 * 1000
DEFAULT_RAW_RETENTION_DAYS = 7

RAW = TopicSpec(
    name="ndtms.episodes.raw",
    short_name="raw",
    key=KeyKind.EPISODE,
    value_schema="episode_update.avsc",
    partitions=EPISODE_PARTITIONS,
    # The only topic with initials and dates of birth: kept only as long as the validator needs
    # to read it (NDTMS_RAW_RETENTION_DAYS, see `attributor_retention`). Every later stage and
    # every rebuild works from the validator's state and ndtms.episodes.valid.
    config={
        "cleanup.policy": "delete",
        "retention.ms": str(DEFAULT_RAW_RETENTION_DAYS * DAY_MS),
    },
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
    # As received: a dead letter from the raw topic may hold attributors, so it is kept no longer
    # than the raw topic itself.
    config={"cleanup.policy": "delete", "retention.ms": str(DEFAULT_RAW_RETENTION_DAYS * DAY_MS)},
    purpose="Records no service could decode, as received, with the reason in headers.",
)

AUDIT = TopicSpec(
    name="ndtms.audit",
    short_name="audit",
    key=KeyKind.SUBJECT,
    value_schema="audit_event.avsc",
    # One partition: the trail is read in the order things were done.
    partitions=1,
    config={"cleanup.policy": "delete", "retention.ms": _FOREVER},
    purpose="Append-only audit trail: credentials issued and revoked, people viewed; who and when.",
)

ERASURES = TopicSpec(
    name="ndtms.erasures",
    short_name="erasures",
    key=KeyKind.CLIENT,
    value_schema="erasure.avsc",
    # One partition: every instance of every stage reads all of it, in the order it was written.
    partitions=1,
    # Compacted and never deleted: the ledger must outlive every record it erases.
    config={"cleanup.policy": "compact"},
    purpose="The erasure ledger: people erased at their objection, for good; who asked, when, why.",
)

CANDIDATES = TopicSpec(
    name="ndtms.links.candidates",
    short_name="candidates",
    key=KeyKind.CANDIDATE,
    value_schema="link_candidate.avsc",
    # One partition: one matcher holds the national queue and writes it in order.
    partitions=1,
    config={"cleanup.policy": "compact", "delete.retention.ms": _WEEK_MS},
    purpose="Probable matches of releases to other people's community episodes, for a person to decide.",
)

DECISIONS = TopicSpec(
    name="ndtms.links.decisions",
    short_name="decisions",
    key=KeyKind.CANDIDATE,
    value_schema="match_decision.avsc",
    # Read with ndtms.matching.episodes by the instance holding the national search.
    partitions=1,
    # Compacted and never deleted: an operator's decision outlives every restart and rebuild.
    config={"cleanup.policy": "compact"},
    purpose="Operators' decisions on probable matches: confirmed or rejected, by whom, when.",
)

# Internal: accepted revisions with their attributors, from the validator to the matcher. Not
# part of the public contract (msgpack, see ndtms_contract.candidates.MatchEpisode).
MATCHING = TopicSpec(
    name="ndtms.matching.episodes",
    short_name="matching",
    key=KeyKind.EPISODE,
    value_schema=None,
    partitions=1,
    config={
        "cleanup.policy": "delete",
        "retention.ms": str(DEFAULT_RAW_RETENTION_DAYS * DAY_MS),
    },
    purpose="Accepted revisions with attributors, for the probable-match search (internal).",
)

# Internal: confirmed probable matches, from the national search to the released person's own
# partition of the linker (key client_key, co-partitioned with valid). No attributors.
CONFIRMED = TopicSpec(
    name="ndtms.matching.confirmed",
    short_name="confirmed",
    key=KeyKind.CLIENT,
    value_schema=None,
    partitions=EPISODE_PARTITIONS,
    # Kept: a replay of the linker from the first offset must see every confirmation again.
    config={"cleanup.policy": "delete", "retention.ms": _FOREVER},
    purpose="Confirmed probable matches for the released person's linker partition (internal).",
    follows=VALID.name,
)

CATALOGUE: tuple[TopicSpec, ...] = (
    RAW,
    VALID,
    ERRORS,
    JOURNEYS,
    LINKS,
    DLQ,
    AUDIT,
    ERASURES,
    CANDIDATES,
    DECISIONS,
)
# Topics whose records may carry initials and dates of birth: their retention is bounded.
WITH_ATTRIBUTORS: tuple[TopicSpec, ...] = (RAW, DLQ, MATCHING)


def attributor_retention(days: int) -> dict[str, dict[str, str]]:
    """The retention the attributor topics get, by name: `days` whole days."""
    return {spec.name: {"retention.ms": str(days * DAY_MS)} for spec in WITH_ATTRIBUTORS}


def configured(spec: TopicSpec, raw_retention_days: int) -> dict[str, str]:
    """A topic's configuration with the attributor retention applied."""
    return {**spec.config, **attributor_retention(raw_retention_days).get(spec.name, {})}


def _state(name: str, key: KeyKind, follows: TopicSpec) -> TopicSpec:
    # A stage's state changelog (ndtms.stream.state), created up front with the rest so that a
    # stage never restores from a topic that does not exist yet; partition p holds the state of
    # partition p of the input it follows. Not part of the public contract.
    return TopicSpec(
        name=f"{name}-state",
        short_name=f"{name}-state",
        key=key,
        value_schema=None,
        partitions=follows.partitions,
        follows=follows.name,
        config={"cleanup.policy": "compact", "delete.retention.ms": str(6 * 24 * 3600 * 1000)},
        purpose="Changelog of a stream stage's state (one record per changed key per transaction).",
    )


MATCH_EPISODES_STATE = _state("ndtms-linker-match-episodes", KeyKind.EPISODE, MATCHING)
# State that holds attributors (the probable-match search compares them), as long as the
# episode is in the search (NDTMS_LINKER_MATCH_HORIZON_DAYS after its latest date).
ATTRIBUTOR_STATE: tuple[TopicSpec, ...] = (MATCH_EPISODES_STATE,)

INTERNAL: tuple[TopicSpec, ...] = (
    _state("ndtms-validator-heads", KeyKind.EPISODE, RAW),
    _state("ndtms-linker-people", KeyKind.CLIENT, VALID),
    _state("ndtms-linker-episode-dates", KeyKind.CLIENT, VALID),
    # How far into ndtms.erasures each input partition's state has been erased.
    _state("ndtms-validator-erasures", KeyKind.SUBJECT, RAW),
    _state("ndtms-linker-erasures", KeyKind.SUBJECT, VALID),
    MATCHING,
    # The linker's probable-match search: the episodes it compares (attributors included), what
    # it published, and how far it has swept for erasures.
    MATCH_EPISODES_STATE,
    _state("ndtms-linker-match-published", KeyKind.CANDIDATE, MATCHING),
    _state("ndtms-linker-erasures-1", KeyKind.SUBJECT, MATCHING),
    _state("ndtms-linker-erasures-2", KeyKind.SUBJECT, DECISIONS),
    _state("ndtms-linker-match-rulings", KeyKind.CANDIDATE, MATCHING),
    CONFIRMED,
    _state("ndtms-linker-erasures-3", KeyKind.SUBJECT, CONFIRMED),
    _state("ndtms-linker-match-confirmed", KeyKind.TRANSFER, MATCHING),
)


def resolve(name: str) -> TopicSpec:
    """A topic by full or short name (`links` or `ndtms.links`)."""
    for spec in CATALOGUE:
        if name in (spec.name, spec.short_name):
            return spec
    known = ", ".join(s.short_name for s in CATALOGUE)
    raise KeyError(f"unknown topic {name!r}; known topics: {known} (or their full names)")
