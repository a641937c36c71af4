"""`python -m services.ingest`: run the ingest HTTP API."""

from __future__ import annotations

import logging

import uvicorn
from confluent_kafka import Producer

from ndtms.audit import AuditTrail
from ndtms.clocks import clock_from
from ndtms.credential_stores import credential_store
from ndtms.erasing import ErasureLedger
from ndtms.logs import start_service_logging
from ndtms.stream.claim import one_process_per_file
from ndtms.web.serving import server_config
from ndtms_client.raw_topic import RawTopicWriter
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.topics import RAW
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from services.ingest.http import create_app
from services.ingest.ledger import ExtractLedger
from services.ingest.settings import IngestSettings

log = logging.getLogger("ndtms-ingest")


def main() -> None:
    settings = IngestSettings()
    start_service_logging("ndtms-ingest", settings.uses_development_key)
    ledger_url = settings.effective_ledger_url
    if ledger_url.startswith("sqlite"):
        # A ledger of its own: two such instances would each number a changed row 1 and miss a
        # consent withdrawn through the other. Say so, and refuse a second one on this ledger.
        one_process_per_file(ledger_url, "ingest", "ledger", "NDTMS_INGEST_LEDGER_URL")
        log.warning(
            "the extract ledger is SQLite (%s): this ingest must be the only instance; set "
            "NDTMS_INGEST_LEDGER_URL to a shared PostgreSQL database to run more",
            ledger_url,
        )
    producer = Producer(settings.producer_config())
    writer = RawTopicWriter(
        producer, AvroTranscoder(registry_client(settings.registry_url), RAW, EpisodeUpdate)
    )
    clock = clock_from(settings.clock_file)
    app = create_app(
        settings,
        writer,
        producer,
        credential_store(settings),
        ExtractLedger(ledger_url),
        ErasureLedger(settings, AuditTrail(settings, clock), clock),
        clock,
    )
    uvicorn.Server(server_config(app, settings.service_host, settings.ingest_port, "ndtms-ingest")).run()


if __name__ == "__main__":
    main()
