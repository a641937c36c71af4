"""Serving a FastAPI app with uvicorn, logging as the rest of the process does (JSON lines)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from ndtms.logs import logging_config


def server_config(app: FastAPI, host: str, port: int, service: str) -> uvicorn.Config:
    # uvicorn's own logging config would print tracebacks as plain text beside our JSON lines.
    return uvicorn.Config(
        app, host=host, port=port, log_config=logging_config(service), log_level="warning", access_log=False
    )
