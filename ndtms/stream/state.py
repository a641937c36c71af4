"""Keyed state of a stage: local RocksDB per input partition, a compacted changelog as the truth.

A store follows the partitions of one input topic. Changes made while processing are held in
memory until the stage commits its Kafka transaction: the changelog records (one per changed
key, never one per event) go out inside that transaction, and only once it has committed are
they written to the local RocksDB together with the next changelog offset (the checkpoint).
So the local copy is never ahead of the changelog, and after a crash or on a partition that
comes back from another instance, replaying the changelog from the checkpoint catches it up.

A checkpoint older than `TRUST_DAYS` is not trusted: compaction may since have removed a
tombstone that the replay would need (the changelog keeps tombstones for twice as long).
"""

from __future__ import annotations

import shutil
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgspec
from pydantic import BaseModel
from rocksdict import Options, Rdict, WriteBatch

T = TypeVar("T")
Replayed = tuple[bytes, bytes | None, int]  # key, value (None: deleted), changelog offset

# The state topics keep tombstones for six days (ndtms_contract.topics): half of that is safe.
TRUST_DAYS = 3
_CHECKPOINT = b"\x00checkpoint"  # no store key starts with a NUL byte


class ChangelogBehind(RuntimeError):
    """The changelog ends before the local checkpoint: it was recreated, so the local copy is void."""


@dataclass(frozen=True)
class StoreSpec(Generic[T]):
    """A named store of `T` values (dataclasses), partitioned like `topic`, changelog `changelog`."""

    name: str
    topic: str
    changelog: str
    type: type[T]


class _Partition:
    def __init__(self, path: Path):
        self.path = path
        self.db = Rdict(str(path), Options(raw_mode=True))
        self.pending: dict[bytes, bytes | None] = {}

    def checkpoint(self) -> int:
        stored = self.db.get(_CHECKPOINT)
        if stored is None:
            return 0
        offset, written = struct.unpack(">qd", stored)
        return int(offset) if time.time() - written < TRUST_DAYS * 86400 else -1

    def write(self, changes: dict[bytes, bytes | None], next_offset: int) -> None:
        batch = WriteBatch(raw_mode=True)
        for key, value in changes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(_CHECKPOINT, struct.pack(">qd", next_offset, time.time()))
        self.db.write(batch)

    def close(self) -> None:
        self.db.close()


class Store(Generic[T]):
    """One store's state for the partitions this instance holds."""

    def __init__(self, spec: StoreSpec[T], folder: Path):
        self.spec = spec
        self.folder = folder
        self._encode = msgspec.msgpack.Encoder(enc_hook=_to_plain).encode
        self._decode = msgspec.msgpack.Decoder(spec.type, dec_hook=_from_plain).decode
        self._partitions: dict[int, _Partition] = {}

    # --- used by the stage's rule, inside a transaction -----------------------------
    def get(self, partition: int, key: str) -> T | None:
        held = self._partitions[partition]
        raw = key.encode()
        value = held.pending[raw] if raw in held.pending else held.db.get(raw)
        return None if value is None else self._decode(value)

    def put(self, partition: int, key: str, value: T | None) -> None:
        self._partitions[partition].pending[key.encode()] = None if value is None else self._encode(value)

    def items(self, partition: int) -> Iterator[tuple[str, T]]:
        """What is committed locally (not the pending changes): for rebuilding indexes on assignment."""
        for key, value in self._partitions[partition].db.items():
            # raw mode: keys and values are bytes, whatever the stubs say
            if isinstance(key, bytes) and isinstance(value, bytes) and key != _CHECKPOINT:
                yield key.decode(), self._decode(value)

    def containing(self, partition: int, needle: bytes) -> Iterator[tuple[str, T]]:
        """Entries (pending changes included) whose stored bytes contain `needle`: a scan of the
        partition for a rare question (whose are these?) that costs nothing while not asked."""
        held = self._partitions[partition]
        for raw, value in held.pending.items():
            if value is not None and needle in value:
                yield raw.decode(), self._decode(value)
        for key, value in held.db.items():
            if (
                isinstance(key, bytes)
                and isinstance(value, bytes)
                and key != _CHECKPOINT
                and key not in held.pending
                and needle in value
            ):
                yield key.decode(), self._decode(value)

    # --- used by the runner ----------------------------------------------------------
    @property
    def partitions(self) -> list[int]:
        return sorted(self._partitions)

    def changes(self) -> Iterator[tuple[int, bytes, bytes | None]]:
        for partition, held in self._partitions.items():
            for key, value in held.pending.items():
                yield partition, key, value

    def committed(self, next_offsets: dict[int, int]) -> None:
        """The transaction carrying the pending changes committed: keep them locally."""
        for partition, held in self._partitions.items():
            if held.pending:
                held.write(held.pending, next_offsets[partition])
                held.pending = {}

    def discard(self) -> None:
        for held in self._partitions.values():
            held.pending = {}

    def open(self, partition: int, replay: Callable[[int], Iterator[Replayed]]) -> int:
        """Open the local copy of a partition and catch it up from the changelog; records replayed."""
        path = self.folder / self.spec.name / str(partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        held = _Partition(path)
        start = held.checkpoint()
        if start < 0:
            held, start = self._wiped(held), 0
        try:
            count = self._catch_up(held, replay, start)
        except ChangelogBehind:
            held = self._wiped(held)
            count = self._catch_up(held, replay, 0)
        self._partitions[partition] = held
        return count

    @staticmethod
    def _wiped(held: _Partition) -> _Partition:
        held.close()
        shutil.rmtree(held.path, ignore_errors=True)
        return _Partition(held.path)

    @staticmethod
    def _catch_up(held: _Partition, replay: Callable[[int], Iterator[Replayed]], start: int) -> int:
        count, changes, next_offset = 0, {}, start
        for key, value, offset in replay(start):
            changes[key] = value
            next_offset, count = offset + 1, count + 1
            if len(changes) >= 10_000:
                held.write(changes, next_offset)
                changes = {}
        held.write(changes, next_offset)
        return count

    def close(self, partition: int) -> None:
        held = self._partitions.pop(partition, None)
        if held is not None:
            held.close()

    def close_all(self) -> None:
        for partition in list(self._partitions):
            self.close(partition)


def _to_plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise NotImplementedError(f"cannot keep a {type(value).__name__} in a state store")


def _from_plain(kind: type, value: Any) -> Any:
    # State may hold contract models (findings): validated back like any other input.
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind.model_validate(value)
    raise NotImplementedError(f"cannot read a {kind} from a state store")
