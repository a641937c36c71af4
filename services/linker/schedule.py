"""When each person next needs a look from the clock, kept beside the table.

The sweep asks this index for the people due, instead of reading the whole table every few
seconds (which blocks the stream while it reads). It is rebuilt from the table at start and
then periodically, because people on partitions this worker gains in a rebalance are only in
the table, not yet in the index.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from ndtms.contract.links import LinkStatus
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

    def note_stored(self, client_key: str, stored: dict[str, Any]) -> None:
        """From the table's stored (JSON) form, without rebuilding the whole person."""
        due = stored.get("due")
        pending = sum(
            1 for o in stored.get("outcomes", {}).values() if o.get("status") == LinkStatus.PENDING.value
        )
        self._set(client_key, date.fromisoformat(due) if due else None, pending)

    def forget(self, client_key: str) -> None:
        self._due.pop(client_key, None)
        self._pending.pop(client_key, None)

    def replace_all(self, stored_people: Iterable[tuple[str, dict[str, Any]]]) -> None:
        self._due.clear()
        self._pending.clear()
        for client_key, stored in stored_people:
            self.note_stored(client_key, stored)

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
