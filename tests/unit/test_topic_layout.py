"""How topics are laid out on a cluster: replication by cluster size, partitions that must match."""

from __future__ import annotations

import pytest

from ndtms_contract.topic_layout import Replication, Shape, layout, replication_for
from ndtms_contract.topics import CATALOGUE, CONFIRMED, INTERNAL, RAW, VALID

EVERY = (*CATALOGUE, *INTERNAL)
SINGLE = Replication(1, 1)


@pytest.mark.parametrize(
    ("brokers", "factor", "min_insync", "expected"),
    [
        (1, None, None, Replication(1, 1)),
        (2, None, None, Replication(1, 1)),
        (3, None, None, Replication(3, 2)),
        (6, None, None, Replication(3, 2)),
        (3, 2, None, Replication(2, 1)),
        (5, 5, 3, Replication(5, 3)),
        (3, None, 1, Replication(3, 1)),
    ],
)
def test_replication_follows_the_size_of_the_cluster_unless_set(
    brokers: int, factor: int | None, min_insync: int | None, expected: Replication
) -> None:
    assert replication_for(brokers, factor, min_insync) == expected


@pytest.mark.parametrize(
    ("brokers", "factor", "min_insync", "says"),
    [
        (1, 3, None, "replication factor 3 needs at least 3 brokers; the cluster has 1"),
        (3, 2, 3, "min.insync.replicas 3 must be between 1 and the replication factor 2"),
    ],
)
def test_replication_the_cluster_cannot_give_is_refused(
    brokers: int, factor: int | None, min_insync: int | None, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        replication_for(brokers, factor, min_insync)


def test_every_changelog_follows_the_input_whose_state_it_holds() -> None:
    names = {spec.name for spec in EVERY}
    followers = [spec for spec in EVERY if spec.name.endswith("-state")]
    assert followers and all(spec.follows in names for spec in followers)
    assert CONFIRMED.follows == VALID.name  # read beside valid, partition by partition
    heads = next(spec for spec in EVERY if spec.name == "ndtms-validator-heads-state")
    assert heads.follows == RAW.name


def test_an_empty_cluster_gets_every_topic_with_the_catalogues_partitions() -> None:
    plan = layout(EVERY, {}, SINGLE)
    assert plan.create == {spec.name: spec.partitions for spec in EVERY}
    assert plan.differences == [] and plan.broken == []


def shapes(partitions: dict[str, int], factor: int = 1, isr: int = 1) -> dict[str, Shape]:
    return {name: Shape(count, factor, isr) for name, count in partitions.items()}


def test_topics_made_with_more_partitions_take_their_followers_with_them() -> None:
    # An operator pre-created the episode topics with 12 partitions: the changelogs that follow
    # them are made with 12 too, or a stage's state would not line up with its input.
    plan = layout(EVERY, shapes({RAW.name: 12, VALID.name: 12}), SINGLE)
    assert plan.broken == []
    assert plan.create["ndtms-validator-heads-state"] == 12
    assert plan.create["ndtms-linker-people-state"] == 12
    assert plan.create[CONFIRMED.name] == 12 and plan.create["ndtms-linker-erasures-3-state"] == 12
    assert plan.create["ndtms-linker-match-episodes-state"] == 1
    assert any("ndtms.episodes.valid: 12 partitions, the catalogue says 6" in d for d in plan.differences)


def test_existing_topics_that_break_co_partitioning_are_refused() -> None:
    plan = layout(EVERY, shapes({VALID.name: 12, "ndtms-linker-people-state": 6}), SINGLE)
    assert plan.broken == [
        "ndtms-linker-people-state has 6 partitions but ndtms.episodes.valid, whose partitions it "
        "must match, has 12"
    ]


def test_replication_that_differs_is_reported_and_left_alone() -> None:
    plan = layout(EVERY, shapes({RAW.name: 6}, factor=1, isr=1), Replication(3, 2))
    assert plan.differences == [
        "ndtms.episodes.raw: replication factor 1, the settings say 3 (not changed: reassign its "
        "partitions with kafka-reassign-partitions to change it)",
        "ndtms.episodes.raw: min.insync.replicas 1, the settings say 2 (not changed: set it with "
        "kafka-configs --alter)",
    ]
    assert RAW.name not in plan.create


def test_a_partition_count_in_the_settings_makes_every_topic_partitioned_by_person_that_wide() -> None:
    plan = layout(EVERY, {}, SINGLE, partitions=12)
    assert plan.create == {spec.name: 12 if spec.partitions > 1 else 1 for spec in EVERY}
    assert plan.create[VALID.name] == 12 and plan.broken == []
    followers = [spec for spec in EVERY if spec.follows is not None]
    assert followers and all(plan.create[spec.name] == plan.create[str(spec.follows)] for spec in followers)


def test_existing_topics_of_another_width_than_the_settings_are_kept_and_reported() -> None:
    existing = {spec.name: Shape(6 if spec.partitions > 1 else 1, 1, 1) for spec in EVERY}
    plan = layout(EVERY, existing, SINGLE, partitions=12)
    assert plan.create == {} and plan.broken == []
    assert (
        f"{VALID.name}: 6 partitions, the settings say 12 (kept: the topics that follow it are made to match)"
        in (plan.differences)
    )
