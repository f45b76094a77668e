"""The real kubectl's container streams (logs, exec, attach, port-forward) against the embedded cluster, which
runs no container: each answers with a message saying so, and what to look at instead, rather than hanging
or printing a bare "not found". A missing pod is still NotFound.

Simulator-only: on a real cluster these commands reach a container runtime.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubectl_cli import Kubectl
from kubernetes import client

pytestmark = pytest.mark.sim_only

NO_CONTAINER = "the embedded cluster (lws.sim) simulates pods without running any container"


@pytest.fixture
def kubectl(kubeconfig_path: Path, test_namespace: str, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig_path, tmp_path, test_namespace)


@pytest.mark.parametrize(
    ("args", "doing"),
    [
        (("logs", "p"), "read logs from"),
        (("logs", "p", "--follow"), "read logs from"),
        (("exec", "p", "--", "ls"), "run a command in"),
        (("attach", "p"), "attach to"),
    ],
)
def test_container_streams_say_that_no_container_runs(kubectl: Kubectl, args: tuple[str, ...], doing: str):
    kubectl("run", "p", "--image=registry.k8s.io/pause:3.10")
    error = kubectl.fails(*args)
    assert f'pod "p" has no running container to {doing}' in error
    assert NO_CONTAINER in error
    assert "kubectl describe pod p" in error


def test_port_forward_is_answered_the_same_way(kubectl: Kubectl, kube_api):
    # kubectl port-forward itself refuses a pod that is not Running, so ask the API directly.
    kubectl("run", "p", "--image=registry.k8s.io/pause:3.10")
    with pytest.raises(client.ApiException) as caught:
        client.CoreV1Api(kube_api).connect_get_namespaced_pod_portforward("p", kubectl.namespace, ports="80")
    assert caught.value.status == 400
    assert 'pod \\"p\\" has no running container to forward ports to' in caught.value.body


def test_a_missing_pod_is_still_not_found(kubectl: Kubectl):
    error = kubectl.fails("logs", "absent")
    assert 'pods "absent" not found' in error
