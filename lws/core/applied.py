"""Whether applying a desired object could change the live one: the check that lets the operator skip
an apply that would change nothing.

Upstream applies the leader StatefulSet on every reconcile. A no-op apply costs a request (and a
managedFields timestamp churn on some servers), and a converged set is reconciled on every pod status
change, so the operator skips it when both hold:

* the live object carries the hash of the exact body we would apply (annotation :data:`APPLIED_HASH`),
  so a field we *stopped* applying (a label removed from the LeaderWorkerSet) still triggers an apply;
* every field of the body is present with the same value in the live object (:func:`contains`), so
  drift made by someone else (``kubectl edit``) is repaired as upstream repairs it.

The builders stamp the hash themselves, so ``lws render`` prints the annotation the operator writes.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from lws.api.quantity import QuantityError, parse_quantity

#: Our own bookkeeping annotation (outside upstream's ``leaderworkerset.sigs.k8s.io/`` prefix).
APPLIED_HASH = "lws.x-k8s.io/applied-hash"


def body_hash(body: Mapping[str, Any]) -> str:
    """A short, stable digest of an apply body.

    Leaves out the hash annotation itself and the owner references: the owner's uid is not known before
    the owner exists (``lws render``), it never changes afterwards, and a removed reference is still
    caught by :func:`contains`.
    """
    stripped = copy.deepcopy(dict(body))
    meta = stripped.get("metadata")
    if isinstance(meta, dict):
        meta.pop("ownerReferences", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(APPLIED_HASH, None)
    text = json.dumps(stripped, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_hash(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body to apply: ``body`` plus :data:`APPLIED_HASH`."""
    out = copy.deepcopy(dict(body))
    meta = out.setdefault("metadata", {})
    meta["annotations"] = {**(meta.get("annotations") or {}), APPLIED_HASH: body_hash(body)}
    return out


def needs_apply(body: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """Whether applying ``body`` (as returned by :func:`with_hash`) could change ``live``."""
    if live is None:
        return True
    want = ((body.get("metadata") or {}).get("annotations") or {}).get(APPLIED_HASH)
    have = ((live.get("metadata") or {}).get("annotations") or {}).get(APPLIED_HASH)
    return want != have or not contains(live, body)


def contains(have: Any, want: Any) -> bool:
    """Whether ``have`` carries every field of ``want`` with an equal value.

    Maps: each key of ``want`` must be in ``have`` (extra keys in ``have`` are server defaults and other
    managers' fields). Lists: same length, item by item. Empty maps, lists and nulls in ``want`` match a
    missing field (the server drops them). Scalars: equal, or equal as quantities (``1`` vs ``"1"``,
    ``"1024Mi"`` vs ``"1Gi"``), since the server canonicalises quantities.
    """
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return not want
        for key, value in want.items():
            if key not in have:
                if value in (None, {}, []):
                    continue
                return False
            if not contains(have[key], value):
                return False
        return True
    if isinstance(want, list):
        if not isinstance(have, list):
            return not want and have is None
        return len(want) == len(have) and all(contains(h, w) for h, w in zip(have, want, strict=True))
    if want is None:
        return True
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have  # True == 1 in Python, not in JSON
    if want == have:
        return True
    if isinstance(want, int | float | str) and isinstance(have, int | float | str):
        try:
            return parse_quantity(want) == parse_quantity(have)
        except QuantityError:
            return False
    return False
