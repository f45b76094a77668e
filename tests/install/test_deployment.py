"""The Deployment, its Services and webhook configurations agree with what ``lws run`` actually does.

The container's command line and environment go through ``lws run``'s own option parsing and settings
resolution, with the ConfigMap's file as ``--config``; the resulting settings must match the probes, ports,
Services, Lease RBAC and webhook configurations shipped next to them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from install_kit import ROOT

from lws.api import constants as c
from lws.api.config import load_config
from lws.api.disaggregated import constants as d
from lws.cli.manifests import (
    NO_DISAGGREGATEDSET_WEBHOOK,
    Obj,
    Options,
    combinations,
    customize,
    object_key,
    packaged,
)
from lws.cli.run import Flags, resolve_settings
from lws.cli.run import command as run_command
from lws.cluster.webhooks import CONFIG_NAMES, Endpoint, configuration, registered_webhooks
from lws.controller.settings import OperatorSettings

NAMESPACE = "lws-system"
POD_NAME = "lws-controller-manager-5d8c7-abcde"


@pytest.fixture(
    scope="module", params=[(), (NO_DISAGGREGATEDSET_WEBHOOK,)], ids=["default", NO_DISAGGREGATEDSET_WEBHOOK]
)
def objects(request: pytest.FixtureRequest) -> dict[tuple[str, str, str, str], Obj]:
    """The default installation, and the one without the DisaggregatedSet webhook (whose operator must
    then register only what is shipped)."""
    return {object_key(obj): obj for obj in customize(Options(components=request.param))}


def find(objects: dict[tuple[str, str, str, str], Obj], kind: str, name: str) -> Obj:
    found = [obj for key, obj in objects.items() if key[1] == kind and key[3] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def deployment(objects: dict[tuple[str, str, str, str], Obj]) -> Obj:
    deployment = find(objects, "Deployment", "lws-controller-manager")
    assert deployment["metadata"]["labels"]["control-plane"] == "controller-manager"
    return deployment


@pytest.fixture(scope="module")
def manager(deployment: Obj) -> Obj:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "manager"
    return dict(container)


def downward(env: dict[str, Any]) -> str:
    """The value the kubelet gives an environment variable of the manager container."""
    if "value" in env:
        return str(env["value"])
    field = env["valueFrom"]["fieldRef"]["fieldPath"]
    return {"metadata.name": POD_NAME, "metadata.namespace": NAMESPACE}[field]


@pytest.fixture
def settings(
    objects: dict[tuple[str, str, str, str], Obj],
    deployment: Obj,
    manager: Obj,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> OperatorSettings:
    """What ``lws run`` resolves from the container's command, environment and mounted ConfigMap."""
    assert manager["command"] == ["lws", "run"]
    environment = {env["name"]: downward(env) for env in manager.get("env") or []}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    context = run_command.make_context("run", list(manager["args"]))
    params = dict(context.params)
    config_path = Path(params["config_path"])
    # The --config file is a key of the ConfigMap mounted at its directory.
    (mount,) = [m for m in manager["volumeMounts"] if Path(m["mountPath"]) == config_path.parent]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    config_map = find(objects, "ConfigMap", volumes[mount["name"]]["configMap"]["name"])
    local = tmp_path / config_path.name
    local.write_text(config_map["data"][config_path.name])
    flags = Flags(**{f.name: params[f.name] for f in dataclasses.fields(Flags)})
    return resolve_settings(flags, load_config(local), environment)


def port(container: Obj, name_or_number: str | int) -> int:
    """A container port by name (or number), as probes and Services name it."""
    for entry in container["ports"]:
        if name_or_number in (entry.get("name"), entry["containerPort"]):
            return int(entry["containerPort"])
    raise AssertionError(f"the manager container has no port {name_or_number!r}")


def test_the_command_line_is_one_lws_run_accepts(manager: Obj) -> None:
    run_command.make_context("run", list(manager["args"]))  # raises on an unknown flag


def test_probes_are_where_lws_run_serves_them(settings: OperatorSettings, manager: Obj) -> None:
    assert settings.health_port is not None
    assert settings.health_host is None, "no host: every interface in a pod, so the kubelet reaches it"
    liveness, readiness = manager["livenessProbe"]["httpGet"], manager["readinessProbe"]["httpGet"]
    assert (liveness["path"], readiness["path"]) == ("/healthz", "/readyz")
    assert port(manager, liveness["port"]) == port(manager, readiness["port"]) == settings.health_port


def test_the_webhook_service_reaches_the_webhook_server(
    settings: OperatorSettings, manager: Obj, objects: dict[tuple[str, str, str, str], Obj]
) -> None:
    assert settings.webhooks is True
    service = find(objects, "Service", settings.webhook_service)
    assert service["metadata"]["namespace"] == settings.operator_namespace == NAMESPACE
    (entry,) = service["spec"]["ports"]
    assert entry["port"] == 443
    assert port(manager, entry["targetPort"]) == settings.webhook_port == 9443
    labels = find(objects, "Deployment", "lws-controller-manager")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_the_shipped_webhook_configurations_are_what_the_operator_registers(
    settings: OperatorSettings, objects: dict[tuple[str, str, str, str], Obj]
) -> None:
    endpoint = Endpoint(service_namespace=settings.operator_namespace, service_name=settings.webhook_service)
    for kind, name in CONFIG_NAMES.items():
        specs = registered_webhooks(disaggregatedset=settings.disaggregatedset_webhook)[kind]
        registered = configuration(kind, endpoint, b"", specs=specs)
        shipped = find(objects, registered["kind"], name)
        for webhook in registered["webhooks"]:
            del webhook["clientConfig"]["caBundle"]  # the operator adds its CA at run time
            for rule in webhook["rules"]:
                rule["scope"] = "*"  # the API server's default, which the shipped rules spell out
        assert shipped["webhooks"] == registered["webhooks"]
    validating = find(objects, "ValidatingWebhookConfiguration", CONFIG_NAMES["validating"])
    names = {webhook["name"] for webhook in validating["webhooks"]}
    assert (d.WEBHOOK_NAME_VALIDATE in names) is settings.disaggregatedset_webhook


def test_the_lease_role_names_the_lease_lws_run_uses(
    settings: OperatorSettings, objects: dict[tuple[str, str, str, str], Obj]
) -> None:
    assert settings.leader_elect and settings.lease_name == c.LEADER_ELECTION_LEASE
    role = find(objects, "Role", "lws-leader-election-role")
    assert role["metadata"]["namespace"] == settings.operator_namespace
    named = [r for r in role["rules"] if "leases" in r["resources"] and r.get("resourceNames")]
    assert [r["resourceNames"] for r in named] == [[settings.lease_name]]


def test_the_pod_identity_comes_from_the_downward_api(settings: OperatorSettings) -> None:
    assert settings.identity.startswith(f"{POD_NAME}_")


def test_ha_and_rollout_keep_a_webhook_backend(deployment: Obj) -> None:
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= 10


def test_the_pod_meets_the_restricted_pod_security_standard(deployment: Obj, manager: Obj) -> None:
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert manager["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    # The only writable path: the operator writes its webhook certificate to a temporary directory.
    volumes = {v["name"]: v for v in pod["volumes"]}
    (tmp,) = [m for m in manager["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert "emptyDir" in volumes[tmp["name"]]
    assert pod["serviceAccountName"] == "lws-controller-manager"


def test_resources_are_sized_for_a_python_operator(manager: Obj) -> None:
    resources = manager["resources"]
    assert resources["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_the_metrics_service_and_service_monitor_select_the_metrics_port(
    manager: Obj, objects: dict[tuple[str, str, str, str], Obj]
) -> None:
    service = find(objects, "Service", "lws-controller-manager-metrics-service")
    (entry,) = service["spec"]["ports"]
    assert port(manager, entry["targetPort"]) == entry["port"] == 8443
    (monitor,) = packaged("prometheus.yaml")
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [obj for key, obj in objects.items() if key[1] == "Service"]
    selected = [
        s["metadata"]["name"] for s in services if selector.items() <= s["metadata"]["labels"].items()
    ]
    assert selected == ["lws-controller-manager-metrics-service"]
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [entry["name"]]


def test_every_object_carries_the_common_label(objects: dict[tuple[str, str, str, str], Obj]) -> None:
    unlabelled = [
        key
        for key, obj in objects.items()
        if obj["metadata"]["labels"].get("app.kubernetes.io/name") != "lws"
    ]
    assert not unlabelled


@pytest.mark.parametrize("combo", [(), *combinations()], ids=lambda c: "+".join(c) or "default")
def test_the_operator_gets_no_secrets_and_no_wildcards(combo: tuple[str, ...]) -> None:
    for obj in customize(Options(components=combo)):
        key = object_key(obj)
        for rule in obj.get("rules") or []:
            assert "secrets" not in (rule.get("resources") or []), f"{key} grants Secrets"
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert "*" not in (rule.get(field) or []), f"{key} has a wildcard in {field}"


def test_the_dockerfile_runs_lws_run_as_a_numeric_non_root_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert 'ENTRYPOINT ["lws", "run"]' in lines
    (user,) = [line.split()[1] for line in lines if line.startswith("USER ")]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
