"""Log lines are JSON with the correlation fields, and nothing else from a record's extras."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import FastAPI

from ndtms.logs import JsonFormatter, logging_config, start_service_logging
from ndtms.web.serving import server_config
from ndtms_contract.settings import DEVELOPMENT_KEY_WARNING


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


def test_a_service_on_the_development_key_says_so_first_in_its_json_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    start_service_logging("ndtms-ingest", uses_development_key=True)
    [line] = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    assert (line["level"], line["service"]) == ("warning", "ndtms-ingest")
    assert line["message"] == DEVELOPMENT_KEY_WARNING
    start_service_logging("ndtms-ingest", uses_development_key=False)
    assert capsys.readouterr().err == ""


def test_an_unexpected_error_in_a_web_answer_is_one_json_line() -> None:
    """uvicorn's own config printed tracebacks as plain text beside the JSON lines."""
    config = server_config(FastAPI(), "127.0.0.1", 0, "ndtms-journey")
    expected = logging_config("ndtms-journey")
    assert config.log_config == expected and expected["formatters"]["json"]["()"] is JsonFormatter
