"""CPU per table cycle of each system, from a side-by-side JSON of ``../shared/bench/bench.py``.

``python -m benchmarks.cpu_per_cycle /tmp/closed.json`` prints, per phase and round, each
system's cycles/s and the CPU its *own* process groups used per cycle, then the medians and the
ratios. The other stack, up during every round, is left out: its idle background would otherwise
be charged to the system being measured. Both group files match nginx with ``^nginx`` and the
harness files each process under the first match (the first system's group), so in the second
system's rounds that group is the second system's ingress and is counted for it.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Mapping
from typing import Any


def own_groups(cpu: Mapping[str, float], label: str, first_label: str) -> dict[str, float]:
    """The groups (``label:name`` -> % of a core) that belong to ``label``'s system."""
    shared_ingress = f"{first_label}:nginx"
    return {
        name: value
        for name, value in cpu.items()
        if name.startswith(f"{label}:") or (label != first_label and name == shared_ingress)
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m benchmarks.cpu_per_cycle <side-by-side.json>", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        report: dict[str, Any] = json.load(handle)
    for phase, results in report["phases"].items():
        print(phase)
        labels = list(results["rounds"])
        medians: dict[str, tuple[float, float]] = {}
        for label in labels:
            per_round = []
            for number, round_ in enumerate(results["rounds"][label], 1):
                cycles = round_["cycles"]["per_s"]
                own = own_groups(round_["cpu_pct_of_one_core"], label, labels[0])
                ms_per_cycle = 10 * sum(own.values()) / cycles  # % of a core -> ms per second
                per_round.append((cycles, ms_per_cycle))
                print(
                    f"  {label} round {number}: {cycles:.2f} cycles/s, "
                    f"{ms_per_cycle:.1f} ms of CPU per cycle, steal "
                    f"{round_['cpu_pct_of_one_core'].get('_steal', 0.0):.1f} % of a core"
                )
            medians[label] = (
                statistics.median(c for c, _ in per_round),
                statistics.median(m for _, m in per_round),
            )
        if len(labels) == 2:
            (a_cycles, a_cpu), (b_cycles, b_cpu) = medians[labels[0]], medians[labels[1]]
            print(
                f"  medians: {a_cycles:.2f} vs {b_cycles:.2f} cycles/s "
                f"({b_cycles / a_cycles:.2f}x), {a_cpu:.1f} vs {b_cpu:.1f} ms per cycle "
                f"({b_cpu / a_cpu:.3f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
