"""Load generation and its statistics: headless Locust runs and exact percentiles.

Locust runs in its own process (gevent patches the interpreter); ``locustfile.py`` writes its raw
samples, this module cuts the warm-up and computes the percentiles per call.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from devstack.stack import REPO

OUT = Path(__file__).resolve().parent
WORK = REPO / "var" / "bench"
CALLS = ("open", "unpaids", "edit", "pay")
WARMUP_S = 2.0  # Locust samples of the first seconds (connections, ramp-up) are left out


# --------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def stats(values: list[float], errors: int, elapsed: float) -> dict[str, float]:
    return {
        "count": len(values),
        "errors": errors,
        "rps": round(len(values) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p95_ms": round(percentile(values, 95) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1) if values else float("nan"),
    }


class Recorder:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def add(self, call: str, seconds: float, ok: bool) -> None:
        with self.lock:
            self.samples[call].append(seconds)
            if not ok:
                self.errors[call] += 1

    def summary(self, elapsed: float) -> dict[str, dict[str, float]]:
        return {
            call: stats(values, self.errors.get(call, 0), elapsed)
            for call, values in self.samples.items()
        }


# --------------------------------------------------------------------------- Locust


def run_locust(
    host: str, user_class: str, users: int, seconds: float, env: dict[str, str]
) -> dict[str, Any]:
    """Headless Locust (own process: gevent patches); exact percentiles from its raw samples."""
    out = WORK / f"locust-{user_class}-{uuid.uuid4().hex[:6]}.json"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(OUT / "locustfile.py"),
        "--headless",
        "--only-summary",
        "--loglevel",
        "ERROR",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{int(seconds + WARMUP_S)}s",
        "--stop-timeout",
        "5",
        "--host",
        host,
        user_class,
    ]
    subprocess.run(
        command,
        env={**os.environ, **env, "BENCH_OUT": str(out)},
        cwd=REPO,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=seconds + 120,
    )
    samples = json.loads(out.read_text())
    out.unlink()
    first = min(s[1] for s in samples)
    begin = first + WARMUP_S
    kept = [s for s in samples if s[1] >= begin]
    end = max(s[1] + s[2] for s in kept)
    recorder = Recorder()
    for name, _, seconds_taken, ok in kept:
        recorder.add(name, seconds_taken, ok)
    elapsed = end - begin
    return {
        "tool": "locust 2.47.0",
        "users": users,
        "seconds": round(elapsed, 1),
        "calls": recorder.summary(elapsed),
    }
