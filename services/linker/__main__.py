"""`python -m services.linker`: run the linker worker."""

from ndtms.clocks import clock_from
from ndtms.streaming import run_worker
from services.linker.settings import LinkerSettings
from services.linker.stream import build

if __name__ == "__main__":
    settings = LinkerSettings()
    run_worker(build(settings, clock_from(settings.clock_file)))
