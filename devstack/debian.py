"""Servers the project runs itself come from Debian's packages, installed when missing.

PostgreSQL, Redis and nginx are started by ``devstack`` from the distribution's binaries, so a
fresh machine (CI) gets them from ``apt-get``; a developer's machine without root is told the one
command to run instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import TypeVar

Found = TypeVar("Found")


def ensure_installed(package: str, label: str, find: Callable[[], Found | None]) -> Found:
    """What ``find()`` locates (a binary, a directory), installing ``package`` first if missing.

    Exits with a message when it is missing and this is not root, or still missing afterwards.
    """
    found = find()
    if found is not None:
        return found
    if os.geteuid() != 0:
        sys.exit(f"{label} is not installed and this is not root: apt-get install {package}")
    print(f"installing {label} from Debian's packages ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        check=True,
        env=env,
    )
    found = find()
    if found is None:
        sys.exit(f"{package} installed but {label} was not found")
    return found
