"""When each person next needs a look from the clock, kept beside the table.

The sweep asks this index for the people due, instead of reading the whole store every few
seconds (which would block the stream while it reads). One is built from the store for each
partition the stage is given, and follows every change the stage makes after that.
"""

from __future__ import annotations

from datetime import date

from ndtms_contract.links import LinkStatus
from services.linker.people import Person


class Schedule:
    def __init__(self) -> None:
        self._due: dict[str, date] = {}
        self._pending: dict[str, int] = {}

    def note(self, person: Person) -> None:
        self._set(
            person.client_key,
            person.due,
            sum(1 for o in person.outcomes.values() if o.status is LinkStatus.PENDING),
        )

    def forget(self, client_key: str) -> None:
        self._due.pop(client_key, None)
        self._pending.pop(client_key, None)

    def due_on(self, today: date) -> list[str]:
        return sorted(key for key, due in self._due.items() if due <= today)

    @property
    def pending(self) -> int:
        return sum(self._pending.values())

    def _set(self, client_key: str, due: date | None, pending: int) -> None:
        if due is None:
            self._due.pop(client_key, None)
        else:
            self._due[client_key] = due
        if pending:
            self._pending[client_key] = pending
        else:
            self._pending.pop(client_key, None)
