"""The README's "With kubectl" walkthrough, run line by line as written, in one bash session, in a directory
laid out as a fresh clone (``config/samples`` and the virtualenv ``.venv`` where the README's demo line puts
it). Between lines the test checks what each one was meant to do: the set becomes available, scales to four
groups, rolls the new image out, recreates the deleted group, and its events are listed.

Only the ``--watch`` line is run differently: interactive, it is stopped after a few seconds (as the reader
stops it with Ctrl-C), and its output must show the set and its pods.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from install_kit import ROOT

from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

SECTION = "## With kubectl"
NAME = "leaderworkerset-sample"


def walkthrough() -> list[str]:
    """The command lines of the README's kubectl section (its one ``sh`` block)."""
    text = (ROOT / "README.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [line for line in block.splitlines() if line.strip()]


class Bash:
    """One bash session reading the lines from a pipe, as typed (background jobs and ``kill %1`` work as in
    a terminal); each line runs to the end, then its exit status is read back."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.output: list[str] = []
        self._lines: list[str] = []
        self._new = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._new:
                self._lines.append(line)
                self._new.notify_all()

    def run(self, line: str, timeout: float = 120.0) -> tuple[int, str]:
        """Run ``line``; its exit status and what it printed."""
        marker = f"__done_{uuid.uuid4().hex}__"
        assert self.process.stdin is not None
        with self._new:
            start = len(self._lines)
        self.process.stdin.write(f"{line}\necho {marker}=$?\n")
        self.process.stdin.flush()
        pattern = re.compile(rf"{marker}=(\d+)")
        with self._new:
            found = self._new.wait_for(
                lambda: (
                    any(pattern.search(x) for x in self._lines[start:]) or self.process.poll() is not None
                ),
                timeout,
            )
            lines = self._lines[start:]
        if not found:
            raise AssertionError(f"`{line}` did not finish within {timeout}s:\n{''.join(lines[-20:])}")
        ends = [i for i, x in enumerate(lines) if pattern.search(x)]
        if not ends:
            raise AssertionError(f"bash exited during `{line}`:\n{''.join(lines[-20:])}")
        match = pattern.search(lines[ends[0]])
        assert match is not None
        return int(match.group(1)), "".join(lines[: ends[0]])

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("kill %1 %2 2>/dev/null; wait; exit\n")
            self.process.stdin.flush()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A directory laid out as the repository after the README's demo line: samples and ``.venv``."""
    shutil.copytree(ROOT / "config" / "samples", tmp_path / "config" / "samples")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    return tmp_path


@pytest.fixture
def bash(clone: Path) -> Iterator[Bash]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "PYTEST_CURRENT_TEST")}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # no lws or kubectl until the README puts them there
    # Free ports for the operator's probes and metrics, so that tests on one machine do not collide (the
    # README's defaults, :8081 and :8443, are what a reader gets).
    env.update(LWS_HEALTH_PROBE_BIND_ADDRESS="127.0.0.1:0", LWS_METRICS_BIND_ADDRESS="127.0.0.1:0")
    session = Bash(clone, env)
    try:
        yield session
    finally:
        session.close()


def kubectl(clone: Path, *args: str) -> str:
    done = subprocess.run(
        [str(clone / ".venv" / "bin" / "kubectl"), f"--kubeconfig={clone / '.lws' / 'kubeconfig'}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def lws(clone: Path) -> dict[str, object]:
    return dict(yaml.safe_load(kubectl(clone, "get", "leaderworkerset", NAME, "-o", "yaml")))


def available(clone: Path, groups: int) -> bool:
    obj = lws(clone)
    status = obj.get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}  # type: ignore[union-attr]
    return bool(
        conditions.get("Available") == "True"
        and status.get("readyReplicas") == groups  # type: ignore[union-attr]
        and status.get("updatedReplicas") == groups  # type: ignore[union-attr]
    )


def worker_images(clone: Path) -> set[str]:
    pods = yaml.safe_load(
        kubectl(clone, "get", "pods", "-l", "leaderworkerset.sigs.k8s.io/worker-index!=0", "-o", "yaml")
    )
    return {c["image"] for pod in pods["items"] for c in pod["spec"]["containers"]}


def recreated(clone: Path, old_uid: str) -> bool:
    """Group 1 has a new leader, and every group is ready again."""
    uid = kubectl(clone, "get", "pod", f"{NAME}-1", "-o", "jsonpath={.metadata.uid}", "--ignore-not-found")
    return uid not in ("", old_uid) and available(clone, 4)


def test_the_readme_kubectl_walkthrough_works_as_written(clone: Path, bash: Bash) -> None:
    lines = walkthrough()
    assert len(lines) <= 15, "the walkthrough is meant to be a few lines"
    leader_uid = ""
    for line in lines:
        command = line.split("#", 1)[0].strip() if not line.lstrip().startswith("kubectl patch") else line
        if "--watch" in command:
            code, out = bash.run(f"timeout 5 {command}")
            assert code == 124, out  # stopped, as with Ctrl-C
            assert f"{NAME}-0 " in out and f"{NAME}-2-3 " in out, out
            wait_until(lambda: available(clone, 3), 60, "3 groups available")
            continue
        code, out = bash.run(line)
        assert code == 0, f"`{line}` failed ({code}):\n{out}"
        if command.startswith("kubectl scale"):
            wait_until(lambda: available(clone, 4), 60, "4 groups available")
        elif command.startswith("kubectl patch"):
            wait_until(
                lambda: worker_images(clone) == {"registry.k8s.io/pause:3.9"} and available(clone, 4),
                120,
                "the new image rolled out to every group",
            )
            leader_uid = kubectl(clone, "get", "pod", f"{NAME}-1", "-o", "jsonpath={.metadata.uid}")
        elif command.startswith("kubectl delete pod"):
            wait_until(functools.partial(recreated, clone, leader_uid), 60, "group 1 recreated")
        elif command.startswith("kubectl events"):
            assert NAME in out and re.search(r"Normal\s+\S+", out), out
        elif command.startswith("kill"):
            code, out = bash.run("wait", timeout=60)  # both jobs end: nothing is left running
            assert code in (0, 143), out
            server = yaml.safe_load((clone / ".lws" / "kubeconfig").read_text())["clusters"][0]["cluster"][
                "server"
            ]
            with pytest.raises(OSError):
                urllib.request.urlopen(server + "/readyz", timeout=5)
    assert (clone / ".lws" / "operator.log").read_text().count("ready: caches synced") == 1
