"""`python -m services.linker`: run the linker stage (and its live indicator gauges)."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY

from ndtms.clocks import Clock, clock_from
from ndtms.link_view import LinkView
from ndtms.logs import start_service_logging
from ndtms.stream.service import run_stage
from services.linker.indicator_metrics import IndicatorCollector
from services.linker.settings import LinkerSettings
from services.linker.stream import Linker


def serve_indicator(settings: LinkerSettings, clock: Clock, stop: threading.Event) -> None:
    """Keep a national view of ndtms.links in a thread and serve the indicator gauges from it."""
    view = LinkView(settings)
    view.open()
    REGISTRY.register(IndicatorCollector(view.snapshot, clock, settings.linker_grace_days))
    threading.Thread(target=view.follow, args=(stop,), name="link-view", daemon=True).start()


def main() -> None:
    settings = LinkerSettings()
    start_service_logging(settings.linker_app_id, settings.uses_development_key)
    clock = clock_from(settings.clock_file)

    def indicator(stop: threading.Event) -> None:
        if settings.linker_indicator:
            serve_indicator(settings, clock, stop)

    run_stage(settings, Linker(settings, clock), settings.linker_app_id, settings.linker_port, indicator)


if __name__ == "__main__":
    main()
