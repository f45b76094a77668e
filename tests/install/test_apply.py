"""``lws manifests | kubectl apply`` on the embedded cluster, with the real kubectl: client-side and
server-side, idempotent, and every object (optional components included) valid for the API server.

The Deployment never becomes available here: the embedded cluster has no container runtime (and no
Deployment controller), so it only stores it. That is expected; the operator itself is run in-process by
test_rbac.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from install_kit import kubectl, parse_all

from lws.cli.manifests import command
from lws.sim.runner import EmbeddedCluster

pytestmark = pytest.mark.sim_only

# The prometheus-operator's ServiceMonitor CRD, reduced to what lets the API server store one: enough to
# check that the component applies next to the rest.
SERVICE_MONITOR_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def manifests(*args: str) -> str:
    result = CliRunner().invoke(command, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def kubeconfig_for(cluster: EmbeddedCluster, tmp_path: Path) -> Path:
    return cluster.write_kubeconfig(tmp_path / "kubeconfig")


def test_client_side_apply_installs_and_a_second_apply_changes_nothing(
    embedded_cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    kubeconfig = kubeconfig_for(embedded_cluster, tmp_path)
    text = manifests()
    first = kubectl("apply", "-f", "-", stdin=text, kubeconfig=kubeconfig).splitlines()
    assert len(first) == len(parse_all(text))
    assert all(line.endswith(" created") for line in first), first
    second = kubectl("apply", "-f", "-", stdin=text, kubeconfig=kubeconfig).splitlines()
    assert len(second) == len(first)
    assert all(line.endswith(" unchanged") for line in second), second


def test_server_side_apply_installs_and_a_second_apply_changes_nothing(
    embedded_cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    kubeconfig = kubeconfig_for(embedded_cluster, tmp_path)
    text = manifests()

    def resource_versions() -> list[str]:
        jsonpath = "jsonpath={range .items[*]}{.metadata.resourceVersion} {end}"
        return kubectl("get", "-f", "-", "-o", jsonpath, stdin=text, kubeconfig=kubeconfig).split()

    kubectl("apply", "--server-side", "-f", "-", stdin=text, kubeconfig=kubeconfig)
    versions = resource_versions()
    assert len(versions) == len(parse_all(text))
    kubectl("apply", "--server-side", "-f", "-", stdin=text, kubeconfig=kubeconfig)
    assert resource_versions() == versions, "the second server-side apply wrote objects"


@pytest.mark.parametrize("gang", ["volcano", "coscheduling"])
def test_every_object_with_every_component_passes_server_side_validation(
    embedded_cluster: EmbeddedCluster, tmp_path: Path, gang: str
) -> None:
    kubeconfig = kubeconfig_for(embedded_cluster, tmp_path)
    kubectl("apply", "-f", "-", stdin=SERVICE_MONITOR_CRD, kubeconfig=kubeconfig)
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/servicemonitors.monitoring.coreos.com",
        kubeconfig=kubeconfig,
    )
    text = manifests("--service-monitor", "--gang-scheduling", gang, "--namespace", "lws-test")
    # The namespace must exist for a dry run of the objects in it.
    kubectl("create", "namespace", "lws-test", kubeconfig=kubeconfig)
    out = kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=text,
        kubeconfig=kubeconfig,
    ).splitlines()
    assert len(out) == len(parse_all(text))
    assert all(line.endswith("serverside-applied (server dry run)") for line in out), out
    assert "servicemonitor.monitoring.coreos.com/lws-controller-manager-metrics-monitor" in "\n".join(out)
