"""Kafka security settings: what is accepted, what refuses to start (with a one-line reason), and
the client configuration every producer, consumer and admin client is built from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from salesync_common.kafka import KafkaClientConfig, KafkaPublisher, kafka_client_config
from salesync_common.settings import KafkaSettings, ServiceSettings, configuration_error

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n(not parsed by the settings)\n")
    return str(path)


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as failure:
        KafkaSettings(**values)
    line = configuration_error(failure.value)
    assert "\n" not in line
    return line


def test_default_is_plaintext_and_no_broker_means_the_in_process_bus() -> None:
    settings = KafkaSettings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert kafka_client_config(settings) is None
    plain = kafka_client_config(KafkaSettings(kafka_bootstrap_servers=" a:9092 , b:9092 "))
    assert plain == KafkaClientConfig(bootstrap_servers=("a:9092", "b:9092"))
    assert plain.kwargs() == {
        "bootstrap_servers": ["a:9092", "b:9092"],
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_ssl_builds_the_full_client_configuration(ca_file: str) -> None:
    settings = ServiceSettings(
        kafka_bootstrap_servers="b-1.msk:9096,b-2.msk:9096",
        kafka_security_protocol="sasl_ssl",  # case-insensitive
        kafka_ssl_cafile=ca_file,
        kafka_sasl_username="dashboard",
        kafka_sasl_password=SecretStr("s3cret-password"),
    )
    config = kafka_client_config(settings)
    assert config is not None
    assert config.kwargs() == {
        "bootstrap_servers": ["b-1.msk:9096", "b-2.msk:9096"],
        "security_protocol": "SASL_SSL",
        "ssl_cafile": ca_file,
        "ssl_check_hostname": True,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "dashboard",
        "sasl_plain_password": "s3cret-password",
    }
    assert "s3cret-password" not in repr(config) and "s3cret-password" not in repr(settings)


def test_ssl_builds_a_verified_tls_configuration_without_credentials(ca_file: str) -> None:
    config = kafka_client_config(
        KafkaSettings(
            kafka_bootstrap_servers="b:9094",
            kafka_security_protocol="SSL",
            kafka_ssl_cafile=ca_file,
        )
    )
    assert config is not None
    assert config.kwargs() == {
        "bootstrap_servers": ["b:9094"],
        "security_protocol": "SSL",
        "ssl_cafile": ca_file,
        "ssl_check_hostname": True,
    }


def test_bad_configurations_refuse_with_one_line(ca_file: str) -> None:
    assert refusal(kafka_security_protocol="TLS") == (
        "KAFKA_SECURITY_PROTOCOL='TLS' is not one of PLAINTEXT, SSL, SASL_SSL"
    )
    assert refusal(kafka_security_protocol="SASL_PLAINTEXT").startswith(
        "KAFKA_SECURITY_PROTOCOL='SASL_PLAINTEXT' is not one of"
    )
    for protocol in ("SSL", "SASL_SSL"):
        assert refusal(kafka_security_protocol=protocol, kafka_ssl_cafile="  ") == (
            f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SSL_CAFILE "
            "(the CA bundle that signed the broker certificates)"
        )
    assert refusal(kafka_security_protocol="SSL", kafka_ssl_cafile="/nonexistent/ca.pem") == (
        "KAFKA_SSL_CAFILE=/nonexistent/ca.pem is not a file"
    )
    sasl = {"kafka_security_protocol": "SASL_SSL", "kafka_ssl_cafile": ca_file}
    needs_credentials = (
        "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
    )
    assert refusal(**sasl) == needs_credentials
    assert refusal(**sasl, kafka_sasl_username="dashboard") == needs_credentials
    assert refusal(**sasl, kafka_sasl_username="dashboard", kafka_sasl_password="") == (
        needs_credentials
    )
    assert refusal(
        **sasl, kafka_sasl_username="u", kafka_sasl_password="p", kafka_sasl_mechanism="PLAIN"
    ) == ("KAFKA_SASL_MECHANISM='PLAIN' is not one of SCRAM-SHA-256, SCRAM-SHA-512")
    line = refusal(kafka_sasl_username="u", kafka_sasl_password="never-shown")
    assert line == (
        "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT "
        "would not send them (use SASL_SSL)"
    )


def test_clients_refuse_a_bare_bootstrap_address() -> None:
    with pytest.raises(TypeError, match="kafka_client_config"):
        KafkaPublisher("127.0.0.1:9092", "test")  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [[], ["migrate"]])
def test_a_service_with_bad_kafka_settings_exits_with_one_line(
    command: list[str], ca_file: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_URL"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "SALESYNC_ENV": "development",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SSL_CAFILE": ca_file,
        "KAFKA_SASL_USERNAME": "dashboard",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "salesync_common.serve", "dashboard_service", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "dashboard_service refuses to start: KAFKA_SECURITY_PROTOCOL=SASL_SSL needs "
        "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD\n"
    )
    assert proc.stdout == ""
