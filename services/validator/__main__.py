"""`python -m services.validator`: run the validator worker."""

from ndtms.streaming import run_worker, system_clock
from services.validator.settings import ValidatorSettings
from services.validator.stream import build

if __name__ == "__main__":
    run_worker(build(ValidatorSettings(), system_clock))
