"""DisaggregatedSet defaulting: the CRD schema's defaults, exactly as the API server applies them.

Upstream has no mutating webhook for DisaggregatedSets, so the stored object is the manifest plus the CRD
defaults: ``slices: 1``; ``scaling.mode: Static`` and ``placementPolicy.type: None`` where those objects are
written; and in every role's LeaderWorkerSet spec the LWS CRD defaults (``replicas: 1``, ``startupPolicy:
LeaderCreated``, ``leaderWorkerTemplate.size: 1``, ``restartPolicy: RecreateGroupOnPodRestart``, and
``rolloutStrategy``/``rollingUpdateConfiguration`` fields where those are written). The LWS *webhook* defaults
(``networkConfig``, a missing ``rollingUpdateConfiguration``) are not applied here: the child LeaderWorkerSets
get them when they are admitted. The revision hash is computed over this stored form, as upstream's is.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any

from lws.api import constants as c
from lws.api.defaulting import DEFAULT_NAMESPACE
from lws.api.disaggregated.schema import disaggregatedset_schema, rolescaler_schema
from lws.api.schema import Schema
from lws.api.structural import apply_defaults


@cache
def _schema() -> Schema:
    # Enum values do not change defaults: upstream's are enough here.
    return disaggregatedset_schema(
        startup_policies=c.UPSTREAM_STARTUP_POLICIES, restart_policies=c.UPSTREAM_RESTART_POLICIES
    )


def default_disaggregatedset(obj: Mapping[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
    """A defaulted copy of a DisaggregatedSet (``obj`` is never changed), as the API server would store it.

    ``metadata.namespace``: the object's own, else ``namespace`` (a command's ``-n``), else ``default``.
    Parts of the wrong type are left as they are, for validation to report. Idempotent.
    """
    ds = copy.deepcopy(dict(obj))
    apply_defaults(_schema(), ds)
    metadata = ds.setdefault("metadata", {})
    if isinstance(metadata, dict) and not metadata.get("namespace"):
        metadata["namespace"] = namespace or DEFAULT_NAMESPACE
    return ds


def default_rolescaler(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A defaulted copy of a DisaggregatedSetRoleScaler (``spec.replicas: 0`` where ``spec`` is written)."""
    scaler = copy.deepcopy(dict(obj))
    apply_defaults(_scaler_schema(), scaler)
    return scaler


@cache
def _scaler_schema() -> Schema:
    return rolescaler_schema()
