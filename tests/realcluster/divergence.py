"""The divergence report: the API-semantics suite run against the embedded cluster and the real control plane,
and every test whose outcome differs between the two.

    python -m tests.realcluster run -t tests/operator/topology.yaml -- python -m tests.realcluster.divergence

The real target is ``LWS_TEST_KUBECONFIG`` (``run`` sets it). The suite is the real mode's selection of
the tests marked ``api_semantics`` (those that talk to the cluster under test through ``kube_api`` and the
other ``kubeconfig_path`` fixtures, none marked ``sim_only``; most live in ``tests/sim``); the same test
ids then run on a fresh embedded cluster. Exit status 0 when every difference is in ``divergences.yaml``
with the outcomes it records, no entry there is stale, and no test fails on both targets; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALLOW_LIST = Path(__file__).resolve().parent / "divergences.yaml"
SUITE = ("tests",)
MARKER = "api_semantics"
REAL_ENV = "LWS_TEST_KUBECONFIG"


@dataclass(frozen=True)
class Allowed:
    """One explained divergence: the outcomes it has on each target, and why."""

    test: str
    embedded: str
    real: str
    reason: str


def load_allow_list(path: Path = ALLOW_LIST) -> dict[str, Allowed]:
    """The checked-in allow-list; each entry must name its test, both outcomes and a reason."""
    data = yaml.safe_load(path.read_text()) or {}
    entries: dict[str, Allowed] = {}
    for index, raw in enumerate(data.get("divergences") or []):
        missing = [k for k in ("test", "embedded", "real", "reason") if not str(raw.get(k) or "").strip()]
        if missing:
            raise SystemExit(f"{path}: divergences[{index}] lacks {', '.join(missing)}")
        entries[raw["test"]] = Allowed(
            raw["test"], raw["embedded"], raw["real"], " ".join(raw["reason"].split())
        )
    return entries


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]


def collect(env: Mapping[str, str], paths: Sequence[str]) -> list[str]:
    """The API-semantics test ids the real mode selects under ``paths``."""
    done = subprocess.run(
        pytest_command("--collect-only", "-q", "-m", MARKER, *paths),
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    ids = [line for line in done.stdout.splitlines() if "::" in line and not line.startswith(" ")]
    if done.returncode != 0 or not ids:
        raise SystemExit(
            f"collecting {' '.join(paths)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return ids


def run(env: Mapping[str, str], ids: Sequence[str], workers: int, label: str) -> dict[str, dict[str, Any]]:
    """Run ``ids``; their outcomes (see :mod:`tests.realcluster.outcomes`)."""
    with tempfile.TemporaryDirectory(prefix="lws-divergence-") as tmp:
        out = Path(tmp) / "outcomes.json"
        args = ["-p", "tests.realcluster.outcomes", f"--outcomes={out}", "-q", "--no-header", "-rN"]
        if workers > 1:
            args += ["-n", str(workers)]
        started = time.monotonic()
        subprocess.run(pytest_command(*args, *ids), cwd=ROOT, env=dict(env), check=False)
        print(f"{label}: {len(ids)} tests in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
        if not out.exists():
            raise SystemExit(f"the {label} run wrote no outcomes")
        results: dict[str, dict[str, Any]] = json.loads(out.read_text())
        return results


def compare(
    embedded: Mapping[str, Mapping[str, Any]],
    real: Mapping[str, Mapping[str, Any]],
    allowed: Mapping[str, Allowed],
) -> tuple[list[str], bool]:
    """Report lines, and whether the report passes (see the module docstring)."""
    lines: list[str] = []
    ok = True
    differing: set[str] = set()
    for test in sorted(set(embedded) | set(real)):
        a = (embedded.get(test) or {}).get("outcome", "missing")
        b = (real.get(test) or {}).get("outcome", "missing")
        if a == b:
            if a in ("failed", "error"):
                ok = False
                lines.append(f"FAILS ON BOTH  {test}: {(real.get(test) or {}).get('message', '')}")
            continue
        differing.add(test)
        entry = allowed.get(test)
        why = (real.get(test) or {}).get("message") or (embedded.get(test) or {}).get("message") or ""
        if entry is not None and (entry.embedded, entry.real) == (a, b):
            lines.append(f"allowed        {test}: embedded {a}, real {b} -- {entry.reason}")
        else:
            ok = False
            listed = f" (listed as embedded {entry.embedded}, real {entry.real})" if entry else ""
            lines.append(f"UNEXPLAINED    {test}: embedded {a}, real {b}{listed}: {why}")
    for test in sorted(set(allowed) - differing):
        ok = False
        lines.append(
            f"STALE          {test}: listed in {ALLOW_LIST.name} but the outcomes agree now; remove it"
        )
    return lines, ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", default=list(SUITE), help="test paths (default: tests)")
    parser.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers per run")
    parser.add_argument("--allow-list", type=Path, default=ALLOW_LIST)
    args = parser.parse_args(argv)
    if not os.environ.get(REAL_ENV):
        print(f"{REAL_ENV} must name the real control plane's kubeconfig (python -m tests.realcluster run)")
        return 2
    allowed = load_allow_list(args.allow_list)
    real_env = dict(os.environ)
    embedded_env = {k: v for k, v in os.environ.items() if k != REAL_ENV}
    ids = collect(real_env, args.paths)
    real = run(real_env, ids, args.workers, "real control plane")
    embedded = run(embedded_env, ids, args.workers, "embedded cluster")
    lines, ok = compare(embedded, real, allowed)
    print(f"\nDivergence report: {len(ids)} API-semantics tests on both targets")
    for line in lines:
        print(line)
    print("no unexplained divergence" if ok else "FAILED: unexplained divergences (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
