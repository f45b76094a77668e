"""The demo's story, in four steps, each an action followed by a wait on a condition with a deadline:

1. create the vLLM LeaderWorkerSet, until it is Available;
2. change its image, until every group runs the new revision (the partition moves down group by group);
3. kill a worker's container, until its whole group has been recreated and is Ready again;
4. scale up by one group, until the new group is Ready too.

Nothing waits on a timer: every wait re-reads the set when the cluster says something changed
(:mod:`lws.demo.feed`), and a step that does not converge in time raises :class:`StepFailed` with what
it was waiting for and the set as last seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from lws.api import constants as c
from lws.demo.feed import ChangeFeed, NotConverged, wait_for
from lws.demo.narration import Narrator
from lws.demo.sample import Shape
from lws.demo.stage import LEADERWORKERSETS, Stage
from lws.demo.summary import DemoRecord, StepRecord
from lws.demo.view import SetView, set_view
from lws.sim.errors import APIError
from lws.sim.faults import FaultError

PODS = ("", "v1", "pods")
SERVICES = ("", "v1", "services")
STATEFULSETS = ("apps", "v1", "statefulsets")
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "lws-demo"
NEW_IMAGE_TAG = "v0.11.0"
#: What the narrator shows the wiring with: the env a plugin or the operator gives every group pod.
WIRING_ENV = (
    c.LWS_LEADER_ADDRESS,
    c.LWS_GROUP_SIZE,
    c.LWS_WORKER_INDEX,
    "NNODES",
    "NODE_RANK",
    "TENSOR_PARALLEL_SIZE",
    "PIPELINE_PARALLEL_SIZE",
)


class DemoError(RuntimeError):
    """The demo could not go on; the message says which step and why."""


class StepFailed(DemoError):
    """A step did not converge in time: what it waited for, and the set as last seen."""

    def __init__(self, number: int, title: str, what: str, timeout: float, view: SetView | None) -> None:
        super().__init__(f"step {number} ({title}) did not converge within {timeout:g}s: waiting for {what}")
        self.number = number
        self.title = title
        self.view = view


def with_tag(image: str, tag: str) -> str:
    """``repo/name:old`` -> ``repo/name:<tag>`` (a registry port is not a tag)."""
    name, sep, old = image.rpartition(":")
    if sep and "/" not in old:
        return f"{name}:{tag}"
    return f"{image}:{tag}"


def wiring(pod: Mapping[str, Any], services: list[Mapping[str, Any]]) -> list[str]:
    """What the webhooks and plugins gave a leader pod, and the Services of the set, in a few lines (pure)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return []
    container = containers[0]
    env = {e.get("name"): e.get("value") for e in container.get("env") or [] if "value" in e}
    shown = ", ".join(f"{k}={env[k]}" for k in WIRING_ENV if k in env)
    lines = [f"{pod['metadata']['name']} env: {shown}"] if shown else []
    script = " ".join(str(w) for w in container.get("command") or [])
    args = " ".join(str(w) for w in container.get("args") or [])
    name = pod["metadata"]["name"]
    if "vllm serve" in script and args:
        ray = " (once the Ray head has every node of the group)" if "ray start" in script else ""
        lines.append(f"{name} runs: vllm serve {args}{ray}")
    elif script:
        lines.append(f"{name} command: {script[:160]}")
    names = ", ".join(sorted(str(s["metadata"]["name"]) for s in services))
    if names:
        lines.append(f"Services: {names}")
    return lines


class Demo:
    """One run of the demo on a running :class:`Stage`.

    :param body: the LeaderWorkerSet to create (already sized to the topology).
    :param step_timeout: how long each step may take before the demo gives up.
    """

    def __init__(
        self,
        stage: Stage,
        body: dict[str, Any],
        shape: Shape,
        narrator: Narrator,
        *,
        namespace: str = "default",
        step_timeout: float = 60.0,
    ) -> None:
        self.stage = stage
        self.body = body
        self.shape = shape
        self.narrator = narrator
        self.namespace = namespace
        self.name = str(body["metadata"]["name"])
        self.step_timeout = step_timeout
        self.record = DemoRecord(
            namespace=namespace,
            name=self.name,
            topology=stage.topology.name,
            shape=shape,
            started=time.time(),
            telemetry=stage.telemetry,
        )
        self._feed: ChangeFeed | None = None
        self._rolling_from: str | None = None
        """During the rollout: the revision it rolls away from."""

    # --- reading ------------------------------------------------------------------------------------------

    def _get(self, gvr: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        try:
            return self.stage.cluster.sync.get(gvr, self.namespace, name)
        except APIError as exc:
            if exc.code == 404:
                return None
            raise

    def read(self) -> SetView:
        """The set as it is now, read through the cluster's in-process API (not counted as the operator's)."""
        sync = self.stage.cluster.sync
        lws = self._get(LEADERWORKERSETS, self.name)
        pods = sync.list(PODS, self.namespace, label_selector=f"{c.SET_NAME_LABEL}={self.name}")["items"]
        sts = self._get(STATEFULSETS, self.name)
        return set_view(self.namespace, self.name, lws, pods, sts)

    def _seen(self, view: SetView) -> None:
        self.narrator.show(view)
        self.record.history.observe(view)
        if self._rolling_from is not None and view.target not in ("", self._rolling_from):
            # Only once the leader StatefulSet carries the new template: the partition then counts down.
            self.record.note_partition(view.partition)

    # --- steps --------------------------------------------------------------------------------------------

    def _step(
        self,
        number: int,
        title: str,
        detail: str,
        act: Callable[[], str | None],
        done: Callable[[SetView], bool],
        what: str,
        result: Callable[[SetView, float], str],
    ) -> SetView:
        assert self._feed is not None
        self.narrator.begin(number, title, detail)
        wall, start = time.time(), time.monotonic()
        note = act()
        if note:
            self.narrator.note(note)
        try:
            view = wait_for(
                self._feed, self.read, done, timeout=self.step_timeout, what=what, on_read=self._seen
            )
        except NotConverged as exc:
            raise StepFailed(number, title, exc.what, exc.timeout, exc.last) from None
        seconds = time.monotonic() - start
        text = result(view, seconds)
        self.record.steps.append(StepRecord(number, title, wall, seconds, text))
        self.narrator.end(text, view)
        return view

    def run(self) -> DemoRecord:
        """Run the four steps; raises :class:`StepFailed` on the first that does not converge."""
        start = time.monotonic()
        with ChangeFeed(self.stage.cluster, (LEADERWORKERSETS, PODS, STATEFULSETS)) as feed:
            self._feed = feed
            self.create()
            self.roll_out()
            self.restart_worker()
            self.scale_up()
        self._feed = None
        log = self.stage.operator.request_log
        self.record.operator_requests = log.mark()
        self.record.operator_writes = len(log.writes())
        self.record.total_seconds = time.monotonic() - start
        return self.record

    def create(self) -> None:
        shape = self.shape
        level = (shape.placement_key or "").rsplit("/", 1)[-1]
        placement = (
            f"; each group kept in one {level}, groups spread over {level}s" if shape.placement_key else ""
        )
        detail = (
            f"{shape.replicas} groups of {shape.size} pods with {shape.gpus_per_pod} GPUs each: vLLM with "
            f"tensor-parallel {shape.gpus_per_pod} x pipeline-parallel {shape.size} over Ray{placement}"
        )

        def act() -> str:
            self.stage.cluster.sync.create(
                LEADERWORKERSETS, self.namespace, self.body, field_manager=FIELD_MANAGER
            )
            return f"created {self.namespace}/{self.name}; the operator's webhooks defaulted and validated it"

        self._step(
            1,
            "create the vLLM LeaderWorkerSet",
            detail,
            act,
            lambda v: v.available,
            f"LeaderWorkerSet {self.name} to be Available with {shape.replicas} groups ready",
            lambda v, s: f"Available after {s:.1f}s: {v.ready_replicas} groups of {v.size} pods Ready",
        )
        leader = self._get(PODS, f"{self.name}-0")
        services = self.stage.cluster.sync.list(
            SERVICES, self.namespace, label_selector=f"{c.SET_NAME_LABEL}={self.name}"
        )["items"]
        for line in wiring(leader or {}, services):
            self.narrator.note(f"wiring: {line}")

    def roll_out(self) -> None:
        before = self.read()
        container = self.body["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
        image = with_tag(str(container["image"]), NEW_IMAGE_TAG)
        detail = (
            f"image {container['image']} -> {image}: the operator lowers the leader StatefulSet's partition "
            "one group at a time, highest index first, and each group is rebuilt whole on the new template"
        )
        mark = len(self.record.history.updated)

        def act() -> str:
            self._rolling_from = before.target
            patch = [
                {
                    "op": "replace",
                    "path": "/spec/leaderWorkerTemplate/workerTemplate/spec/containers/0/image",
                    "value": image,
                }
            ]
            self.stage.cluster.sync.patch(
                LEADERWORKERSETS, self.namespace, self.name, patch, JSON_PATCH, field_manager=FIELD_MANAGER
            )
            return f"patched the image to {image}"

        def done(view: SetView) -> bool:
            return view.available and bool(view.target) and view.target != before.target

        def result(view: SetView, seconds: float) -> str:
            self.record.rollout_order = self.record.history.updated[mark:]
            order = ", then ".join(f"group {i}" for i in self.record.rollout_order)
            return f"rolled out in {seconds:.1f}s to revision {view.target}: {order}"

        try:
            self._step(
                2,
                "roll out a new vLLM image",
                detail,
                act,
                done,
                f"every group of {self.name} on the new revision, and the set Available",
                result,
            )
        finally:
            self._rolling_from = None

    def restart_worker(self) -> None:
        view = self.read()
        group = view.groups[-1]
        victim = next((p for p in group.pods if p.worker == 1), group.pods[0])
        before = {p.uid for p in group.pods}
        detail = (
            f"kill the container of {victim.role} pod {victim.name}; with restartPolicy "
            "RecreateGroupOnPodRestart the operator deletes the group's leader, and the whole group is "
            "rebuilt"
        )

        def act() -> str:
            try:
                killed = self.stage.cluster.faults.restart_container(self.namespace, victim.name)
            except FaultError as exc:
                raise DemoError(f"step 3: could not restart a container of {victim.name}: {exc}") from exc
            return f"killed container {killed['container']} of {victim.name} (exit code {killed['exitCode']})"

        def done(now: SetView) -> bool:
            rebuilt = now.group(group.index)
            return (
                now.available
                and rebuilt is not None
                and len(rebuilt.pods) == group.size
                and not before & {p.uid for p in rebuilt.pods}
            )

        self._step(
            3,
            "restart a worker container",
            detail,
            act,
            done,
            f"group {group.index} to be recreated (every pod new) and Ready",
            lambda v, s: f"group {group.index} recreated and Ready {s:.1f}s after the restart",
        )

    def scale_up(self) -> None:
        target = self.shape.scaled_replicas
        detail = (
            f"replicas {self.shape.replicas} -> {target}: one more group, placed and started like the others"
        )

        def act() -> str:
            self.stage.cluster.sync.patch(
                LEADERWORKERSETS,
                self.namespace,
                self.name,
                {"spec": {"replicas": target}},
                MERGE_PATCH,
                field_manager=FIELD_MANAGER,
            )
            return f"set replicas to {target}"

        self._step(
            4,
            "scale up",
            detail,
            act,
            lambda v: v.available and v.replicas == target,
            f"{target} groups Ready and the set Available",
            lambda v, s: f"{v.ready_replicas} groups Ready {s:.1f}s after scaling",
        )
