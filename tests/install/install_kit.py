"""What the install tests share: the real kustomize (``kubectl kustomize``) over ``config/``, and the rendering
of ``lws/deploy/`` (the package data ``lws manifests`` prints).

After changing anything under ``config/`` (or the CRD in ``crds/``), refresh the rendered copies with::

    .venv/bin/python tests/install/install_kit.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from lws.cli.manifests import COMPONENTS, DEFAULT_FILE, Obj, object_key

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
DEPLOY = ROOT / "lws" / "deploy"
CRD_SOURCE = ROOT / "crds" / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
CRD_COPY = CONFIG / "crd" / "bases" / CRD_SOURCE.name
KUBECTL = str(Path(sys.executable).parent / "kubectl")

HEADER = (
    "# Generated from config/{source} by tests/install/install_kit.py (the real kustomize); do not edit.\n"
)


def kubectl(*args: str, stdin: str | None = None, kubeconfig: Path | None = None) -> str:
    """Run the real kubectl; return its standard output. Fails with kubectl's own error text."""
    command = [KUBECTL, *([f"--kubeconfig={kubeconfig}"] if kubeconfig else []), *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def parse_all(text: str) -> list[Obj]:
    """The objects of a YAML stream (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(directory: Path) -> str:
    """``kubectl kustomize DIRECTORY``."""
    return kubectl("kustomize", str(directory))


def build(
    *,
    components: Sequence[str] = (),
    overlay: Mapping[str, Any] | None = None,
    config: Path = CONFIG,
) -> list[Obj]:
    """``config/default`` with ``components`` turned on (as a user would uncomment them there), under an
    overlay kustomization with the fields of ``overlay`` (``namespace``, ``images``, ``replicas``...)."""
    with tempfile.TemporaryDirectory(prefix="lws-config-") as tmp:
        copy = Path(tmp) / "config"
        shutil.copytree(config, copy)
        default = copy / "default" / "kustomization.yaml"
        kustomization = yaml.safe_load(default.read_text())
        if components:
            kustomization["components"] = [f"../{name}" for name in components]
        default.write_text(yaml.safe_dump(kustomization))
        target = copy / "default"
        if overlay:
            target = copy / "overlay"
            target.mkdir()
            body = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
            (target / "kustomization.yaml").write_text(
                yaml.safe_dump({**body, "resources": ["../default"], **overlay})
            )
        return parse_all(kustomize(target))


def changes(base: Iterable[Obj], variant: Iterable[Obj]) -> list[Obj]:
    """The objects of ``variant`` that ``base`` lacks or has otherwise, in ``variant``'s order."""
    known = {object_key(obj): obj for obj in base}
    return [obj for obj in variant if known.get(object_key(obj)) != obj]


def rendered() -> dict[str, str]:
    """What ``lws/deploy/`` should hold: file name -> text."""
    default_text = kustomize(CONFIG / "default")
    files = {DEFAULT_FILE: HEADER.format(source="default") + default_text}
    base = parse_all(default_text)
    for name in COMPONENTS:
        added = changes(base, build(components=[name]))
        files[f"{name}.yaml"] = HEADER.format(source=name) + yaml.safe_dump_all(
            added, sort_keys=False, explicit_start=True
        )
    return files


def main() -> None:
    """Refresh the CRD copy in ``config/crd/bases`` and the rendered ``lws/deploy/*.yaml``."""
    shutil.copyfile(CRD_SOURCE, CRD_COPY)
    DEPLOY.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (DEPLOY / name).write_text(text)
        print(f"wrote {(DEPLOY / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
