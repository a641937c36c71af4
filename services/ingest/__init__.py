"""Ingest: how vendor systems publish episode updates (HTTP API, JSONL files) onto the raw topic."""
