"""A stage's store: nothing is kept locally before its transaction commits; replay catches it up."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import msgspec
import pytest

from ndtms.stream.state import _CHECKPOINT, ChangelogBehind, Replayed, Store, StoreSpec
from ndtms_contract.findings import Finding, Severity


@dataclass(frozen=True)
class Held:
    revision: int
    since: date | None = None
    findings: tuple[Finding, ...] = ()
    seen: dict[str, int] = field(default_factory=dict)


SPEC = StoreSpec("things", "input", "group-things-state", Held)
ENCODE = msgspec.msgpack.Encoder().encode


def changelog(*records: tuple[str, Held | None]) -> list[Replayed]:
    return [
        (key.encode(), None if value is None else ENCODE(value), offset)
        for offset, (key, value) in enumerate(records)
    ]


def replaying(records: list[Replayed], asked: list[int]) -> Callable[[int], Iterator[Replayed]]:
    def replay(start: int) -> Iterator[Replayed]:
        asked.append(start)
        yield from (r for r in records if r[2] >= start)

    return replay


def opened(folder: Path, records: list[Replayed] | None = None) -> Store[Held]:
    store: Store[Held] = Store(SPEC, folder)
    store.open(0, replaying(records or [], []))
    return store


def test_changes_are_read_back_before_commit_but_kept_only_after(tmp_path: Path) -> None:
    store = opened(tmp_path)
    finding = Finding(rule="CMT003", severity=Severity.WARNING, field="discharge_date", message="m")
    value = Held(2, date(2024, 3, 1), (finding,), {"a": 1})
    store.put(0, "k", value)
    assert store.get(0, "k") == value
    assert list(store.items(0)) == []  # not committed: nothing local yet
    assert [(p, k) for p, k, _ in store.changes()] == [(0, b"k")]
    store.committed({0: 7})
    assert list(store.items(0)) == [("k", value)] and list(store.changes()) == []


def test_discarded_changes_leave_the_committed_state(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.put(0, "k", Held(1))
    store.committed({0: 1})
    store.put(0, "k", Held(2))
    store.put(0, "gone", None)
    store.discard()
    assert store.get(0, "k") == Held(1) and list(store.changes()) == []


def test_a_deletion_removes_the_key_once_committed(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.put(0, "k", Held(1))
    store.committed({0: 1})
    store.put(0, "k", None)
    assert store.get(0, "k") is None
    store.committed({0: 2})
    assert list(store.items(0)) == []


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], {}),
        ([("a", Held(1)), ("b", Held(1)), ("a", Held(2))], {"a": Held(2), "b": Held(1)}),
        ([("a", Held(1)), ("a", None)], {}),
        ([("a", Held(1)), ("a", None), ("a", Held(3))], {"a": Held(3)}),
    ],
)
def test_a_fresh_store_is_the_changelog_replayed(
    tmp_path: Path, records: list[tuple[str, Held | None]], expected: dict[str, Held]
) -> None:
    store = opened(tmp_path, changelog(*records))
    assert dict(store.items(0)) == expected


def test_reopening_replays_only_from_the_checkpoint(tmp_path: Path) -> None:
    records = changelog(("a", Held(1)), ("b", Held(1)))
    store = opened(tmp_path, records)
    store.close(0)
    asked: list[int] = []
    more = [*records, (b"a", ENCODE(Held(5)), 2)]
    reopened: Store[Held] = Store(SPEC, tmp_path)
    assert reopened.open(0, replaying(more, asked)) == 1
    assert asked == [2] and reopened.get(0, "a") == Held(5)


def test_an_old_checkpoint_is_not_trusted_and_the_store_is_rebuilt(tmp_path: Path) -> None:
    store = opened(tmp_path, changelog(("a", Held(1)), ("stale", Held(1))))
    held = store._partitions[0]
    held.db[_CHECKPOINT] = struct.pack(">qd", 2, time.time() - 4 * 86400)
    store.close(0)
    asked: list[int] = []
    # Meanwhile the key was deleted and compaction may have dropped its tombstone.
    rebuilt: Store[Held] = Store(SPEC, tmp_path)
    rebuilt.open(0, replaying(changelog(("a", Held(1))), asked))
    assert asked == [0] and dict(rebuilt.items(0)) == {"a": Held(1)}


def test_a_changelog_that_ends_before_the_checkpoint_was_recreated_and_the_copy_is_dropped(
    tmp_path: Path,
) -> None:
    opened(tmp_path, changelog(("a", Held(1)), ("b", Held(1)), ("c", Held(1)))).close(0)
    recreated = changelog(("z", Held(9)))

    def replay(start: int) -> Iterator[Replayed]:
        if start > len(recreated):
            raise ChangelogBehind(f"ends at {len(recreated)}, local copy at {start}")
        yield from (r for r in recreated if r[2] >= start)

    store: Store[Held] = Store(SPEC, tmp_path)
    store.open(0, replay)
    assert dict(store.items(0)) == {"z": Held(9)}
