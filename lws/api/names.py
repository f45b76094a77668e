"""The name budget of a LeaderWorkerSet, and Kubernetes' name rules for the API layer and its plugins.

The format checks themselves live in :mod:`lws.k8s.names` (shared with the embedded cluster) and are
re-exported here, so plugins find them in the API they build on.

The name budget goes beyond upstream (issue #410): a LeaderWorkerSet's name is the prefix of every object it
derives (StatefulSets, pods, Services) and of labels the StatefulSet controller puts on pods, all limited to
63 characters. Upstream admits names that break those limits, and the pods then silently fail to appear.
"""

from __future__ import annotations

from dataclasses import dataclass

from lws.api import constants as c
from lws.k8s.names import (
    GENERATED_SUFFIX_LEN,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_value,
    is_qualified_name,
    is_valid_percent,
    mask_trailing_dash,
)

__all__ = [
    "GENERATED_SUFFIX_LEN",
    "NameBudget",
    "hash_name_budget",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_label_value",
    "is_qualified_name",
    "is_valid_percent",
    "mask_trailing_dash",
    "name_budget",
]


# --- the name budget ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameBudget:
    """The longest LeaderWorkerSet name whose derived objects all fit Kubernetes' limits.

    :ivar max_length: the longest allowed name.
    :ivar reason: which derived name or label sets the limit, written with ``<name>`` for the set's name.
    """

    max_length: int
    reason: str


def _digits(n: int) -> int:
    return len(str(n))


def name_budget(
    *,
    highest_group_index: int,
    size: int,
    subdomain_policy: str = c.SUBDOMAIN_SHARED,
    hashed: bool = False,
) -> NameBudget:
    """The name budget for a set whose groups go up to ``highest_group_index`` and have ``size`` pods each.

    Every limit is 63 characters; the tightest one wins (ties go to the first listed, the most common cause):

    * the worker StatefulSet ``<name>-<i>`` labels its pods ``controller-revision-hash: <name>-<i>-<hash>``,
      where the hash has up to 10 characters (upstream issue #410);
    * worker pods ``<name>-<i>-<j>`` are DNS labels (their hostnames);
    * the leader StatefulSet ``<name>`` labels its pods ``controller-revision-hash: <name>-<hash>``;
    * leader pods ``<name>-<i>`` are DNS labels, and so are per-replica Services of that name.

    There is no worker StatefulSet when ``size`` is 1, so only the leader limits apply then. With ``hashed``
    (``groupIdentity: Hash``) see :func:`hash_name_budget`; ``highest_group_index`` does not matter then.
    """
    if hashed:
        return hash_name_budget(size=size, subdomain_policy=subdomain_policy)
    limit = c.DNS1035_LABEL_MAX
    hash_len = c.STS_REVISION_HASH_MAX_LEN
    index = max(highest_group_index, 0)
    d = _digits(index)
    hash_label = f"which Kubernetes limits to {limit} characters (upstream issue #410)"
    candidates: list[NameBudget] = []
    if size > 1:
        candidates.append(
            NameBudget(
                limit - 1 - d - 1 - hash_len,
                f'the worker StatefulSet "<name>-{index}" labels its pods controller-revision-hash '
                f'"<name>-{index}-<hash>", {hash_label}',
            )
        )
        last_worker = size - 1
        candidates.append(
            NameBudget(
                limit - 1 - d - 1 - _digits(last_worker),
                f'the worker pod "<name>-{index}-{last_worker}" must be a DNS label '
                f"of at most {limit} characters",
            )
        )
    candidates.append(
        NameBudget(
            limit - 1 - hash_len,
            f'the leader StatefulSet "<name>" labels its pods controller-revision-hash "<name>-<hash>", '
            f"{hash_label}",
        )
    )
    if subdomain_policy == c.SUBDOMAIN_UNIQUE_PER_REPLICA:
        what = f'the leader pod "<name>-{index}" and its Service "<name>-{index}" must be DNS labels'
    else:
        what = f'the leader pod "<name>-{index}" must be a DNS label'
    candidates.append(NameBudget(limit - 1 - d, f"{what} of at most {limit} characters"))
    return min(candidates, key=lambda b: b.max_length)


def hash_name_budget(*, size: int, subdomain_policy: str = c.SUBDOMAIN_SHARED) -> NameBudget:
    """The name budget of a ``groupIdentity: Hash`` set, whose leader pods are named after their host names
    ``<name>-<8 characters of the group key>`` at admission.

    Each group's worker StatefulSet is named after its leader pod. Every limit is 63 characters:

    * the worker StatefulSet labels its pods ``controller-revision-hash: <leader pod>-<hash>`` (up to 10);
    * worker pods ``<leader pod>-<j>`` are DNS labels (their hostnames);
    * the leader's host name (its pod name) is a DNS label, and so is the per-replica Service of that name
      (``UniquePerReplica``).
    """
    limit = c.DNS1035_LABEL_MAX
    leader_pod = 1 + c.HASH_HOST_KEY_LENGTH
    shape = f"<name>-<{c.HASH_HOST_KEY_LENGTH} characters of the group key>"
    candidates: list[NameBudget] = []
    if size > 1:
        candidates.append(
            NameBudget(
                limit - leader_pod - 1 - c.STS_REVISION_HASH_MAX_LEN,
                f'the worker StatefulSet, named after its leader pod "{shape}", labels its pods '
                f'controller-revision-hash "<leader pod>-<hash>", which Kubernetes limits to {limit} '
                "characters",
            )
        )
        last_worker = size - 1
        candidates.append(
            NameBudget(
                limit - leader_pod - 1 - _digits(last_worker),
                f'the worker pod "<leader pod>-{last_worker}" (leader pod "{shape}") must be a DNS label '
                f"of at most {limit} characters",
            )
        )
    host = f"<name>-<{c.HASH_HOST_KEY_LENGTH} characters of the group key>"
    if subdomain_policy == c.SUBDOMAIN_UNIQUE_PER_REPLICA:
        what = f'the leader\'s host name "{host}" and its Service of that name must be DNS labels'
    else:
        what = f'the leader\'s host name "{host}" must be a DNS label'
    candidates.append(NameBudget(limit - 1 - c.HASH_HOST_KEY_LENGTH, f"{what} of at most {limit} characters"))
    return min(candidates, key=lambda b: b.max_length)
