"""Clients of a managed cluster: the local broker with a SASL_SSL listener and a CA made here.

The services connect through it (librdkafka for topics, producing, consuming, and the validator
stage's transactions and state restore), with SCRAM-SHA-512 and PLAIN, and fail clearly with a
wrong password.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ndtms.localrun.kafka import LocalKafka, SecuredListener
from ndtms.localrun.processes import ManagedProcess
from ndtms.localrun.services import PROJECT_ROOT, service_environment
from ndtms.localrun.topics import ensure_topics
from ndtms_client import EpisodePublisher, EpisodeUpdate
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import VALID
from tests.builders import community

pytestmark = pytest.mark.broker

# Below 32768: fixed ports in the ephemeral range can be taken by any outgoing connection.
PLAIN_PORT, SECURE_PORT = 31292, 31294
USER, PASSWORD = "ndtms-service", "a-test-only-password"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificates(folder: Path) -> tuple[Path, Path]:
    """A throwaway CA and a broker certificate for 127.0.0.1; (CA PEM, broker key + chain PEM)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("ndtms test CA"))
        .issuer_name(_name("ndtms test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    broker = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, keystore = folder / "ca.pem", folder / "broker.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    keystore.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + broker.public_bytes(serialization.Encoding.PEM)
        + ca.public_bytes(serialization.Encoding.PEM)
    )
    return ca_file, keystore


@pytest.fixture(scope="module")
def secured_cluster(
    platform: PlatformSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PlatformSettings, Path]]:
    folder = tmp_path_factory.mktemp("sasl-ssl")
    ca_file, keystore = make_certificates(folder)
    broker_settings = PlatformSettings(state_dir=folder / "broker", local_kafka_port=PLAIN_PORT)
    kafka = LocalKafka(broker_settings, SecuredListener(SECURE_PORT, keystore, ((USER, PASSWORD),)))
    kafka.start()
    try:
        client = PlatformSettings(
            state_dir=folder / "services",
            kafka_bootstrap_servers=f"127.0.0.1:{SECURE_PORT}",
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=USER,
            kafka_sasl_password=PASSWORD,
            kafka_ssl_ca_location=ca_file,
            schema_registry_url=platform.registry_url,
            pseudonym_key="test-pseudonym-key",
            validator_port=31791,
        )
        yield client, folder
    finally:
        kafka.stop()


def test_the_validator_and_the_clients_work_through_sasl_ssl(
    secured_cluster: tuple[PlatformSettings, Path],
) -> None:
    settings, folder = secured_cluster
    ensure_topics(settings.kafka_client_config())  # librdkafka admin, SCRAM over TLS
    validator = ManagedProcess("validator-sasl", folder / "run", folder / "logs")
    pid = validator.start(
        [sys.executable, "-m", "services.validator"], env=service_environment(settings), cwd=PROJECT_ROOT
    )
    try:
        update = EpisodeUpdate.model_validate(community(episode_id=f"SASL{time.time_ns()}"))
        with EpisodePublisher.to_kafka(settings) as publisher:
            publisher.publish(update)
        consumer = Consumer(
            {**settings.kafka_client_config(), "group.id": "sasl-test", "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([VALID.name])
        deadline = time.monotonic() + 120
        found = False
        while not found and time.monotonic() < deadline:
            assert validator.pid() == pid, f"the validator exited:\n{validator.log_tail()}"
            message = consumer.poll(1)
            value = message.value() if message is not None and message.error() is None else None
            found = value is not None and update.episode_id.encode() in value
        consumer.close()
        assert found, f"nothing validated through SASL_SSL; validator log:\n{validator.log_tail()}"
    finally:
        validator.stop()


def test_plain_mechanism_works_too(secured_cluster: tuple[PlatformSettings, Path]) -> None:
    settings, _ = secured_cluster
    plain = settings.model_copy(update={"kafka_sasl_mechanism": "PLAIN"})
    assert ensure_topics(plain.kafka_client_config()) == []


def test_a_wrong_password_fails_clearly(secured_cluster: tuple[PlatformSettings, Path]) -> None:
    settings, _ = secured_cluster
    env = service_environment(settings) | {"NDTMS_KAFKA_SASL_PASSWORD": "not-the-password"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ndtms"), "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "Authentication failed" in result.stderr or "authentication" in result.stderr.lower(), (
        result.stderr
    )
    assert "not-the-password" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
