"""The four stream services: ingest, validator, journey and linker."""
