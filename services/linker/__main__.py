"""`python -m services.linker`: run the linker worker."""

from ndtms.streaming import run_worker, system_clock
from services.linker.settings import LinkerSettings
from services.linker.stream import build

if __name__ == "__main__":
    run_worker(build(LinkerSettings(), system_clock))
