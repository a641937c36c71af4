"""The one date type of the `ndtms` command: YYYY-MM-DD, refused in the contract's own words."""

from __future__ import annotations

import argparse
import re
from datetime import date

from ndtms_contract.dates import iso_date

DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def day(text: str) -> date:
    """An argparse type: `2025-03-31`. A day-first date is refused with the form to use instead,
    since 03/04/2025 means a different day to different people."""
    written = DAY_FIRST.match(text)
    if written is not None:
        d, m, y = written.groups()
        raise argparse.ArgumentTypeError(
            f"{text!r} is written day first: write it as YYYY-MM-DD ({y}-{int(m):02d}-{int(d):02d} if "
            f"{d} is the day)"
        )
    try:
        parsed: date = iso_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return parsed
