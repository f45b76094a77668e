"""LeaderWorkerSet defaulting, exactly as upstream's CRD schema defaults and mutating webhook together.

On a real cluster the API server first applies the CRD's defaults (``replicas: 1``, ``size: 1``,
``startupPolicy: LeaderCreated``...), then calls the mutating webhook, which fills in what a schema default
cannot express (a whole ``rollingUpdateConfiguration`` when it is missing, ``networkConfig``, the deprecated
``restartPolicy: Default``). :func:`default_lws` does both, so ``lws validate`` and ``lws render`` see the
object the operator would see.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any

from lws.api import constants as c
from lws.api.schema import Schema, leaderworkerset_schema
from lws.api.structural import apply_defaults

DEFAULT_NAMESPACE = "default"


@cache
def _schema() -> Schema:
    # Enum values do not change defaults: upstream's are enough here.
    return leaderworkerset_schema(
        startup_policies=c.UPSTREAM_STARTUP_POLICIES, restart_policies=c.UPSTREAM_RESTART_POLICIES
    )


def default_lws(obj: Mapping[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
    """Return a defaulted copy of a LeaderWorkerSet; ``obj`` is never changed.

    * CRD schema defaults: ``replicas`` 1, ``size`` 1, ``restartPolicy`` RecreateGroupOnPodRestart,
      ``startupPolicy`` LeaderCreated, ``subGroupPolicyType`` LeaderWorker (when ``subGroupPolicy`` is
      written), ``rolloutStrategy.type`` RollingUpdate and ``partition``/``maxUnavailable``/``maxSurge``
      0/1/0 inside a written ``rollingUpdateConfiguration``. Nulls of known fields count as unwritten.
    * Webhook defaults: ``restartPolicy`` "" → RecreateGroupOnPodRestart and ``Default`` → ``None``;
      ``rolloutStrategy.type`` "" → RollingUpdate, and for RollingUpdate a missing
      ``rollingUpdateConfiguration`` → ``{maxUnavailable: 1, maxSurge: 0, partition: 0}``; a missing
      ``networkConfig`` or ``subdomainPolicy`` → Shared; ``groupIdentity`` "" → Ordinal (the CRD defaults it
      when absent); ``groupReplacementPolicy`` absent or "" → PostTermination.
    * ``metadata.namespace``: the object's own, else ``namespace`` (a command's ``-n``), else ``default``.

    Parts of the wrong type are left as they are, for validation to report. Idempotent.
    """
    lws = copy.deepcopy(dict(obj))
    apply_defaults(_schema(), lws)
    _default_namespace(lws, namespace)
    spec = lws.get("spec")
    if isinstance(spec, dict):
        _default_spec(spec)
    return lws


def default_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a ``leaderWorkerTemplate`` with the CRD schema's defaults applied (its pod templates'
    included, e.g. a container port's ``protocol: TCP``); ``template`` is never changed."""
    schema = _schema()["properties"]["spec"]["properties"]["leaderWorkerTemplate"]
    defaulted = copy.deepcopy(dict(template))
    apply_defaults(schema, defaulted)
    return defaulted


def _default_namespace(lws: dict[str, Any], namespace: str | None) -> None:
    metadata = lws.setdefault("metadata", {})
    if isinstance(metadata, dict) and not metadata.get("namespace"):
        metadata["namespace"] = namespace or DEFAULT_NAMESPACE


def _default_spec(spec: dict[str, Any]) -> None:
    template = spec.get("leaderWorkerTemplate")
    if isinstance(template, dict):
        policy = template.get("restartPolicy")
        if policy == "":
            template["restartPolicy"] = c.RESTART_RECREATE_GROUP_ON_POD_RESTART
        elif policy == c.RESTART_DEFAULT:
            template["restartPolicy"] = c.RESTART_NONE

    # rolloutStrategy is a struct (not a pointer) upstream, so the webhook always sees one to default.
    strategy = spec.setdefault("rolloutStrategy", {})
    if isinstance(strategy, dict):
        if strategy.get("type") in (None, ""):
            strategy["type"] = c.ROLLING_UPDATE
        if strategy["type"] == c.ROLLING_UPDATE and strategy.get("rollingUpdateConfiguration") is None:
            strategy["rollingUpdateConfiguration"] = {"maxUnavailable": 1, "maxSurge": 0, "partition": 0}

    # The CRD defaults groupIdentity when it is absent; the webhook also turns "" into Ordinal, and defaults
    # groupReplacementPolicy (which has no CRD default).
    if spec.get("groupIdentity") in (None, ""):
        spec["groupIdentity"] = c.GROUP_IDENTITY_ORDINAL
    if spec.get("groupReplacementPolicy") in (None, ""):
        spec["groupReplacementPolicy"] = c.GROUP_REPLACEMENT_POST_TERMINATION

    network = spec.get("networkConfig")
    if network is None:
        spec["networkConfig"] = {"subdomainPolicy": c.SUBDOMAIN_SHARED}
    elif isinstance(network, dict) and network.get("subdomainPolicy") is None:
        network["subdomainPolicy"] = c.SUBDOMAIN_SHARED
