"""Where services get the time from: the system clock, or a file that tests and rehearsals control.

Domain code never reads the time; it is handed `today` or `now` by the stream around it,
which asks one of these clocks. `NDTMS_CLOCK_FILE` (an ISO 8601 timestamp with a time
zone, re-read whenever the file changes) lets a process-level test move a running service's
time on, e.g. to close a 21-day window without waiting three weeks. Never set it in production.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class BadClockFile(ValueError):
    pass


class FileClock:
    """Reads 'now' from a file; keeps the last good reading if the file is being rewritten."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp: int | None = None
        self._now = self._read()

    def _read(self) -> datetime:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
            moment = datetime.fromisoformat(text)
        except (OSError, ValueError) as exc:
            raise BadClockFile(f"clock file {self.path}: expected an ISO 8601 timestamp ({exc})") from exc
        if moment.tzinfo is None:
            raise BadClockFile(f"clock file {self.path}: the timestamp {text!r} needs a time zone")
        return moment

    def __call__(self) -> datetime:
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            return self._now
        if stamp != self._stamp:
            try:
                self._now = self._read()
                self._stamp = stamp
            except BadClockFile as exc:
                log.error("%s; keeping %s", exc, self._now.isoformat())
        return self._now


def set_clock_file(path: Path, moment: datetime) -> None:
    """Move a file clock (atomically, so a reader never sees half a timestamp)."""
    partial = path.with_suffix(".partial")
    partial.write_text(moment.isoformat(), encoding="utf-8")
    partial.replace(path)


def clock_from(clock_file: Path | None) -> Clock:
    return FileClock(clock_file) if clock_file is not None else system_clock


ENGLAND = ZoneInfo("Europe/London")


def today_in_england(clock: Clock) -> date:
    """NDTMS dates are English calendar days: 00:30 BST on 1 April is already 1 April."""
    return clock().astimezone(ENGLAND).date()
