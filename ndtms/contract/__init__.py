"""The public wire contract shared by every service.

Pydantic models of the events (`episodes`, `findings`, `links`, `journeys`), the topic
catalogue, the pseudonymous client key, the Avro transcoder and the platform settings.
The `.avsc` files under `schemas/` are the source of truth of the bytes on the wire; the
models here mirror them and a unit test keeps the two in step.
"""
