"""`python -m services.journey`: run the journey consumer and its HTTP endpoints.

The process's entry point, above the service: it composes the service with the review desk's
routes and the `/ops` page, which sit on top of every service.
"""

from __future__ import annotations

import threading

import uvicorn
from prometheus_client import REGISTRY

from ndtms.audit import AuditTrail
from ndtms.clocks import clock_from, system_clock, today_in_england
from ndtms.credential_stores import credential_store
from ndtms.leadership import Leadership
from ndtms.link_view import LinkView
from ndtms.logs import start_service_logging
from ndtms.metrics import LagSampler
from ndtms.stream.claim import one_process_per_file
from ndtms.web.serving import server_config
from ndtms_apps.pages.dashboard import Sampler, ops_routes
from ndtms_apps.pages.review.desk import DecisionDesk
from ndtms_apps.pages.review.http import Review, review_routes
from ndtms_apps.pages.review.reading import CandidateQueue, RecordIndex
from ndtms_contract.topics import VALID
from services.journey.continuity import ContinuityReports
from services.journey.http import create_app
from services.journey.reports import MeasuresGauges
from services.journey.service import build_processor
from services.journey.settings import JourneySettings


def main() -> None:
    settings = JourneySettings()
    start_service_logging("ndtms-journey", settings.uses_development_key)
    clock = clock_from(settings.clock_file)
    database_url = settings.effective_database_url
    if database_url.startswith("sqlite"):
        # A store on this machine's disk: one instance (PostgreSQL makes the service scale out).
        one_process_per_file(database_url, "journey", "store", "NDTMS_DATABASE_URL")
    processor = build_processor(settings, clock)
    processor.install_signal_handlers()
    LagSampler(
        settings,
        "journey",
        settings.journey_group_id,
        {VALID.name: processor.partitions},
        held=lambda: frozenset((VALID.name, p) for p, o in list(processor.owned.items()) if o.active),
    ).start()
    dashboard = Sampler(settings.dashboard_targets, settings.ops_sample_seconds)
    dashboard.start()
    audit = AuditTrail(settings, system_clock)
    queue, records = CandidateQueue(settings), RecordIndex(settings)
    queue.follow()
    records.follow()
    review = Review(queue, records, DecisionDesk(settings, audit, clock), lambda: today_in_england(clock))
    gauges = MeasuresGauges(
        processor.engine,
        lambda: today_in_england(clock),
        settings.measures_refresh_seconds,
        Leadership(processor.engine, "journey measures gauges").leading,
    )
    REGISTRY.register(gauges)
    gauges.start()
    links = LinkView(settings)
    stop_links = threading.Event()
    threading.Thread(target=links.follow, args=(stop_links,), name="link-view", daemon=True).start()
    reports = ContinuityReports(links, settings.linker_grace_days, lambda: today_in_england(clock))
    app = create_app(
        lambda: not processor.stopping.is_set(),
        processor.engine,
        credential_store(settings),
        audit,
        operations=[review_routes(review, audit)],
        pages=[ops_routes(dashboard.summary)],
        today=lambda: today_in_england(clock),
        continuity=reports,
    )
    server = uvicorn.Server(server_config(app, settings.service_host, settings.journey_port, "ndtms-journey"))
    http = threading.Thread(target=server.run, name="journey-http", daemon=True)
    http.start()
    try:
        processor.run()
    finally:
        server.should_exit = True
        queue.stop()
        records.stop()
        gauges.stopping.set()
        stop_links.set()
        http.join(timeout=5)


if __name__ == "__main__":
    main()
