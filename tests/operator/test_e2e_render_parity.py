"""LeaderWorkerSets applied with kubectl converge to Available, and to exactly the objects `lws render` prints."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from e2e_kit import OTHER_IMAGE, Kube, labels, make_lws

from lws.api import constants as c
from lws.cluster.resources import PODS, SERVICES, STATEFULSETS
from lws.core.admission import admit
from lws.core.render import render_set
from lws.hooks.manager import make_hooks

pytestmark = pytest.mark.e2e

# Server-populated (or render stand-in) fields that are not the operator's to decide.
_IGNORED_LABELS = {c.STS_REVISION_LABEL}


def _differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Where ``have`` lacks a field of ``want`` or has another value (extra fields are server defaults)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [f"{path}: want an object, have {have!r}"]
        out: list[str] = []
        for key, value in want.items():
            if key == "uid" or (path.endswith(".labels") and key in _IGNORED_LABELS):
                continue
            if key not in have:
                if value not in ({}, [], None):
                    out.append(f"{path}.{key}: missing (want {value!r})")
                continue
            out += _differences(value, have[key], f"{path}.{key}")
        return out
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return [f"{path}: want {want!r}, have {have!r}"]
        return [
            d
            for i, (w, h) in enumerate(zip(want, have, strict=True))
            for d in _differences(w, h, f"{path}[{i}]")
        ]
    if want != have and str(want) != str(have):
        return [f"{path}: want {want!r}, have {have!r}"]
    return []


def _compare(kind: str, rendered: dict[str, Any], live: dict[str, Any] | None) -> list[str]:
    name = rendered["metadata"]["name"]
    if live is None:
        return [f"{kind} {name}: missing in the cluster"]
    if kind == "Pod":
        # Pods: identity, placement in DNS and what the webhook injected, not the kubelet's status.
        rendered = {
            "metadata": {k: rendered["metadata"].get(k) for k in ("labels", "annotations")},
            "spec": {
                "hostname": rendered["spec"].get("hostname"),
                "subdomain": rendered["spec"].get("subdomain"),
                "containers": [
                    {"name": x["name"], "env": x.get("env", [])} for x in rendered["spec"]["containers"]
                ],
            },
        }
    else:
        rendered = {k: v for k, v in rendered.items() if k in ("metadata", "spec")}
        rendered["metadata"] = {k: v for k, v in rendered["metadata"].items() if k != "namespace"}
    return [f"{kind} {name}{d}" for d in _differences(rendered, live)]


SAMPLES = {
    "basic": make_lws(
        "basic", replicas=3, size=4, rolloutStrategy={"rollingUpdateConfiguration": {"maxUnavailable": 1}}
    ),
    "multi-template": make_lws(
        "multi",
        replicas=2,
        size=3,
        leaderWorkerTemplate={
            "leaderTemplate": {
                "metadata": {"labels": {"role": "leader"}},
                "spec": {"containers": [{"name": "leader", "image": OTHER_IMAGE}]},
            },
            "restartPolicy": "Default",
        },
    ),
    "unique-subgroups": make_lws(
        "uniq",
        replicas=2,
        size=4,
        networkConfig={"subdomainPolicy": "UniquePerReplica"},
        leaderWorkerTemplate={"subGroupPolicy": {"subGroupSize": 2}},
    ),
}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_applied_sample_converges_to_what_render_prints(kube: Kube, ns: str, sample: str) -> None:
    manifest = SAMPLES[sample]
    name = manifest["metadata"]["name"]
    kube.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(manifest))
    stored = kube.wait_available(ns, name)

    hooks = make_hooks()
    defaulted, errors = admit(manifest, None, hooks, namespace=ns)
    assert not errors
    assert stored["spec"] == defaulted["spec"], "the webhooks stored the same defaults render applies"
    rendered = render_set(defaulted, hooks)[1:]
    resources = {"StatefulSet": STATEFULSETS, "Service": SERVICES, "Pod": PODS}
    problems: list[str] = []
    for obj in rendered:
        live = kube.get(resources[obj["kind"]], ns, obj["metadata"]["name"])
        problems += _compare(obj["kind"], obj, live)
    assert not problems, "\n".join(problems)

    owned = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    for kind, res in resources.items():
        extra = {
            (kind, o["metadata"]["name"])
            for o in kube.list(res, ns, f"{c.SET_NAME_LABEL}={name}")
            if not o["metadata"].get("deletionTimestamp")
        } - owned
        assert not extra, f"objects the render does not print: {extra}"
    leaders = kube.list(PODS, ns, f"{c.SET_NAME_LABEL}={name},{c.WORKER_INDEX_LABEL}=0")
    assert stored["status"]["hpaPodSelector"] == f"{c.SET_NAME_LABEL}={name},{c.WORKER_INDEX_LABEL}=0"
    assert sorted(labels(p)[c.GROUP_INDEX_LABEL] for p in leaders) == [
        str(i) for i in range(manifest["spec"]["replicas"])
    ]
