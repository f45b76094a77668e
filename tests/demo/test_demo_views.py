"""The demo's pure parts: group views, what-changed sentences, recreations vs updates, the plain table."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from lws.api import constants as c
from lws.demo.columns import align
from lws.demo.narration import LiveNarrator, PlainNarrator, table_rows
from lws.demo.summary import GroupHistory
from lws.demo.view import changes, pod_view, set_view

NEW, OLD = "rev-new", "rev-old"


def pod(
    name: str,
    *,
    group: int,
    worker: int,
    revision: str = NEW,
    node: str | None = "node-0",
    phase: str = "Running",
    ready: bool = True,
    deleting: bool = False,
    restarts: int = 0,
    uid: str | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if unschedulable:
        conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    meta: dict[str, Any] = {
        "name": name,
        "uid": uid or f"uid-{name}",
        "labels": {
            c.GROUP_INDEX_LABEL: str(group),
            c.WORKER_INDEX_LABEL: str(worker),
            c.REVISION_KEY: revision,
        },
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec = {"nodeName": node} if node else {}
    status = {"phase": phase, "conditions": conditions, "containerStatuses": [{"restartCount": restarts}]}
    return {"metadata": meta, "spec": spec, "status": status}


def lws(
    *, replicas: int = 2, generation: int = 1, observed: int = 1, ready: int = 2, available: bool = True
) -> dict:
    return {
        "metadata": {"name": "vllm", "generation": generation},
        "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": 2}},
        "status": {
            "observedGeneration": observed,
            "readyReplicas": ready,
            "updatedReplicas": ready,
            "conditions": [{"type": "Available", "status": "True" if available else "False"}],
        },
    }


def sts(partition: int, revision: str = NEW) -> dict:
    return {
        "spec": {
            "updateStrategy": {"rollingUpdate": {"partition": partition}},
            "template": {"metadata": {"labels": {c.REVISION_KEY: revision}}},
        }
    }


def ready_pods(revision: str = NEW, groups: int = 2) -> list[dict]:
    return [
        pod(f"vllm-{g}" + (f"-{w}" if w else ""), group=g, worker=w, revision=revision)
        for g in range(groups)
        for w in range(2)
    ]


def test_a_set_with_every_group_ready_on_the_target_revision_is_available() -> None:
    view = set_view("default", "vllm", lws(), ready_pods(), sts(0))
    assert view.available
    assert [g.state for g in view.groups] == ["Ready", "Ready"]
    assert view.partition == 0 and view.target == NEW


@pytest.mark.parametrize(
    ("why", "obj", "pods", "leader_sts"),
    [
        ("status from an older generation", lws(generation=2), ready_pods(), sts(0)),
        ("a group still on the old revision", lws(), ready_pods(OLD), sts(2)),
        ("one group missing", lws(), ready_pods(groups=1), sts(0)),
        ("the condition is False", lws(available=False), ready_pods(), sts(0)),
    ],
)
def test_a_set_is_not_available(why: str, obj: dict, pods: list[dict], leader_sts: dict) -> None:
    assert not set_view("default", "vllm", obj, pods, leader_sts).available, why


@pytest.mark.parametrize(
    ("pods", "state"),
    [
        ([pod("g-0", group=0, worker=0), pod("g-0-1", group=0, worker=1)], "Ready"),
        (
            [pod("g-0", group=0, worker=0, revision=OLD), pod("g-0-1", group=0, worker=1, revision=OLD)],
            "Ready (old revision)",
        ),
        ([pod("g-0", group=0, worker=0), pod("g-0-1", group=0, worker=1, deleting=True)], "Terminating"),
        ([pod("g-0", group=0, worker=0)], "Creating"),
        (
            [
                pod("g-0", group=0, worker=0),
                pod("g-0-1", group=0, worker=1, node=None, phase="Pending", ready=False, unschedulable=True),
            ],
            "Unschedulable",
        ),
        ([pod("g-0", group=0, worker=0), pod("g-0-1", group=0, worker=1, ready=False)], "Starting"),
    ],
)
def test_group_states(pods: list[dict], state: str) -> None:
    [group] = set_view("default", "g", lws(), pods, sts(0)).groups
    assert group.state == state


def test_pod_status_names_the_reason_a_pod_waits() -> None:
    waiting = pod("p", group=0, worker=1, node=None, phase="Pending", ready=False, unschedulable=True)
    assert pod_view(waiting).status == "Pending (Unschedulable)"
    assert pod_view(pod("p", group=0, worker=1, deleting=True)).status == "Terminating"
    assert pod_view(pod("p", group=0, worker=0)).role == "leader"


def test_changes_tell_the_rollout_moving_and_a_group_being_rebuilt() -> None:
    before = set_view("default", "vllm", lws(), ready_pods(OLD), sts(2))
    going = ready_pods(OLD)
    going[2] = pod("vllm-1", group=1, worker=0, revision=OLD, deleting=True)
    after = set_view("default", "vllm", lws(generation=2, observed=2), going, sts(1))
    assert changes(before, after) == [
        "partition 2 -> 1: groups 1 and up get the new template",
        "pod vllm-1 (leader of group 1): Terminating on node-0",
        "group 1: Ready (old revision) -> Terminating",
    ]
    gone = set_view(
        "default", "vllm", lws(), [p for p in going if not p["metadata"]["name"].startswith("vllm-1")], sts(1)
    )
    assert changes(after, gone)[-2:] == [
        "pod vllm-1-1 (worker of group 1): deleted",
        "group 1: Terminating -> no pods",
    ]


def test_changes_tell_a_new_revision_a_restart_and_availability() -> None:
    before = set_view("default", "vllm", lws(), ready_pods(OLD), sts(0, OLD))
    restarted = ready_pods(OLD)
    restarted[3] = pod("vllm-1-1", group=1, worker=1, revision=OLD, restarts=1)
    after = set_view("default", "vllm", lws(), restarted, sts(0, NEW))
    lines = changes(before, after)
    assert lines[0] == "new revision rev-new: groups will be rolled to it one by one"
    assert "pod vllm-1-1: a container restarted (restarts: 1)" in lines
    first = changes(None, set_view("default", "vllm", lws(), ready_pods(), sts(0)))
    assert first[0] == "LeaderWorkerSet vllm created: 2 groups of 2 pods"
    assert first[-1] == "LeaderWorkerSet vllm is Available: 2/2 groups ready"
    assert changes(after, after) == []


def test_group_history_tells_recreations_from_updates() -> None:
    history = GroupHistory()
    history.observe(set_view("d", "vllm", lws(), ready_pods(OLD), sts(0)))
    rolled = ready_pods(OLD)
    rolled[2] = pod("vllm-1", group=1, worker=0, revision=NEW, uid="second")
    history.observe(set_view("d", "vllm", lws(), rolled, sts(1)))
    rebuilt = list(rolled)
    rebuilt[0] = pod("vllm-0", group=0, worker=0, revision=OLD, uid="again")
    history.observe(set_view("d", "vllm", lws(), rebuilt, sts(1)))
    history.observe(set_view("d", "vllm", lws(), rebuilt, sts(1)))
    assert history.updated == [1]
    assert history.recreated == [0]


def test_the_plain_table_marks_old_and_new_revisions_only_while_both_exist() -> None:
    mixed = ready_pods(OLD)
    mixed[2:] = [
        pod("vllm-1", group=1, worker=0),
        pod("vllm-1-1", group=1, worker=1, node=None, ready=False, phase="Pending"),
    ]
    rows = table_rows(set_view("default", "vllm", lws(), mixed, sts(1)))
    assert rows[0] == (
        "0",
        "Ready (old revision)",
        "vllm-0",
        "leader",
        "node-0",
        "Ready",
        "0",
        "rev-old (old)",
    )
    assert rows[1][:2] == ("", "")
    assert rows[3] == ("", "", "vllm-1-1", "worker", "-", "Pending", "0", "rev-new (new)")
    settled = table_rows(set_view("default", "vllm", lws(), ready_pods(), sts(0)))
    assert {row[-1] for row in settled} == {NEW}


def test_align_pads_columns_and_trims_the_line_end() -> None:
    assert align([("A", "BB", "C"), ("long", "x", "")], indent="> ") == ["> A     BB  C", "> long  x"]
    assert align([]) == []


def test_the_plain_narrator_prints_only_what_changed() -> None:
    printed: list[str] = []
    narrator = PlainNarrator(printed.append)
    narrator.begin(1, "create", "two groups")
    view = set_view("default", "vllm", lws(), ready_pods(), sts(0))
    narrator.show(view)
    shown = len(printed)
    narrator.show(view)
    assert len(printed) == shown, "an unchanged view prints nothing"
    narrator.end("Available", view)
    assert printed[:3] == ["", "== Step 1: create", "   two groups"]
    assert printed[shown:][:2] == [
        "  done: Available",
        "  LeaderWorkerSet default/vllm: 2/2 groups ready, 2 updated, partition 0, Available=True",
    ]
    assert printed[-1].split() == ["vllm-1-1", "worker", "node-0", "Ready", "0", NEW]


def test_the_live_narrator_draws_the_table_and_keeps_the_steps_above_it() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=160, no_color=True)
    narrator = LiveNarrator(console)
    try:
        narrator.begin(2, "roll out", "one group at a time")
        narrator.show(set_view("default", "vllm", lws(), ready_pods(OLD), sts(2)))
        narrator.note("patched the image")
        narrator.end("rolled out", set_view("default", "vllm", lws(), ready_pods(), sts(0)))
    finally:
        narrator.close()
    narrator.say("Summary")
    text = output.getvalue()
    for expected in ("Step 2: roll out", "one group at a time", "patched the image", "done: rolled out"):
        assert expected in text
    final = text[text.rindex("Step 2: roll out") :]
    assert "partition 0, Available=True" in final
    assert "vllm-1-1" in final and "Ready (old revision)" not in final
    assert text.rstrip().endswith("Summary")
