"""The LeaderWorkerSet CustomResourceDefinition, generated from :mod:`lws.api.schema`.

Identity, printer columns and subresources are upstream's, so ``kubectl get lws``, ``kubectl scale`` and
HorizontalPodAutoscalers behave the same. The checked-in CRD in ``crds/`` is this module's output for the
built-in plugins, as are its copies under ``config/`` and ``lws/deploy/``; regenerate them all with
``.venv/bin/python tools/generate.py`` (``tests/test_generated_files.py`` fails when one is stale).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from lws.api import constants as c
from lws.api.schema import leaderworkerset_schema, merged_values

CRD_FILE_NAME = f"{c.GROUP}_{c.PLURAL}.yaml"

_HEADER = (
    "# The LeaderWorkerSet CustomResourceDefinition (leaderworkerset.x-k8s.io/v1).\n"
    "# Generated from lws/api/schema.py by `lws crd` (tools/generate.py); do not edit by hand.\n"
)


def printer_columns() -> list[dict[str, Any]]:
    """The columns ``kubectl get leaderworkersets`` shows, as upstream."""
    return [
        {
            "name": "Ready",
            "type": "integer",
            "jsonPath": ".status.readyReplicas",
            "description": "Number of ready replicas",
        },
        {
            "name": "Desired",
            "type": "integer",
            "jsonPath": ".spec.replicas",
            "description": "Number of desired replicas",
        },
        {
            "name": "Up-to-date",
            "type": "integer",
            "jsonPath": ".status.updatedReplicas",
            "description": "Number of up-to-date replicas",
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def build_crd(*, startup_policies: Sequence[str], restart_policies: Sequence[str]) -> dict[str, Any]:
    """The CRD, with the ``startupPolicy``/``restartPolicy`` enums open to the registered values.

    Upstream's values are always in the enums (``Default`` included, as the deprecated alias of ``None``),
    whatever is registered: the CRD is installed once per cluster and must accept every manifest that
    upstream's does. Whether a value is *served* is for admission to decide, with the enabled plugins.

    :param startup_policies: the values enabled plugins implement (``Hooks.startup_values``).
    :param restart_policies: the same for ``restartPolicy`` (``Hooks.restart_values``).
    """
    schema = leaderworkerset_schema(
        startup_policies=merged_values(c.UPSTREAM_STARTUP_POLICIES, startup_policies),
        restart_policies=merged_values(c.UPSTREAM_RESTART_POLICIES, restart_policies),
    )
    version = {
        "name": c.VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.hpaPodSelector",
            },
        },
        "additionalPrinterColumns": printer_columns(),
    }
    # No spec.conversion: upstream declares a conversion webhook, but with a single version the API server
    # never calls it, and leaving it out spares the cluster a webhook Service it would have to trust.
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": c.CRD_NAME},
        "spec": {
            "group": c.GROUP,
            "names": {
                "kind": c.KIND,
                "listKind": c.LIST_KIND,
                "plural": c.PLURAL,
                "singular": c.SINGULAR,
                "shortNames": list(c.SHORT_NAMES),
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


def crd_yaml(crd: dict[str, Any]) -> str:
    """The CRD as the YAML document ``lws crd`` prints and ``crds/`` holds (stable key order)."""
    return _HEADER + yaml.safe_dump(crd, sort_keys=True, default_flow_style=False, width=100)
