"""`python -m services.validator`: run the validator stage."""

from ndtms.clocks import clock_from
from ndtms.logs import start_service_logging
from ndtms.stream.service import run_stage
from services.validator.settings import ValidatorSettings
from services.validator.stream import Validator

if __name__ == "__main__":
    settings = ValidatorSettings()
    start_service_logging(settings.validator_app_id, settings.uses_development_key)
    run_stage(
        settings,
        Validator(settings, clock_from(settings.clock_file)),
        settings.validator_app_id,
        settings.validator_port,
    )
