"""The ``role`` label (upstream #1002, #1017): on the leader and worker StatefulSets' own metadata only.

Upstream first put it on the pod templates too, and an operator upgrade then rolled every group of every set
(upstream #1016): a template change is a rollout. So the label must change no template and no revision. The
revision is computed from the templates, so it does not change either.
"""

from __future__ import annotations

from typing import Any

import pytest

from lws.api import constants as c
from lws.core.admission import default
from lws.core.render import render_set
from lws.hooks.manager import make_hooks
from tests import upstream_samples
from tests.core.conftest import by_name, manifest


def test_statefulsets_carry_their_role(render: Any) -> None:
    items = render(manifest(replicas=1, size=2))
    assert by_name(items, "StatefulSet", "demo")["metadata"]["labels"][c.ROLE_LABEL] == c.ROLE_LEADER
    assert by_name(items, "StatefulSet", "demo-0")["metadata"]["labels"][c.ROLE_LABEL] == c.ROLE_WORKER


def test_the_role_label_wins_over_a_label_of_the_set(render: Any) -> None:
    # The set's labels go on its StatefulSets (upstream #896); ours win on conflicts, as upstream's do.
    obj = manifest(replicas=1, size=2)
    obj["metadata"]["labels"] = {c.ROLE_LABEL: "mine", "team": "a"}
    items = render(obj)
    leader, workers = by_name(items, "StatefulSet", "demo"), by_name(items, "StatefulSet", "demo-0")
    assert leader["metadata"]["labels"][c.ROLE_LABEL] == c.ROLE_LEADER
    assert workers["metadata"]["labels"][c.ROLE_LABEL] == c.ROLE_WORKER
    assert leader["metadata"]["labels"]["team"] == workers["metadata"]["labels"]["team"] == "a"


def test_no_template_and_no_pod_carries_it(render: Any) -> None:
    items = render(manifest(replicas=2, size=3))
    for item in items:
        if item["kind"] == "StatefulSet":
            assert c.ROLE_LABEL not in item["spec"]["template"]["metadata"]["labels"]
            assert c.ROLE_LABEL not in item["spec"]["selector"]["matchLabels"]
        if item["kind"] == "Pod":
            assert c.ROLE_LABEL not in item["metadata"]["labels"]


@pytest.mark.parametrize(("label", "doc"), upstream_samples.leaderworkersets(), ids=lambda v: str(v)[:60])
def test_no_upstream_sample_gets_it_in_a_template(label: str, doc: dict[str, Any]) -> None:
    hooks = make_hooks()
    statefulsets = [i for i in render_set(default(doc, hooks), hooks) if i["kind"] == "StatefulSet"]
    assert statefulsets, label
    for sts in statefulsets:
        template_labels = sts["spec"]["template"]["metadata"].get("labels") or {}
        assert c.ROLE_LABEL not in template_labels, f"{label}: {sts['metadata']['name']} template"
        assert c.ROLE_LABEL not in sts["spec"]["selector"]["matchLabels"], label
        assert sts["metadata"]["labels"][c.ROLE_LABEL] in (c.ROLE_LEADER, c.ROLE_WORKER)
