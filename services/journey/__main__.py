"""`python -m services.journey`: run the journey consumer and its HTTP endpoints."""

from __future__ import annotations

import threading

import uvicorn

from ndtms.contract.episodes import AcceptedEpisode
from ndtms.contract.journeys import ClientJourneys
from ndtms.contract.topics import JOURNEYS, VALID
from ndtms.contract.transcoding import AvroTranscoder, registry_client
from ndtms.logs import configure_logging
from ndtms.streaming import system_clock
from services.journey import store
from services.journey.http import create_app
from services.journey.service import JourneyProcessor
from services.journey.settings import JourneySettings


def main() -> None:
    configure_logging()
    settings = JourneySettings()
    engine = store.engine_for(settings.effective_database_url)
    store.create_schema(engine)
    registry = registry_client(settings.registry_url)
    processor = JourneyProcessor(
        settings,
        engine,
        AvroTranscoder(registry, VALID, AcceptedEpisode),
        AvroTranscoder(registry, JOURNEYS, ClientJourneys),
        system_clock,
    )
    processor.install_signal_handlers()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(lambda: not processor.stopping.is_set()),
            host=settings.service_host,
            port=settings.journey_port,
            log_level="warning",
        )
    )
    http = threading.Thread(target=server.run, name="journey-http", daemon=True)
    http.start()
    try:
        processor.run()
    finally:
        server.should_exit = True
        http.join(timeout=5)


if __name__ == "__main__":
    main()
