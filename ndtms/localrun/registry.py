"""Apicurio Registry (Confluent-compatible API) on 127.0.0.1, its store kept on disk."""

from __future__ import annotations

import shutil
import time

import httpx

from ndtms.localrun.artifacts import fetch_registry
from ndtms.localrun.processes import ManagedProcess
from ndtms_contract.settings import PlatformSettings


class RegistryUnavailable(RuntimeError):
    pass


class LocalRegistry:
    def __init__(self, settings: PlatformSettings):
        self.settings = settings
        self.home = (settings.state_dir / "registry").resolve()
        self.process = ManagedProcess(
            "registry", settings.state_dir.resolve() / "run", settings.state_dir.resolve() / "logs"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.local_registry_port}/apis/ccompat/v7"

    def start(self, timeout: float = 120.0) -> str:
        self.launch()
        self.wait_ready(timeout)
        return self.url

    def is_running(self) -> bool:
        return self.process.pid() is not None

    def launch(self) -> None:
        """Start the process unless it runs, without waiting: it needs no broker, so `ndtms up`
        starts it first and lets it come up while the broker does."""
        if self.process.pid() is None:
            jar = fetch_registry()
            self.home.mkdir(parents=True, exist_ok=True)
            java = shutil.which("java") or "java"
            # A file-backed H2 store: schema ids must outlive a registry restart, since the
            # records already on the topics carry them.
            self.process.start(
                [
                    java,
                    "-Xms128m",
                    "-Xmx512m",
                    f"-Dquarkus.http.port={self.settings.local_registry_port}",
                    "-Dquarkus.http.host=127.0.0.1",
                    f"-Dapicurio.datasource.url=jdbc:h2:file:{self.home / 'registry'};DB_CLOSE_ON_EXIT=FALSE",
                    "-Dquarkus.log.level=WARN",
                    "-jar",
                    str(jar),
                ],
                cwd=self.home,
            )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.pid() is None:
                raise RegistryUnavailable(
                    f"the registry process exited; its log ends:\n{self.process.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/subjects", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RegistryUnavailable(
            f"the registry did not answer within {timeout:.0f}s; see {self.process.log_file}"
        )

    def stop(self) -> bool:
        return self.process.stop(timeout=30)
