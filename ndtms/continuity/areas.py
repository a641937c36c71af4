"""Local authorities by ONS code: their names and their regions of England.

`areas.csv` lists the upper-tier authorities NDTMS reports by (unitary authorities, London
boroughs, metropolitan districts and counties, E06/E08/E09/E10), including those merged away
since 2019 so that older releases still find their region, and `X99999998` (outside England).
A code not listed (a lower-tier district, E07, say) is shown as it is, under "Region not known".
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

REGION_NOT_KNOWN = "Region not known"
NO_DESTINATION = "No destination recorded"
OUTSIDE_ENGLAND = "Outside England"
# In the order ONS numbers them (E12000001 to E12000009).
REGIONS = (
    "North East",
    "North West",
    "Yorkshire and The Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
)


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    region: str


@cache
def _areas() -> dict[str, Area]:
    text = resources.files(__package__).joinpath("areas.csv").read_text(encoding="utf-8")
    return {
        row["code"]: Area(row["code"], row["name"], row["region"])
        for row in csv.DictReader(io.StringIO(text))
    }


def area_of(code: str | None) -> Area:
    if code is None:
        return Area("", NO_DESTINATION, NO_DESTINATION)
    return _areas().get(code.upper(), Area(code, code, REGION_NOT_KNOWN))


def listed_areas() -> list[Area]:
    return list(_areas().values())
