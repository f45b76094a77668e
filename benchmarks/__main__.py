"""Run every benchmark in turn with its defaults, printing their figures (``tox -e bench``).

Benchmarks are never tests: they print numbers for the README's performance section and assert nothing.
Pass a benchmark's name to run only it, e.g. ``python -m benchmarks sim_api``.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ALL = ("sim_api", "sim_statefulset", "simulate_placement", "tracing_overhead", "operator_scale")


def main(argv: list[str]) -> int:
    chosen = argv or list(ALL)
    unknown = [name for name in chosen if name not in ALL]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    print(f"machine: {platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}")
    for name in chosen:
        print(f"\n=== {name}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py")], check=False)
        if done.returncode != 0:
            return done.returncode
    return 0


def _cpus() -> str:
    import os

    return str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
