"""Log lines are JSON with the correlation fields, and nothing else from a record's extras."""

from __future__ import annotations

import json
import logging

from ndtms.logs import JsonFormatter


def test_a_line_carries_correlation_fields_and_drops_anything_else() -> None:
    record = logging.LogRecord(
        "services.validator", logging.INFO, __file__, 1, "rejected: %s", ("DAT002",), None
    )
    record.__dict__.update(
        provider_id="CMTY001", episode_id="CE1", revision=3, date_of_birth="1985-03-02", client_key="k" * 32
    )
    line = json.loads(JsonFormatter("ndtms-validator").format(record))
    assert line["message"] == "rejected: DAT002" and line["level"] == "info"
    assert (line["service"], line["provider_id"], line["episode_id"], line["revision"]) == (
        "ndtms-validator",
        "CMTY001",
        "CE1",
        3,
    )
    assert "date_of_birth" not in line and "client_key" not in line
