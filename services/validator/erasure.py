"""What the validator removes when a person is erased: pure, from the heads it holds.

Every episode the person's attributors were last accepted or checked under loses its head
(the validator keeps nothing of them), an accepted one is withdrawn on `ndtms.episodes.valid`
(so the stream itself says the episode is gone, whoever reads it), and any report published
for it is cleared from the provider's error feed with a tombstone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ndtms_contract.episodes import AcceptedEpisode
from services.validator.acceptance import EpisodeHead


@dataclass(frozen=True)
class HeadsErased:
    heads: tuple[str, ...] = ()  # episode keys whose head goes
    withdrawals: tuple[AcceptedEpisode, ...] = ()
    reports_cleared: tuple[str, ...] = ()  # episode keys tombstoned on ndtms.episodes.errors


def erase_heads(client_key: str, heads: Iterable[tuple[str, EpisodeHead]], now: datetime) -> HeadsErased:
    """The heads (by episode key) of anyone; what erasing `client_key` does to them."""
    gone: list[str] = []
    withdrawals: list[AcceptedEpisode] = []
    cleared: list[str] = []
    for key, head in sorted(heads, key=lambda item: item[0]):
        filed = head.accepted_revision > 0 and head.accepted_client_key == client_key
        checked = head.checked_client_key == client_key
        if not (filed or checked):
            continue
        if filed or head.accepted_revision == 0:
            # An episode filed under someone else keeps its head: only its last check was theirs.
            gone.append(key)
        if filed and not head.accepted_deleted:
            provider_id, episode_id = key.split("/", 1)
            withdrawals.append(
                AcceptedEpisode(
                    provider_id=provider_id,
                    episode_id=episode_id,
                    revision=head.accepted_revision + 1,
                    client_key=client_key,
                    deleted=True,
                    accepted_at=now,
                )
            )
        if head.reported_revision > 0:
            cleared.append(key)
    return HeadsErased(tuple(gone), tuple(withdrawals), tuple(cleared))
