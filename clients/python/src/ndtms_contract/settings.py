"""Platform settings shared by every service; each service extends them with its own."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ndtms_contract.topics import DEFAULT_RAW_RETENTION_DAYS

# Only for a laptop: every real deployment sets NDTMS_PSEUDONYM_KEY (see README).
DEVELOPMENT_PSEUDONYM_KEY = "ndtms-development-key-not-for-real-data"
DEVELOPMENT_KEY_WARNING = (
    "NDTMS_PSEUDONYM_KEY is not set: client keys are made with the PUBLIC development key. "
    "Never run real data like this."
)
ClientConfig = dict[str, Any]
KAFKA_LOG = logging.getLogger("librdkafka")
LOCAL_KAFKA_PORT = 19092
# What `ndtms up --brokers N` chose, in the state folder, for every later command.
LOCAL_CLUSTER_FILE = "local-cluster.json"
LOCAL_REGISTRY_PORT = 18081
LOCAL_POSTGRES_PORT = 18432


def local_database_url(port: int, database: str) -> str:
    """A database of the rehearsal's PostgreSQL server (ndtms.localrun.postgres.LocalPostgres)."""
    return f"postgresql+psycopg://ndtms@127.0.0.1:{port}/{database}"


class PlatformSettings(BaseSettings):
    """Where the broker and registry are, where local state lives, and the pseudonym key.

    Leaving `KAFKA_BOOTSTRAP_SERVERS` or `NDTMS_SCHEMA_REGISTRY_URL` unset means "use the
    local broker / registry that `ndtms kafka start` / `ndtms registry start` run".
    """

    model_config = SettingsConfigDict(env_prefix="NDTMS_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "NDTMS_KAFKA_BOOTSTRAP_SERVERS"),
    )
    schema_registry_url: str | None = None
    # A managed cluster: TLS and SASL for every client.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # The CA that signed the brokers' certificates (PEM); the system's trust store when unset.
    kafka_ssl_ca_location: Path | None = None
    state_dir: Path = Path("state")
    pseudonym_key: SecretStr = SecretStr(DEVELOPMENT_PSEUDONYM_KEY)
    local_kafka_port: int = LOCAL_KAFKA_PORT
    # Nodes of the local Kafka cluster (`ndtms up --brokers N` records it in the state folder,
    # so later commands find every node); unset: what was recorded, else 1.
    local_kafka_brokers: int | None = Field(default=None, ge=1, le=5)
    # Instances of each service `ndtms up` runs (`--instances N`, recorded likewise).
    local_service_instances: int | None = Field(default=None, ge=1, le=4)
    local_registry_port: int = LOCAL_REGISTRY_PORT
    # The rehearsal's PostgreSQL (`ndtms up --instances N`, N > 1): the stores instances share.
    local_postgres_port: int = LOCAL_POSTGRES_PORT
    # Where each service listens for health, metrics and its API (all on loopback by default).
    service_host: str = "127.0.0.1"
    ingest_port: int = 18700
    validator_port: int = 18701
    journey_port: int = 18702
    linker_port: int = 18703
    # `ndtms status` calls a provider silent when nothing was accepted from it for this long.
    silent_provider_hours: float = 48.0
    # How long ndtms.episodes.raw (and ndtms.dlq, ndtms.matching.episodes) keep records: the only
    # topics with attributors.
    raw_retention_days: int = Field(default=DEFAULT_RAW_RETENTION_DAYS, ge=1, le=3650)
    # Copies of every topic, and how many must have a write before it is acknowledged (unset: 3
    # and 2 on a cluster of 3 brokers or more, 1 and 1 on fewer; see ndtms_contract.topic_layout).
    topic_replication_factor: int | None = Field(default=None, ge=1, le=9)
    topic_min_insync_replicas: int | None = Field(default=None, ge=1, le=9)
    # Partitions of every topic partitioned by person when it is created (unset: the catalogue's
    # six); the ceiling of instances per stage. Existing topics keep theirs (see ndtms init).
    topic_partitions: int | None = Field(default=None, ge=1, le=1000)
    # Days after the 21-day window before an unmatched release is called not_engaged, so that
    # late submissions (monthly extracts) can still count. The linker decides by it, and the
    # indicator and its report count by it, so every service reads the one setting.
    linker_grace_days: int = Field(default=0, ge=0, le=90)
    # API keys of vendors and operators (see ndtms.access); default: credentials.json in state_dir,
    # or a table of this database (SQLAlchemy URL) when instances run on several machines.
    credentials_file: Path | None = None
    credentials_url: str | None = None
    # Stream stages: how often a stage commits its transaction (outputs become visible downstream
    # then), how many records it takes per poll, and its instance name within the group (the
    # transactional id; stable across restarts so a restart aborts what a crash left open).
    stream_commit_seconds: float = Field(default=0.1, gt=0, le=60)
    stream_batch_size: int = Field(default=1000, ge=1, le=100_000)
    stream_instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    # Tests and rehearsals only: read "now" from this file instead of the system clock (see ndtms.clocks).
    clock_file: Path | None = None

    @model_validator(mode="after")
    def _sasl_needs_a_user(self) -> PlatformSettings:
        if self.uses_sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"NDTMS_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "NDTMS_KAFKA_SASL_USERNAME and NDTMS_KAFKA_SASL_PASSWORD"
            )
        return self

    @property
    def uses_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL")

    @property
    def uses_tls(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    @property
    def credential_store_path(self) -> Path:
        return self.credentials_file or self.state_dir / "credentials.json"

    @property
    def uses_local_kafka(self) -> bool:
        return not self.kafka_bootstrap_servers

    @property
    def uses_local_registry(self) -> bool:
        return not self.schema_registry_url

    @property
    def bootstrap_servers(self) -> str:
        if self.kafka_bootstrap_servers:
            return self.kafka_bootstrap_servers
        # Node n of the local cluster listens on the base port + 2(n - 1) (ndtms.localrun.kafka).
        ports = (self.local_kafka_port + 2 * n for n in range(self.local_broker_count))
        return ",".join(f"127.0.0.1:{port}" for port in ports)

    @property
    def local_broker_count(self) -> int:
        if self.local_kafka_brokers is not None:
            return self.local_kafka_brokers
        return self._recorded("brokers")

    @property
    def local_instance_count(self) -> int:
        if self.local_service_instances is not None:
            return self.local_service_instances
        return self._recorded("instances")

    def shared_local_database(self, database: str) -> str | None:
        """With several instances of each service on this machine, the shared database a store
        lives in (the rehearsal's PostgreSQL); None with one instance (its SQLite file)."""
        if self.local_instance_count > 1:
            return local_database_url(self.local_postgres_port, database)
        return None

    def _recorded(self, what: str) -> int:
        try:
            return int(json.loads((self.state_dir / LOCAL_CLUSTER_FILE).read_text())[what])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return 1

    @property
    def registry_url(self) -> str:
        return self.schema_registry_url or (f"http://127.0.0.1:{self.local_registry_port}/apis/ccompat/v7")

    @property
    def uses_development_key(self) -> bool:
        return self.pseudonym_key.get_secret_value() == DEVELOPMENT_PSEUDONYM_KEY

    def pseudonym_secret(self) -> bytes:
        return self.pseudonym_key.get_secret_value().encode("utf-8")

    def kafka_client_config(self) -> ClientConfig:
        """The librdkafka settings every confluent-kafka client of the platform starts from."""
        config: ClientConfig = {
            "bootstrap.servers": self.bootstrap_servers,
            # librdkafka's own lines go through `logging` (the services' JSON lines, the CLI's
            # quiet stderr), never straight onto a person's terminal.
            "logger": KAFKA_LOG,
        }
        if self.kafka_security_protocol != "PLAINTEXT":
            config["security.protocol"] = self.kafka_security_protocol
        if self.uses_sasl and self.kafka_sasl_username and self.kafka_sasl_password:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
            config["sasl.username"] = self.kafka_sasl_username
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.uses_tls and self.kafka_ssl_ca_location is not None:
            config["ssl.ca.location"] = str(self.kafka_ssl_ca_location)
        return config

    def producer_config(self) -> ClientConfig:
        # murmur2 is the Java client's partitioner: a key lands on the same
        # partition whichever service writes it.
        return {
            **self.kafka_client_config(),
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "compression.type": "zstd",
        }
