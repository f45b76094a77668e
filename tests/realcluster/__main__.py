"""Command line of the real control plane (run from the repository root, in the project's virtualenv).

    python -m tests.realcluster build                  # build the binaries, or find them in the cache
    python -m tests.realcluster up [-t TOPOLOGY]...    # a plane in the foreground until Ctrl-C
    python -m tests.realcluster run [--operator] -- pytest tests/operator -m e2e
                                                       # a command against a plane, then stop it

``up`` prints the kubeconfig path first (``--kubeconfig`` copies it somewhere) on stdout; on stderr, its
progress (each component started, ready, stopped) and, once the plane serves, ``pids: ...``. ``run`` exports
``KUBECONFIG`` and ``LWS_TEST_KUBECONFIG`` to the command, with ``--operator`` installs the CRD and runs
``lws run`` against the plane first, and exits with the command's status. Both stop every process they
started on exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from tests.realcluster.gomod.build import build_all
from tests.realcluster.operator import install_crds, start_operator
from tests.realcluster.plane import Component, RealCluster


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so ``with`` blocks clean up as they do on Ctrl-C."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def plane_with_operator(
    topologies: Sequence[str], *, operator: bool, audit: bool = False
) -> Iterator[RealCluster]:
    started = time.monotonic()
    with RealCluster(topologies or "standard", audit=audit) as plane:
        print(
            f"control plane up in {time.monotonic() - started:.1f}s: {plane.url}, "
            f"{len(plane.node_specs())} nodes",
            file=sys.stderr,
            flush=True,
        )
        lws: Component | None = None
        try:
            if operator:
                install_crds(plane.kubeconfig)
                lws = start_operator(plane.kubeconfig, plane.workdir / "logs" / "lws-operator.log")
                print(f"operator ready (log {lws.log})", file=sys.stderr, flush=True)
            yield plane
        finally:
            if lws is not None:
                lws.stop()


def up(args: argparse.Namespace) -> int:
    # Ctrl-C or SIGTERM is how `up` ends, whenever it comes (even while the lines below are printed): the
    # plane's with block stops everything first, then the interrupt is swallowed and the status is 0.
    with (
        sigterm_as_interrupt(),
        contextlib.suppress(KeyboardInterrupt),
        plane_with_operator(args.topology, operator=args.operator) as plane,
    ):
        path = plane.write_kubeconfig(args.kubeconfig) if args.kubeconfig else plane.kubeconfig
        print(path, flush=True)
        print(f"pids: {' '.join(str(p) for p in plane.pids())}", file=sys.stderr, flush=True)
        threading.Event().wait()
    return 0


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("run: name a command after --", file=sys.stderr)
        return 2
    with sigterm_as_interrupt(), plane_with_operator(args.topology, operator=args.operator) as plane:
        env = {
            **os.environ,
            "KUBECONFIG": str(plane.kubeconfig),
            "LWS_TEST_KUBECONFIG": str(plane.kubeconfig),
        }
        child = subprocess.Popen(command, env=env)
        try:
            code = child.wait()
        except KeyboardInterrupt:
            child.terminate()
            code = child.wait()
        if code != 0 and args.operator:
            log = plane.workdir / "logs" / "lws-operator.log"
            lines = log.read_text(errors="replace").splitlines()[-60:] if log.exists() else []
            print("--- last lines of the operator's log\n" + "\n".join(lines), file=sys.stderr)
        return code


def build(args: argparse.Namespace) -> int:
    for name, path in build_all().items():
        print(f"{name}\t{path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.realcluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="what", required=True)
    commands.add_parser("build", help="build the binaries (or find them cached); print their paths")
    for name in ("up", "run"):
        sub = commands.add_parser(name)
        sub.add_argument(
            "-t",
            "--topology",
            action="append",
            default=[],
            help="topology file or shipped name (repeatable; default: standard)",
        )
        sub.add_argument("--operator", action="store_true", help="install the CRD and run the operator")
        if name == "up":
            sub.add_argument("--kubeconfig", type=Path, help="also write the kubeconfig here")
        else:
            sub.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    # The launcher's progress (each component started, ready, stopped) on stderr, after the kubeconfig line
    # on stdout: what a person or a test waiting on `up` follows.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    return {"build": build, "up": up, "run": run}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
