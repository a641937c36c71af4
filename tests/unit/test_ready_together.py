"""`ndtms up` returns once every instance is ready at the same moment, not each once in turn."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from ndtms.localrun.processes import ManagedProcess
from ndtms.localrun.services import ServiceFailed, wait_until_ready


class Running:
    log_file = Path("service.log")

    def __init__(self, alive: bool = True):
        self.alive = alive

    def pid(self) -> int | None:
        return 1 if self.alive else None

    def log_tail(self) -> str:
        return "the last lines"


def answers(*said: str | None) -> Callable[[], str | None]:
    it: Iterator[str | None] = iter(said)
    last: list[str | None] = [None]

    def ask() -> str | None:
        last[0] = next(it, last[0])
        return last[0]

    return ask


def processes(*names: str, **states: bool) -> dict[str, ManagedProcess]:
    return {n: cast(ManagedProcess, Running(states.get(n, True))) for n in names}


def test_a_first_instance_restoring_again_when_the_second_joins_is_waited_for() -> None:
    # linker-0 is ready, then restores the partitions the group gives back when linker-1 joins.
    passes: list[float] = []
    health = {
        "linker-0": answers("ready", "starting", "ready"),
        "linker-1": answers("starting", "ready", "ready"),
    }
    wait_until_ready(health, processes(*health), 60, sleep=passes.append, clock=lambda: 0.0)
    assert len(passes) == 2  # ready in turn after one pass, together only after the third


@pytest.mark.parametrize(
    ("alive", "clock", "says"),
    [
        (False, 0.0, "validator-0 exited while starting; its log ends:\nthe last lines"),
        (True, 61.0, "validator-0 not ready after 60s; see service.log"),
    ],
)
def test_an_instance_that_exits_or_never_gets_ready_is_named(alive: bool, clock: float, says: str) -> None:
    times = iter([0.0, clock])
    with pytest.raises(ServiceFailed) as failed:
        wait_until_ready(
            {"validator-0": answers(None)},
            processes("validator-0", **{"validator-0": alive}),
            60,
            sleep=lambda _: None,
            clock=lambda: next(times, clock),
        )
    assert str(failed.value) == says


def test_all_ready_at_once_returns_without_waiting() -> None:
    slept: list[Any] = []
    wait_until_ready(
        {"a": answers("ready"), "b": answers("ready")}, processes("a", "b"), 1, sleep=slept.append
    )
    assert slept == []
