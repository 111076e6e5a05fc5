"""The seven service images, built from ``Dockerfile-<svc>`` and run, with whichever engine is here.

    python -m devstack.images build [SERVICE ...]   # `make images`: build (and tag) the images
    python -m devstack.images engine                # the engine found (podman is installed if none)
    python -m devstack.images base                  # the base image the builds use
    python -m devstack.images report                # size of each image, last build time
    python -m devstack.images scan [SERVICE ...]    # look for secrets and CAs in every layer
    python -m devstack.images up | down             # `make up`, each service from its :local image

**Engine.** Docker when its daemon answers, else podman (Debian's ``podman``, ``buildah``,
``runc`` and ``mmdebstrap`` are installed with apt-get when missing, as root).
``SALESYNC_CONTAINER_ENGINE=docker|podman`` decides instead. On a host with cgroup v1 or hybrid
cgroups (or no systemd) podman runs with runc and the cgroupfs manager, and every container and
build step gets explicit ulimits no higher than this process's own (the defaults are refused).

**Base.** Every Dockerfile takes ``ARG PYTHON_IMAGE``, defaulting to the pinned official
``python:3.11.N-slim-bookworm`` (what the pipeline ships). ``SALESYNC_PYTHON_BASE`` picks the
base: ``official`` (pull it or fail), ``standin`` (a local image with the same layout built with
mmdebstrap from Debian 12's own python3.11: ``python``/``python3`` in /usr/local/bin, ``python -m
venv`` with pip, ca-certificates, tzdata, ``groupadd``/``useradd``), ``auto`` (the default: the
official image when it is present or can be pulled, else the stand-in) or any image reference.

**Tags.** Like the pipeline's (``.github/workflows/_service.yml``): ``salesync-<svc>:git-<first
12 hex of HEAD>`` (``-dirty`` appended when the work tree has changes, since the image is then not
that commit) and ``salesync-<svc>:local``, the name ``docker-compose.yml`` runs.

**CA.** Behind a TLS-intercepting proxy pip needs the proxy's CA. The CA bundle this machine names
(``PIP_CERT``, else ``REQUESTS_CA_BUNDLE``, else ``SSL_CERT_FILE``) is handed to the build as the
secret ``pip-cert`` with ``--build-arg PIP_CERT=/run/secrets/pip-cert``: mounted for the two pip
steps only, never copied into a layer (``scan`` proves it). No other pip setting of the machine
is passed on (its ``PIP_FIND_LINKS`` names a host directory that means nothing in a build).

:class:`ContainerLauncher` runs a service of :class:`devstack.stack.Stack` from its image instead
of a local process: same environment (``Stack.env_for``), same host port (``--network host``),
production hardening (read-only root, tmpfs ``/tmp``, uid 10001, no capabilities).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import importlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from devstack.stack import SERVICES, Service, Stack

REPO = Path(__file__).resolve().parents[1]
VAR = REPO / "var" / "images"
BUILD_REPORT = VAR / "build-report.json"

# Dockerfile-<suffix> and image salesync-<suffix>; the rest use the stack's service name.
_SUFFIXES = {"dashboard": "dash"}
SERVICE_UID = 10001
CA_MOUNT_ID = "pip-cert"  # the build secret's id: names the CA mount
CA_MOUNT_TARGET = f"/run/secrets/{CA_MOUNT_ID}"

# The stand-in base: Debian 12's own Python, laid out like the official slim image.
STANDIN_REPOSITORY = "localhost/salesync-python-standin"
STANDIN_SUITE = "bookworm"
STANDIN_PACKAGES = ("python3.11", "python3.11-venv", "ca-certificates", "netbase", "tzdata")
STANDIN_SOURCES = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
STANDIN_HOOKS = (
    # The official image has python and python3 in /usr/local/bin: so does the stand-in.
    'chroot "$1" ln -s /usr/bin/python3.11 /usr/local/bin/python3',
    'chroot "$1" ln -s /usr/bin/python3.11 /usr/local/bin/python',
    'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
)
STANDIN_DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
STANDIN_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
ENGINE_PACKAGES = ("podman", "buildah", "runc", "mmdebstrap")


class EngineMissingError(RuntimeError):
    """No container engine works here (and none could be installed)."""


class BuildError(RuntimeError):
    """``<engine> build`` of one Dockerfile failed; the message ends with its output."""


@dataclass(frozen=True)
class Image:
    """One service's image: ``Dockerfile-<suffix>`` builds ``salesync-<suffix>``."""

    service: str
    package: str
    suffix: str

    @property
    def dockerfile(self) -> Path:
        return REPO / f"Dockerfile-{self.suffix}"

    @property
    def name(self) -> str:
        return f"salesync-{self.suffix}"


IMAGES: dict[str, Image] = {
    s.name: Image(s.name, s.package, _SUFFIXES.get(s.name, s.name)) for s in SERVICES
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _say(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Engine


@dataclass(frozen=True)
class Engine:
    """A container CLI and the flags this host needs with it."""

    name: str  # "docker" or "podman"
    command: tuple[str, ...]  # the CLI and its global flags
    limits: tuple[str, ...] = ()  # --ulimit flags for every container and build step

    def argv(self, *args: str) -> list[str]:
        return [*self.command, *args]

    def run(
        self, *args: str, check: bool = True, timeout: float | None = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run the CLI, output captured; a failure raises with the output in the message."""
        proc = subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.argv(*args))} exited {proc.returncode}:\n"
                f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
            )
        return proc

    def has_image(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).returncode == 0

    def inspect(self, *refs: str, kind: str = "image") -> list[dict]:
        return json.loads(self.run(kind, "inspect", *refs).stdout)

    def qualified(self, ref: str) -> str:
        """A Docker Hub short name spelled out: podman may refuse short names without a tty."""
        if self.name != "podman":
            return ref
        first = ref.split("/", 1)[0]
        if "/" in ref and ("." in first or ":" in first or first == "localhost"):
            return ref
        return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return info.returncode == 0 and bool(info.stdout.strip())


def _apt_install(packages: Sequence[str]) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise EngineMissingError(
            f"no container engine: install {' '.join(packages)} (apt-get, as root) or Docker"
        )
    _say(f"installing {' '.join(packages)} from Debian's packages ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def _podman_engine(podman: str) -> Engine:
    command: list[str] = [podman]
    unified = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    systemd = Path("/run/systemd/system").is_dir()
    runc = shutil.which("runc") or shutil.which("runc", path="/usr/sbin:/sbin")
    if not unified and runc:
        command += ["--runtime", runc]  # crun refuses cgroup v1 / hybrid hosts
    if not (unified and systemd):
        command += ["--cgroup-manager", "cgroupfs"]
    # Podman's default rlimits exceed what this host lets a container set: ask for ours.
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 65536)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[0], 4096)
    limits = ("--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}")
    return Engine("podman", tuple(command), limits)


def detect_engine(install: bool = True) -> Engine:
    """Docker when its daemon answers, else podman (installed when missing and ``install``)."""
    choice = os.environ.get("SALESYNC_CONTAINER_ENGINE", "").strip().lower()
    if choice not in {"", "docker", "podman"}:
        raise EngineMissingError(f"SALESYNC_CONTAINER_ENGINE={choice!r}: use docker or podman")
    if choice in {"", "docker"} and _docker_answers():
        return Engine("docker", ("docker",))
    if choice == "docker":
        raise EngineMissingError("SALESYNC_CONTAINER_ENGINE=docker but no Docker daemon answers")
    podman = shutil.which("podman")
    if podman is None or not (shutil.which("runc") or Path("/usr/sbin/runc").exists()):
        if not install:
            raise EngineMissingError(
                "no container engine (run `python -m devstack.images engine` to install podman)"
            )
        _apt_install(ENGINE_PACKAGES)
        podman = shutil.which("podman")
        if podman is None:
            raise EngineMissingError("podman was installed but is not on PATH")
    return _podman_engine(podman)


# ---------------------------------------------------------------------------------------------
# Base image


def official_base() -> str:
    """The pinned default of ``ARG PYTHON_IMAGE`` (one pin, the same in every Dockerfile)."""
    pins = set()
    for image in IMAGES.values():
        found = re.search(r"^ARG PYTHON_IMAGE=(\S+)\s*$", image.dockerfile.read_text(), re.M)
        if found is None:
            raise ValueError(f"{image.dockerfile.name} has no `ARG PYTHON_IMAGE=<pinned image>`")
        pins.add(found.group(1))
    if len(pins) != 1:
        raise ValueError(f"the Dockerfiles pin different bases: {sorted(pins)}")
    return pins.pop()


def standin_ref() -> str:
    """The stand-in's tag: a hash of its recipe, so a changed recipe builds a new one."""
    recipe = json.dumps(
        [
            STANDIN_SUITE,
            STANDIN_PACKAGES,
            STANDIN_SOURCES,
            STANDIN_HOOKS,
            STANDIN_DPKG_OPTIONS,
            STANDIN_CHANGES,
        ]
    )
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return f"{STANDIN_REPOSITORY}:3.11-{STANDIN_SUITE}-{digest}"


def build_standin(engine: Engine, rebuild: bool = False) -> str:
    """Build (once) the local stand-in for the official Python image; returns its reference."""
    ref = standin_ref()
    if engine.has_image(ref) and not rebuild:
        return ref
    if not shutil.which("mmdebstrap"):
        _apt_install(["mmdebstrap"])
    started = time.monotonic()
    _say(f"building the stand-in base {ref} (mmdebstrap: Debian 12 minbase + python3.11) ...")
    VAR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=VAR, prefix="standin-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        cmd = [
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            f"--include={','.join(STANDIN_PACKAGES)}",
            *(f"--dpkgopt={option}" for option in STANDIN_DPKG_OPTIONS),
            *(f"--customize-hook={hook}" for hook in STANDIN_HOOKS),
            STANDIN_SUITE,
            str(rootfs),
            *STANDIN_SOURCES,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        changes = [arg for change in STANDIN_CHANGES for arg in ("--change", change)]
        engine.run("import", *changes, str(rootfs), ref)
    _say(f"stand-in base ready in {time.monotonic() - started:.0f}s")
    return ref


def _pull(engine: Engine, ref: str, timeout: float = 300) -> bool:
    try:
        return engine.run("pull", "--quiet", ref, check=False, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def resolve_base(engine: Engine, choice: str | None = None) -> str:
    """The image every build stage starts from (see the module docstring)."""
    choice = (choice or os.environ.get("SALESYNC_PYTHON_BASE") or "auto").strip()
    official = engine.qualified(official_base())
    if choice == "official":
        if not (engine.has_image(official) or _pull(engine, official)):
            raise RuntimeError(f"the official base {official} cannot be pulled here")
        return official
    if choice == "standin":
        return build_standin(engine)
    if choice == "auto":
        if engine.has_image(official) or _pull(engine, official):
            return official
        _say(f"{official} cannot be pulled here: using the local stand-in instead")
        return build_standin(engine)
    return choice


# ---------------------------------------------------------------------------------------------
# Build


def revision() -> str:
    """The commit the work tree is (``<40 hex>``), ``-dirty`` appended when it has changes."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return head + ("-dirty" if status else "")


def revision_tag() -> str:
    """``git-<12 hex>``, the pipeline's immutable tag (``-dirty``: the tree is not that commit)."""
    head, _, dirty = revision().partition("-")
    return f"git-{head[:12]}" + ("-dirty" if dirty else "")


def ca_bundle() -> Path | None:
    """The CA bundle this machine tells TLS clients to trust, if it names one."""
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


def build_argv(
    engine: Engine,
    image: Image,
    base: str,
    refs: Sequence[str],
    platform: str | None = None,
) -> list[str]:
    """The exact build command of one image (the pipeline runs the same with docker)."""
    args = ["build", "--file", str(image.dockerfile)]
    for ref in refs:
        args += ["--tag", ref]
    args += ["--build-arg", f"PYTHON_IMAGE={base}"]
    args += ["--label", f"org.opencontainers.image.revision={revision()}"]
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    if server and repository:
        args += ["--label", f"org.opencontainers.image.source={server}/{repository}"]
    if platform:
        args += ["--platform", platform]
    bundle = ca_bundle()
    if bundle is not None:
        args += ["--secret", f"id={CA_MOUNT_ID},src={bundle}"]
        args += ["--build-arg", f"PIP_CERT={CA_MOUNT_TARGET}"]
    if engine.name == "podman":
        # docker format keeps HEALTHCHECK (OCI has no field for it); host network reaches
        # Debian and PyPI without a bridge.
        args += ["--format", "docker", "--network", "host", *engine.limits]
    return engine.argv(*args, str(REPO))


@dataclass
class Built:
    image: Image
    ref: str
    seconds: float
    size: int
    # Every tag the build gave it, with the image id each pointed at right after the build (an
    # image store shared by several checkouts may retag ``:local`` later).
    tags: dict[str, str] = field(default_factory=dict)


def build(
    engine: Engine,
    services: Iterable[str] | None = None,
    base: str | None = None,
    log_dir: Path | None = None,
    registry: str | None = None,
    platform: str | None = None,
) -> list[Built]:
    """Build the images of ``services`` (default: all seven) one after the other, so the shared
    layers (base, venv, service user) are built once and then come from the cache.

    Tags: ``salesync-<svc>:git-<12 hex>`` and ``:local``; with ``registry`` only
    ``<registry>/salesync-<svc>:git-<12 hex>`` (what the pipeline pushes). With ``log_dir`` each
    build's output goes to ``<log_dir>/<image>.log`` (else to this process's output); a failed
    build raises :class:`BuildError` with the end of its output."""
    names = list(services or IMAGES)
    unknown = [n for n in names if n not in IMAGES]
    if unknown:
        raise KeyError(f"unknown services {unknown}; known: {', '.join(IMAGES)}")
    base = base or resolve_base(engine)
    tag = revision_tag()
    results: list[Built] = []
    for name in names:
        image = IMAGES[name]
        if registry:
            refs = [f"{registry.rstrip('/')}/{image.name}:{tag}"]
        else:
            refs = [f"{image.name}:{tag}", f"{image.name}:local"]
        argv = build_argv(engine, image, base, refs, platform)
        started = time.monotonic()
        _say(f"building {image.name} ({image.dockerfile.name}, base {base})")
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / f"{image.name}.log"
            with log_path.open("w") as log:
                log.write("$ " + " ".join(argv) + "\n")
                returncode = _run_timestamped(argv, log)
            if returncode != 0:
                tail = log_path.read_text(errors="replace")[-4000:]
                raise BuildError(f"{image.dockerfile.name} did not build:\n{tail}")
        elif subprocess.run(argv, check=False).returncode != 0:
            raise BuildError(f"{image.dockerfile.name} did not build (output above)")
        seconds = time.monotonic() - started
        ref = refs[0]
        (info,) = engine.inspect(ref)
        tags = {tagged: engine.inspect(tagged)[0]["Id"] for tagged in refs}
        results.append(Built(image, ref, seconds, int(info["Size"]), tags))
        _say(f"{ref}: {info['Size'] / 1e6:.0f} MB in {seconds:.0f}s")
    _write_report(engine, base, results)
    return results


def _run_timestamped(argv: Sequence[str], log: IO[str]) -> int:
    """Run ``argv`` with each output line written to ``log`` after the seconds elapsed (what
    each build step costs)."""
    started = time.monotonic()
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(f"[{time.monotonic() - started:6.1f}s] {line}")
        return proc.wait()


def _write_report(engine: Engine, base: str, results: list[Built]) -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    report = json.loads(BUILD_REPORT.read_text()) if BUILD_REPORT.exists() else {}
    for item in results:
        report[item.image.service] = {
            "image": item.ref,
            "engine": engine.name,
            "base": base,
            "seconds": round(item.seconds, 1),
            "bytes": item.size,
        }
    BUILD_REPORT.write_text(json.dumps(report, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# What is inside the layers


# A PEM private key with a body: libraries (gnutls, openssl) carry the bare header as a constant.
PRIVATE_KEY = re.compile(
    rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\s+(?:[A-Za-z-]+:[^\n]*\n\s*)*[A-Za-z0-9+/]{40}"
)
PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+(.+?)\s+-----END CERTIFICATE-----", re.S)
KEY_OR_CERT_FILE = re.compile(r"\.(pem|crt|cer|der|key|p12|pfx|jks|keystore)$", re.I)
SECRET_NAMES = (
    "JWT_SECRET",
    "SERVICE_TOKEN_SECRET",
    "SALESYNC_DB_PASSWORD",
    "DATABASE_URL",
    "OPENAI_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "KAFKA_SASL_PASSWORD",
    "REDIS_PASSWORD",
)
# NAME=value or NAME: value with a value that is not empty, not a ${...} reference.
SECRET_ASSIGNMENT = re.compile(
    r"\b(" + "|".join(SECRET_NAMES) + r")\s*[=:]\s*['\"]?(?!\$)([^\s'\"]{6,})"
)
MAX_SCANNED_FILE = 20 * 1024 * 1024


def certificates(pem: bytes) -> set[bytes]:
    """The DER bytes of every PEM certificate in ``pem``."""
    found = set()
    for body in PEM_CERT.findall(pem):
        with contextlib.suppress(ValueError):
            found.add(base64.b64decode(b"".join(body.split())))
    return found


@dataclass
class LayerFacts:
    """What one layer holds that the secret/CA checks need."""

    private_keys: list[str] = field(default_factory=list)
    key_or_cert_files: list[str] = field(default_factory=list)
    foreign_ca: list[str] = field(default_factory=list)  # files holding a machine-only CA
    secret_assignments: list[str] = field(default_factory=list)
    run_secrets: list[str] = field(default_factory=list)  # files under /run/secrets
    paths: set[str] = field(default_factory=set)  # every path, directories included
    links: set[str] = field(default_factory=set)  # symbolic and hard links
    # (md5, sha256 as in a wheel RECORD) of the files above that have content
    hashes: dict[str, tuple[str, str]] = field(default_factory=dict)
    dpkg_files: set[str] = field(default_factory=set)  # every path a Debian package lists
    dpkg_md5: dict[str, str] = field(default_factory=dict)  # path -> md5 (var/lib/dpkg/info)
    wheel_sha256: dict[str, str] = field(default_factory=dict)  # path -> sha256 (RECORD)
    os_ca_certs: set[bytes] = field(default_factory=set)  # /usr/share/ca-certificates
    generated_ca_certs: dict[str, set[bytes]] = field(default_factory=dict)  # /etc/ssl/certs


def _is_config_like(path: str) -> bool:
    name = PurePosixPath(path).name
    return (
        path.startswith("app/")
        or name == ".env"
        or name.endswith((".env", ".ini", ".cfg", ".conf", ".toml", ".yaml", ".yml", ".sh"))
    )


def scan_layer(layer: IO[bytes], machine_cas: set[bytes]) -> LayerFacts:
    """Read every file of one layer (a tar stream) and note what the checks need."""
    facts = LayerFacts()
    # A certificate's first PEM line (its serial number is in it) or its first DER bytes.
    needles = {base64.b64encode(der)[:64] for der in machine_cas} | {
        der[:64] for der in machine_cas
    }
    with tarfile.open(fileobj=layer, mode="r|*") as tar:
        for member in tar:
            path = member.name.removeprefix("./").lstrip("/").rstrip("/")
            facts.paths.add(path)
            if member.isdir():
                continue
            if path.startswith("run/secrets/"):
                facts.run_secrets.append(path)
            if member.issym() or member.islnk():
                facts.links.add(path)
            if KEY_OR_CERT_FILE.search(path):
                facts.key_or_cert_files.append(path)
            if not member.isfile() or member.size > MAX_SCANNED_FILE:
                continue
            handle = tar.extractfile(member)
            data = handle.read() if handle else b""
            if path.startswith("var/lib/dpkg/info/") and path.endswith(".list"):
                facts.dpkg_files |= {line.lstrip("/") for line in data.decode().splitlines()}
            elif path.startswith("var/lib/dpkg/info/") and path.endswith(".md5sums"):
                for line in data.decode().splitlines():
                    md5, _, listed = line.partition("  ")
                    facts.dpkg_md5[listed.lstrip("/")] = md5
            elif path.endswith(".dist-info/RECORD"):
                site = str(PurePosixPath(path).parent.parent)
                for line in data.decode(errors="replace").splitlines():
                    entry, digest, _size = [*line.rsplit(",", 2), "", ""][:3]
                    if digest.startswith("sha256="):
                        listed = os.path.normpath(f"{site}/{entry}")
                        facts.wheel_sha256[listed] = digest.removeprefix("sha256=")
            if path.startswith("usr/share/ca-certificates/") and path.endswith(".crt"):
                facts.os_ca_certs |= certificates(data)
            elif path.startswith("etc/ssl/certs/"):
                facts.generated_ca_certs[path] = certificates(data)
            if PRIVATE_KEY.search(data):
                facts.private_keys.append(path)
            if path in facts.private_keys or KEY_OR_CERT_FILE.search(path):
                sha256 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
                facts.hashes[path] = (md5, sha256.decode())
            if any(needle in data for needle in needles):
                facts.foreign_ca.append(path)
            if _is_config_like(path):
                text = data.decode(errors="replace")
                facts.secret_assignments += [
                    f"{path}: {m.group(1)}=..." for m in SECRET_ASSIGNMENT.finditer(text)
                ]
    return facts


def machine_only_cas() -> set[bytes]:
    """CAs this machine trusts beyond Debian's own list (a proxy's): they must never ship."""
    bundle = ca_bundle()
    if bundle is None:
        return set()
    debian = set()
    for path in Path("/usr/share/ca-certificates").rglob("*.crt"):
        debian |= certificates(path.read_bytes())
    return certificates(bundle.read_bytes()) - debian


@dataclass
class ImageScan:
    """The result of :func:`scan_image`: ``findings`` empty means clean."""

    ref: str
    findings: list[str]
    layers: list[LayerFacts]

    @property
    def paths(self) -> set[str]:
        """Every path in any layer (also those a later layer deletes)."""
        return set().union(*(f.paths for f in self.layers))


def scan_image(engine: Engine, ref: str, cache: dict[str, LayerFacts] | None = None) -> ImageScan:
    """Read every layer of ``ref`` (``save``: what a registry would get) and report: a private
    key, a key or certificate file that neither a Debian package nor a wheel installed, a CA bundle
    in /etc/ssl/certs with a CA that is not Debian's, a CA of this machine's own (a proxy's)
    anywhere, a secret's name with a value (in a config-like file or /app, the image's config or
    its build history), or anything left under /run/secrets. ``cache`` (layer -> facts) lets
    images that share layers read them once."""
    cache = {} if cache is None else cache
    machine_cas = machine_only_cas()
    findings: list[str] = []
    (info,) = engine.inspect(ref)
    config = info.get("Config") or {}
    history = engine.run("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref).stdout
    for where, text in (
        ("config Env", "\n".join(config.get("Env") or [])),
        ("config Labels", json.dumps(config.get("Labels") or {})),
        ("build history", history),
    ):
        findings += [f"{where}: {m.group(1)}=..." for m in SECRET_ASSIGNMENT.finditer(text)]
    VAR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=VAR, prefix="scan-") as tmp:
        archive = Path(tmp) / "image.tar"
        save = ["save", "-o", str(archive)]
        if engine.name == "podman":
            save += ["--format", "docker-archive"]
        engine.run(*save, ref, timeout=900)
        with tarfile.open(archive) as outer:
            manifest = outer.extractfile("manifest.json")
            if manifest is None:
                raise RuntimeError(f"{ref}: the saved image has no manifest.json")
            (entry,) = json.load(manifest)
            layers: list[LayerFacts] = []
            for layer_path in entry["Layers"]:
                if layer_path not in cache:
                    handle = outer.extractfile(layer_path)
                    if handle is None:
                        raise RuntimeError(f"{ref}: layer {layer_path} missing from the archive")
                    cache[layer_path] = scan_layer(handle, machine_cas)
                layers.append(cache[layer_path])
    return ImageScan(ref, findings + layer_findings(layers), layers)


def layer_findings(layers: Sequence[LayerFacts]) -> list[str]:
    """The findings of one image's layers (bottom first), judged together. A key or certificate
    file is the OS's or a library's own only when its content is exactly what a Debian package
    (its md5sums) or a wheel (its RECORD's sha256) of the same image installed there: gnutls,
    for one, carries self-test private keys."""
    dpkg_files: set[str] = set().union(*(f.dpkg_files for f in layers))
    dpkg_md5: dict[str, str] = {k: v for f in layers for k, v in f.dpkg_md5.items()}
    wheel_sha256: dict[str, str] = {k: v for f in layers for k, v in f.wheel_sha256.items()}
    os_certs = set().union(*(f.os_ca_certs for f in layers))

    def packaged(facts: LayerFacts, path: str) -> bool:
        if path in facts.links:
            return path in dpkg_files or path in wheel_sha256
        md5, sha256 = facts.hashes.get(path, ("", ""))
        return dpkg_md5.get(path) == md5 or wheel_sha256.get(path) == sha256

    findings: list[str] = []
    for index, facts in enumerate(layers):
        where = f"layer {index + 1}/{len(layers)}"
        findings += [
            f"{where}: private key in {p}" for p in facts.private_keys if not packaged(facts, p)
        ]
        findings += [f"{where}: this machine's CA in {p}" for p in facts.foreign_ca]
        findings += [f"{where}: {s}" for s in facts.secret_assignments]
        findings += [f"{where}: {p} left by a build secret" for p in facts.run_secrets]
        for path in facts.key_or_cert_files:
            if path.startswith("etc/ssl/certs/"):
                continue  # update-ca-certificates' output: checked certificate by certificate
            if not packaged(facts, path):
                findings.append(f"{where}: {path} is a key/certificate no package installed")
        for path, certs in facts.generated_ca_certs.items():
            if certs - os_certs:
                findings.append(f"{where}: {path} holds a CA that is not Debian's")
    return findings


# ---------------------------------------------------------------------------------------------
# Running a service from its image


# The process launcher's variables that describe this host, not the service.
HOST_ONLY = frozenset({"PATH", "HOME", "PYTHONPATH", "PROMETHEUS_MULTIPROC_DIR", "VIRTUAL_ENV"})
# Left to the image (production), whatever the local stack's processes use.
IMAGE_DEFAULTS = frozenset({"SALESYNC_ENV"})


def _settings_names(package: str) -> set[str]:
    config = importlib.import_module(f"{package}.config")
    return {name.upper() for name in config.Settings.model_fields}


@dataclass
class ContainerLauncher:
    """Runs a stack's services from their images (``Stack(containers=...)``).

    ``images`` maps a service name to its image reference. A container gets the environment the
    process launcher would get (``Stack.env_for``) less what only describes this host (the
    variables inherited unchanged from this process that are not settings of the service,
    PATH, HOME, PYTHONPATH, the host's metrics directory) and less ``SALESYNC_ENV`` (the image
    says production). Values are handed over by name (``-e NAME``), never on a command line. A
    variable naming an existing file (a CA for Kafka, say) gets that file mounted read-only at
    the same path. ``--network host``: the service listens on the same host port as its process
    would and reaches PostgreSQL, Kafka, Redis and its siblings where the host has them."""

    engine: Engine
    images: dict[str, str]
    commands: list[list[str]] = field(default_factory=list)  # what ran, newest last

    def image_for(self, service: Service) -> str:
        """The image of a service, or of the service whose image runs it (``order-stream`` is the
        order image with another entry point)."""
        if service.name in self.images:
            return self.images[service.name]
        owner = next(s for s in SERVICES if s.package == service.package and s.name in self.images)
        return self.images[owner.name]

    def container_name(self, service: Service, port: int, *args: str) -> str:
        return "-".join(["salesync", service.name, str(port), *args])

    def environment(self, service: Service, env: dict[str, str], port: int) -> dict[str, str]:
        settings = _settings_names(service.package)
        passed = {
            key: value
            for key, value in env.items()
            if key not in HOST_ONLY
            and key not in IMAGE_DEFAULTS
            and (key in settings or os.environ.get(key) != value)
        }
        passed["PORT"] = str(port)  # the HEALTHCHECK asks 127.0.0.1:$PORT
        return passed

    def command(
        self, service: Service, env: dict[str, str], args: Sequence[str], port: int
    ) -> tuple[list[str], dict[str, str]]:
        """The ``run`` command (attached: the stack manages it like a process, SIGTERM reaches
        gunicorn) and the environment to start it with. Removes a leftover container first."""
        one_off = list(args[:1]) == ["migrate"]
        # a long-running process is named after its service alone (``remove`` finds it)
        name = self.container_name(service, port, *(args if one_off else ()))
        self.engine.run("rm", "--force", name, check=False)
        passed = self.environment(service, env, port)
        mounts: list[str] = []
        for value in sorted(set(passed.values())):
            if value.startswith("/") and Path(value).is_file():
                mounts += ["--volume", f"{value}:{value}:ro"]
        argv = self.engine.argv(
            "run",
            "--rm",
            "--name",
            name,
            "--pull",
            "never",
            "--network",
            "host",
            "--read-only",
            "--tmpfs",
            "/tmp:rw,size=64m,mode=1777",
            "--user",
            f"{SERVICE_UID}:{SERVICE_UID}",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            *self.engine.limits,
            # a one-off command (migrate) is not a service: nothing to health-check
            *(["--no-healthcheck"] if one_off else []),
            *(arg for key in sorted(passed) for arg in ("--env", key)),
            *mounts,
            self.image_for(service),
            *args,
        )
        self.commands.append(argv)
        return argv, {**os.environ, **passed}

    def remove(self, service: Service, port: int) -> None:
        """Make sure the service's container is gone (its client may have been killed)."""
        self.engine.run("rm", "--force", self.container_name(service, port), check=False)

    def health(self, service: Service, port: int) -> tuple[int, str]:
        """Run the image's HEALTHCHECK now (podman) or read its last result (docker):
        (exit code, status)."""
        name = self.container_name(service, port)
        code = 0
        if self.engine.name == "podman":
            code = self.engine.run("healthcheck", "run", name, check=False).returncode
        (info,) = self.engine.inspect(name, kind="container")
        state = info["State"]
        status = (state.get("Health") or state.get("Healthcheck") or {}).get("Status", "")
        return code, status


# ---------------------------------------------------------------------------------------------
# CLI


def _report_table() -> str:
    if not BUILD_REPORT.exists():
        return "no build yet: make images"
    report = json.loads(BUILD_REPORT.read_text())
    lines = [f"{'image':<22} {'size':>8} {'build':>7}  base"]
    for service, row in report.items():
        lines.append(
            f"{IMAGES[service].name:<22} {row['bytes'] / 1e6:>5.0f} MB {row['seconds']:>6.0f}s"
            f"  {row['base']} ({row['engine']})"
        )
    return "\n".join(lines)


def container_stack(engine: Engine) -> Stack:
    """``make up``'s stack with every service run from its ``salesync-<svc>:local`` image."""
    refs = {name: f"{image.name}:local" for name, image in IMAGES.items()}
    missing = [ref for ref in refs.values() if not engine.has_image(ref)]
    if missing:
        raise RuntimeError(f"no image {', '.join(missing)}: run `make images` first")
    return Stack(run_dir=REPO / "var" / "images-stack", containers=ContainerLauncher(engine, refs))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.images", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build the images (all seven by default)")
    p_build.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(IMAGES))
    p_build.add_argument("--base", default=None, help="official, standin, auto or an image")
    p_build.add_argument("--registry", default=None, help="tag <registry>/salesync-<svc>:git-...")
    p_build.add_argument("--platform", default=None, help="e.g. linux/amd64")
    sub.add_parser("engine", help="print the engine (installs podman when there is none)")
    p_base = sub.add_parser("base", help="resolve (pull or build) the base image and print it")
    p_base.add_argument("--base", default=None)
    sub.add_parser("report", help="size and build time of the last builds")
    p_scan = sub.add_parser("scan", help="look for secrets and CAs in every layer")
    p_scan.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(IMAGES))
    sub.add_parser("up", help="PostgreSQL + Kafka on the host, each service from its image")
    sub.add_parser("down", help="stop the containers, Kafka and PostgreSQL")
    args = parser.parse_args(argv)
    unknown = sorted(set(getattr(args, "services", [])) - set(IMAGES))
    if unknown:
        parser.error(f"unknown services {unknown}; known: {', '.join(IMAGES)}")

    try:
        engine = detect_engine()
        if args.command == "engine":
            print(" ".join(engine.command), " ".join(engine.limits))
        elif args.command == "base":
            print(resolve_base(engine, args.base))
        elif args.command == "build":
            started = time.monotonic()
            base = resolve_base(engine, args.base)
            build(engine, args.services or None, base, None, args.registry, args.platform)
            print(_report_table())
            print(f"built in {time.monotonic() - started:.0f}s")
        elif args.command == "report":
            print(_report_table())
        elif args.command == "scan":
            cache: dict[str, LayerFacts] = {}
            dirty = 0
            for name in args.services or IMAGES:
                ref = f"{IMAGES[name].name}:local"
                findings = scan_image(engine, ref, cache).findings
                dirty += bool(findings)
                print(f"{ref}: {'clean' if not findings else ''}")
                for finding in findings:
                    print(f"  {finding}")
            return 1 if dirty else 0
        elif args.command == "up":
            stack = container_stack(engine)
            stack.run_dir.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            stack.start(timeout=180)
            print(f"Salesync from its images up in {time.monotonic() - started:.1f}s")
            for service in SERVICES:
                image = f"{IMAGES[service.name].name}:local"
                print(f"  {service.name:<11} {stack.url(service.name)}  {image}")
            print("Public API:", stack.url(), "  stop with: python -m devstack.images down")
        elif args.command == "down":
            from devstack import kafka, postgres

            container_stack(engine).stop()
            kafka.stop()
            postgres.stop()
    except (EngineMissingError, BuildError, RuntimeError) as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
