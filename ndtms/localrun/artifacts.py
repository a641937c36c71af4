"""Fetching the broker and registry from Maven Central into a cache keyed by version."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

KAFKA_VERSION = "4.4.0"
# 3.0.x is the last Apicurio line that runs on Java 17 (3.1 onwards needs Java 21).
APICURIO_VERSION = "3.0.9"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
KAFKA_POM = PROJECT_ROOT / "deploy" / "kafka" / "pom.xml"


class FetchFailed(RuntimeError):
    pass


def cache_root() -> Path:
    configured = os.environ.get("NDTMS_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "ndtms"


def kafka_libs() -> Path:
    return cache_root() / f"kafka-{KAFKA_VERSION}" / "libs"


def registry_home() -> Path:
    return cache_root() / f"apicurio-registry-{APICURIO_VERSION}"


def registry_jar() -> Path:
    return registry_home() / f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"


def _mvn(*args: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FetchFailed("Maven (mvn) is not on PATH; install it (apt-get install maven)")
    result = subprocess.run([mvn, "-q", "-B", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FetchFailed(f"mvn {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def fetch_kafka() -> Path:
    libs = kafka_libs()
    marker = libs / ".complete"
    if marker.exists():
        return libs
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    _mvn(
        "-f",
        str(KAFKA_POM),
        f"-Dkafka.version={KAFKA_VERSION}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
    )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.touch()
    return libs


def fetch_registry() -> Path:
    home = registry_home()
    if (home / ".complete").exists():
        return registry_jar()
    download = cache_root() / "downloads"
    _mvn(
        "dependency:copy",
        f"-Dartifact=io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all",
        f"-DoutputDirectory={download}",
    )
    archive = download / f"apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    (home / ".complete").touch()
    archive.unlink(missing_ok=True)
    return registry_jar()
