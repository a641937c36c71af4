"""Which journey instance owns which partition of `ndtms.episodes.valid`: decided in the store.

The consumer group hands partitions out; the database decides who may write. Claiming a
partition raises its epoch. Every batch, erasure sweep and publication of a partition first
locks the partition's row and checks the epoch its instance claimed it with, in the same
transaction as its writes, so an instance that stalled past losing a partition (a long pause,
a frozen VM, a network split) changes nothing when it wakes. The row lock also orders a new
owner's claim after its predecessor's last batch, so the new owner reads the offsets that
batch committed. (SQLite has no row locks; it is the single-instance store.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.journey.store import OUTBOX, PARTITIONS, JourneyPartitionRow


def prepare(
    session: Session, partitions: int, ledger_position: int, partition_of: Callable[[str], int]
) -> None:
    """A row for every partition, and a partition for outbox rows older than ownership.

    A partition new to the store starts its erasure sweep at `ledger_position`, where the store
    stood before it was partition-owned (all partitions get their rows at once, the first time).
    """
    known = set(session.scalars(select(JourneyPartitionRow.partition)))
    missing = [
        {"partition": p, "epoch": 0, "owner": None, "erasure_position": ledger_position}
        for p in range(partitions)
        if p not in known
    ]
    if missing:
        # Instances starting together both find the rows missing: the first insert wins.
        insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
        session.execute(insert(PARTITIONS).on_conflict_do_nothing(index_elements=["partition"]), missing)
    unplaced = session.execute(select(OUTBOX.c.id, OUTBOX.c.client_key).where(OUTBOX.c.partition.is_(None)))
    for row_id, client_key in unplaced.all():
        session.execute(
            update(OUTBOX).where(OUTBOX.c.id == row_id).values(partition=partition_of(client_key))
        )


def claim(session: Session, partitions: Iterable[int], owner: str) -> dict[int, int]:
    """Take these partitions (waiting for any batch of theirs in progress); their new epochs."""
    epochs: dict[int, int] = {}
    for partition in sorted(partitions):  # one lock order everywhere: no deadlock between claims
        row = session.get(JourneyPartitionRow, partition, with_for_update=True)
        if row is None:
            raise LookupError(f"partition {partition} has no ownership row: prepare the store first")
        row.epoch += 1
        row.owner = owner
        epochs[partition] = row.epoch
    return epochs


def still_held(session: Session, epochs: Mapping[int, int]) -> set[int]:
    """Of these partitions, those still held at the epoch given, their rows locked until the
    transaction ends (so no claim can come between this check and the writes after it)."""
    if not epochs:
        return set()
    rows = session.execute(
        select(PARTITIONS.c.partition, PARTITIONS.c.epoch)
        .where(PARTITIONS.c.partition.in_(sorted(epochs)))
        .order_by(PARTITIONS.c.partition)
        .with_for_update()
    )
    return {partition for partition, epoch in rows if epochs[partition] == epoch}


def erasure_positions(session: Session, partitions: Iterable[int]) -> dict[int, int]:
    rows = session.execute(
        select(PARTITIONS.c.partition, PARTITIONS.c.erasure_position).where(
            PARTITIONS.c.partition.in_(sorted(partitions))
        )
    )
    return {partition: int(position) for partition, position in rows}


def swept_to(session: Session, partition: int, position: int) -> None:
    """The partition's people are swept for every ledger entry before `position`."""
    greatest = func.max if session.get_bind().dialect.name == "sqlite" else func.greatest
    session.execute(
        update(PARTITIONS)
        .where(PARTITIONS.c.partition == partition)
        .values(erasure_position=greatest(PARTITIONS.c.erasure_position, position))
    )


def owners(session: Session) -> dict[int, tuple[str | None, int]]:
    """Each partition's owner and epoch, for status and tests."""
    rows = session.execute(select(PARTITIONS.c.partition, PARTITIONS.c.owner, PARTITIONS.c.epoch))
    return {partition: (owner, int(epoch)) for partition, owner, epoch in rows}
