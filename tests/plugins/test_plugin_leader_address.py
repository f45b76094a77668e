"""leader_address: the LeaderResolvable policy, the init container it adds, and its wait script run for real
with the name-lookup tools replaced, so both lookup paths and the timeout are exercised without a DNS."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lws_builtins.leader_address import INIT_CONTAINER_NAME, WAIT_SCRIPT

from lws.plugin_testing import admission_errors, group_context, lws_manifest

POLICY = "LeaderResolvable"


def resolvable(**annotations: str):
    obj = lws_manifest(size=3, startup_policy=POLICY, annotations=annotations)
    obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["initContainers"] = [
        {"name": "fetch-weights", "image": "busybox"}
    ]
    return obj


def test_policy_is_registered_and_never_holds_workers_back(lws_hooks):
    assert POLICY in lws_hooks.startup_values
    leader = {"metadata": {"name": "demo-0"}, "spec": {}, "status": {"phase": "Pending"}}
    assert lws_hooks.workers_gate(group_context(resolvable(), leader_pod=leader)) is None


def test_workers_wait_first_leader_does_not(lws_render):
    rendered = lws_render(resolvable())
    for worker in ("demo-0-1", "demo-0-2"):
        init = rendered.pod(worker)["spec"]["initContainers"]
        assert [x["name"] for x in init] == [INIT_CONTAINER_NAME, "fetch-weights"]
        waiter = init[0]
        assert waiter["image"] == "busybox:1.37"
        assert waiter["command"] == ["sh", "-c", WAIT_SCRIPT]
        env = {e["name"]: e["value"] for e in waiter["env"]}
        assert env["LWS_LEADER_ADDRESS"] == "demo-0.demo.default"
        assert env["LWS_WAIT_TIMEOUT_SECONDS"] == "600"
        assert env["LWS_CLUSTER_DOMAIN"] == "cluster.local"
        assert waiter["securityContext"]["runAsNonRoot"] is True
        assert waiter["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert [x["name"] for x in rendered.pod("demo-0")["spec"]["initContainers"]] == ["fetch-weights"]


def test_settings_are_propagated(lws_render):
    rendered = lws_render(
        resolvable(
            **{
                "leader-address.lws.x-k8s.io/image": "registry.local/tools:1",
                "leader-address.lws.x-k8s.io/timeout-seconds": "0",
                "leader-address.lws.x-k8s.io/cluster-domain": "corp.internal",
            }
        )
    )
    waiter = rendered.pod("demo-0-1")["spec"]["initContainers"][0]
    env = {e["name"]: e["value"] for e in waiter["env"]}
    assert (waiter["image"], env["LWS_WAIT_TIMEOUT_SECONDS"], env["LWS_CLUSTER_DOMAIN"]) == (
        "registry.local/tools:1",
        "0",
        "corp.internal",
    )


def test_other_policies_are_untouched(lws_render):
    rendered = lws_render(lws_manifest(size=2))
    assert "initContainers" not in rendered.pod("demo-0-1")["spec"]


@pytest.mark.parametrize(
    ("obj", "path", "detail"),
    [
        (
            lws_manifest(annotations={"leader-address.lws.x-k8s.io/timeout-seconds": "30"}),
            "metadata.annotations.leader-address.lws.x-k8s.io/timeout-seconds",
            "has no effect unless spec.startupPolicy is LeaderResolvable",
        ),
        (
            resolvable(**{"leader-address.lws.x-k8s.io/image": "bad image"}),
            "metadata.annotations.leader-address.lws.x-k8s.io/image",
            "must be an image reference without spaces",
        ),
        (
            resolvable(**{"leader-address.lws.x-k8s.io/timeout": "30"}),
            "metadata.annotations.leader-address.lws.x-k8s.io/timeout",
            "its settings are: leader-address.lws.x-k8s.io/image",
        ),
    ],
)
def test_validation(lws_hooks, obj, path, detail):
    errors = admission_errors(obj, lws_hooks)
    assert [e.path for e in errors] == [path]
    assert detail in errors[0].detail


def test_reserved_init_container_name_is_rejected(lws_hooks):
    obj = resolvable()
    obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["initContainers"][0]["name"] = (
        INIT_CONTAINER_NAME
    )
    errors = admission_errors(obj, lws_hooks)
    assert [e.path for e in errors] == [
        "spec.leaderWorkerTemplate.workerTemplate.spec.initContainers[0].name"
    ]


def test_unknown_startup_policy_still_rejected_with_the_new_choice_listed(lws_hooks):
    errors = admission_errors(lws_manifest(startup_policy="LeaderAlive"), lws_hooks)
    assert errors and "LeaderResolvable" in str(errors[0])


# --- the script, run by a real shell ---------------------------------------------------------------------


def stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A PATH with only what the script needs; ``date`` counts up one second per call, ``sleep`` returns."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "clock").write_text("1000")
    stub(bin_dir, "date", f'read -r n < {tmp_path}/clock; echo $((n + 1)) > {tmp_path}/clock; echo "$n"')
    stub(bin_dir, "sleep", ":")
    grep = shutil.which("grep")
    assert grep is not None
    (bin_dir / "grep").symlink_to(grep)
    return bin_dir


def run_script(tools: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(tools),
        "LWS_LEADER_ADDRESS": "demo-0.demo.default",
        "LWS_CLUSTER_DOMAIN": "cluster.local",
        "LWS_WAIT_TIMEOUT_SECONDS": str(timeout),
    }
    sh = shutil.which("sh") or "/bin/sh"
    return subprocess.run(
        [sh, "-c", WAIT_SCRIPT], env=env, capture_output=True, text=True, timeout=20, check=False
    )


def test_script_uses_getent_and_the_fully_qualified_name(tools: Path):
    # getent knows only the fully qualified form, as when the resolver ignores the search path.
    stub(tools, "getent", '[ "$2" = demo-0.demo.default.svc.cluster.local ]')
    result = run_script(tools, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "leader address demo-0.demo.default resolves" in result.stdout


def test_script_falls_back_to_nslookup(tools: Path, tmp_path: Path):
    # Resolves on the fifth lookup, i.e. the third round (each round tries the short and the full name);
    # nslookup prints its server's Address line even when the name does not resolve.
    (tmp_path / "tries").write_text("0")
    stub(
        tools,
        "nslookup",
        f"read -r n < {tmp_path}/tries; n=$((n + 1)); echo $n > {tmp_path}/tries\n"
        'echo "Server: 10.96.0.10"; echo "Address: 10.96.0.10:53"\n'
        '[ "$n" -ge 5 ] && { echo "Name: $1"; echo "Address: 10.0.0.7"; }\nexit 0',
    )
    result = run_script(tools, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("waiting for leader address") == 2


def test_script_gives_up_after_the_timeout(tools: Path):
    stub(tools, "getent", "exit 2")
    result = run_script(tools, timeout=5)
    assert result.returncode == 1
    assert "did not resolve within 5s" in result.stderr
