"""The table cycle's p99 with and without 200 open streams, in alternating rounds (issue 14).

Runs on a ``make up`` stack with the first version's load harness (``../shared/bench/bench.py``,
its own venv)::

    python -m benchmarks.stream_rounds --harness /tmp/salesync-bench-venv/bin/python \\
        --bench ../shared/bench/bench.py --pairs 3 --seconds 90

Each pair is a round without streams, then a round with ``--streams`` streams held by
``benchmarks.streams --light`` (one thread, raw sockets) on the 16 stores the harness signs up
for that round (store ids follow the newest one: the harness signs up its stores in order).
Open loop at ``--rate`` cycles/s over 64 tables. Prints each round's cycle p50/p99 and the
system's CPU, then each pair's p99 ratio and the median ratio: on two shared cores a round's p99
(the 9th-worst of 900 cycles) varies by 10-20 % between two rounds of the same kind, so one pair
proves nothing either way.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg2

from devstack import postgres
from devstack.stack import REPO

STORES = 16  # 64 tables, 4 a store


def newest_store_id() -> int:
    with psycopg2.connect(postgres.admin_url("salesync")) as conn, conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(store_id), 0) FROM store.stores")
        row = cur.fetchone()
        return int(row[0]) if row else 0


def run_round(args: argparse.Namespace, name: str) -> dict[str, Any]:
    out = args.out / f"{name}.json"
    bench = Path(args.bench).resolve()
    command = [args.harness, str(bench), "--nice", "-5", "--scenario", "table_cycle"]
    command += ["--clients", "64", "--rate", str(args.rate), "--duration", str(args.seconds)]
    command += ["--rounds", "1", "--base", args.url, "--json", str(out)]
    command += ["--cpu-groups", str(bench.parent / "cpu-groups-salesync.json")]
    subprocess.run(
        command,
        check=True,
        cwd=bench.parent,
        stdout=subprocess.DEVNULL,
    )
    report = json.loads(out.read_text())
    phase = next(iter(report["phases"].values()))
    measured: dict[str, Any] = next(iter(phase["rounds"].values()))[0]
    return measured


def summary(measured: dict[str, Any]) -> tuple[float, float, float]:
    cpu = measured["cpu_pct_of_one_core"]
    system = sum(v for k, v in cpu.items() if not k.startswith(("_", "bench")))
    return measured["cycles"]["p50"], measured["cycles"]["p99"], system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--harness", required=True, help="the harness venv's python")
    parser.add_argument("--bench", required=True, help="path of bench.py")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "var" / "stream-rounds")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ratios: list[float] = []
    for pair in range(1, args.pairs + 1):
        without = summary(run_round(args, f"{pair}-without"))
        first = newest_store_id() + 1
        holder_command = [sys.executable, "-m", "benchmarks.streams", "--light", "--url", args.url]
        holder_command += ["--streams", str(args.streams), "--seconds", str(args.seconds + 40)]
        holder_command += ["--store-ids", f"{first}-{first + STORES - 1}"]
        holder = subprocess.Popen(
            holder_command,
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(4)  # the streams are open (and idle) before the round signs up its stores
        with_streams = summary(run_round(args, f"{pair}-with"))
        held, _ = holder.communicate()
        ratios.append(with_streams[1] / without[1])
        for label, (p50, p99, cpu) in (("without", without), ("with", with_streams)):
            print(
                f"pair {pair} {label:8s} cycle p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
                f"system CPU {cpu:5.1f} % of a core",
                flush=True,
            )
        print(f"pair {pair} p99 with/without {ratios[-1]:.3f}; streams: {held.strip()}", flush=True)
    print(f"median p99 ratio over {len(ratios)} pairs: {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
