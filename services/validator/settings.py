"""The validator's configuration, read from the environment (prefix NDTMS_)."""

from __future__ import annotations

from ndtms_contract.settings import PlatformSettings


class ValidatorSettings(PlatformSettings):
    validator_app_id: str = "ndtms-validator"
