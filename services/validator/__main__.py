"""`python -m services.validator`: run the validator worker."""

from ndtms.clocks import clock_from
from ndtms.streaming import run_worker
from services.validator.settings import ValidatorSettings
from services.validator.stream import build

if __name__ == "__main__":
    settings = ValidatorSettings()
    run_worker(build(settings, clock_from(settings.clock_file)))
