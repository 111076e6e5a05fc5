"""Dockerfile-<svc>, .dockerignore and <pkg>/app.sh: hadolint and shellcheck clean, one service per
image, non-root, gunicorn through app.sh, port 8080, health check, no secrets; and the entry point
really reaches the service's app factory (``<pkg>.app:create_app()`` through
``salesync_common.serve``)."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex

import pytest

from tests.deploy.conftest import REPO, SERVICES, require_tool, run

pytestmark = pytest.mark.deploy

DOCKERFILES = {name: REPO / f"Dockerfile-{suffix}" for name, (_p, suffix, _i) in SERVICES.items()}
SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "API_KEY", "ACCESS_KEY", "PRIVATE")
APP_SH = (
    "#!/bin/sh\n"
    "# Container entry for the {name} service: `app.sh` serves it with gunicorn,"
    " `app.sh migrate` applies its migrations.\n"
    "set -e\n"
    'exec python -m salesync_common.serve {pkg} "$@"\n'
)


def instructions(path: os.PathLike[str]) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in open(path).read().splitlines():  # noqa: SIM115 - tiny file
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def global_args(path: os.PathLike[str]) -> dict[str, str]:
    """The ``ARG name=default`` lines before the first FROM (what FROM lines may use)."""
    found: dict[str, str] = {}
    for keyword, args in instructions(path):
        if keyword == "FROM":
            break
        assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
        name, _, default = args.partition("=")
        found[name] = default
    return found


def stages(path: os.PathLike[str]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(path):
        if keyword == "FROM":
            result.append([])
        if not result:
            assert keyword == "ARG", "only global ARGs may come before the first FROM"
            continue
        result[-1].append((keyword, args))
    return result


def env_pairs(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


def test_hadolint_passes() -> None:
    hadolint = require_tool("hadolint")
    proc = run([hadolint, "--failure-threshold", "info", *sorted(map(str, DOCKERFILES.values()))])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_builds_one_service_as_non_root_with_gunicorn(name: str) -> None:
    pkg, _suffix, image = SERVICES[name]
    path = DOCKERFILES[name]
    all_stages = stages(path)
    assert len(all_stages) >= 2, "multi-stage: build dependencies never reach the final image"
    # The base is `ARG PYTHON_IMAGE` (tests may build on a local stand-in, devstack/images.py)
    # whose default is the official slim Python image, pinned by full version.
    base = global_args(path).get("PYTHON_IMAGE", "")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", base), (
        f"pin the slim Python base by full version: ARG PYTHON_IMAGE={base}"
    )
    for stage in all_stages:
        image_ref = stage[0][1].split()[0]
        assert image_ref == "${PYTHON_IMAGE}", f"every stage starts from the base: {image_ref}"
    final = all_stages[-1]
    keywords = [k for k, _ in final]

    # Only this service's package and common/ enter the build context's images (the pinned
    # requirements first, so a change to common's code does not reinstall every dependency).
    allowed = {"common/", "common/requirements.txt", f"{pkg}/", f"{pkg}/requirements.txt"}
    for stage in all_stages:
        for keyword, args in stage:
            if keyword in {"COPY", "ADD"}:
                assert keyword == "COPY", "ADD fetches and unpacks: use COPY"
                parts = [p for p in args.split() if not p.startswith("--chown")]
                if parts[0].startswith("--from="):
                    continue
                *sources, _dest = parts
                assert set(sources) <= allowed, f"{path.name} copies {sources}"
    copied = {a.split()[0] for k, a in final if k == "COPY" and not a.startswith("--from=")}
    assert copied == {f"{pkg}/"}, "the final image gets the service package (common/ via the venv)"

    # Runs as a non-root user.
    users = [a for k, a in final if k == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, user
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k in {"RUN", "COPY"})

    # Port, health check, entry point.
    assert ("EXPOSE", "8080") in final
    (healthcheck,) = [a for k, a in final if k == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    entry = [a for k, a in final if k in {"ENTRYPOINT", "CMD"}]
    assert entry, "ENTRYPOINT or CMD required"
    argv = json.loads(entry[-1])
    assert argv == [f"/app/{pkg}/app.sh"], "exec form, through the service's app.sh"
    assert ("WORKDIR", "/app") in final

    # Configuration: port and metrics dir as in k8s, production by default, no secret anywhere.
    env: dict[str, str] = {}
    for keyword, args in final:
        if keyword == "ENV":
            env |= env_pairs(args)
    assert env["PORT"] == "8080"
    assert env["SERVICE_NAME"] == name
    assert env["SALESYNC_ENV"] == "production"
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/prometheus"  # noqa: S108
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "read-only root filesystem in k8s"
    assert {"GUNICORN_WORKERS", "GUNICORN_THREADS"} <= set(env)
    # The build's CA (PIP_CERT) comes in as a secret mount on the pip steps only, never COPY.
    pip_steps = [a for k, a in all_stages[0] if k == "RUN" and "pip install" in a]
    assert pip_steps and all(a.startswith("--mount=type=secret,id=pip-cert ") for a in pip_steps)
    assert ("ARG", "PIP_CERT") in all_stages[0] and ("ARG", "PIP_CERT") not in final
    assert "pip uninstall --yes pip setuptools" in pip_steps[-1], "no installer in the runtime"
    for keyword, args in (i for s in all_stages for i in s):
        if keyword in {"ENV", "ARG", "LABEL"}:
            assert not any(w in args.upper() for w in SECRET_WORDS), f"{keyword} {args}"
        assert "flask run" not in args and "FLASK_DEBUG" not in args, "no dev server"
    text = path.read_text()
    assert f"salesync-{SERVICES[name][1]}" in text and image == f"salesync-{SERVICES[name][1]}"


def test_every_image_has_the_same_pinned_base() -> None:
    pins = {global_args(path)["PYTHON_IMAGE"] for path in DOCKERFILES.values()}
    assert len(pins) == 1, pins


def test_dockerignore_sends_only_the_packages() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "ignore everything, then allow the packages"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {pkg for pkg, _s, _i in SERVICES.values()} | {"common"}
    for pattern in ("**/tests/", "**/__pycache__/", "**/.env", "**/*.egg-info/"):
        assert pattern in lines, pattern


@pytest.mark.parametrize("name", SERVICES)
def test_app_sh_is_the_agreed_entry(name: str) -> None:
    pkg = SERVICES[name][0]
    path = REPO / pkg / "app.sh"
    assert path.read_text() == APP_SH.format(name=name, pkg=pkg)
    assert os.access(path, os.X_OK), f"chmod +x {path}"
    mode = run(["git", "ls-files", "-s", f"{pkg}/app.sh"]).stdout.split()
    assert mode and mode[0] == "100755", "commit app.sh with the executable bit"


def test_app_sh_shellcheck() -> None:
    shellcheck = require_tool("shellcheck")
    paths = [str(REPO / pkg / "app.sh") for pkg, _s, _i in SERVICES.values()]
    proc = run([shellcheck, "--shell=sh", *paths])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_serve_runs_gunicorn_on_the_app_factory_and_port_8080() -> None:
    """app.sh -> ``python -m salesync_common.serve <pkg>`` -> gunicorn ``<pkg>.app:create_app()``
    bound to ``0.0.0.0:$PORT`` (8080 by default), or Alembic with ``migrate``."""
    serve = (REPO / "common" / "salesync_common" / "serve.py").read_text()
    assert 'factory = "create_app()"' in serve and 'f"{package}.app:{factory}"' in serve
    assert '"gunicorn"' in serve and "flask run" not in serve
    assert '"migrate"' in serve
    conf = ast.parse((REPO / "common" / "salesync_common" / "gunicorn_conf.py").read_text())
    source = ast.unparse(conf)
    assert "'PORT', '8080'" in source and "0.0.0.0:" in source
    assert "GUNICORN_WORKERS" in source and "GUNICORN_THREADS" in source


def _module_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


@pytest.mark.parametrize("name", SERVICES)
def test_service_package_has_the_app_factory_the_image_runs(name: str) -> None:
    pkg = SERVICES[name][0]
    app_init = REPO / pkg / "app" / "__init__.py"
    assert app_init.is_file(), f"{pkg}/app/__init__.py (the image runs {pkg}.app:create_app())"
    tree = ast.parse(app_init.read_text())
    factories = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "create_app"]
    assert factories or "create_app" in _module_names(tree), f"{pkg}.app defines create_app"
    if factories:
        args = factories[0].args
        required = len(args.args) - len(args.defaults)
        assert required == 0, "gunicorn calls create_app() without arguments"
    assert (REPO / pkg / "__init__.py").is_file(), f"{pkg} must be a package"
    assert (REPO / pkg / "requirements.txt").is_file(), "the Dockerfile installs it"
    config = REPO / pkg / "config"
    config_file = config / "__init__.py" if config.is_dir() else REPO / pkg / "config.py"
    assert config_file.is_file(), "salesync_common.serve imports <pkg>.config"
    config_names = _module_names(ast.parse(config_file.read_text()))
    assert "Settings" in config_names, f"{pkg}.config.Settings (read by salesync_common.serve)"
    if name != "bff":
        assert "SCHEMA" in config_names, f"{pkg}.config.SCHEMA: `app.sh migrate` needs it"
        assert (REPO / pkg / "migrations").is_dir(), "migrations run at deploy time (k8s Job)"
