"""Process-wide logging set-up for the services."""

from __future__ import annotations

import logging


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # One line per registry request would drown everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
