"""Build the real control plane's binaries from the wrapper modules beside this file.

Each wrapper module is built with the ordinary `go build` into a cache directory named by the hash
of its go.mod and go.sum, so a machine that has built this exact set of versions before skips the
build. The cache lives under `$LWS_REALCLUSTER_CACHE` (default `~/.cache/lws/realcluster`).

    python tests/realcluster/gomod/build.py          # build what is missing, print the bin directory
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import MODULES, go_env

HERE = Path(__file__).resolve().parent

# The binary each tool package builds to.
BINARIES = {
    "k8s.io/kubernetes/cmd/kube-apiserver": "kube-apiserver",
    "k8s.io/kubernetes/cmd/kube-controller-manager": "kube-controller-manager",
    "k8s.io/kubernetes/cmd/kube-scheduler": "kube-scheduler",
    "go.etcd.io/etcd/server/v3": "etcd",
    "sigs.k8s.io/kwok/cmd/kwok": "kwok",
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
    """The directory holding `name`'s binaries, built first if this go.mod has not been built here."""
    _, _, tools = MODULES[name]
    target = cache_root() / f"{name}-{module_key(name)}"
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


def build_all() -> dict[str, Path]:
    """Every binary of the control plane, by name, built where missing."""
    paths: dict[str, Path] = {}
    for name, (_, _, tools) in MODULES.items():
        directory = build_module(name)
        for tool in tools:
            paths[BINARIES[tool]] = directory / BINARIES[tool]
    return paths


def main() -> int:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    for binary, path in build_all().items():
        print(f"{binary}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
