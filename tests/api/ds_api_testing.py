"""Helpers for the DisaggregatedSet tests: manifests shaped like upstream's samples, and validation in the
shape the tables compare."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.api.disaggregated.defaulting import default_disaggregatedset
from lws.api.disaggregated.validation import Verdict, validate_disaggregatedset
from lws.api.errors import FieldError

UPSTREAM_STARTUP = list(c.UPSTREAM_STARTUP_POLICIES)
UPSTREAM_RESTART = [p for p in c.UPSTREAM_RESTART_POLICIES if p != c.RESTART_DEFAULT]


def role(name: str, replicas: int | None = 1, image: str = "nginx:1.14.2", **spec: Any) -> dict[str, Any]:
    """A role as upstream's test wrappers build one: one container, the given replicas."""
    body: dict[str, Any] = {
        "leaderWorkerTemplate": {
            "workerTemplate": {"spec": {"containers": [{"name": "main", "image": image}]}},
        },
        **spec,
    }
    if replicas is not None:
        body["replicas"] = replicas
    return {"name": name, "spec": body}


def make_ds(*roles: dict[str, Any], name: str = "demo", **spec: Any) -> dict[str, Any]:
    """A DisaggregatedSet with the given roles (prefill and decode at 1 replica when none are given)."""
    return {
        "apiVersion": d.API_VERSION,
        "kind": d.KIND,
        "metadata": {"name": name},
        "spec": {"roles": list(roles) or [role("prefill"), role("decode")], **spec},
    }


def sample_two_roles() -> dict[str, Any]:
    """The shape of upstream's ``disaggregatedset_v1_disaggregatedset.yaml``: 2 slices, 2 roles of 2."""
    roles = []
    for name in ("prefill", "decode"):
        template = {
            "metadata": {"labels": {"role": name}},
            # protocol as upstream's API server stores it (its CRD defaults it from the pod schema).
            "spec": {
                "containers": [
                    {
                        "name": "worker",
                        "image": "nginx:latest",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    }
                ]
            },
        }
        roles.append(
            {
                "name": name,
                "spec": {
                    "replicas": 2,
                    "leaderWorkerTemplate": {
                        "size": 1,
                        "leaderTemplate": copy.deepcopy(template),
                        "workerTemplate": copy.deepcopy(template),
                    },
                },
            }
        )
    ds = make_ds(*roles, name="disaggregatedset-sample", slices=2)
    ds["metadata"]["namespace"] = "default"
    return ds


def sample_three_roles() -> dict[str, Any]:
    """The shape of upstream's ``disaggregatedset_v1_3role.yaml``: prefill 4x2, decode 2, encode 2."""
    roles = []
    for name, replicas, size in (("prefill", 4, 2), ("decode", 2, 1), ("encode", 2, 1)):
        labels = {"app": name, "component": "disaggregation"}
        limits = {"cpu": "100m", "memory": "64Mi"}
        roles.append(
            {
                "name": name,
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "replicas": replicas,
                    "rolloutStrategy": {"rollingUpdateConfiguration": {"maxSurge": 1, "maxUnavailable": 0}},
                    "leaderWorkerTemplate": {
                        "size": size,
                        "workerTemplate": {
                            "metadata": {"labels": dict(labels)},
                            "spec": {
                                "containers": [
                                    {
                                        "name": "model",
                                        "image": "registry.k8s.io/pause:3.9",
                                        "resources": {"limits": dict(limits), "requests": dict(limits)},
                                    }
                                ]
                            },
                        },
                    },
                },
            }
        )
    ds = make_ds(*roles, name="disaggregatedset-3role-sample")
    ds["metadata"]["namespace"] = "default"
    return ds


def verdict_of(obj: Mapping[str, Any], *, default: bool = True) -> Verdict:
    """Validate (after defaulting, as the API server does) with upstream's policy values."""
    subject = default_disaggregatedset(obj) if default else obj
    return validate_disaggregatedset(
        subject, startup_policies=UPSTREAM_STARTUP, restart_policies=UPSTREAM_RESTART
    )


def triples(errors: list[FieldError]) -> list[tuple[str, str, str]]:
    return [(e.path, e.type, e.detail) for e in errors]


# Upstream's two samples (config/samples/disaggregatedset_v1_{disaggregatedset,3role}.yaml at 060ab4da),
# written out here as test data: applied with kubectl exactly as a user of upstream v0.10 would.
UPSTREAM_SAMPLE_YAML = """\
apiVersion: disaggregatedset.x-k8s.io/v1
kind: DisaggregatedSet
metadata:
  name: disaggregatedset-sample
  namespace: default
spec:
  slices: 2
  roles:
    - name: prefill
      spec:
        replicas: 2
        leaderWorkerTemplate:
          size: 1
          leaderTemplate:
            metadata:
              labels:
                role: prefill
            spec:
              containers:
                - name: worker
                  image: nginx:latest
                  ports:
                    - containerPort: 80
          workerTemplate:
            metadata:
              labels:
                role: prefill
            spec:
              containers:
                - name: worker
                  image: nginx:latest
                  ports:
                    - containerPort: 80
    - name: decode
      spec:
        replicas: 2
        leaderWorkerTemplate:
          size: 1
          leaderTemplate:
            metadata:
              labels:
                role: decode
            spec:
              containers:
                - name: worker
                  image: nginx:latest
                  ports:
                    - containerPort: 80
          workerTemplate:
            metadata:
              labels:
                role: decode
            spec:
              containers:
                - name: worker
                  image: nginx:latest
                  ports:
                    - containerPort: 80
"""

UPSTREAM_3ROLE_SAMPLE_YAML = "".join(
    [
        """\
apiVersion: disaggregatedset.x-k8s.io/v1
kind: DisaggregatedSet
metadata:
  name: disaggregatedset-3role-sample
  namespace: default
spec:
  roles:
""",
        *(
            f"""\
    - name: {name}
      metadata:
        labels:
          app: {name}
          component: disaggregation
      spec:
        replicas: {replicas}
        rolloutStrategy:
          rollingUpdateConfiguration:
            maxSurge: 1
            maxUnavailable: 0
        leaderWorkerTemplate:
          size: {size}
          workerTemplate:
            metadata:
              labels:
                app: {name}
                component: disaggregation
            spec:
              containers:
                - name: model
                  image: registry.k8s.io/pause:3.9
                  resources:
                    limits:
                      cpu: 100m
                      memory: 64Mi
                    requests:
                      cpu: 100m
                      memory: 64Mi
"""
            for name, replicas, size in (("prefill", 4, 2), ("decode", 2, 1), ("encode", 2, 1))
        ),
    ]
)

UPSTREAM_SAMPLES = {
    "disaggregatedset_v1_disaggregatedset": UPSTREAM_SAMPLE_YAML,
    "disaggregatedset_v1_3role": UPSTREAM_3ROLE_SAMPLE_YAML,
}


# Upstream's step-tracking end-to-end cases (test/e2e/disaggregatedset_test.go): source and target replicas of
# (prefill, decode), maxSurge, maxUnavailable, and every state the rollout passes through, as
# (old prefill, old decode, new prefill, new decode). The planner's table test and the e2e both use them.
UPSTREAM_STEP_CASES = [
    pytest.param(
        (10, 2),
        (6, 8),
        2,
        0,
        [
            (10, 2, 0, 0),
            (8, 2, 0, 0),
            (6, 2, 0, 0),
            (6, 2, 2, 2),
            (4, 1, 2, 2),
            (4, 1, 3, 4),
            (4, 1, 4, 5),
            (2, 1, 4, 5),
            (2, 1, 5, 7),
            (2, 1, 6, 8),
            (0, 0, 6, 8),
        ],
        id="P10-D2-to-P6-D8-surge-2",
    ),
    pytest.param(
        (4, 4),
        (4, 4),
        0,
        2,
        [(4, 4, 0, 0), (2, 2, 0, 0), (2, 2, 2, 2), (0, 0, 2, 2), (0, 0, 4, 4)],
        id="4-4-surge-0-unavailable-2",
    ),
]
