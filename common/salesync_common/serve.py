"""Container entry: ``python -m salesync_common.serve <package> [migrate]``.

Without ``migrate`` it execs gunicorn (never a dev server) on ``0.0.0.0:$PORT`` with the shared
gunicorn settings; with ``migrate`` it applies the service's Alembic migrations and exits. Either
way the settings are loaded first: a bad configuration exits with status 2 and a one-line reason
on stderr instead of a traceback from every gunicorn worker.
"""

from __future__ import annotations

import importlib
import os
import sys

from pydantic import ValidationError

from salesync_common.settings import configuration_error


def load_settings(package: str) -> tuple[object, str | None]:
    config = importlib.import_module(f"{package}.config")
    return config.Settings(), getattr(config, "SCHEMA", None)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m salesync_common.serve <package> [migrate]", file=sys.stderr)
        return 2
    package, command = argv[1], (argv[2] if len(argv) > 2 else "serve")
    if command not in ("serve", "migrate"):
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
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
            f"{package}.app:create_app()",
        ],
    )
    return 0  # unreachable: execvp replaces the process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
