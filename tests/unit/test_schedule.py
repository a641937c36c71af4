"""The sweep's schedule follows each person's next decision day and pending count."""

from __future__ import annotations

from datetime import date

from services.linker.people import Person, Policy, apply
from services.linker.schedule import Schedule
from tests.builders import accepted, secure

KEY = "k" * 32


def released() -> Person:
    person, _ = apply(Person(KEY), accepted(secure(), KEY), date(2024, 3, 10), Policy())
    return person


def test_a_pending_release_is_due_when_its_window_closes() -> None:
    schedule = Schedule()
    schedule.note(released())
    assert schedule.due_on(date(2024, 3, 22)) == [] and schedule.due_on(date(2024, 3, 23)) == [KEY]
    assert schedule.pending == 1
    schedule.forget(KEY)
    assert schedule.due_on(date(2024, 3, 23)) == [] and schedule.pending == 0
