"""`python -m services.ingest.openapi`: print the ingest API document (docs/ingest-openapi.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from ndtms.access import CredentialStore
from services.ingest.http import create_app
from services.ingest.settings import IngestSettings

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "ingest-openapi.json"


def render() -> str:
    # The document depends only on the routes: nothing behind them is used.
    unused: Any = None
    app = create_app(
        IngestSettings(),
        unused,
        unused,
        CredentialStore(Path("unused.json")),
        cast(Any, unused),
        unused,
        lambda: datetime(2024, 1, 1, tzinfo=UTC),
    )
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
