"""`python -m services.journey.openapi`: print the query API document (docs/journey-openapi.json).

An entry point, like the service's `__main__`: the document includes the review desk's routes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, cast

from sqlalchemy import create_engine

from ndtms.access import CredentialStore
from ndtms_apps.pages.review.http import review_routes
from services.journey.http import create_app

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "journey-openapi.json"


def render() -> str:
    # The document depends only on the routes, not on the database or the keys behind them.
    unused: Any = object()
    app = create_app(
        lambda: True,
        create_engine("sqlite://"),
        CredentialStore(Path("unused.json")),
        cast(Any, unused),
        operations=[review_routes(cast(Any, unused), cast(Any, unused))],
        today=date.today,
        continuity=cast(Any, unused),
    )
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
