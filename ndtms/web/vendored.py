"""Pages that work with no network: the charting library (uPlot, MIT) inlined into the page.

Operations and commissioners' networks often have no internet, so a page fetches nothing from
anywhere but the service that served it.
"""

from __future__ import annotations

from pathlib import Path

UPLOT = Path(__file__).resolve().parents[1] / "vendor" / "uplot"


def with_uplot(page: str) -> str:
    """The page with `/*UPLOT_CSS*/` and `/*UPLOT_JS*/` replaced by the library itself."""
    return page.replace("/*UPLOT_CSS*/", (UPLOT / "uPlot.min.css").read_text(encoding="utf-8")).replace(
        "/*UPLOT_JS*/", (UPLOT / "uPlot.iife.min.js").read_text(encoding="utf-8")
    )
