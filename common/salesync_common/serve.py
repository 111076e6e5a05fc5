"""Container entry: ``python -m salesync_common.serve <package> [migrate|<entry point>]``.

Without a command it execs gunicorn (never a dev server) on ``0.0.0.0:$PORT`` with the shared
gunicorn settings serving ``<package>.app:create_app()``; with ``migrate`` it applies the service's
Alembic migrations and exits. A package may declare more processes of the same image in its
config's ``ENTRY_POINTS`` (the order service's ``stream``): another app factory, and the gunicorn
worker model that suits it (environment defaults the deployment can still override). Whatever the
command, the settings are loaded first: a bad configuration exits with status 2 and a one-line
reason on stderr instead of a traceback from every gunicorn worker.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from salesync_common.settings import configuration_error


@dataclass(frozen=True)
class EntryPoint:
    """Another process of a service's image: ``<package>.app:<factory>`` under gunicorn."""

    factory: str
    environment: Mapping[str, str] = field(default_factory=dict)  # defaults (GUNICORN_*)


def load_settings(package: str) -> tuple[object, str | None]:
    config = importlib.import_module(f"{package}.config")
    return config.Settings(), getattr(config, "SCHEMA", None)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(
            "usage: python -m salesync_common.serve <package> [migrate|<entry point>]",
            file=sys.stderr,
        )
        return 2
    package, command = argv[1], (argv[2] if len(argv) > 2 else "serve")
    entry_points: Mapping[str, EntryPoint] = getattr(
        importlib.import_module(f"{package}.config"), "ENTRY_POINTS", {}
    )
    if command not in ("serve", "migrate") and command not in entry_points:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    factory = "create_app()"
    if command in entry_points:
        factory = entry_points[command].factory
        for key, value in entry_points[command].environment.items():
            os.environ.setdefault(key, value)
    try:
        settings, schema = load_settings(package)
    except ValidationError as exc:
        print(f"{package} refuses to start: {configuration_error(exc)}", file=sys.stderr)
        return 2
    if command == "migrate":
        from salesync_common.migrate import upgrade

        if schema is None:
            print(f"{package} has no database: nothing to migrate")
            return 0
        upgrade(package, settings, schema)  # type: ignore[arg-type]
        print(f"{package}: migrations applied")
        return 0
    os.execvp(  # noqa: S606 - replace this process with gunicorn, no shell involved
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:salesync_common.gunicorn_conf",
            f"{package}.app:{factory}",
        ],
    )
    return 0  # unreachable: execvp replaces the process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
