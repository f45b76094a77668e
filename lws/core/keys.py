"""Group and subgroup identity: the hashes, indices and name arithmetic upstream's webhook uses."""

from __future__ import annotations

import hashlib
import re

from lws.api import constants as c

_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def group_key(namespace: str, leader_name: str) -> str:
    """``group-key`` label: sha1 of ``<namespace>/<leaderPodName>`` (40 hex chars)."""
    return hashlib.sha1(f"{namespace}/{leader_name}".encode()).hexdigest()


def subgroup_key(leader_name: str, subgroup_index: int) -> str:
    """``subgroup-key`` label: sha1 of ``<leaderPodName>/<subgroupIndex>`` (no namespace, as upstream)."""
    return hashlib.sha1(f"{leader_name}/{subgroup_index}".encode()).hexdigest()


def split_ordinal(pod_name: str) -> tuple[str, int] | None:
    """``"my-lws-1-2"`` -> ``("my-lws-1", 2)``; ``None`` when the name has no trailing ordinal."""
    match = _ORDINAL.match(pod_name)
    if not match:
        return None
    return match.group(1), int(match.group(2))


def worker_subgroup_index(size: int, subgroup_size: int, worker_index: int) -> int:
    """Subgroup of a worker, as upstream computes it.

    When ``size-1`` is divisible by the subgroup size but ``size`` is not, the leader is the extra pod of
    subgroup 0 and workers count from 1; otherwise the leader takes slot 0 of subgroup 0.
    """
    if (size - 1) % subgroup_size == 0 and size % subgroup_size != 0:
        return (worker_index - 1) // subgroup_size
    return worker_index // subgroup_size


def leader_subgroup_index(subgroup_type: str | None) -> int | None:
    """The leader is in subgroup 0, unless the policy is ``LeaderExcluded``."""
    return None if subgroup_type == c.SUBGROUP_LEADER_EXCLUDED else 0
