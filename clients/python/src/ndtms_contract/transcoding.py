"""Records to bytes and back: Avro in the Confluent wire format, schemas governed by a registry.

Mapping (model <-> dict) is the models' own `model_dump`/`model_validate`; this module
only turns those dicts into registry-framed Avro bytes and back.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from pydantic import BaseModel, ValidationError

from ndtms_contract.audit import AuditEvent
from ndtms_contract.candidates import LinkCandidate, MatchDecision
from ndtms_contract.episodes import AcceptedEpisode, EpisodeUpdate
from ndtms_contract.erasures import ErasureRecorded
from ndtms_contract.findings import ValidationReport
from ndtms_contract.journeys import ClientJourneys
from ndtms_contract.links import TransferLink
from ndtms_contract.topics import (
    AUDIT,
    CANDIDATES,
    DECISIONS,
    ERASURES,
    ERRORS,
    JOURNEYS,
    LINKS,
    RAW,
    VALID,
    TopicSpec,
)
from ndtms_contract.trusted import constructor
from ndtms_contract.unions import union_hints

# Shipped inside the package (the client and the server install the same files); a deployment
# may point at its own copy.
SCHEMAS_DIR = Path(os.environ.get("NDTMS_SCHEMAS_DIR") or Path(__file__).resolve().parent / "schemas")
CONFLUENT_MAGIC = 0

Model = TypeVar("Model", bound=BaseModel)
# "validated": every decoded record passes the model's validation (input from outside);
# "trusted": records our own stages wrote are built without it (see ndtms_contract.trusted).
Decoding = Literal["validated", "trusted"]


class UndecodableRecord(ValueError):
    """Bytes that are not a readable record of the expected schema; the message says why."""


@cache
def schema_text(file_name: str) -> str:
    # Stripped as the registry client strips it, so that both register the very same text.
    return (SCHEMAS_DIR / file_name).read_text(encoding="utf-8").strip()


def schema_json(file_name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text(file_name))
    return loaded


MODEL_OF_TOPIC: dict[str, type[BaseModel]] = {
    RAW.name: EpisodeUpdate,
    VALID.name: AcceptedEpisode,
    ERRORS.name: ValidationReport,
    JOURNEYS.name: ClientJourneys,
    LINKS.name: TransferLink,
    AUDIT.name: AuditEvent,
    ERASURES.name: ErasureRecorded,
    CANDIDATES.name: LinkCandidate,
    DECISIONS.name: MatchDecision,
}


class AvroTranscoder(Generic[Model]):
    """Encodes one topic's values with the registered schema and decodes any registered writer schema."""

    def __init__(
        self,
        registry: SchemaRegistryClient,
        topic: TopicSpec,
        model: type[Model],
        decoding: Decoding = "validated",
    ):
        if topic.value_schema is None:
            raise ValueError(f"topic {topic.name} carries raw bytes, not Avro")
        self.topic = topic
        self.model = model
        self._trusted: Callable[[dict[str, Any]], Model] | None = (
            constructor(model) if decoding == "trusted" else None
        )
        self._registry = registry
        text = schema_text(topic.value_schema)
        self._schema_json = json.loads(text)
        self._reader_schema = fastavro.parse_schema(self._schema_json)
        self._hint = union_hints(self._reader_schema)
        # Per writer schema id: the parsed writer schema, and the reader schema to resolve it to
        # (None when it is our own schema, which spares fastavro the resolution).
        self._writer_schemas: dict[int, tuple[Any, Any]] = {}
        self._header: bytes | None = None

    def register(self) -> int:
        """Register the schema under `<topic>-value` (idempotent); return its id."""
        schema = Schema(schema_text(self.topic.value_schema or ""), "AVRO")
        registered: int = self._registry.register_schema(f"{self.topic.name}-value", schema)
        return registered

    def encode(self, record: Model) -> bytes:
        data = record.model_dump()
        self._hint(data)  # a fresh dump: ours to change
        return self._framed(data)

    def _framed(self, data: dict[str, Any]) -> bytes:
        if self._header is None:
            # Registered once (idempotent), as the registry's own serializer would auto-register.
            self._header = bytes([CONFLUENT_MAGIC]) + self.register().to_bytes(4, "big")
        body = io.BytesIO()
        body.write(self._header)
        fastavro.schemaless_writer(body, self._reader_schema, data)
        return body.getvalue()

    def _writer_schema(self, schema_id: int) -> tuple[Any, Any]:
        # The registry client caches ids itself; parsing the schema once per id is ours to keep.
        held = self._writer_schemas.get(schema_id)
        if held is None:
            try:
                schema = self._registry.get_schema(schema_id)
            except SchemaRegistryError as exc:
                raise UndecodableRecord(f"Avro decoding failed: schema id {schema_id}: {exc}") from exc
            if (schema.schema_type or "AVRO") != "AVRO":
                raise UndecodableRecord(f"schema id {schema_id} is {schema.schema_type}, not Avro")
            written = json.loads(schema.schema_str or "null")
            reader = None if written == self._schema_json else self._reader_schema
            held = self._writer_schemas[schema_id] = (fastavro.parse_schema(written), reader)
        return held

    def decode(self, payload: bytes | None) -> Model:
        data = self.decode_plain(payload)
        if self._trusted is not None:
            return self._trusted(data)
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise UndecodableRecord(f"decoded record breaks the contract: {exc}") from exc

    def decode_plain(self, payload: bytes | None) -> dict[str, Any]:
        """Framed Avro to plain data (dates as dates), checked against the schema only."""
        if not payload:
            raise UndecodableRecord("empty value where an Avro record was expected")
        if payload[0] != CONFLUENT_MAGIC or len(payload) < 5:
            raise UndecodableRecord(
                "not in the Confluent wire format (magic byte 0 and a 4-byte schema id expected)"
            )
        schema_id = int.from_bytes(payload[1:5], "big")
        body = io.BytesIO(payload)
        body.seek(5)
        writer, reader = self._writer_schema(schema_id)
        try:
            data = fastavro.schemaless_reader(body, writer, reader)
        except UndecodableRecord:
            raise
        except Exception as exc:  # fastavro raises many kinds on bad bytes; all mean the same here
            raise UndecodableRecord(
                f"Avro decoding failed (schema id {schema_id}): {type(exc).__name__}: {exc}"
            ) from exc
        if body.tell() != len(payload):
            raise UndecodableRecord(
                f"Avro decoding failed (schema id {schema_id}): {len(payload) - body.tell()} bytes left over"
            )
        if not isinstance(data, dict):
            raise UndecodableRecord(f"schema id {schema_id} is not a record schema")
        return data


def registry_client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url})


def transcoder_for(registry: SchemaRegistryClient, topic: TopicSpec) -> AvroTranscoder[Any]:
    return AvroTranscoder(registry, topic, MODEL_OF_TOPIC[topic.name])
