"""A single-node Apache Kafka (KRaft, combined broker and controller) on 127.0.0.1."""

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

from ndtms.contract.settings import PlatformSettings
from ndtms.localrun.artifacts import fetch_kafka
from ndtms.localrun.processes import ManagedProcess

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


def _server_properties(data_dir: Path, port: int, secured: SecuredListener | None = None) -> str:
    controller = port + 1
    listeners = f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}"
    advertised = f"PLAINTEXT://127.0.0.1:{port}"
    protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if secured is not None:
        listeners += f",SASL_SSL://127.0.0.1:{secured.port}"
        advertised += f",SASL_SSL://127.0.0.1:{secured.port}"
        protocols += ",SASL_SSL:SASL_SSL"
    # Single combined node; replication 1 everywhere; few internal partitions and no initial
    # rebalance delay so that a consumer group's first join takes well under a second.
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners={listeners}
advertised.listeners={advertised}
controller.listener.names=CONTROLLER
listener.security.protocol.map={protocols}
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}
num.partitions=1
auto.create.topics.enable=false
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=5000
""" + (secured.properties() if secured is not None else "")


def _accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class LocalKafka:
    def __init__(self, settings: PlatformSettings, secured: SecuredListener | None = None):
        self.settings = settings
        self.secured = secured
        self.home = (settings.state_dir / "kafka").resolve()
        self.process = ManagedProcess(
            "kafka", settings.state_dir.resolve() / "run", settings.state_dir.resolve() / "logs"
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.settings.local_kafka_port}"

    def start(self, timeout: float = 90.0) -> str:
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
        self.wait_ready(timeout)
        return self.bootstrap

    def _prepare(self) -> Path:
        data = self.home / "data"
        properties = self.home / "server.properties"
        self.home.mkdir(parents=True, exist_ok=True)
        properties.write_text(_server_properties(data, self.settings.local_kafka_port, self.secured))
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
                    str(uuid.uuid4()),
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

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # Wait for the port first: librdkafka logs every refused connection while the JVM starts.
        while not _accepts_connections(self.settings.local_kafka_port):
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
