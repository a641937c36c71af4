"""Starting and stopping the four services as background processes of this machine."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
from pydantic import SecretStr

from ndtms.localrun.processes import ManagedProcess
from ndtms_contract.settings import PlatformSettings, local_database_url
from ndtms_contract.topics import CONFIRMED, DECISIONS, MATCHING, RAW, VALID

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


# Instance i of a service listens on its port + 100 i.
INSTANCE_PORT_STEP = 100


@dataclass(frozen=True)
class Instance:
    """One process of a service. With one instance: the service's own name, port and state
    folder, as always; with more, `name-i`, port + 100 i, its own state folder under
    state/instances/ and the instance id `name-i` (the stages' transactional id)."""

    spec: ServiceSpec
    index: int
    count: int

    @property
    def name(self) -> str:
        return self.spec.name if self.count == 1 else f"{self.spec.name}-{self.index}"

    def port(self, settings: PlatformSettings) -> int:
        return self.spec.port(settings) + INSTANCE_PORT_STEP * self.index

    def url(self, settings: PlatformSettings) -> str:
        return f"http://{settings.service_host}:{self.port(settings)}"

    def process(self, settings: PlatformSettings) -> ManagedProcess:
        state = settings.state_dir.resolve()
        return ManagedProcess(self.name, state / "run", state / "logs")

    def environment(self, settings: PlatformSettings) -> dict[str, str]:
        env = service_environment(settings)
        if self.count == 1:
            return env
        shared = settings.state_dir.resolve()
        # A store configured in this environment stays; otherwise the rehearsal's PostgreSQL.
        stores = {
            variable: env.get(variable) or local_database_url(settings.local_postgres_port, database)
            for variable, database in (
                ("NDTMS_DATABASE_URL", "journey"),
                ("NDTMS_INGEST_LEDGER_URL", "ingest"),
                ("NDTMS_CREDENTIALS_URL", "access"),
            )
        }
        return {
            **env,
            f"NDTMS_{self.spec.name.upper()}_PORT": str(self.port(settings)),
            "NDTMS_STREAM_INSTANCE_ID": self.name,
            "NDTMS_STATE_DIR": str(shared / "instances" / self.name),
            # Its own state folder holds no record of the rehearsal's shape: say it.
            "NDTMS_LOCAL_SERVICE_INSTANCES": str(self.count),
            # What every instance shares: the keys they accept, and the stores (the journey
            # store and the extract ledger in the rehearsal's PostgreSQL).
            "NDTMS_CREDENTIALS_FILE": str(settings.credential_store_path.resolve()),
            **stores,
            # /ops on any journey instance samples every instance of every service.
            "NDTMS_OPS_TARGETS": json.dumps(
                {
                    spec.name: [i.url(settings) for i in instances(settings) if i.spec is spec]
                    for spec in SERVICES
                }
            ),
        }


def instances(settings: PlatformSettings) -> list[Instance]:
    """Every process the local platform runs, service by service."""
    wanted = settings.local_instance_count
    found = []
    for spec in SERVICES:
        found += [Instance(spec, index, wanted) for index in range(wanted)]
    return found


def health_of(url: str, spec: ServiceSpec) -> str | None:
    """An instance's own word on its health ('ready', 'starting'), or None when it does not answer."""
    try:
        response = httpx.get(f"{url}{spec.health_path}", timeout=2)
    except httpx.HTTPError:
        return None
    try:
        status = response.json().get("status")
    except ValueError:
        return None
    return str(status) if response.status_code == 200 else f"unhealthy: {status}"


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
    return health_of(f"http://{settings.service_host}:{spec.port(settings)}", spec)


def start_all(settings: PlatformSettings, timeout: float = 180.0) -> None:
    """Start every instance that is not running, and return once all of them are ready."""
    every = instances(settings)
    for instance in every:
        instance.process(settings).start(
            [sys.executable, "-m", instance.spec.module], env=instance.environment(settings), cwd=PROJECT_ROOT
        )
    wait_until_ready(
        {i.name: partial(health_of, i.url(settings), i.spec) for i in every},
        {i.name: i.process(settings) for i in every},
        timeout,
    )


def wait_until_ready(
    health: Mapping[str, Callable[[], str | None]],
    processes: Mapping[str, ManagedProcess],
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once one pass finds every instance ready at the same time. Each ready once is not
    enough: a second instance joining its group moves partitions away from the first, which is
    then restoring again (a rehearsal's `ndtms status` right after `ndtms up` saw it)."""
    deadline = clock() + timeout
    while True:
        waiting = [name for name, asked in health.items() if asked() != "ready"]
        if not waiting:
            return
        for name in waiting:
            process = processes[name]
            if process.pid() is None:
                raise ServiceFailed(f"{name} exited while starting; its log ends:\n{process.log_tail()}")
            if clock() > deadline:
                raise ServiceFailed(f"{name} not ready after {timeout:.0f}s; see {process.log_file}")
        sleep(0.5)


def stop_all(settings: PlatformSettings) -> list[str]:
    """Stop every instance (and any left from a rehearsal of another size), by PID."""
    state = settings.state_dir.resolve()
    names = [i.name for i in reversed(instances(settings))]
    recorded = sorted(p.stem for p in (state / "run").glob("*.json")) if (state / "run").exists() else []
    names += [
        name
        for name in recorded
        if name not in names and any(name.startswith(f"{spec.name}-") for spec in SERVICES)
    ]
    return [name for name in names if ManagedProcess(name, state / "run", state / "logs").stop(timeout=30)]
