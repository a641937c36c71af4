"""Publishing one CSV extract: rows read in chunks, revisions planned, acknowledged writes recorded.

Constant memory in the file's size: rows are read line by line and published a chunk at a
time; only the set of episode ids seen is kept, to report those missing from this extract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ndtms.audit import AuditUnavailable
from ndtms.erasing import ErasureNotRecorded
from ndtms_client.raw_topic import RawTopicWriter
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.parsing import Parsed, Problem
from services.ingest.extracts import Change, Held, Planned, plan, rows
from services.ingest.ledger import ExtractLedger

CHUNK = 1000
MAX_LISTED = 1000
# Records a client's objection (their consent turned from Y to N); raises if it could not.
Objector = Callable[[EpisodeUpdate], None]


@dataclass
class ExtractSummary:
    provider: str
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    objections: int = 0
    rejected: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def published(self) -> int:
        return self.new + self.changed

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "rows": self.rows,
            "published": self.published,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "objections": self.objections,
            "rejected": self.rejected,
            "rejections": self.rejections,
            "rejections_listed": len(self.rejections),
            "missing_from_extract": self.missing,
        }

    def reject(self, row: int, problems: Iterable[Problem]) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_LISTED:
            self.rejections.append(
                {"row": row, "problems": [{"path": p.path, "message": p.message} for p in problems]}
            )


def publish_extract(
    lines: Iterable[bytes],
    provider: str,
    writer: RawTopicWriter,
    ledger: ExtractLedger,
    recorded_at: datetime,
    objector: Objector,
    progress: Callable[[int], None] = lambda rows_done: None,
) -> ExtractSummary:
    """Publish an extract's new and changed rows; a row whose consent was withdrawn is not
    published but recorded as the client's objection (which erases them everywhere). One extract
    of a provider at a time, whichever process runs it (`ExtractLedger.provider_lock`)."""
    with ledger.provider_lock(provider):
        summary = ExtractSummary(provider)
        first_row: dict[str, int] = {}
        chunk: list[Parsed] = []
        for number, parsed in rows(lines, provider, recorded_at):
            summary.rows += 1
            if parsed.update is not None and parsed.accepted:
                episode = parsed.update.episode_id
                if episode in first_row:
                    summary.reject(
                        number,
                        [Problem("EPISODID", f"episode {episode} is also on row {first_row[episode]}")],
                    )
                    continue
                first_row[episode] = number
                chunk.append(parsed)
            else:
                summary.reject(number, parsed.problems)
            if len(chunk) >= CHUNK:
                _publish(chunk, provider, writer, ledger, objector, summary)
                chunk = []
                progress(summary.rows)
        _publish(chunk, provider, writer, ledger, objector, summary)
        progress(summary.rows)
        summary.missing = [e for e in ledger.known(provider) if e not in first_row]
        return summary


def _publish(
    chunk: list[Parsed],
    provider: str,
    writer: RawTopicWriter,
    ledger: ExtractLedger,
    objector: Objector,
    summary: ExtractSummary,
) -> None:
    if not chunk:
        return
    held = ledger.held(provider, [p.update.episode_id for p in chunk if p.update is not None])
    planned: list[Planned] = [plan(p, held.get(p.update.episode_id)) for p in chunk if p.update is not None]
    sending = [p for p in planned if p.change in (Change.NEW, Change.CHANGED)]
    summary.unchanged += sum(1 for p in planned if p.change is Change.UNCHANGED)
    deliveries = writer.write([p.parsed.update for p in sending if p.parsed.update is not None])
    acknowledged = _objections(planned, held, objector, summary)
    for item, delivery in zip(sending, deliveries, strict=True):
        update = item.parsed.update
        assert update is not None and item.digest is not None
        if delivery.ok:
            acknowledged.append((update.episode_id, update.revision, item.digest, _consent(update)))
            if item.change is Change.NEW:
                summary.new += 1
            else:
                summary.changed += 1
        else:
            summary.reject(item.row, [Problem("", delivery.error or "the broker did not accept it")])
    ledger.record(provider, acknowledged)


def _consent(update: EpisodeUpdate) -> bool:
    return update.client is not None and update.client.consent


def _objections(
    planned: list[Planned], held: dict[str, Held], objector: Objector, summary: ExtractSummary
) -> list[tuple[str, int, str, bool]]:
    """Record each withdrawn consent as an objection; the ledger rows for those recorded."""
    recorded = []
    for item in planned:
        update = item.parsed.update
        if item.change is not Change.OBJECTED or update is None or item.digest is None:
            continue
        try:
            objector(update)
        except (ErasureNotRecorded, AuditUnavailable) as exc:  # the row is reported, the extract goes on
            summary.reject(
                item.row,
                [Problem("CONSENT", f"the objection could not be recorded ({exc}): send the extract again")],
            )
            continue
        summary.objections += 1
        # Kept as published so far (same revision), now with consent N: not objected twice.
        recorded.append((update.episode_id, held[update.episode_id].revision, item.digest, False))
    return recorded
