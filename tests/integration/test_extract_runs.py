"""Extracts of one provider sent at once: each changed row gets its own revision."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from ndtms_client.raw_topic import Delivery
from ndtms_contract.episodes import EpisodeUpdate
from services.ingest.extract_runs import publish_extract
from services.ingest.ledger import ExtractLedger
from tests.unit.test_extracts import HEADER

NOW = datetime(2024, 4, 1, tzinfo=UTC)


class SlowBroker:
    """Acknowledges everything; the first write takes a second, the window in which a second
    extract of the provider, if let through, would plan from the same ledger rows."""

    def __init__(self) -> None:
        self.written: list[EpisodeUpdate] = []
        self._first = True
        self._lock = threading.Lock()

    def write(self, updates: Sequence[EpisodeUpdate]) -> list[Delivery]:
        if self._first:
            self._first = False
            time.sleep(1.0)
        with self._lock:
            self.written.extend(updates)
        return [Delivery(u) for u in updates]


def extract(triage: str) -> list[bytes]:
    row = f"CMTY001,RACE-1,C,A,B,1985-03-02,1,E09000033,Y,2024-03-05,{triage},,,,,,,,"
    return [f"{HEADER}\n".encode(), f"{row}\n".encode()]


def test_two_extracts_at_once_are_taken_one_after_the_other(database_url: str) -> None:
    ledger = ExtractLedger(database_url)
    quick = SlowBroker()
    quick._first = False
    publish_extract(extract("2024-03-06"), "CMTY001", quick, ledger, NOW, lambda _u: None)  # type: ignore[arg-type]
    broker = SlowBroker()
    runs = [
        threading.Thread(
            target=publish_extract,
            args=(extract(day), "CMTY001", broker, ExtractLedger(database_url), NOW, lambda _u: None),
        )
        for day in ("2024-03-07", "2024-03-08")
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
    revisions = sorted(u.revision for u in broker.written)
    # Without the provider's lock both planned from revision 1 and sent revision 2 twice.
    assert revisions == [2, 3]
    [(episode, held)] = ledger.held("CMTY001", ["RACE-1"]).items()
    assert held.revision == 3
    assert episode == "RACE-1"
