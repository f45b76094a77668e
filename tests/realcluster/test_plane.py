"""The launcher: a real control plane whose fake nodes are the topology's, whose pods go Pending -> Running ->
Ready without an image, whose ServiceAccount tokens authenticate and whose RBAC is enforced, and which leaves
no process behind, whatever way it ends."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lws.sim.testing import wait_until
from lws.sim.topology import load_topology
from tests.realcluster.plane import (
    START_TIMEOUT,
    STOP_GRACE,
    PlaneError,
    RealCluster,
    binaries,
    restart_container,
)

pytestmark = [pytest.mark.real_plane, pytest.mark.xdist_group("real-plane-launcher")]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plane() -> Iterator[RealCluster]:
    with RealCluster("standard") as cluster:
        yield cluster
    assert_gone(cluster.pids())


@pytest.fixture
def ns(plane: RealCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    wait_until(
        lambda: plane.status("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default") == 200,
        timeout=30,
        what="the namespace's default ServiceAccount",
    )
    yield name
    plane.request("DELETE", f"/api/v1/namespaces/{name}")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def assert_gone(pids: list[int]) -> None:
    assert pids, "the plane started no process"
    wait_until(lambda: not any(alive(p) for p in pids), timeout=20, what=f"processes {pids} to exit")


def pod(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}], **spec},
    }
    return body


def phases(plane: RealCluster, ns: str, name: str, body: dict[str, Any]) -> list[tuple[str, bool]]:
    """Create the pod and record (phase, Ready) at every change a watch reports, until it is Ready."""
    seen: list[tuple[str, bool]] = []
    done = threading.Event()

    def watch() -> None:
        connection_path = (
            f"/api/v1/namespaces/{ns}/pods?watch=1&fieldSelector=metadata.name%3D{name}&timeoutSeconds=60"
        )
        conn = plane.connection(timeout=60)
        conn.request("GET", connection_path)
        response = conn.getresponse()
        started.set()
        for line in response:
            obj = json.loads(line)["object"]
            status = obj.get("status") or {}
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            state = (status.get("phase", ""), ready)
            if not seen or seen[-1] != state:
                seen.append(state)
            if ready:
                break
        conn.close()
        done.set()

    started = threading.Event()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert started.wait(10)
    plane.request("POST", f"/api/v1/namespaces/{ns}/pods", body)
    assert done.wait(60), f"pod {ns}/{name} did not become Ready; seen {seen}"
    return seen


def test_the_nodes_are_the_topologys(plane: RealCluster) -> None:
    nodes = {n["metadata"]["name"]: n for n in plane.request("GET", "/api/v1/nodes")["items"]}
    want = load_topology("standard").nodes()
    assert sorted(nodes) == sorted(n["metadata"]["name"] for n in want)
    for expected in want:
        node = nodes[expected["metadata"]["name"]]
        assert expected["metadata"]["labels"].items() <= node["metadata"]["labels"].items()
        assert node["status"]["capacity"] == expected["status"]["capacity"]
        assert node["status"]["allocatable"] == expected["status"]["allocatable"]
        assert node["status"]["capacity"]["nvidia.com/gpu"] == "8"
        assert node["status"]["capacity"]["google.com/tpu"] == "4"


def test_a_pod_goes_pending_then_running_then_ready_without_an_image(plane: RealCluster, ns: str) -> None:
    seen = phases(plane, ns, "p", pod("p"))
    assert seen[0] == ("Pending", False)
    assert ("Running", False) in seen, seen
    assert seen[-1] == ("Running", True)
    stored = plane.request("GET", f"/api/v1/namespaces/{ns}/pods/p")
    assert stored["spec"]["nodeName"] in {s.name for s in plane.node_specs()}
    assert stored["status"]["podIP"] and stored["status"]["hostIP"]
    assert stored["status"]["containerStatuses"][0]["state"]["running"]


def test_init_containers_complete_before_the_containers_start(plane: RealCluster, ns: str) -> None:
    body = pod("i", initContainers=[{"name": "wait", "image": "registry.k8s.io/pause:3.10"}])
    phases(plane, ns, "i", body)
    stored = plane.request("GET", f"/api/v1/namespaces/{ns}/pods/i")
    init = stored["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed"
    assert (
        init["state"]["terminated"]["finishedAt"]
        <= stored["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    )


def test_a_restarted_container_keeps_its_count_and_becomes_ready_again(plane: RealCluster, ns: str) -> None:
    """What a kubelet writes after a container restart; the fake kubelet makes it ready again, count kept."""
    phases(plane, ns, "r", pod("r"))
    restart_container(plane, ns, "r")

    def ready_again() -> dict[str, Any] | None:
        stored = plane.request("GET", f"/api/v1/namespaces/{ns}/pods/r")
        status = stored["status"]["containerStatuses"][0]
        return stored if status["ready"] and status["restartCount"] == 1 else None

    stored = wait_until(ready_again, timeout=30, what="the restarted container to be ready again")
    assert stored["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 137


def test_a_deleted_pod_goes_away_after_its_finalizers(plane: RealCluster, ns: str) -> None:
    body = pod("d")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    phases(plane, ns, "d", body)
    plane.request("DELETE", f"/api/v1/namespaces/{ns}/pods/d")
    held = plane.request("GET", f"/api/v1/namespaces/{ns}/pods/d")
    assert held["metadata"]["deletionTimestamp"]
    plane.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/pods/d",
        {"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )
    wait_until(
        lambda: plane.status("GET", f"/api/v1/namespaces/{ns}/pods/d") == 404,
        timeout=30,
        what="the pod to be deleted",
    )


def test_a_late_deletion_never_deletes_a_successor_of_the_same_name(plane: RealCluster, ns: str) -> None:
    """The fake kubelet's last delete carries the pod's uid, as a kubelet's does: a late event of a pod that
    is gone (kwok's own deletion, by name, once deleted a StatefulSet's new worker pod this way) leaves its
    successor of the same name alone."""
    phases(plane, ns, "s", pod("s"))
    first = plane.request("GET", f"/api/v1/namespaces/{ns}/pods/s")
    plane.request("DELETE", f"/api/v1/namespaces/{ns}/pods/s", {"gracePeriodSeconds": 0})
    wait_until(
        lambda: plane.status("GET", f"/api/v1/namespaces/{ns}/pods/s") == 404,
        timeout=30,
        what="the first pod to be gone",
    )
    phases(plane, ns, "s", pod("s"))
    assert plane.reaper is not None
    late = {
        **first,
        "metadata": {**first["metadata"], "deletionTimestamp": first["metadata"]["creationTimestamp"]},
    }
    plane.reaper.see(late)
    uid = first["metadata"]["uid"]
    wait_until(lambda: uid in plane.reaper.outcomes, timeout=30, what="the late deletion to be answered")
    assert plane.reaper.outcomes[uid] == 409
    successor = plane.request("GET", f"/api/v1/namespaces/{ns}/pods/s")
    assert successor["metadata"]["uid"] != uid
    assert "deletionTimestamp" not in successor["metadata"]


def test_each_scheduler_name_of_the_topology_is_a_profile(plane: RealCluster, ns: str) -> None:
    assert plane.scheduler_names() == ["default-scheduler", "volcano"]
    phases(plane, ns, "v", pod("v", schedulerName="volcano"))
    plane.request("POST", f"/api/v1/namespaces/{ns}/pods", pod("nobody", schedulerName="nobody"))
    # Nobody schedules it: still unbound once a pod created after it is Ready.
    phases(plane, ns, "after", pod("after"))
    assert "nodeName" not in plane.request("GET", f"/api/v1/namespaces/{ns}/pods/nobody")["spec"]


def test_service_account_tokens_authenticate_and_rbac_decides(
    plane: RealCluster, ns: str, tmp_path: Path
) -> None:
    plane.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "reader"}})
    token = plane.request(
        "POST",
        f"/api/v1/namespaces/{ns}/serviceaccounts/reader/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )["status"]["token"]
    kubeconfig = plane.write_token_kubeconfig(tmp_path / "reader", token)
    kubectl = str(Path(sys.executable).parent / "kubectl")

    def can_list() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl, f"--kubeconfig={kubeconfig}", "-n", ns, "get", "pods", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    denied = can_list()
    assert denied.returncode != 0
    assert f'User "system:serviceaccount:{ns}:reader" cannot list resource "pods"' in denied.stderr
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    plane.request(
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
        {"metadata": {"name": "r"}, "rules": rules},
    )
    plane.request(
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
        {
            "metadata": {"name": "r"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
        },
    )
    wait_until(lambda: can_list().returncode == 0, timeout=30, what="the RoleBinding to take effect")


def test_the_controllers_run_statefulsets_and_deployments(plane: RealCluster, ns: str) -> None:
    template = {
        "metadata": {"labels": {"app": "w"}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
    }
    spec = {"replicas": 2, "selector": {"matchLabels": {"app": "w"}}, "template": template}
    plane.request(
        "POST",
        f"/apis/apps/v1/namespaces/{ns}/statefulsets",
        {"metadata": {"name": "s"}, "spec": {**spec, "serviceName": "s"}},
    )
    plane.request(
        "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", {"metadata": {"name": "d"}, "spec": spec}
    )
    for kind in ("statefulsets/s", "deployments/d"):
        wait_until(
            lambda kind=kind: (
                plane.request("GET", f"/apis/apps/v1/namespaces/{ns}/{kind}")
                .get("status", {})
                .get("readyReplicas")
                == 2
            ),
            timeout=60,
            what=f"{kind} to have 2 ready replicas",
        )


def test_claims_are_provisioned_and_bound_for_statefulset_pods(plane: RealCluster, ns: str) -> None:
    """A stand-in provisioner behind the default StorageClass: what volumeClaimTemplates need to run."""
    template = {
        "metadata": {"labels": {"app": "v"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.k8s.io/pause:3.10",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ]
        },
    }
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    spec = {
        "replicas": 1,
        "serviceName": "v",
        "selector": {"matchLabels": {"app": "v"}},
        "template": template,
        "volumeClaimTemplates": [claim],
    }
    plane.request(
        "POST", f"/apis/apps/v1/namespaces/{ns}/statefulsets", {"metadata": {"name": "v"}, "spec": spec}
    )
    wait_until(
        lambda: (
            plane.request("GET", f"/apis/apps/v1/namespaces/{ns}/statefulsets/v")["status"].get(
                "readyReplicas"
            )
            == 1
        ),
        timeout=60,
        what="the StatefulSet's pod, with its claim bound, to be ready",
    )
    bound = plane.request("GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data-v-0")
    assert bound["status"]["phase"] == "Bound"
    assert bound["spec"]["storageClassName"] == "standard"


def test_a_failed_start_names_the_component_and_stops_the_rest(tmp_path: Path) -> None:
    broken = RealCluster("tiny", bins={"etcd": Path("/bin/false")}, workdir=tmp_path)
    with pytest.raises(PlaneError, match="etcd exited"):
        broken.start()
    assert_gone(broken.pids())


#: What a stopping component may take beyond :data:`STOP_GRACE` (after which the launcher kills it) on a
#: loaded machine: reaping it, the launcher's own exit.
STOP_SLACK = 30.0
#: Python's start and the launcher's imports, before it reports its first step, on a loaded machine.
LAUNCHER_START_SLACK = 120.0


class Launcher:
    """``python -m tests.realcluster up -t tiny`` in a process group of its own, its stderr (the launcher's
    progress, one line per step) read as it comes, so the test waits on the launcher's own reports."""

    def __init__(self, tmp_path: Path) -> None:
        # The binaries are built (or found) here first: a cold build takes tens of minutes, which no launcher
        # deadline covers; the launcher then only finds them.
        binaries()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.realcluster",
                "up",
                "-t",
                "tiny",
                "--kubeconfig",
                str(tmp_path / "kc"),
            ],
            cwd=ROOT,
            # A launcher killed outright leaves its work directory: in the test's own.
            env={**os.environ, "TMPDIR": str(tmp_path)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        """The launcher's next line containing ``text``; fails if it exits or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(
                    f"the launcher did not report {text!r} within {timeout:.0f}s; it said:\n" + self.said()
                )
            if line is None:
                pytest.fail(f"the launcher exited before reporting {text!r}; it said:\n" + self.said())
            self.seen.append(line)
            if text in line:
                return line

    def said(self) -> str:
        return "\n".join(self.seen)

    def wait_exit(self, timeout: float) -> int:
        """The launcher's exit status, once every line it wrote was read."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.drain()
            pytest.fail(f"the launcher did not exit within {timeout:.0f}s; it said:\n" + self.said())
        self.drain()
        return code

    def drain(self) -> None:
        while True:
            try:
                line = self.lines.get(timeout=5)
            except queue.Empty:
                return
            if line is None:
                return
            self.seen.append(line)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_process_survives_the_launcher(tmp_path: Path, how: signal.Signals) -> None:
    """Ctrl-C and SIGTERM stop the plane; even a launcher killed outright takes its children with it.

    The test follows the launcher's own progress: its first step once Python has started, then ``pids:``
    within the launcher's own start deadline (it gives up and exits with the reason after that), then, after
    the signal, its exit within the bound its stop keeps: each component gets :data:`STOP_GRACE` before
    SIGKILL. A cold start on a loaded machine is slow, never stuck."""
    launcher = Launcher(tmp_path)
    launcher.wait_for("finding the binaries", LAUNCHER_START_SLACK)
    line = launcher.wait_for("pids: ", START_TIMEOUT + STOP_SLACK)
    pids = [int(p) for p in line.split("pids: ", 1)[1].split()]
    assert pids and all(alive(p) for p in pids), launcher.said()
    os.kill(launcher.process.pid, how)
    code = launcher.wait_exit(len(pids) * (STOP_GRACE + STOP_SLACK))
    if how != signal.SIGKILL:
        assert code == 0, launcher.said()
        # The launcher stopped each component itself, not the kernel after the launcher's death.
        stopped = {int(m[1]) for m in re.finditer(r"stopped \S+ \(pid (\d+)\)", launcher.said())}
        assert stopped == set(pids), launcher.said()
    assert_gone(pids)
