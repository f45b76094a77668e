"""The ``LeaderWorkerSetOperator`` API (``operator.openshift.io/v1``), as the OpenShift Leader Worker Set
Operator defines it: identity, and its CustomResourceDefinition.

A cluster-scoped singleton named ``cluster`` whose spec inlines openshift/api's ``OperatorSpec``
(``managementState``, ``logLevel``, ``operatorLogLevel``, ``unsupportedConfigOverrides``,
``observedConfig``) plus ``nodePlacement``, and whose status is ``OperatorStatus``. The same schema, so
that an object written for OpenShift's operator applies here unchanged; ``nodePlacement`` is accepted and
not acted on (this operator is one Deployment, placed by whatever installed it). What the operator does
with the rest: :mod:`lws.core.management`.
"""

from __future__ import annotations

from typing import Any

import yaml

GROUP = "operator.openshift.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "LeaderWorkerSetOperator"
PLURAL = "leaderworkersetoperators"
SINGULAR = "leaderworkersetoperator"
#: The one object the operator reads.
NAME = "cluster"
CRD_NAME = f"{PLURAL}.{GROUP}"
CRD_FILE_NAME = f"{GROUP}_{PLURAL}.yaml"
LOG_LEVELS = ("", "Normal", "Debug", "Trace", "TraceAll")

_HEADER = (
    "# The LeaderWorkerSetOperator CustomResourceDefinition (operator.openshift.io/v1), OpenShift's.\n"
    "# Generated from lws/api/management.py (tools/generate.py); do not edit by hand.\n"
)


def _log_level(what: str) -> dict[str, Any]:
    return {
        "type": "string",
        "enum": list(LOG_LEVELS),
        "default": "Normal",
        "description": f"{what} Valid values: Normal, Debug, Trace, TraceAll. Defaults to Normal.",
    }


def _free_form(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "nullable": True,
        "x-kubernetes-preserve-unknown-fields": True,
        "description": description,
    }


def _spec() -> dict[str, Any]:
    toleration = {
        "type": "object",
        "properties": {
            "effect": {"type": "string"},
            "key": {"type": "string"},
            "operator": {"type": "string"},
            "tolerationSeconds": {"type": "integer", "format": "int64"},
            "value": {"type": "string"},
        },
    }
    return {
        "type": "object",
        "description": "How the operator runs.",
        "properties": {
            "managementState": {
                "type": "string",
                "pattern": "^(Managed|Unmanaged|Force|Removed)$",
                "description": "Managed (or Force) reconciles LeaderWorkerSets; Unmanaged and Removed pause "
                "reconciling and delete nothing.",
            },
            "logLevel": _log_level("How much the LeaderWorkerSet controller logs."),
            "operatorLogLevel": _log_level("How much the operator machinery (kopf, its servers) logs."),
            "unsupportedConfigOverrides": _free_form("Accepted as OpenShift's operator accepts it; unused."),
            "observedConfig": _free_form("Accepted as OpenShift's operator accepts it; unused."),
            "nodePlacement": {
                "type": "object",
                "description": "OpenShift's operator places its operand with it; accepted and unused here "
                "(place the operator's Deployment where you install it).",
                "properties": {
                    "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
                    "tolerations": {"type": "array", "items": toleration},
                },
            },
        },
    }


def _status() -> dict[str, Any]:
    condition = {
        "type": "object",
        "required": ["lastTransitionTime", "status", "type"],
        "properties": {
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "message": {"type": "string"},
            "reason": {"type": "string"},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "type": {"type": "string", "maxLength": 316},
        },
    }
    generation = {
        "type": "object",
        "required": ["group", "name", "namespace", "resource"],
        "properties": {
            "group": {"type": "string"},
            "hash": {"type": "string"},
            "lastGeneration": {"type": "integer", "format": "int64"},
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "resource": {"type": "string"},
        },
    }
    return {
        "type": "object",
        "description": "What the operator reports: Available, Progressing and Degraded conditions.",
        "properties": {
            "conditions": {
                "type": "array",
                "items": condition,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "generations": {
                "type": "array",
                "items": generation,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["group", "resource", "namespace", "name"],
            },
            "latestAvailableRevision": {"type": "integer", "format": "int32"},
            "observedGeneration": {"type": "integer", "format": "int64"},
            "readyReplicas": {"type": "integer", "format": "int32"},
            "version": {"type": "string"},
        },
    }


def build_operator_crd() -> dict[str, Any]:
    """The CRD, with OpenShift's schema and its singleton rule (``metadata.name`` must be ``cluster``)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
            },
            "scope": "Cluster",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "Configuration of the LeaderWorkerSet operator: one object, "
                            "named cluster.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": _spec(),
                                "status": _status(),
                            },
                            "x-kubernetes-validations": [
                                {
                                    "rule": f"self.metadata.name == '{NAME}'",
                                    "message": f"{KIND} is a singleton, .metadata.name must be '{NAME}'",
                                }
                            ],
                        }
                    },
                }
            ],
        },
    }


def operator_crd_yaml() -> str:
    """The CRD as ``crds/`` holds it (stable key order)."""
    return _HEADER + yaml.safe_dump(build_operator_crd(), sort_keys=True, default_flow_style=False, width=100)
