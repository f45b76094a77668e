"""API fault injection through the Python API, the /sim/v1 control endpoints and `lws cluster` commands."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner
from kubernetes import client, config, watch

from lws.cli.cluster import command as cluster_command
from lws.sim.apifaults import APIFaults
from lws.sim.apiserver import APIServer
from lws.sim.errors import APIError
from lws.sim.resources import ResourceRegistry
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import wait_until

pytestmark = pytest.mark.sim_only

PODS = ResourceRegistry.with_builtins().get(("", "v1", "pods"))
STS = ResourceRegistry.with_builtins().get(("apps", "v1", "statefulsets"))


def _cm(name: str) -> dict:
    return {"metadata": {"name": name}}


def test_one_shot_error_fails_exactly_one_matching_request(embedded_cluster, embedded_api):
    core = client.CoreV1Api(embedded_api)
    embedded_cluster.faults.inject_error(409, verbs=["create"], resources=["configmaps"])
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_config_map("default", _cm("first"))
    assert caught.value.status == 409 and "Conflict" in caught.value.body
    core.create_namespaced_config_map("default", _cm("second"))
    names = [cm.metadata.name for cm in core.list_namespaced_config_map("default").items]
    assert names == ["kube-root-ca.crt", "second"]


@pytest.mark.parametrize(("code", "reason"), [(422, "Invalid"), (500, "InternalError"), (504, "Timeout")])
def test_injected_codes_carry_kubernetes_reasons(embedded_cluster, embedded_api, code, reason):
    embedded_cluster.faults.inject_error(code, verbs=["get"])
    with pytest.raises(client.ApiException) as caught:
        client.CoreV1Api(embedded_api).read_namespace("default")
    assert caught.value.status == code
    assert json.loads(caught.value.body)["reason"] == reason


def test_one_shot_429_is_retried_by_the_official_client_after_retry_after(embedded_cluster, embedded_api):
    rule = embedded_cluster.faults.inject_error(429, verbs=["get"], resources=["namespaces"])
    # The client honours Retry-After and tries again, so the request succeeds on the second attempt.
    assert client.CoreV1Api(embedded_api).read_namespace("default").metadata.name == "default"
    assert rule.fired == 1


async def test_rules_match_verb_resource_and_subresource():
    faults = APIFaults(APIServer())
    faults.inject_error(500, verbs=["patch"], resources=["statefulsets.apps/status"], times=None)
    await faults.before_request("patch", STS, None, "ns", "x")  # main resource: not matched
    await faults.before_request("get", STS, "status", "ns", "x")  # other verb: not matched
    with pytest.raises(APIError):
        await faults.before_request("patch", STS, "status", "ns", "x")
    with pytest.raises(APIError):
        await faults.before_request("patch", STS, "status", "ns", "x")  # times=None: every time


async def test_probabilistic_faults_repeat_with_the_same_seed():
    async def outcomes(seed: int) -> list[bool]:
        faults = APIFaults(APIServer(), seed=seed)
        faults.inject_error(500, probability=0.5, times=None)
        results = []
        for _ in range(40):
            try:
                await faults.before_request("get", PODS, None, "default", "p")
                results.append(False)
            except APIError:
                results.append(True)
        return results

    first, again = await outcomes(7), await outcomes(7)
    assert first == again
    assert 5 < sum(first) < 35  # some, not all


async def test_fault_rules_are_validated():
    faults = APIFaults(APIServer())
    for bad in (
        lambda: faults.inject_error(200),
        lambda: faults.inject_error(500, verbs=["explode"]),
        lambda: faults.inject_error(500, probability=2),
        lambda: faults.inject_latency(-1),
    ):
        with pytest.raises(ValueError):
            bad()


def test_latency_fault_delays_without_failing(embedded_cluster, embedded_api):
    rule = embedded_cluster.faults.inject_latency(0.2, verbs=["list"], times=1)
    client.CoreV1Api(embedded_api).list_namespace()
    assert rule.fired == 1 and embedded_cluster.faults.rules() == []


def test_dropped_watch_ends_the_stream_and_resume_continues(embedded_cluster, embedded_api):
    core = client.CoreV1Api(embedded_api)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    seen: list[str] = []
    ended = threading.Event()

    def follow() -> None:
        stream = watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=300
        )
        seen.extend(event["object"].metadata.name for event in stream)
        ended.set()

    threading.Thread(target=follow, daemon=True).start()
    core.create_namespaced_config_map("default", _cm("b"))
    wait_until(lambda: seen == ["b"], what="the watcher to see the first object")
    embedded_cluster.faults.drop_watches()
    assert ended.wait(10), "the dropped watch stream did not end"
    core.create_namespaced_config_map("default", _cm("c"))
    resumed = [
        e["object"].metadata.name
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        )
    ]
    assert resumed == ["b", "c"]


def test_control_endpoints_and_cli(embedded_cluster, tmp_path):
    kubeconfig = embedded_cluster.write_kubeconfig(tmp_path / "kubeconfig")
    runner = CliRunner()
    added = runner.invoke(
        cluster_command,
        [
            "fault",
            "error",
            "--code",
            "504",
            "--verb",
            "get",
            "--resource",
            "pods",
            "--kubeconfig",
            str(kubeconfig),
        ],
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["code"] == 504
    listed = runner.invoke(cluster_command, ["fault", "list", "--kubeconfig", str(kubeconfig)])
    assert [rule["code"] for rule in json.loads(listed.output)["rules"]] == [504]
    latency = runner.invoke(
        cluster_command, ["fault", "latency", "--seconds", "0.01", "--kubeconfig", str(kubeconfig)]
    )
    assert latency.exit_code == 0, latency.output
    assert runner.invoke(cluster_command, ["fault", "clear", "--kubeconfig", str(kubeconfig)]).exit_code == 0
    assert embedded_cluster.faults.rules() == []
    assert runner.invoke(cluster_command, ["drop-watches", "--kubeconfig", str(kubeconfig)]).exit_code == 0
    compacted = runner.invoke(
        cluster_command, ["compact", "--resource", "pods", "--kubeconfig", str(kubeconfig)]
    )
    assert compacted.exit_code == 0, compacted.output


def test_forced_compaction_makes_the_next_resume_410(embedded_cluster, tmp_path):
    kubeconfig = embedded_cluster.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = config.new_client_from_config(str(kubeconfig))
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", _cm("a"))
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("b"))
    result = subprocess.run(
        [sys.executable, "-m", "lws.cli.main", "cluster", "compact", "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with pytest.raises(client.ApiException) as caught:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=2
            )
        )
    assert caught.value.status == 410
    api_client.close()


def test_pod_and_node_faults_are_reachable_through_the_same_facade(embedded_cluster):
    from lws.sim.faults import FaultError

    assert embedded_cluster.faults.failed_nodes() == []
    with pytest.raises(FaultError, match="ghost"):
        embedded_cluster.faults.fail_node("ghost")


def test_pod_and_node_fault_commands(tmp_path):
    with EmbeddedCluster(topology="tiny") as cluster:
        kubeconfig = str(cluster.write_kubeconfig(tmp_path / "kubeconfig"))
        pods = ("", "v1", "pods")
        cluster.sync.create(
            pods,
            "default",
            {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        )

        def running() -> dict | None:
            pod = cluster.sync.get(pods, "default", "web")
            return pod if pod.get("status", {}).get("phase") == "Running" else None

        node = wait_until(running, what="the pod to run")["spec"]["nodeName"]
        runner = CliRunner()
        restarted = runner.invoke(
            cluster_command, ["fault", "restart-container", "web", "--kubeconfig", kubeconfig]
        )
        assert restarted.exit_code == 0, restarted.output

        def restart_count() -> int:
            statuses = (
                cluster.sync.get(pods, "default", "web").get("status", {}).get("containerStatuses") or []
            )
            return sum(status.get("restartCount", 0) for status in statuses)

        wait_until(lambda: restart_count() == 1, what="the container restart to be reported")
        failed = runner.invoke(cluster_command, ["fault", "fail-node", node, "--kubeconfig", kubeconfig])
        assert failed.exit_code == 0, failed.output
        assert cluster.faults.failed_nodes() == [node]
        recovered = runner.invoke(
            cluster_command, ["fault", "recover-node", node, "--kubeconfig", kubeconfig]
        )
        assert recovered.exit_code == 0, recovered.output
        assert cluster.faults.failed_nodes() == []
        unknown = runner.invoke(cluster_command, ["fault", "crash-pod", "ghost", "--kubeconfig", kubeconfig])
        assert unknown.exit_code != 0 and "ghost" in unknown.output
