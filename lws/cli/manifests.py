"""``lws manifests``: the install manifests, for ``kubectl apply --server-side -f -``.

The objects are ``kubectl kustomize config/default``, rendered into ``lws/deploy/`` (package data) so the
command needs neither the repository nor kubectl; the install tests fail when the two drift apart. The
options mirror what a kustomize overlay over ``config/default`` would do (``namespace:``, ``images:``,
``replicas:``, ``components:``) and are tested against exactly such overlays.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import click
import yaml

from lws.api.crd import build_crd
from lws.cli.options import CliError, load, plugin_options
from lws.cli.yaml_output import to_yaml_documents

Obj = dict[str, Any]

#: Optional kustomize components of ``config/``, each rendered into ``lws/deploy/<name>.yaml`` as the
#: objects it adds to, or changes in, ``config/default``.
COMPONENTS = ("prometheus", "volcano", "coscheduling")
GANG_SCHEDULERS = ("volcano", "coscheduling")
DEFAULT_FILE = "default.yaml"
DEPLOYMENT_NAME = "lws-controller-manager"
MANAGER_CONTAINER = "manager"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Options:
    """How to change the packaged installation; ``None`` keeps what ``config/default`` says."""

    namespace: str | None = None
    image: str | None = None
    replicas: int | None = None
    components: tuple[str, ...] = ()


def object_key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(apiVersion's group, kind, namespace, name): what identifies an object in a manifest set."""
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return (group, str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))


def packaged(name: str) -> list[Obj]:
    """The objects of one rendered file in ``lws/deploy/`` (``default.yaml`` or ``<component>.yaml``)."""
    text = resources.files("lws").joinpath("deploy", name).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def with_components(base: Sequence[Obj], parts: Mapping[str, Sequence[Obj]]) -> list[Obj]:
    """``base`` with each component's objects: a changed object replaces its original, a new one follows.

    :raises ValueError: when two components change the same object, which kustomize would merge but a
        replacement cannot (the volcano and coscheduling components both set the operator's plugins).
    """
    result = [copy.deepcopy(obj) for obj in base]
    position = {object_key(obj): i for i, obj in enumerate(result)}
    changed_by: dict[tuple[str, str, str, str], str] = {}
    for component, objects in parts.items():
        for obj in objects:
            key = object_key(obj)
            if key in changed_by:
                raise ValueError(
                    f"components {changed_by[key]} and {component} both change {key[1]} {key[3]}: "
                    "choose one of them"
                )
            changed_by[key] = component
            if key in position:
                result[position[key]] = copy.deepcopy(obj)
            else:
                position[key] = len(result)
                result.append(copy.deepcopy(obj))
    return result


def in_namespace(objects: Iterable[Obj], namespace: str) -> list[Obj]:
    """Move the installation to ``namespace``, as kustomize's ``namespace:`` does.

    Namespaced objects, the Namespace itself, ServiceAccount subjects of bindings and the webhook
    configurations' Service references all follow.
    """
    moved: list[Obj] = []
    for original in objects:
        obj = copy.deepcopy(original)
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1":
            meta["name"] = namespace
        elif "namespace" in meta:
            meta["namespace"] = namespace
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount" and "namespace" in subject:
                subject["namespace"] = namespace
        for webhook in obj.get("webhooks") or []:
            service = (webhook.get("clientConfig") or {}).get("service")
            if service is not None:
                service["namespace"] = namespace
        moved.append(obj)
    return moved


def _manager_deployment(objects: Iterable[Obj]) -> Obj:
    for obj in objects:
        if obj.get("kind") == "Deployment" and (obj.get("metadata") or {}).get("name") == DEPLOYMENT_NAME:
            return obj
    raise ValueError(f"the packaged manifests have no Deployment {DEPLOYMENT_NAME}: reinstall lws")


def customize(base: Sequence[Obj], parts: Mapping[str, Sequence[Obj]], options: Options) -> list[Obj]:
    """The installation ``options`` ask for: components first, then namespace, image and replicas."""
    unknown = [name for name in options.components if name not in parts]
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(unknown)}: choose from {', '.join(COMPONENTS)}")
    objects = with_components(base, {name: parts[name] for name in options.components})
    if options.namespace is not None:
        objects = in_namespace(objects, options.namespace)
    deployment = _manager_deployment(objects)
    if options.image is not None:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            if container.get("name") == MANAGER_CONTAINER:
                container["image"] = options.image
    if options.replicas is not None:
        deployment["spec"]["replicas"] = options.replicas
    return objects


def with_crd(
    objects: Sequence[Obj], config_path: str | None, enable: tuple[str, ...], disable: tuple[str, ...]
) -> list[Obj]:
    """``objects`` with the packaged CRD's spec replaced by the one the installed, selected plugins define.

    The packaged CRD keeps its metadata (the installation's labels); its spec, where the policy enums
    are, is the one ``lws crd`` prints with the same plugin selection.
    """
    _, hooks = load(config_path, enable, disable)
    crd = build_crd(startup_policies=hooks.startup_values, restart_policies=hooks.restart_values)
    name = crd["metadata"]["name"]
    out = [
        {**o, "spec": crd["spec"]}
        if o.get("kind") == "CustomResourceDefinition" and o["metadata"]["name"] == name
        else o
        for o in objects
    ]
    if not any(o.get("spec") is crd["spec"] for o in out):
        raise ValueError("the packaged manifests have no LeaderWorkerSet CRD to build from the plugins")
    return out


def _check_namespace(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (len(value) > 63 or not _DNS1123_LABEL.match(value)):
        raise click.BadParameter(
            f"{value!r} is not a valid namespace name: use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


@click.command(
    "manifests",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="""\b
Examples:
  lws manifests | kubectl apply --server-side -f -
  lws manifests --image registry.example/lws-operator:0.1.0 --replicas 3 | kubectl apply -f -
  lws manifests --service-monitor --gang-scheduling volcano > lws-install.yaml""",
)
@click.option(
    "--image",
    metavar="REF",
    help="The operator's image, built with the repository's Dockerfile [default: lws-operator:<version>].",
)
@click.option(
    "-n",
    "--namespace",
    metavar="NS",
    callback=_check_namespace,
    help="Namespace of the operator, its Lease and its Services [default: lws-system].",
)
@click.option(
    "--replicas",
    type=click.IntRange(min=0),
    help="Operator replicas; one reconciles at a time, all serve the webhooks [default: 2].",
)
@click.option(
    "--service-monitor",
    is_flag=True,
    help="Add a prometheus-operator ServiceMonitor for /metrics (the cluster needs its CRDs).",
)
@click.option(
    "--gang-scheduling",
    type=click.Choice(GANG_SCHEDULERS),
    help="Create a PodGroup per group for this scheduler: its RBAC, and the plugin turned on.",
)
@plugin_options
def command(
    config_path: str | None,
    enable_plugins: tuple[str, ...],
    disable_plugins: tuple[str, ...],
    image: str | None,
    namespace: str | None,
    replicas: int | None,
    service_monitor: bool,
    gang_scheduling: str | None,
) -> None:
    """Print the objects that install the operator: CRD, namespace, RBAC, Deployment, Services, webhooks.

    The same objects as `kubectl kustomize config/default` in the repository. The Deployment becomes
    available once the image can be pulled; until then (and on clusters with no container runtime, such
    as `lws cluster up`) the webhooks answer nothing, so creating LeaderWorkerSets fails.

    The CRD is built from the plugins installed here (as `lws crd`): its startupPolicy and restartPolicy
    enums list the values the enabled plugins implement, so install from where the operator's plugins are.
    """
    components = (
        *(("prometheus",) if service_monitor else ()),
        *((gang_scheduling,) if gang_scheduling else ()),
    )
    options = Options(namespace=namespace, image=image, replicas=replicas, components=components)
    try:
        base = packaged(DEFAULT_FILE)
        parts = {name: packaged(f"{name}.yaml") for name in components}
        objects = with_crd(customize(base, parts, options), config_path, enable_plugins, disable_plugins)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    click.echo(to_yaml_documents(objects), nl=False)
