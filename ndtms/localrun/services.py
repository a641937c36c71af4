"""Starting and stopping the four services as background processes of this machine."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import CONFIRMED, DECISIONS, MATCHING, RAW, VALID
from ndtms.localrun.processes import ManagedProcess

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    health_path: str
    group_id: str | None
    input_topics: tuple[str, ...]

    def port(self, settings: PlatformSettings) -> int:
        port: int = getattr(settings, f"{self.name}_port")
        return port

    def health_url(self, settings: PlatformSettings) -> str:
        return f"http://{settings.service_host}:{self.port(settings)}{self.health_path}"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("ingest", "services.ingest", "/v1/health", None, ()),
    ServiceSpec("validator", "services.validator", "/health", "ndtms-validator", (RAW.name,)),
    ServiceSpec("journey", "services.journey", "/v1/health", "ndtms-journey", (VALID.name,)),
    ServiceSpec(
        "linker",
        "services.linker",
        "/health",
        "ndtms-linker",
        (VALID.name, MATCHING.name, DECISIONS.name, CONFIRMED.name),
    ),
)


class ServiceFailed(RuntimeError):
    pass


def process_of(spec: ServiceSpec, settings: PlatformSettings) -> ManagedProcess:
    state = settings.state_dir.resolve()
    return ManagedProcess(spec.name, state / "run", state / "logs")


def service_environment(settings: PlatformSettings) -> dict[str, str]:
    """The environment a service process is started with: this one's, plus every setting made explicit."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            env[f"NDTMS_{name.upper()}"] = str(plain)
    env["NDTMS_STATE_DIR"] = str(settings.state_dir.resolve())
    env["KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    env["NDTMS_SCHEMA_REGISTRY_URL"] = settings.registry_url
    env["PYTHONUNBUFFERED"] = "1"
    return env


def health(spec: ServiceSpec, settings: PlatformSettings) -> str | None:
    """The service's own word on its health ('ready', 'starting'), or None when it does not answer."""
    try:
        response = httpx.get(spec.health_url(settings), timeout=2)
    except httpx.HTTPError:
        return None
    try:
        status = response.json().get("status")
    except ValueError:
        return None
    return str(status) if response.status_code == 200 else f"unhealthy: {status}"


def start_all(settings: PlatformSettings, timeout: float = 180.0) -> None:
    env = service_environment(settings)
    for spec in SERVICES:
        process_of(spec, settings).start([sys.executable, "-m", spec.module], env=env, cwd=PROJECT_ROOT)
    deadline = time.monotonic() + timeout
    for spec in SERVICES:
        process = process_of(spec, settings)
        while health(spec, settings) != "ready":
            if process.pid() is None:
                raise ServiceFailed(f"{spec.name} exited while starting; its log ends:\n{process.log_tail()}")
            if time.monotonic() > deadline:
                raise ServiceFailed(f"{spec.name} not ready after {timeout:.0f}s; see {process.log_file}")
            time.sleep(0.5)


def stop_all(settings: PlatformSettings) -> list[str]:
    return [spec.name for spec in reversed(SERVICES) if process_of(spec, settings).stop(timeout=30)]
