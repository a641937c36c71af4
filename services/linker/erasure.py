"""What the linker removes when a person is erased: pure, from the state it holds of them.

Every transfer of theirs leaves `ndtms.links` (a tombstone), every episode of theirs the
linker ever reported on is cleared from `ndtms.episodes.errors` (the linker writes exit-date
and cross-episode reports there), and both of the person's state entries are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ndtms.rules.cross_episode import PersonEpisodes
from services.linker.people import Person


@dataclass(frozen=True)
class PersonErased:
    links_tombstoned: tuple[str, ...] = ()  # transfer ids
    reports_cleared: tuple[str, ...] = ()  # episode keys
    held: bool = False  # whether there was any state to delete

    @property
    def removed(self) -> int:
        return len(self.links_tombstoned) + len(self.reports_cleared)


def erase_person(person: Person | None, dates: PersonEpisodes | None) -> PersonErased:
    episodes: set[str] = set()
    links: set[str] = set()
    if person is not None:
        links |= set(person.outcomes)
        episodes |= set(person.episodes) | set(person.withdrawn) | set(person.doubts)
    if dates is not None:
        episodes |= set(dates.episodes) | set(dates.withdrawn) | set(dates.reported)
    held = person is not None or dates is not None
    return PersonErased(tuple(sorted(links)), tuple(sorted(episodes)), held)
