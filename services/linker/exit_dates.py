"""The data-quality doubt the continuity-of-care guidance warns about: a late-recorded exit date.

A community triage a few days *before* a recorded prison exit cannot have happened while
the person was in custody, so the exit date was probably recorded late. The triage is not
a match under the rule (the window starts on the exit date); instead the prison provider is
told, so that a corrected exit date can turn the release into the match it probably was.

A triage before the prison reception is an earlier, ordinary community contact: no doubt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from ndtms_contract.episodes import Setting
from services.linker.matching import EpisodeFacts

RULE = "LNK001"
FIELD = "custody.prison_exit_date"
# How far before the recorded exit a community triage is still taken as a sign of a late exit date.
LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class ExitDateDoubt:
    """A community triage shortly before the recorded exit of one transfer (the earliest such)."""

    prison_provider_id: str
    prison_episode_id: str
    prison_revision: int
    prison_exit_date: date
    triage_date: date
    community_provider_id: str
    community_episode_id: str

    @property
    def days_before_exit(self) -> int:
        return (self.prison_exit_date - self.triage_date).days

    @property
    def message(self) -> str:
        return (
            f"a community triage ({self.community_provider_id} episode {self.community_episode_id}) "
            f"on {self.triage_date.isoformat()} is {self.days_before_exit} day(s) before the recorded "
            f"prison exit {self.prison_exit_date.isoformat()}: the exit date was probably recorded late. "
            "Check it against the release record; the triage does not count as continuity of care "
            "unless the exit date is corrected."
        )


def exit_date_doubts(
    episodes: Iterable[EpisodeFacts], lookback_days: int = LOOKBACK_DAYS
) -> dict[str, ExitDateDoubt]:
    """Every transfer of one person whose exit date is in doubt, by transfer id."""
    facts = list(episodes)
    triages = sorted(
        (e.triage_date, e.provider_id, e.episode_id)
        for e in facts
        if e.setting is Setting.COMMUNITY and e.triage_date is not None
    )
    doubts: dict[str, ExitDateDoubt] = {}
    for prison in facts:
        release = prison.release_date
        if release is None:
            continue
        earliest = release - timedelta(days=lookback_days)
        if prison.reception_date is not None:
            earliest = max(earliest, prison.reception_date + timedelta(days=1))
        for triage, provider, episode in triages:
            if earliest <= triage < release:
                doubts[prison.key] = ExitDateDoubt(
                    prison.provider_id, prison.episode_id, prison.revision, release, triage, provider, episode
                )
                break
    return doubts
