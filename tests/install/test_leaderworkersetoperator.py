"""The LeaderWorkerSetOperator named cluster, honoured by ``lws run`` as installed (its CRD ships with every
install; the operator's RBAC reads it by name and writes its status): log levels applied live,
``managementState: Unmanaged`` and ``Removed`` pause reconciling (LeaderWorkerSets and DisaggregatedSets)
without deleting anything while admission keeps answering (with a warning), ``Managed`` resumes, and the
status conditions say which.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from install_kit import KUBECTL
from install_run import LWS_GVR, Running, apply_sample, available, denied, running

from lws.api.disaggregated import constants as d
from lws.cli.manifests import Options, customize
from lws.cluster.resources import DISAGGREGATEDSETS, STATEFULSETS
from lws.sim.testing import wait_until
from tests.api.ds_api_testing import make_ds, role

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only, pytest.mark.xdist_group("management")]

LWSO = ("operator.openshift.io", "v1", "leaderworkersetoperators")
SAMPLE = "leaderworkerset_v1_leaderworkerset.yaml"


def kubectl_both(admin: Path, *args: str, stdin: str | None = None) -> tuple[str, str]:
    """kubectl's standard output and standard error (where it prints admission warnings)."""
    done = subprocess.run(
        [KUBECTL, f"--kubeconfig={admin}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def set_spec(run: Running, **spec: str) -> None:
    body = {
        "apiVersion": "operator.openshift.io/v1",
        "kind": "LeaderWorkerSetOperator",
        "metadata": {"name": "cluster"},
        "spec": spec,
    }
    kubectl_both(
        run.admin, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump(body)
    )


def condition(run: Running, kind: str) -> dict[str, Any] | None:
    obj = run.cluster.sync.get(LWSO, None, "cluster")
    found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind]
    return found[0] if found else None


def reported(run: Running, status: str, reason: str) -> bool:
    found = condition(run, "Available")
    obj = run.cluster.sync.get(LWSO, None, "cluster")
    return bool(
        found
        and (found["status"], found["reason"]) == (status, reason)
        and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
    )


def queued_and_idle(run: Running, version: str) -> bool:
    """The operator has seen ``version``, queued what it changed, and is running no reconcile."""
    operator = run.operator.running_operator
    assert operator.deps is not None
    return (
        all(i.has_seen(version) for i in operator.deps.caches.informers)
        and len(operator.queue) > 0
        and operator.queue.processing == 0
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("management")
    with running(customize(Options()), tmp) as run:
        yield run


def test_log_levels_apply_live_and_come_back(run: Running) -> None:
    before = logging.getLogger("lws").level, logging.getLogger("kopf").level
    set_spec(run, managementState="Managed", logLevel="Debug", operatorLogLevel="Trace")
    wait_until(lambda: logging.getLogger("lws").level == logging.DEBUG, 10, "lws at DEBUG")
    wait_until(lambda: logging.getLogger("kopf").level == logging.DEBUG, 10, "kopf at DEBUG")
    wait_until(lambda: reported(run, "True", "AsExpected"), 10, "Available=True reported")
    set_spec(run, managementState="Managed", logLevel="Normal", operatorLogLevel="Normal")
    wait_until(lambda: logging.getLogger("lws").level == logging.INFO, 10, "lws back at INFO")
    run.cluster.sync.delete(LWSO, None, "cluster")
    wait_until(
        lambda: (logging.getLogger("lws").level, logging.getLogger("kopf").level) == before,
        10,
        "the levels from before the object",
    )


@pytest.mark.parametrize("state", ["Unmanaged", "Removed"])
def test_a_paused_operator_reconciles_nothing_deletes_nothing_and_resumes(run: Running, state: str) -> None:
    namespace = f"paused-{state.lower()}"
    name = apply_sample(run.cluster, run.admin, namespace, SAMPLE)
    sets_before = run.cluster.sync.list(STATEFULSETS_GVR, namespace)["items"]
    set_spec(run, managementState=state)
    wait_until(lambda: reported(run, "False", state), 10, f"Available=False reason {state}")
    assert "not reconciled and nothing is deleted" in (condition(run, "Available") or {})["message"]
    wait_until(lambda: not run.operator.running_operator.management.managed.is_set(), 10, "paused")  # type: ignore[union-attr]

    # A new set and a scale-up are admitted (defaulted, validated, warned about) and left alone.
    obj = yaml.safe_load((Path(__file__).parents[2] / "config" / "samples" / SAMPLE).read_text())
    obj["metadata"]["name"] = "waits"
    _, warnings = kubectl_both(run.admin, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(obj))
    assert f"managementState {state}: this LeaderWorkerSet is stored but not reconciled" in warnings
    waits = run.cluster.sync.get(LWS_GVR, namespace, "waits")
    assert waits["spec"]["startupPolicy"] == "LeaderCreated"  # the mutating webhook still defaults
    # A DisaggregatedSet too: validated (its own warnings still come), warned about, and given no child
    # LeaderWorkerSet while paused.
    external = {**role("prefill", 3), "scaling": {"mode": "External"}}
    ds = make_ds(external, role("decode"), name="pd-waits")
    _, warnings = kubectl_both(run.admin, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(ds))
    assert f"managementState {state}: this DisaggregatedSet is stored but not reconciled" in warnings
    assert 'role "prefill" sets scaling.mode: External and spec.replicas: 3' in warnings
    ds_version = run.cluster.sync.get(DS_GVR, namespace, "pd-waits")["metadata"]["resourceVersion"]
    wait_until(lambda: run.operator.call(_async(queued_and_idle, run, ds_version)), 10, "the set queued")
    scaled = run.cluster.sync.patch(
        LWS_GVR, namespace, name, {"spec": {"replicas": 3}}, "application/merge-patch+json"
    )
    mark = run.operator.request_log.mark()
    version = scaled["metadata"]["resourceVersion"]
    wait_until(lambda: run.operator.call(_async(queued_and_idle, run, version)), 10, "the changes queued")
    writes = [
        call
        for call in run.operator.request_log.writes(since=mark)
        if call.resource not in ("events", "leases")
    ]
    assert writes == [], "a paused operator wrote"
    assert (
        run.cluster.sync.list(STATEFULSETS_GVR, namespace)["items"] == sets_before
    )  # nothing deleted either
    assert not run.cluster.sync.list(
        STATEFULSETS_GVR, namespace, label_selector="leaderworkerset.sigs.k8s.io/name=waits"
    )["items"]
    assert not ds_children(run, namespace)

    set_spec(run, managementState="Managed")
    wait_until(lambda: reported(run, "True", "AsExpected"), 10, "Available=True again")
    for lws in (name, "waits"):
        wait_until(
            lambda lws=lws: available(run.cluster, namespace, lws), 60, f"{lws} reconciled after resuming"
        )
    assert run.cluster.sync.get(LWS_GVR, namespace, name)["status"]["replicas"] == 3
    wait_until(lambda: len(ds_children(run, namespace)) == 2, 60, "the DisaggregatedSet's two role sets")


def ds_children(run: Running, namespace: str) -> list[dict[str, Any]]:
    selector = f"{d.SET_NAME_LABEL}=pd-waits"
    return list(run.cluster.sync.list(LWS_GVR, namespace, label_selector=selector)["items"])


def test_the_operator_needed_no_more_than_its_rbac(run: Running) -> None:
    records = run.proxy.snapshot()
    assert not denied(records), denied(records)
    used = {(r.attributes.verb, r.attributes.target) for r in records if r.allowed}
    assert {("list", "leaderworkersetoperators"), ("watch", "leaderworkersetoperators")} <= used
    assert ("patch", "leaderworkersetoperators/status") in used


STATEFULSETS_GVR = (STATEFULSETS.group, STATEFULSETS.version, STATEFULSETS.plural)
DS_GVR = (DISAGGREGATEDSETS.group, DISAGGREGATEDSETS.version, DISAGGREGATEDSETS.plural)


def _async(check: Any, *args: Any) -> Any:
    async def call() -> Any:
        return check(*args)

    return call()
