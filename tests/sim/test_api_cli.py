"""`lws cluster up` as external tools use it: first stdout line is the kubeconfig path, signals end it with 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

pytestmark = pytest.mark.sim_only


def _start(*args: str, cwd: Path) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen(
        [sys.executable, "-m", "lws.cli.main", "cluster", "up", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()  # blocks until the server answers and the path is printed
    if not first:
        process.kill()
        raise AssertionError(f"no kubeconfig path printed; stderr: {process.communicate(timeout=30)[1]}")
    return process, Path(first)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_up_prints_the_kubeconfig_path_serves_and_stops_cleanly(tmp_path, stop_signal):
    process, kubeconfig = _start(cwd=tmp_path)
    try:
        assert kubeconfig == (tmp_path / ".lws" / "kubeconfig").resolve()
        api_client = config.new_client_from_config(str(kubeconfig))
        names = [ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items]
        api_client.close()
        assert "default" in names
    finally:
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr


def test_up_honours_port_kubeconfig_and_topology(tmp_path):
    port = _free_port()
    target = tmp_path / "custom" / "kc.yaml"
    process, kubeconfig = _start(
        "--port", str(port), "--kubeconfig", str(target), "--topology", "tiny", cwd=tmp_path
    )
    try:
        assert kubeconfig == target.resolve()
        document = yaml.safe_load(kubeconfig.read_text())
        assert document["clusters"][0]["cluster"]["server"] == f"http://127.0.0.1:{port}"
        api_client = config.new_client_from_config(str(kubeconfig))
        nodes = client.CoreV1Api(api_client).list_node().items
        api_client.close()
        assert nodes, "the tiny topology should create nodes"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_up_help_documents_the_default_kubeconfig_path():
    done = subprocess.run(
        [sys.executable, "-m", "lws.cli.main", "cluster", "up", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ".lws/kubeconfig" in done.stdout
