"""NDTMS disclosure control for figures leaving the team (`--published`).

A count below 5 is shown as `<5`; any other count is rounded to the nearest 5 (halves up).
Percentages are computed from the exact counts before rounding, and withheld (None) when their
denominator is below 5. A median is withheld when it is the median of fewer than 5 waits.
"""

from __future__ import annotations

from typing import Any

from services.journey.measures import MeasureRow

SMALL = 5
COUNTS = (
    "in_treatment",
    "new_presentations",
    "waiting_now_over_21_days",
    "successful_completions",
    "representations_6_months",
    "representations_window_open",
    "unplanned_exits",
    "early_unplanned_exits",
)


def controlled(count: int) -> int | str:
    if count < SMALL:
        return f"<{SMALL}"
    return (count + SMALL // 2) // SMALL * SMALL


def percent(numerator: int, denominator: int) -> float | None:
    return None if denominator < SMALL else round(100 * numerator / denominator, 1)


def row_json(row: MeasureRow) -> dict[str, Any]:
    """The row as the interface's JSON has it (exact figures)."""
    return {
        "scope": row.scope,
        "group": row.group,
        "in_treatment": row.in_treatment,
        "new_presentations": row.new_presentations,
        "waits": {
            "count": row.waits.count,
            "median_days": row.waits.median_days,
            "within_21_days": row.waits.within_21_days,
        },
        "waiting_now_over_21_days": row.waiting_now_over_21_days,
        "retained_12_weeks": {
            "numerator": row.retained_12_weeks.numerator,
            "denominator": row.retained_12_weeks.denominator,
        },
        "successful_completions": row.successful_completions,
        "representations_6_months": row.representations_6_months,
        "representations_window_open": row.representations_window_open,
        "unplanned_exits": row.unplanned_exits,
        "early_unplanned_exits": row.early_unplanned_exits,
    }


def published_json(row: MeasureRow) -> dict[str, Any]:
    """The row with disclosure control, percentages from the exact counts."""
    exact = row_json(row)
    waits, retained = row.waits, row.retained_12_weeks
    return {
        **exact,
        **{name: controlled(exact[name]) for name in COUNTS},
        "waits": {
            "count": controlled(waits.count),
            "median_days": waits.median_days if waits.count >= SMALL else None,
            "within_21_days": controlled(waits.within_21_days),
            "within_21_days_percent": percent(waits.within_21_days, waits.count),
        },
        "retained_12_weeks": {
            "numerator": controlled(retained.numerator),
            "denominator": controlled(retained.denominator),
            "percent": percent(retained.numerator, retained.denominator),
        },
    }
