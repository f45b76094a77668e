"""Build the Go tools the tests run (the real control plane, Helm, the OLM bundle validator) from the
wrapper modules beside this file.

Each wrapper module is built with the ordinary `go build` into a cache directory named by the hash
of its go.mod and go.sum, so a machine that has built this exact set of versions before skips the
build. The cache lives under `$LWS_REALCLUSTER_CACHE` (default `~/.cache/lws/realcluster`).

    python tests/realcluster/gomod/build.py          # build what is missing, print the bin directory
    python tests/realcluster/gomod/build.py helm     # only these wrapper modules
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import CONTROL_PLANE, MODULES, go_env

HERE = Path(__file__).resolve().parent

# The binary each tool package builds to.
BINARIES = {
    "k8s.io/kubernetes/cmd/kube-apiserver": "kube-apiserver",
    "k8s.io/kubernetes/cmd/kube-controller-manager": "kube-controller-manager",
    "k8s.io/kubernetes/cmd/kube-scheduler": "kube-scheduler",
    "go.etcd.io/etcd/server/v3": "etcd",
    "sigs.k8s.io/kwok/cmd/kwok": "kwok",
    "helm.sh/helm/v4/cmd/helm": "helm",
    "github.com/operator-framework/api/cmd/operator-verify": "operator-verify",
}


def cache_root() -> Path:
    root = os.environ.get("LWS_REALCLUSTER_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "lws" / "realcluster"


def module_key(name: str) -> str:
    """A short hash of the module's go.mod and go.sum: a new version means a new build."""
    digest = hashlib.sha256()
    for file in ("go.mod", "go.sum"):
        digest.update((HERE / name / file).read_bytes())
    return digest.hexdigest()[:16]


def build_module(name: str, *, log: bool = True) -> Path:
    """The directory holding `name`'s binaries, built first if this go.mod has not been built here.

    Several processes (pytest-xdist workers) may ask at once: one builds, under a lock file, and the
    others wait for it and find the binaries made.
    """
    _, _, tools = MODULES[name]
    target = cache_root() / f"{name}-{module_key(name)}"
    if all((target / BINARIES[t]).is_file() for t in tools):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.with_name(target.name + ".lock")):
        if all((target / BINARIES[t]).is_file() for t in tools):
            return target
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        started = time.monotonic()
        # One tool: name the output file, since `go build -o DIR` names it after the package path's last
        # element, which for go.etcd.io/etcd/server/v3 is "server". Several: they land in the directory.
        output = partial / BINARIES[tools[0]] if len(tools) == 1 else partial
        subprocess.run(
            ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(output), *tools],
            cwd=HERE / name,
            env=go_env(),
            check=True,
        )
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    if log:
        print(
            f"built {name} ({', '.join(BINARIES[t] for t in tools)}) in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
    return target


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tool(name: str, binary: str) -> Path:
    """The path of one binary of wrapper module `name`, built first where missing."""
    return build_module(name) / binary


def build_all(names: Sequence[str] = CONTROL_PLANE) -> dict[str, Path]:
    """Every binary of the wrapper modules `names` (the control plane's by default), built where missing."""
    paths: dict[str, Path] = {}
    for name in names:
        _, _, tools = MODULES[name]
        directory = build_module(name)
        for tool in tools:
            paths[BINARIES[tool]] = directory / BINARIES[tool]
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "modules", nargs="*", help=f"wrapper modules, of {', '.join(MODULES)} [default: the control plane's]"
    )
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown wrapper module(s) {', '.join(unknown)}: choose from {', '.join(MODULES)}")
    for binary, path in build_all(args.modules or CONTROL_PLANE).items():
        print(f"{binary}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
