"""The 21-day window after a prison release, and the day an unmatched release is decided.

The linker judges releases by it and the indicator and its report count by it: one definition.
"""

from __future__ import annotations

from datetime import date, timedelta

WINDOW_DAYS = 21


def window_end(release: date) -> date:
    """The window's last day: the release day and the 21 days after it are in."""
    return release + timedelta(days=WINDOW_DAYS)


def closes_on(release: date, grace_days: int) -> date:
    """The first day on which an unmatched transfer is decided not_engaged (late submissions
    get `grace_days` more)."""
    return window_end(release) + timedelta(days=grace_days + 1)
