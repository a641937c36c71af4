"""Process-wide logging: one JSON object a line, with the correlation fields operators search by.

Only the fields named in CORRELATION are copied from a record's `extra`: provider, episode,
revision and where the record came from, and why a request was refused. Attributors, client
keys and API keys are never among them, and no log message of this project includes them.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from ndtms_contract.settings import DEVELOPMENT_KEY_WARNING

CORRELATION = (
    "service",
    "provider_id",
    "episode_id",
    "revision",
    "topic",
    "partition",
    "offset",
    "verdict",
    # A refused request: why, the status answered, and the credential's id (never its key).
    "refusal",
    "http_status",
    "credential_id",
)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service:
            entry["service"] = self.service
        for name in CORRELATION:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(service: str, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for a service: JSON lines on standard error."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": service}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"level": level, "handlers": ["stderr"]},
        # One line per registry request would drown everything else.
        "loggers": {
            "httpx": {"level": "WARNING"},
            "httpx2": {"level": "WARNING"},
            # librdkafka's notices (%5, %6, %7) are routine; its warnings and errors are kept.
            "librdkafka": {"level": "WARNING"},
        },
    }


def configure_logging(service: str, level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(service, level))


def start_service_logging(service: str, uses_development_key: bool) -> None:
    """A service process's first step: JSON logs, then what its operator must know before anything."""
    configure_logging(service)
    if uses_development_key:
        logging.getLogger(service).warning(DEVELOPMENT_KEY_WARNING)
