"""The seven images built for real from ``Dockerfile-<svc>`` (``devstack/images.py``: docker where a
daemon answers, podman here) and the whole system run from them: PostgreSQL, Kafka and the moto
SNS server on the host, each service a container with the production settings (read-only root,
tmpfs /tmp, uid 10001, secrets from the environment) on the stack's host port, its migrations
applied by ``app.sh migrate`` from its image, its HEALTHCHECK passing, and the frontend's whole
journey walked through nginx, the ingress in front of the containers. Also what the manifests
promise: non-root, lean, and no secret or CA in any layer.

A Dockerfile that does not build (a broken ``COPY``) fails every test here; an image whose entry
point or settings cannot start fails the stack's start-up (the module's fixtures)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql

from devstack import images, postgres
from devstack.images import IMAGES, ContainerLauncher, Engine, ImageScan
from devstack.stack import REPO, SERVICES, Stack

from .conftest import Frontend
from .test_journey import sms_from_backend, walk_journey

pytestmark = [pytest.mark.e2e, pytest.mark.images, pytest.mark.timeout(2400)]

LOGS = REPO / "var" / "images" / "logs"


@pytest.fixture(scope="module")
def engine() -> Engine:
    try:
        return images.detect_engine(install=images.in_ci())
    except images.EngineMissingError as exc:
        if images.in_ci():
            pytest.fail(f"{exc} (CI=true: a missing container engine is a failure)")
        pytest.skip(f"{exc}; `make images` installs podman (as root)")


@pytest.fixture(scope="module")
def built(engine: Engine) -> dict[str, images.Built]:
    """All seven images, built exactly from their Dockerfiles (cached layers reused)."""
    started = time.monotonic()
    try:
        results = images.build(engine, log_dir=LOGS)
    except images.BuildError as exc:
        pytest.fail(f"an image did not build: {exc}", pytrace=False)
    print(f"\n7 images built in {time.monotonic() - started:.0f}s (logs: {LOGS})")
    return {item.image.service: item for item in results}


@pytest.fixture(scope="module")
def launcher(engine: Engine, built: dict[str, images.Built]) -> ContainerLauncher:
    return ContainerLauncher(engine, {name: item.ref for name, item in built.items()})


@pytest.fixture(scope="module")
def container_stack(launcher: ContainerLauncher, moto_sns: str) -> Iterator[Stack]:
    """The distributed stack with every service run from its image (Kafka and PostgreSQL on the
    host, as the process stack has them)."""
    dbname = f"salesync_images_{uuid.uuid4().hex[:8]}"
    stack = Stack(
        dbname=dbname,
        port_offset=2000,  # beside `make up` (0) and the process e2e stack (1000)
        workers=1,
        threads=8,
        run_dir=REPO / "var" / "e2e-images",
        containers=launcher,
        extra_env={
            "SNS_ENDPOINT_URL": moto_sns,
            "AWS_REGION": "ap-northeast-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "LOGIN_RATE_LIMIT": "1000/minute",
            "SIGNUP_RATE_LIMIT": "1000/hour",
            "SIGNUP_RATE_LIMIT_IP": "1000/hour",
            "LOGIN_RATE_LIMIT_IP": "1000/minute",
            "CONSULTING_RATE_LIMIT": "1000/hour",
            "SETTLEMENT_RATE_LIMIT": "1000/minute",
            "LOG_LEVEL": "WARNING",
        },
    )
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:  # fresh logs: a failure shows this run's output only
        (stack.run_dir / f"{service.name}.log").unlink(missing_ok=True)
    try:
        stack.start(timeout=180)
    except Exception as exc:
        stack.stop()
        pytest.fail(f"the stack did not start from the images: {exc}", pytrace=False)
    yield stack
    stack.stop()
    postgres.drop_database(dbname)


@pytest.fixture(scope="module")
def scans(engine: Engine, built: dict[str, images.Built]) -> dict[str, ImageScan]:
    cache: dict[str, images.LayerFacts] = {}
    return {name: images.scan_image(engine, item.ref, cache) for name, item in built.items()}


# -- the images as built ------------------------------------------------------------------------


def test_images_are_tagged_like_the_pipeline_and_configured_like_k8s(
    engine: Engine, built: dict[str, images.Built]
) -> None:
    revision = images.revision_tag()
    assert revision.startswith("git-") and len(revision.split("-")[1]) == 12
    for name, item in built.items():
        image = IMAGES[name]
        (info,) = engine.inspect(f"{image.name}:{revision}")
        assert item.tags == {
            f"{image.name}:{revision}": info["Id"],
            f"{image.name}:local": info["Id"],
        }, "the build tags the compose name (:local) on the same image"
        config = info["Config"]
        assert config["User"] == "10001:10001"
        assert config["Entrypoint"] == [f"/app/{image.package}/app.sh"]
        env = dict(e.split("=", 1) for e in config["Env"])
        assert env["SALESYNC_ENV"] == "production" and env["SERVICE_NAME"] == name
        assert env["PORT"] == "8080"
        assert "PIP_CERT" not in env, "the build's CA path stays in the build stage"
        # docker keeps it in Config, podman at the top of its inspect output
        health = config.get("Healthcheck") or info.get("Healthcheck") or {}
        assert "/healthz" in " ".join(health.get("Test", [])), f"{name}: HEALTHCHECK kept"
        assert item.size > 0


def test_no_secret_key_or_ca_in_any_layer(scans: dict[str, ImageScan]) -> None:
    for name, scan in scans.items():
        assert scan.findings == [], f"{name}: {scan.findings}"
        # The scan really read the layers: Debian's CA store and the wheels' records are there.
        assert any(layer.os_ca_certs for layer in scan.layers), name
        assert any(layer.wheel_sha256 for layer in scan.layers), name
        assert any(layer.dpkg_md5 for layer in scan.layers), name
    if images.machine_only_cas():
        print(f"\n{len(images.machine_only_cas())} machine-only CA(s) searched: none in a layer")


def test_runtime_images_are_lean(scans: dict[str, ImageScan]) -> None:
    """No compilers, no tests, no pip/setuptools, no caches, no build tree in any layer."""
    site = "opt/venv/lib/python3.11/site-packages"
    for name, scan in scans.items():
        paths = scan.paths
        pkg = IMAGES[name].package
        assert f"app/{pkg}/app.sh" in paths, name
        forbidden = [
            p
            for p in paths
            if p.startswith(("src/", "root/.cache/", "tmp/", f"{site}/pip/", f"{site}/setuptools/"))
            or p.endswith(("/bin/gcc", "/bin/cc", "/bin/g++", "/bin/make"))
            or f"/{pkg}/tests/" in f"/{p}/"
            or p.startswith(f"app/{pkg}/tests")
        ]
        assert forbidden == [], f"{name}: {sorted(forbidden)[:20]}"


# -- the system running from the images ----------------------------------------------------------


def test_every_service_runs_with_the_production_hardening(
    engine: Engine, launcher: ContainerLauncher, container_stack: Stack
) -> None:
    for service in SERVICES:
        name = launcher.container_name(service, container_stack.port(service.name))
        (info,) = engine.inspect(name, kind="container")
        assert info["State"]["Running"], name
        assert info["Config"]["User"] == "10001:10001"
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        assert info["HostConfig"]["NetworkMode"] == "host"

        def run_in(*cmd: str, container: str = name) -> tuple[int, str]:
            proc = engine.run("exec", container, *cmd, check=False)
            return proc.returncode, (proc.stdout + proc.stderr).strip()

        assert run_in("id", "-u") == (0, "10001")
        status = run_in("cat", "/proc/1/status")[1]
        assert "Uid:\t10001\t10001\t10001\t10001" in status, "gunicorn itself runs as 10001"
        assert run_in("printenv", "SALESYNC_ENV") == (0, "production")
        assert run_in("printenv", "SERVICE_NAME") == (0, service.name)
        assert run_in("sh", "-c", "touch /app/x")[0] != 0, "read-only root"
        assert run_in("sh", "-c", "touch /tmp/x && rm /tmp/x")[0] == 0, "tmpfs /tmp"


def test_healthchecks_pass(launcher: ContainerLauncher, container_stack: Stack) -> None:
    for service in SERVICES:
        port = container_stack.port(service.name)
        deadline = time.monotonic() + 90  # docker runs the check on its own 30 s interval
        while True:
            code, status = launcher.health(service, port)
            if (code, status) == (0, "healthy") or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert (code, status) == (0, "healthy"), service.name


def test_migrations_ran_from_the_images(
    launcher: ContainerLauncher, built: dict[str, images.Built], container_stack: Stack
) -> None:
    migrations = {tuple(c[-2:]) for c in launcher.commands if c[-1] == "migrate"}
    expected = {(built[s.name].ref, "migrate") for s in SERVICES if s.schema}
    assert migrations == expected
    conn = psycopg2.connect(postgres.admin_url(container_stack.dbname))
    try:
        with conn.cursor() as cur:
            for service in SERVICES:
                if service.schema:
                    table = sql.Identifier(service.schema, "alembic_version")
                    cur.execute(sql.SQL("SELECT version_num FROM {}").format(table))
                    assert cur.fetchone(), service.schema
    finally:
        conn.close()


def test_whole_journey_against_the_containers(container_stack: Stack, moto_sns: str) -> None:
    frontend = Frontend(container_stack.url())
    walk_journey(frontend, lambda: sms_from_backend(moto_sns), expected_phone="+821012345678")


# -- the layer scan can fail (synthetic layers, no engine needed) --------------------------------


def _layer(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def test_layer_scan_flags_keys_cas_secrets_and_leftover_build_secrets() -> None:
    proxy_ca = os.urandom(300)
    pem = base64.encodebytes(proxy_ca)
    cert = b"-----BEGIN CERTIFICATE-----\n" + pem + b"-----END CERTIFICATE-----\n"
    key = b"-----BEGIN RSA PRIVATE KEY-----\n" + base64.encodebytes(os.urandom(200))
    key_md5 = hashlib.md5(key, usedforsecurity=False).hexdigest().encode()
    roots = b"public roots"
    wheel_digest = base64.urlsafe_b64encode(hashlib.sha256(roots).digest()).rstrip(b"=")
    base = images.scan_layer(
        _layer(
            {
                "var/lib/dpkg/info/libgnutls30.list": b"/usr/lib/libgnutls.so\n",
                "var/lib/dpkg/info/libgnutls30.md5sums": key_md5 + b"  usr/lib/libgnutls.so\n",
                "usr/lib/libgnutls.so": key,  # a packaged self-test key: the package's own
                "opt/venv/lib/python3.11/site-packages/certifi-1.dist-info/RECORD": (
                    b"certifi/cacert.pem,sha256=" + wheel_digest + b",12\n"
                ),
                "opt/venv/lib/python3.11/site-packages/certifi/cacert.pem": roots,
            }
        ),
        {proxy_ca},
    )
    assert images.layer_findings([base]) == []
    assert images.PRIVATE_KEY.search(b"-----BEGIN PRIVATE KEY-----\r\n" + pem)
    assert not images.PRIVATE_KEY.search(b"\0-----BEGIN RSA PRIVATE KEY-----\0-----END ")
    bad = images.scan_layer(
        _layer(
            {
                "app/bff/.env": b"JWT_SECRET=abcdefghijklmnop\n",
                "app/bff/deploy.key": key,
                "usr/lib/libgnutls.so": key + b"changed",  # no longer what the package installed
                "opt/venv/lib/python3.11/site-packages/certifi/cacert.pem": roots + b"+proxy",
                "app/bff/lib.so": b"\0-----BEGIN RSA PRIVATE KEY-----\0-----END ",  # a constant
                "usr/local/share/ca-certificates/proxy.crt": cert,
                "etc/ssl/certs/ca-certificates.crt": cert,
                "run/secrets/pip-cert": b"",
                "opt/venv/x.txt": pem.replace(b"\n", b""),
            }
        ),
        {proxy_ca},
    )
    findings = "\n".join(images.layer_findings([base, bad]))
    for expected in (
        "JWT_SECRET=...",
        "private key in app/bff/deploy.key",
        "private key in usr/lib/libgnutls.so",
        "certifi/cacert.pem is a key/certificate no package installed",
        "app/bff/deploy.key is a key/certificate no package installed",
        "usr/local/share/ca-certificates/proxy.crt is a key/certificate no package installed",
        "this machine's CA in usr/local/share/ca-certificates/proxy.crt",
        "this machine's CA in opt/venv/x.txt",
        "etc/ssl/certs/ca-certificates.crt holds a CA that is not Debian's",
        "run/secrets/pip-cert left by a build secret",
    ):
        assert expected in findings, (expected, findings)
    assert "lib.so" not in findings
