"""PostgreSQL from the Debian packages: a throwaway server for tests and benchmarks, and the
rehearsal's shared database server (`LocalPostgres`, kept under the state folder).

`initdb` and `postgres` refuse to run as root; when this process is root, the server runs as
the `postgres` user the Debian package creates (through `runuser`), in a folder it owns.
It listens on loopback only with trust authentication: never for real data.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, make_url, text

from ndtms_contract.settings import local_database_url

DATABASE = "ndtms"
USER = "ndtms"


class PostgresUnavailable(RuntimeError):
    pass


def server_binaries() -> Path:
    """The folder with initdb and pg_ctl: `pg_config --bindir`, else the newest Debian version."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        answer = subprocess.run([pg_config, "--bindir"], check=False, capture_output=True, text=True)
        bindir = Path(answer.stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb): install them with `apt-get install postgresql`"
    )


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@contextmanager
def postgres_running(port: int) -> Iterator[str]:
    """Start a fresh server on 127.0.0.1:`port`; yield its SQLAlchemy URL; stop it and remove it."""
    bindir = server_binaries()
    root = Path(tempfile.mkdtemp(prefix="ndtms-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        server_user = pwd.getpwnam("postgres")
        for path in (root, data):
            os.chown(path, server_user.pw_uid, server_user.pw_gid)
    log = root / "server.log"
    pg_ctl = str(bindir / "pg_ctl")
    try:
        _start(bindir, data, log, port)
        try:
            _ensure_database(port, DATABASE)
            yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{DATABASE}"
        finally:
            stop = [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]
            subprocess.run(_as_server_user(stop), check=False, capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(bindir: Path, data: Path, log: Path, port: int, initdb: bool = True) -> None:
    make = [str(bindir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8"]
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data}"
    start = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]
    for argv in [make, start] if initdb else [start]:
        try:
            subprocess.run(_as_server_user(argv), check=True, capture_output=True, timeout=120)
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace")[-2000:]
            raise PostgresUnavailable(f"{Path(argv[0]).name} failed: {detail}") from exc


def fresh_database(server_url: str, name: str) -> str:
    """A new empty database beside the one `server_url` names; its URL."""
    if not name.isidentifier():
        raise ValueError(f"not a plain database name: {name!r}")
    url = make_url(server_url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


# The rehearsal's databases: one per store that several instances share.
SHARED_DATABASES = ("journey", "ingest", "access")


class LocalPostgres:
    """The shared stores of `ndtms up --instances N` (N > 1): the journey store and the ingest
    ledger, each a database of one server under state/postgres, kept between runs."""

    def __init__(self, state_dir: Path, port: int):
        self.folder = _reachable_by_server(state_dir.resolve()) / "postgres"
        self.data = self.folder / "data"
        self.port = port

    def url(self, database: str) -> str:
        return local_database_url(self.port, database)

    def is_running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        status = [str(server_binaries() / "pg_ctl"), "-D", str(self.data), "status"]
        return subprocess.run(_as_server_user(status), check=False, capture_output=True).returncode == 0

    def start(self) -> str:
        """Start the server unless it runs (made on first use); its address."""
        if not self.is_running():
            bindir = server_binaries()
            fresh = not (self.data / "PG_VERSION").exists()
            if fresh:
                shutil.rmtree(self.data, ignore_errors=True)
                self.data.mkdir(parents=True)  # with the folder outside the state folder if it is
                if os.geteuid() == 0:
                    server_user = pwd.getpwnam("postgres")
                    for path in (self.folder, self.data):
                        os.chown(path, server_user.pw_uid, server_user.pw_gid)
            _start(bindir, self.data, self.folder / "server.log", self.port, initdb=fresh)
        for database in SHARED_DATABASES:
            _ensure_database(self.port, database)
        return f"127.0.0.1:{self.port}"

    def discard(self) -> None:
        """Stop the server and delete its databases (a rehearsal's, in a test)."""
        self.stop()
        outside = self.folder.parent.name.startswith("ndtms-postgres-")
        shutil.rmtree(self.folder.parent if outside else self.folder, ignore_errors=True)

    def stop(self) -> bool:
        if not self.is_running():
            return False
        stop = [str(server_binaries() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
        subprocess.run(_as_server_user(stop), check=False, capture_output=True, timeout=120)
        return True


def _ensure_database(port: int, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user=USER, dbname="postgres", autocommit=True
            ) as connection:
                if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                    return
                connection.execute(f"CREATE DATABASE {name}")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _reachable_by_server(state_dir: Path) -> Path:
    """The state folder, or when the server's own user (root runs it as `postgres`) cannot
    reach it (a test's private temporary folder), a folder of the machine's temporary folder
    named after it."""
    if os.geteuid() != 0:
        return state_dir
    probe = _as_server_user(["test", "-x", str(state_dir.parent if not state_dir.exists() else state_dir)])
    if subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return state_dir
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ndtms-postgres-{digest}"
