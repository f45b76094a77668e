"""``lws manifests``: the install manifests, for ``kubectl apply --server-side -f -``.

The objects are ``kubectl kustomize config/default``, rendered into ``lws/deploy/`` (package data) so the
command needs neither the repository nor kubectl; the install tests fail when the two drift apart. Each
allowed combination of optional components is rendered too, as what it changes in ``default.yaml``
(``lws/deploy/<a>+<b>.yaml``: changed and added objects, removed ones as ``$patch: delete``), so no
component is ever merged by hand here. The other options mirror what kustomize would do with
``config/default`` (``namespace:``, ``images:``, ``replicas:``, an args patch) and are tested against
exactly that. The Helm chart (``charts/lws``) and the OLM bundle (``bundle/``) are tested against, and
built from, these objects.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import click
import yaml

from lws.api.crd import build_crd
from lws.api.disaggregated.crd import build_disaggregatedset_crd
from lws.cli.options import CliError, load, plugin_options
from lws.cli.yaml_output import to_yaml_documents

Obj = dict[str, Any]

#: cert-manager's CA injector copies the CA of the Certificate this annotation names into the object.
INJECT_CA_FROM = "cert-manager.io/inject-ca-from"

#: Optional kustomize components of ``config/``, in the order they are applied.
COMPONENTS = ("prometheus", "certmanager", "volcano", "coscheduling", "no-disaggregatedset-webhook")
#: The component leaving out what upstream's chart gates with ``enableDisaggregatedSet``.
NO_DISAGGREGATEDSET_WEBHOOK = "no-disaggregatedset-webhook"
GANG_SCHEDULERS = ("volcano", "coscheduling")
DEFAULT_FILE = "default.yaml"
DEPLOYMENT_NAME = "lws-controller-manager"
MANAGER_CONTAINER = "manager"
#: A removed object in a rendered component file: its identity and kustomize's own deletion marker.
DELETE = "$patch"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Options:
    """How to change the packaged installation; ``None`` keeps what ``config/default`` says.

    :ivar components: optional parts of ``config/`` to turn on (see :data:`COMPONENTS`).
    :ivar enable_plugins: plugins the operator turns on (``--enable-plugin`` on its command line).
    :ivar disable_plugins: plugins the operator turns off (``--disable-plugin``).
    """

    namespace: str | None = None
    image: str | None = None
    replicas: int | None = None
    components: tuple[str, ...] = ()
    enable_plugins: tuple[str, ...] = ()
    disable_plugins: tuple[str, ...] = ()


def object_key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(apiVersion's group, kind, namespace, name): what identifies an object in a manifest set."""
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return (group, str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))


def combination(components: Iterable[str]) -> tuple[str, ...]:
    """``components`` in :data:`COMPONENTS` order, checked.

    :raises ValueError: for an unknown component, or two gang schedulers.
    """
    chosen = set(components)
    unknown = sorted(chosen - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(unknown)}: choose from {', '.join(COMPONENTS)}")
    gangs = [name for name in GANG_SCHEDULERS if name in chosen]
    if len(gangs) > 1:
        raise ValueError(f"components {' and '.join(gangs)} are two gang schedulers: choose one of them")
    return tuple(name for name in COMPONENTS if name in chosen)


def combinations() -> list[tuple[str, ...]]:
    """Every allowed non-empty combination of components (each is rendered into ``lws/deploy/``)."""
    found = []
    for size in range(1, len(COMPONENTS) + 1):
        for combo in itertools.combinations(COMPONENTS, size):
            try:
                found.append(combination(combo))
            except ValueError:
                continue
    return found


def component_file(components: Sequence[str]) -> str:
    """The file of ``lws/deploy/`` holding what ``components`` change in ``default.yaml``."""
    return "+".join(components) + ".yaml"


def packaged(name: str) -> list[Obj]:
    """The objects of one rendered file in ``lws/deploy/`` (``default.yaml`` or a component file)."""
    text = resources.files("lws").joinpath("deploy", name).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def with_changes(base: Sequence[Obj], changes: Sequence[Obj]) -> list[Obj]:
    """``base`` with a component file applied: a changed object replaces its original, a new one follows,
    and an object marked ``$patch: delete`` goes."""
    result = [copy.deepcopy(obj) for obj in base]
    for obj in changes:
        key = object_key(obj)
        position = next((i for i, o in enumerate(result) if object_key(o) == key), None)
        if obj.get(DELETE) == "delete":
            if position is not None:
                del result[position]
        elif position is not None:
            result[position] = copy.deepcopy(obj)
        else:
            result.append(copy.deepcopy(obj))
    return result


def _moved(text: str, old: str, new: str, separator: str) -> str:
    """``text`` with the ``old`` namespace part replaced, where ``separator`` splits the string."""
    parts = text.split(separator)
    index = 1 if separator == "." else 0
    if len(parts) > index and parts[index] == old:
        parts[index] = new
    return separator.join(parts)


def in_namespace(objects: Iterable[Obj], namespace: str) -> list[Obj]:
    """Move the installation to ``namespace``, as setting ``namespace:`` in ``config/default`` does.

    Namespaced objects, the Namespace itself, ServiceAccount subjects of bindings and the webhook
    configurations' Service references all follow; so do the strings config/default's replacements
    rewrite (cert-manager's DNS names and CA injection annotation, the ServiceMonitor's server name).
    """
    moved: list[Obj] = []
    objs = [copy.deepcopy(o) for o in objects]
    old = next(
        (o["metadata"]["name"] for o in objs if o.get("kind") == "Namespace" and o.get("apiVersion") == "v1"),
        None,
    )
    for obj in objs:
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
        if old is not None:
            annotations = meta.get("annotations") or {}
            if INJECT_CA_FROM in annotations:
                annotations[INJECT_CA_FROM] = _moved(annotations[INJECT_CA_FROM], old, namespace, "/")
            spec = obj.get("spec") or {}
            if obj.get("kind") == "Certificate":
                spec["dnsNames"] = [_moved(n, old, namespace, ".") for n in spec.get("dnsNames") or []]
            for endpoint in spec.get("endpoints") or [] if obj.get("kind") == "ServiceMonitor" else []:
                tls = endpoint.get("tlsConfig") or {}
                if "serverName" in tls:
                    tls["serverName"] = _moved(tls["serverName"], old, namespace, ".")
        moved.append(obj)
    return moved


def manager_deployment(objects: Iterable[Obj]) -> Obj:
    """The operator's Deployment among ``objects``."""
    for obj in objects:
        if obj.get("kind") == "Deployment" and (obj.get("metadata") or {}).get("name") == DEPLOYMENT_NAME:
            return obj
    raise ValueError(f"the packaged manifests have no Deployment {DEPLOYMENT_NAME}: reinstall lws")


def manager_container(deployment: Obj) -> Obj:
    """The operator's container in its Deployment."""
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        if container.get("name") == MANAGER_CONTAINER:
            return dict(container)
    raise ValueError(f"the Deployment {DEPLOYMENT_NAME} has no container {MANAGER_CONTAINER}")


def customize(options: Options) -> list[Obj]:
    """The installation ``options`` ask for: components first, then namespace, image, replicas, plugins."""
    components = combination(options.components)
    objects = packaged(DEFAULT_FILE)
    if components:
        objects = with_changes(objects, packaged(component_file(components)))
    if options.namespace is not None:
        objects = in_namespace(objects, options.namespace)
    deployment = manager_deployment(objects)
    containers = deployment["spec"]["template"]["spec"]["containers"]
    for container in containers:
        if container.get("name") != MANAGER_CONTAINER:
            continue
        if options.image is not None:
            container["image"] = options.image
        args = list(container.get("args") or [])
        for flag, names in (
            ("--enable-plugin", options.enable_plugins),
            ("--disable-plugin", options.disable_plugins),
        ):
            args += [f"{flag}={name}" for name in names if f"{flag}={name}" not in args]
        container["args"] = args
    if options.replicas is not None:
        deployment["spec"]["replicas"] = options.replicas
    return objects


def with_crd(
    objects: Sequence[Obj], config_path: str | None, enable: tuple[str, ...], disable: tuple[str, ...]
) -> list[Obj]:
    """``objects`` with the packaged CRDs' specs replaced by those the installed, selected plugins define.

    The packaged CRDs keep their metadata (the installation's labels); their specs, where the policy enums
    are (a DisaggregatedSet role's spec is a LeaderWorkerSet spec), are the ones ``lws crd`` prints with the
    same plugin selection.
    """
    _, hooks = load(config_path, enable, disable)
    policies = {"startup_policies": hooks.startup_values, "restart_policies": hooks.restart_values}
    specs = {
        crd["metadata"]["name"]: crd["spec"]
        for crd in (build_crd(**policies), build_disaggregatedset_crd(**policies))
    }
    out = [
        {**o, "spec": specs[o["metadata"]["name"]]}
        if o.get("kind") == "CustomResourceDefinition" and o["metadata"]["name"] in specs
        else o
        for o in objects
    ]
    packaged_crds = {o["metadata"]["name"] for o in out if o.get("kind") == "CustomResourceDefinition"}
    missing = ", ".join(sorted(set(specs) - packaged_crds))
    if missing:
        raise ValueError(f"the packaged manifests lack the CRD(s) {missing}: reinstall lws")
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
  lws manifests --service-monitor --gang-scheduling volcano > lws-install.yaml
  lws manifests --cert-manager --service-monitor | kubectl apply --server-side -f -
  lws manifests --no-disaggregatedset-webhook       (what upstream's Helm chart installs by default)""",
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
    "--cert-manager",
    is_flag=True,
    help="Webhook and metrics certificates from cert-manager (an Issuer, two Certificates, their Secrets "
    "mounted and reloaded on renewal, the CA injected into the webhook configurations) instead of ones "
    "the operator makes; the cluster needs cert-manager.",
)
@click.option(
    "--disaggregatedset-webhook/--no-disaggregatedset-webhook",
    default=True,
    help="The DisaggregatedSet validating webhook and the DisaggregatedSet editor and viewer ClusterRoles "
    "[default: on]. "
    "Off: neither, and the operator runs with --no-disaggregatedset-webhook, as upstream's Helm chart "
    "with enableDisaggregatedSet=false (its default); the CRDs, the controller and its RBAC stay.",
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
    cert_manager: bool,
    disaggregatedset_webhook: bool,
    gang_scheduling: str | None,
) -> None:
    """Print the objects that install the operator: CRD, namespace, RBAC, Deployment, Services, webhooks.

    The same objects as `kubectl kustomize config/default` in the repository. The Deployment becomes
    available once the image can be pulled; until then (and on clusters with no container runtime, such
    as `lws cluster up`) the webhooks answer nothing, so creating LeaderWorkerSets fails.

    --enable-plugin and --disable-plugin go onto the operator's command line. The CRD is built from the
    plugins installed here with that selection (and --config's, as `lws crd`): its startupPolicy and
    restartPolicy enums list the values the enabled plugins implement, so install from where the
    operator's plugins are.
    """
    components = (
        *(("prometheus",) if service_monitor else ()),
        *(("certmanager",) if cert_manager else ()),
        *((gang_scheduling,) if gang_scheduling else ()),
        *(() if disaggregatedset_webhook else (NO_DISAGGREGATEDSET_WEBHOOK,)),
    )
    options = Options(
        namespace=namespace,
        image=image,
        replicas=replicas,
        components=components,
        enable_plugins=enable_plugins,
        disable_plugins=disable_plugins,
    )
    try:
        objects = with_crd(customize(options), config_path, enable_plugins, disable_plugins)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    click.echo(to_yaml_documents(objects), nl=False)
