"""`python -m services.journey`: run the journey consumer and its HTTP endpoints."""

from __future__ import annotations

import threading

import uvicorn

from ndtms.access import CredentialStore
from ndtms.audit import AuditTrail
from ndtms.clocks import clock_from, system_clock
from ndtms.contract.topics import VALID
from ndtms.dashboard import Sampler
from ndtms.logs import start_service_logging
from ndtms.metrics import LagSampler
from ndtms.web.serving import server_config
from services.journey.http import create_app
from services.journey.service import build_processor
from services.journey.settings import JourneySettings


def main() -> None:
    settings = JourneySettings()
    start_service_logging("ndtms-journey", settings.uses_development_key)
    processor = build_processor(settings, clock_from(settings.clock_file))
    processor.install_signal_handlers()
    LagSampler(settings, "journey", settings.journey_group_id, {VALID.name: VALID.partitions}).start()
    dashboard = Sampler(settings.dashboard_targets, settings.ops_sample_seconds)
    dashboard.start()
    app = create_app(
        lambda: not processor.stopping.is_set(),
        processor.engine,
        CredentialStore(settings.credential_store_path),
        AuditTrail(settings, system_clock),
        dashboard.summary,
    )
    server = uvicorn.Server(server_config(app, settings.service_host, settings.journey_port, "ndtms-journey"))
    http = threading.Thread(target=server.run, name="journey-http", daemon=True)
    http.start()
    try:
        processor.run()
    finally:
        server.should_exit = True
        http.join(timeout=5)


if __name__ == "__main__":
    main()
