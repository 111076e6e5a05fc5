"""py-spy sampling of a stack service under load, and the summary the report shows."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.load import WORK
from devstack.stack import REPO, Stack

# --------------------------------------------------------------------------- py-spy


def start_profile(stack: Stack, service: str, seconds: float) -> tuple[subprocess.Popen, Path]:
    """py-spy on the service's gunicorn master and its workers (non-blocking sampling)."""
    pid = int((stack.run_dir / f"{service}.pid").read_text())
    out = WORK / f"pyspy-{service}-{uuid.uuid4().hex[:6]}.txt"
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    process = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--full-filenames",
            "--rate",
            "100",
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, out


FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


def _component(path: str) -> str:
    """Where a frame lives: a package under site-packages, a repo package, or the stdlib."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(REPO)):
        parts = Path(path).relative_to(REPO).parts
        return "salesync_common" if parts[0] == "common" else parts[0]
    return "stdlib:" + Path(path).stem


def _short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", f"{REPO}/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path}:{match['line'] or '?'})"


def parse_profile(path: Path, top: int = 12) -> dict[str, Any]:
    """Top self frames, top inclusive frames of our code, and CPU share per package."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"samples": 0}
    for raw in path.read_text(errors="replace").splitlines():
        stack, _, count_text = raw.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        matches = [(f, m) for f in stack.split(";") if (m := FRAME.match(f))]
        if not matches:
            continue
        frames = [f for f, _ in matches]
        total += count
        leaf, leaf_match = matches[-1]
        self_time[_short(leaf)] += count
        packages[_component(leaf_match["file"])] += count
        seen = set()
        for frame in frames:
            match = FRAME.match(frame)
            if match and match["file"].startswith(str(REPO)):
                short = _short(frame).rsplit(":", 1)[0] + ")"  # per function, not per line
                if short not in seen:
                    seen.add(short)
                    inclusive[short] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "by_package_pct": share(packages),
        "top_self_pct": share(self_time),
        "top_inclusive_own_code_pct": share(inclusive),
    }
