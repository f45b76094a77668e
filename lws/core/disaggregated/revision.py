"""The revision of a DisaggregatedSet: upstream's hash, byte for byte, so a takeover rolls nothing.

Upstream (``pkg/utils/disaggregatedset.ComputeRevision``) hashes ``json.Marshal`` of
``[{"name": <role>, "groupIdentity": <role.spec.groupIdentity>, "template":
<role.spec.leaderWorkerTemplate>}, ...]`` over the roles in spec order with SHA-256 and keeps the first 8 hex
characters; ``groupIdentity`` (upstream main, PR #987) is left out when unset or ``Ordinal``, so revisions
from before it are unchanged. The bytes are Go's encoding of the typed ``LeaderWorkerTemplate``
(:mod:`lws.k8s.go_json`): struct field order, ``omitempty``, canonical quantities. Only the templates (and a
``Hash`` group identity) count: replicas, slices, placement, scaling, rollout settings and
``groupReplacementPolicy`` change no revision.

The input is the DisaggregatedSet as stored (CRD defaults applied: ``size: 1``, ``restartPolicy:
RecreateGroupOnPodRestart``...), as upstream's controller reads it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Final

from lws.api.disaggregated import constants as d
from lws.k8s.go_json import GoJSONError, GoTypes, kubernetes_types

__all__ = ["GROUP_IDENTITY_ORDINAL", "GoJSONError", "compute_revision", "revision_payload"]

#: ``spec.groupIdentity``'s default (upstream main): hashed as if the field were unset.
GROUP_IDENTITY_ORDINAL: Final = "Ordinal"

#: Upstream's Go types above the Kubernetes ones (sigs.k8s.io/lws/api/leaderworkerset/v1 at v0.10), in Go
#: field order with their JSON tags, and the anonymous struct ComputeRevision marshals.
_LWS_TYPES: Final[dict[str, list[tuple[str, str, str]]]] = {
    "leaderworkerset/v1.LeaderWorkerTemplate": [
        ("leaderTemplate", "*core/v1.PodTemplateSpec", "omitempty"),
        ("workerTemplate", "core/v1.PodTemplateSpec", ""),
        ("size", "*int32", "omitempty"),
        ("restartPolicy", "string", "omitempty"),
        ("subGroupPolicy", "*leaderworkerset/v1.SubGroupPolicy", "omitempty"),
        ("volumeClaimTemplates", "[]core/v1.PersistentVolumeClaim", "omitempty"),
        (
            "persistentVolumeClaimRetentionPolicy",
            "*apps/v1.StatefulSetPersistentVolumeClaimRetentionPolicy",
            "omitempty",
        ),
    ],
    "leaderworkerset/v1.SubGroupPolicy": [
        ("subGroupPolicyType", "*string", "omitempty"),
        ("subGroupSize", "*int32", "omitempty"),
    ],
    # Upstream main (PR #987) added groupIdentity between name and template, normalised so that "" and the
    # default Ordinal hash alike: a set stored before the field existed keeps its revision.
    "disaggregatedset/v1.roleTemplate": [
        ("name", "string", ""),
        ("groupIdentity", "string", "omitempty"),
        ("template", "leaderworkerset/v1.LeaderWorkerTemplate", ""),
    ],
}


@cache
def _types() -> GoTypes:
    return kubernetes_types().extended(_LWS_TYPES)


def revision_payload(roles: Sequence[Mapping[str, Any]]) -> str:
    """The JSON text upstream hashes: each role's name and ``leaderWorkerTemplate``, Go-encoded.

    Raises :class:`GoJSONError` naming the field (under ``spec.roles[i].spec.leaderWorkerTemplate``) where a
    template could not be decoded into upstream's Go types, as upstream's controller could not.
    """
    items = []
    for role in roles:
        spec = role.get("spec") or {}
        item = {"name": role.get("name"), "template": spec.get("leaderWorkerTemplate")}
        identity = spec.get("groupIdentity")
        if identity and identity != GROUP_IDENTITY_ORDINAL:
            item["groupIdentity"] = identity
        items.append(item)
    try:
        return _types().marshal(items, "[]disaggregatedset/v1.roleTemplate")
    except GoJSONError as exc:
        raise GoJSONError(_role_path(exc.path), exc.detail) from None


def compute_revision(roles: Sequence[Mapping[str, Any]]) -> str:
    """The 8-character revision of a DisaggregatedSet's ``spec.roles``, equal to upstream's."""
    digest = hashlib.sha256(revision_payload(roles).encode("utf-8")).hexdigest()
    return digest[: d.REVISION_LENGTH]


def _role_path(path: str) -> str:
    # "[1].template.workerTemplate..." -> "spec.roles[1].spec.leaderWorkerTemplate.workerTemplate..."
    index, _, rest = path.partition(".")
    rest = rest.removeprefix("template")
    return f"spec.roles{index}.spec.leaderWorkerTemplate{rest}" if rest else f"spec.roles{index}"
