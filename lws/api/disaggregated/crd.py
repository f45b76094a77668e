"""The DisaggregatedSet and DisaggregatedSetRoleScaler CRDs, generated from the schemas.

Both come from :mod:`lws.api.disaggregated.schema`.

Identity, printer columns and subresources are upstream's: ``kubectl get dsrs`` shows Desired, Current and
Age, and ``kubectl scale`` and HorizontalPodAutoscalers drive a RoleScaler through its scale subresource. The
checked-in CRDs in ``crds/`` are this module's output for the built-in plugins; regenerate them, with every
other generated file, with ``.venv/bin/python tools/generate.py`` (``tests/test_generated_files.py`` fails
when one is stale).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.api.disaggregated.schema import disaggregatedset_schema, rolescaler_schema
from lws.api.schema import merged_values

DS_CRD_FILE_NAME = f"{d.GROUP}_{d.PLURAL}.yaml"
SCALER_CRD_FILE_NAME = f"{d.GROUP}_{d.SCALER_PLURAL}.yaml"


def _header(kind: str) -> str:
    return (
        f"# The {kind} CustomResourceDefinition ({d.API_VERSION}).\n"
        f"# Generated from lws/api/disaggregated/schema.py by `lws crd --kind {kind}`; do not edit by hand.\n"
    )


def _crd(name: str, names: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {"group": d.GROUP, "names": names, "scope": "Namespaced", "versions": [version]},
    }


def build_disaggregatedset_crd(
    *, startup_policies: Sequence[str], restart_policies: Sequence[str]
) -> dict[str, Any]:
    """The DisaggregatedSet CRD; the roles' LWS enums are open to the registered values, as the LWS CRD's.

    Upstream's values are always in the enums, so the CRD accepts every manifest upstream's does.

    :param startup_policies: the values enabled plugins implement (``Hooks.startup_values``).
    :param restart_policies: the same for ``restartPolicy`` (``Hooks.restart_values``).
    """
    schema = disaggregatedset_schema(
        startup_policies=merged_values(c.UPSTREAM_STARTUP_POLICIES, startup_policies),
        restart_policies=merged_values(c.UPSTREAM_RESTART_POLICIES, restart_policies),
    )
    # As upstream: a status subresource, no scale subresource (roles scale through their RoleScalers), no
    # short name and no printer columns.
    version = {
        "name": d.VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {"status": {}},
    }
    names = {"kind": d.KIND, "listKind": d.LIST_KIND, "plural": d.PLURAL, "singular": d.SINGULAR}
    return _crd(d.CRD_NAME, names, version)


def scaler_printer_columns() -> list[dict[str, Any]]:
    """The columns ``kubectl get dsrs`` shows, as upstream."""
    return [
        {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Current", "type": "integer", "jsonPath": ".status.replicas"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def build_rolescaler_crd() -> dict[str, Any]:
    """The DisaggregatedSetRoleScaler CRD, with upstream's scale subresource for ``kubectl scale`` and HPA."""
    version = {
        "name": d.VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": rolescaler_schema()},
        "subresources": {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            },
        },
        "additionalPrinterColumns": scaler_printer_columns(),
    }
    names = {
        "kind": d.SCALER_KIND,
        "listKind": d.SCALER_LIST_KIND,
        "plural": d.SCALER_PLURAL,
        "singular": d.SCALER_SINGULAR,
        "shortNames": list(d.SCALER_SHORT_NAMES),
    }
    return _crd(d.SCALER_CRD_NAME, names, version)


def disaggregated_crd_yaml(crd: dict[str, Any]) -> str:
    """A CRD as the YAML document ``lws crd --kind ...`` prints and ``crds/`` holds (stable key order)."""
    kind = crd["spec"]["names"]["kind"]
    return _header(kind) + yaml.safe_dump(crd, sort_keys=True, default_flow_style=False, width=100)
