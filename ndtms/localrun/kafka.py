"""Apache Kafka on 127.0.0.1: one node, or a cluster of N (KRaft, each node broker and controller).

One node (the default, `ndtms up`) listens on NDTMS_LOCAL_KAFKA_PORT (controller one above) and
keeps its log under state/kafka. A cluster (`ndtms up --brokers 3`, the rehearsal of
production) gives node n the ports NDTMS_LOCAL_KAFKA_PORT + 2(n - 1) and the next, its own
folder state/kafka-n, and every node the same cluster id; internal topics are replicated on
three nodes or more as they would be in production.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ndtms.localrun.artifacts import fetch_kafka
from ndtms.localrun.processes import ManagedProcess
from ndtms_contract.settings import PlatformSettings

LOG4J2 = """\
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


class BrokerUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class SecuredListener:
    """A SASL_SSL listener beside the plain one, for testing clients of a managed cluster.

    `keystore` is a PEM file with the broker's private key (unencrypted PKCS#8) and certificate
    chain; `users` get both a PLAIN and a SCRAM-SHA-512 login with the same password.
    """

    port: int
    keystore: Path
    users: tuple[tuple[str, str], ...]

    def properties(self) -> str:
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in self.users)
        modules = "org.apache.kafka.common.security"
        return (
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512\n"
            f"listener.name.sasl_ssl.plain.sasl.jaas.config={modules}.plain.PlainLoginModule required "
            f"{plain_users};\n"
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            f"{modules}.scram.ScramLoginModule required;\n"
            "ssl.keystore.type=PEM\n"
            f"ssl.keystore.location={self.keystore}\n"
        )

    def format_arguments(self) -> list[str]:
        arguments = []
        for name, password in self.users:
            arguments += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return arguments


def node_port(base: int, node: int) -> int:
    """The broker port of node `node` (1-based); its controller listens one above."""
    return base + 2 * (node - 1)


def _server_properties(
    data_dir: Path, port: int, secured: SecuredListener | None = None, node: int = 1, voters: str = ""
) -> str:
    controller = port + 1
    voters = voters or f"1@127.0.0.1:{controller}"
    nodes = voters.count("@")
    # As production would: three copies of the offsets and transaction logs, two in sync.
    copies, in_sync = (3, 2) if nodes >= 3 else (1, 1)
    listeners = f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}"
    advertised = f"PLAINTEXT://127.0.0.1:{port}"
    protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if secured is not None:
        listeners += f",SASL_SSL://127.0.0.1:{secured.port}"
        advertised += f",SASL_SSL://127.0.0.1:{secured.port}"
        protocols += ",SASL_SSL:SASL_SSL"
    # Combined nodes; few internal partitions and no initial rebalance delay so that a consumer
    # group's first join takes well under a second.
    return f"""\
process.roles=broker,controller
node.id={node}
controller.quorum.voters={voters}
listeners={listeners}
advertised.listeners={advertised}
controller.listener.names=CONTROLLER
listener.security.protocol.map={protocols}
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}
num.partitions=1
auto.create.topics.enable=false
default.replication.factor={copies}
min.insync.replicas={in_sync}
offsets.topic.replication.factor={copies}
offsets.topic.num.partitions=4
transaction.state.log.replication.factor={copies}
transaction.state.log.min.isr={in_sync}
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor={copies}
share.coordinator.state.topic.min.isr={in_sync}
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=5000
""" + (secured.properties() if secured is not None else "")


def _accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class LocalKafka:
    """One node of the local cluster (node 1 of 1 unless the settings say more)."""

    def __init__(self, settings: PlatformSettings, secured: SecuredListener | None = None, node: int = 1):
        self.settings = settings
        self.secured = secured
        self.node = node
        self.nodes = settings.local_broker_count
        name = "kafka" if self.nodes == 1 else f"kafka-{node}"
        self.home = (settings.state_dir / name).resolve()
        self.port = node_port(settings.local_kafka_port, node)
        self.process = ManagedProcess(
            name, settings.state_dir.resolve() / "run", settings.state_dir.resolve() / "logs"
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> str:
        self.launch()
        self.wait_ready(timeout)
        return self.bootstrap

    def launch(self) -> None:
        """Start the node's process unless it runs, without waiting (a cluster's nodes must all
        be launched before any can elect a controller)."""
        if self.process.pid() is None:
            libs = fetch_kafka()
            properties = self._prepare()
            java = shutil.which("java") or "java"
            self.process.start(
                [
                    java,
                    "-Xms256m",
                    "-Xmx1g",
                    "-XX:+UseG1GC",
                    f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                    "-cp",
                    f"{libs}/*",
                    "kafka.Kafka",
                    str(properties),
                ]
            )

    def _prepare(self) -> Path:
        data = self.home / "data"
        properties = self.home / "server.properties"
        self.home.mkdir(parents=True, exist_ok=True)
        base = self.settings.local_kafka_port
        voters = ",".join(f"{n}@127.0.0.1:{node_port(base, n) + 1}" for n in range(1, self.nodes + 1))
        properties.write_text(_server_properties(data, self.port, self.secured, self.node, voters))
        (self.home / "log4j2.properties").write_text(LOG4J2)
        if not (data / "meta.properties").exists():
            libs = fetch_kafka()
            result = subprocess.run(
                [
                    shutil.which("java") or "java",
                    "-cp",
                    f"{libs}/*",
                    "kafka.tools.StorageTool",
                    "format",
                    "--ignore-formatted",
                    "-t",
                    self._cluster_id(),
                    "-c",
                    str(properties),
                    *(self.secured.format_arguments() if self.secured else []),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise BrokerUnavailable(f"formatting Kafka storage failed: {result.stderr[-2000:]}")
        return properties

    def _cluster_id(self) -> str:
        """Every node of one cluster is formatted with the same id (kept in the state folder)."""
        if self.nodes == 1:
            return str(uuid.uuid4())
        kept = self.settings.state_dir.resolve() / "kafka-cluster.id"
        if not kept.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(str(uuid.uuid4()))
        return kept.read_text().strip()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # Wait for the port first: librdkafka logs every refused connection while the JVM starts.
        while not _accepts_connections(self.port):
            if self.process.pid() is None:
                raise BrokerUnavailable(f"the Kafka process exited; its log ends:\n{self.process.log_tail()}")
            if time.monotonic() > deadline:
                raise BrokerUnavailable(
                    f"Kafka did not open its port within {timeout:.0f}s; see {self.process.log_file}"
                )
            time.sleep(0.2)
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        while time.monotonic() < deadline:
            if self.process.pid() is None:
                raise BrokerUnavailable(f"the Kafka process exited; its log ends:\n{self.process.log_tail()}")
            try:
                metadata = admin.list_topics(timeout=2)
                if metadata.brokers:
                    return
            except KafkaException:
                pass  # not answering yet
            time.sleep(0.5)
        raise BrokerUnavailable(f"Kafka did not answer within {timeout:.0f}s; see {self.process.log_file}")

    def stop(self) -> bool:
        return self.process.stop(timeout=60)


class LocalCluster:
    """Every node of the local cluster, started together and ready together."""

    def __init__(self, settings: PlatformSettings):
        self.settings = settings
        self.nodes = [LocalKafka(settings, node=n) for n in range(1, settings.local_broker_count + 1)]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def is_running(self) -> bool:
        """Every node's process is alive."""
        return all(node.process.pid() is not None for node in self.nodes)

    def start(self, timeout: float = 120.0) -> str:
        """Start whatever node is not running and return once every node is a registered broker."""
        for node in self.nodes:
            node.launch()
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.wait_ready(max(deadline - time.monotonic(), 1))
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        while True:
            try:
                if len(admin.list_topics(timeout=5).brokers) == len(self.nodes):
                    return self.bootstrap
            except KafkaException:
                pass  # a controller election: ask again
            if time.monotonic() > deadline:
                raise BrokerUnavailable(
                    f"the {len(self.nodes)} Kafka nodes did not all register within {timeout:.0f}s"
                )
            time.sleep(0.5)

    def stop(self) -> bool:
        stopped = [node.stop() for node in self.nodes]
        return any(stopped)
