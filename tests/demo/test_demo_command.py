"""`lws demo`: unattended, in plain mode, it tells every step and ends with a summary; --keep keeps it all up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from lws.cli.main import cli

pytestmark = pytest.mark.e2e

VENV_BIN = Path(sys.executable).parent
KUBECTL = str(VENV_BIN / "kubectl")


def test_the_demo_runs_unattended_and_narrates_each_step_and_a_summary() -> None:
    result = CliRunner().invoke(cli, ["demo", "--speed", "20", "--plain"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = out.splitlines()

    steps = [line for line in lines if line.startswith("== Step")]
    assert steps == [
        "== Step 1: create the vLLM LeaderWorkerSet",
        "== Step 2: roll out a new vLLM image",
        "== Step 3: restart a worker container",
        "== Step 4: scale up",
    ]
    assert len([line for line in lines if line.startswith("  done: ")]) == 4
    # (a) creation, with the vllm plugin's wiring visible on the leader
    assert "2 groups of 2 pods with 8 GPUs each" in out
    assert any("LeaderWorkerSet vllm is Available: 2/2 groups ready" in line for line in lines)
    wiring = next(line for line in lines if "wiring: vllm-0 env:" in line)
    for variable in ("LWS_LEADER_ADDRESS=vllm-0.vllm.default", "NNODES=2", "TENSOR_PARALLEL_SIZE=8"):
        assert variable in wiring
    assert any("wiring: vllm-0 runs: vllm serve meta-llama/Llama-3.1-405B-Instruct" in line for line in lines)
    assert "  wiring: Services: vllm, vllm-leader" in lines
    # (b) the rollout, group by group, the partition moving down
    assert any(line.endswith("partition 2 -> 1: groups 1 and up get the new template") for line in lines)
    assert any(line.endswith("partition 1 -> 0: groups 0 and up get the new template") for line in lines)
    assert any(
        line.startswith("  done: rolled out in") and line.endswith("group 1, then group 0") for line in lines
    )
    # (c) the worker restart recreates its whole group
    assert "  killed container vllm of vllm-1-1 (exit code 137)" in lines
    assert any(line.endswith("pod vllm-1 (leader of group 1): deleted") for line in lines)
    assert any(line.startswith("  done: group 1 recreated and Ready") for line in lines)
    # (d) the scale-up, ending with three Ready groups in the table
    assert any(line.endswith("replicas 2 -> 3") for line in lines)
    final = lines[lines.index("== Step 4: scale up") :]
    assert (
        "LeaderWorkerSet default/vllm: 3/3 groups ready, 3 updated, partition 0, Available=True"
        in "\n".join(final)
    )
    table = [line.split() for line in final if line.startswith("    ") and "vllm-" in line]
    assert sorted(row[-6] if row[0].isdigit() else row[0] for row in table) == [
        "vllm-0",
        "vllm-0-1",
        "vllm-1",
        "vllm-1-1",
        "vllm-2",
        "vllm-2-1",
    ]
    assert all("Ready" in row for row in table)
    # the summary
    summary = lines[lines.index("Summary") + 1 :]
    labels = [line.split("  ")[1] for line in summary]
    assert labels == [
        "time to Available",
        "rollout",
        "recovery after the worker restart",
        "scale-up",
        "operator API requests",
        "total",
    ]
    assert any("group 1, then group 0; partition 2 -> 1 -> 0" in line for line in summary)
    assert any("1 group recreation(s): group 1" in line for line in summary)
    assert any("2 -> 3 groups" in line for line in summary)
    requests = next(line for line in summary if "operator API requests" in line)
    assert int(requests.split()[3]) > 0


def test_a_step_that_does_not_converge_says_what_it_waited_for_and_exits_1(tmp_path: Path) -> None:
    # Every node tainted: the pods are never scheduled, so the first step cannot finish.
    topology = {
        "name": "tainted",
        "levels": [
            {"key": "example.com/rack", "count": 3},
            {"key": "kubernetes.io/hostname", "count": 2},
        ],
        "node": {
            "capacity": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8"},
            "taints": [{"key": "example.com/maintenance", "effect": "NoSchedule"}],
        },
    }
    path = tmp_path / "tainted.yaml"
    path.write_text(yaml.safe_dump(topology))
    result = CliRunner().invoke(
        cli, ["demo", "--topology", str(path), "--speed", "20", "--step-timeout", "5", "--plain"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: step 1 (create the vLLM LeaderWorkerSet) did not converge within 5s: waiting for "
        "LeaderWorkerSet vllm to be Available with 2 groups ready"
    )
    lines = result.stdout.splitlines()
    assert any(line.startswith("  done: FAILED: step 1") for line in lines)
    states = [line.split()[:2] for line in lines if line.startswith("    ") and line.split()[0].isdigit()]
    assert states == [["0", "Unschedulable"], ["1", "Unschedulable"]]
    assert "Summary" not in lines


@pytest.mark.parametrize(
    ("topology", "message"),
    [
        ("tiny", "error: topology 'tiny' has no nodes with nvidia.com/gpu"),
        ("nope", "Invalid value for --topology: no topology named 'nope'"),
    ],
)
def test_a_topology_the_demo_cannot_use_is_a_clean_error(topology: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["demo", "--topology", topology])
    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def kept_demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    kubeconfig = tmp_path / "kube" / "config"
    process = subprocess.Popen(
        [str(VENV_BIN / "lws"), "demo", "--keep", "--speed", "20", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        yield process, kubeconfig
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_keep_leaves_the_cluster_and_operator_up_for_kubectl_until_ctrl_c(
    kept_demo: tuple[subprocess.Popen[str], Path],
) -> None:
    process, kubeconfig = kept_demo
    assert process.stdout is not None
    seen: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C to stop."):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(120), "\n".join(seen)
    assert f"  export KUBECONFIG={kubeconfig}" in seen
    assert "Summary" in seen

    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    got = subprocess.run(
        [KUBECTL, "get", "leaderworkersets", "vllm", "-o", "jsonpath={.status.readyReplicas}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout == "3"
    lease = subprocess.run(
        [KUBECTL, "get", "leases", "-n", "lws-system", "-o", "name"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert lease.stdout.strip() == "lease.coordination.k8s.io/b8b2488c.x-k8s.io", "the operator still leads"

    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0
    reader.join(10)
    assert seen[-1] == "Stopping."
