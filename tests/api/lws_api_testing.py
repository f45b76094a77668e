"""Helpers for the API-layer tests: a minimal valid LeaderWorkerSet, upstream's policy values, and
validation in the shape the tables compare."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from lws.api import constants as c
from lws.api.defaulting import default_lws
from lws.api.errors import FieldError
from lws.api.validation import validate_lws

MINIMAL: dict[str, Any] = {
    "apiVersion": c.API_VERSION,
    "kind": c.KIND,
    "metadata": {"name": "demo"},
    "spec": {
        "leaderWorkerTemplate": {
            "workerTemplate": {"spec": {"containers": [{"name": "main", "image": "nginx"}]}},
        },
    },
}

UPSTREAM_STARTUP = list(c.UPSTREAM_STARTUP_POLICIES)
UPSTREAM_RESTART = [p for p in c.UPSTREAM_RESTART_POLICIES if p != c.RESTART_DEFAULT]


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in (nested mappings merge; ``...`` as a value deletes the key)."""
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is ...:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def errors_of(
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None = None,
    *,
    startup: list[str] | None = None,
    restart: list[str] | None = None,
    default: bool = True,
) -> list[FieldError]:
    """Validate (after defaulting, as admission does) with upstream's policy values unless told otherwise."""
    subject = default_lws(obj) if default else obj
    return validate_lws(
        subject,
        old,
        startup_policies=UPSTREAM_STARTUP if startup is None else startup,
        restart_policies=UPSTREAM_RESTART if restart is None else restart,
    )


def triples(errors: list[FieldError]) -> list[tuple[str, str, str]]:
    """(path, type, detail) of each error: what the table-driven tests compare."""
    return [(e.path, e.type, e.detail) for e in errors]


def make_lws(**patch: Any) -> dict[str, Any]:
    """A minimal valid LeaderWorkerSet with ``patch`` merged in: ``make_lws(spec={"replicas": 3})``."""
    return deep_merge(MINIMAL, patch)


# --- hypothesis strategies -----------------------------------------------------------------------------------

#: Any JSON-like value, as a YAML or JSON manifest can hold one.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_data = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=12,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a plausible value, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, json_data)


def _fields(required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]) -> Any:
    return _maybe(
        st.fixed_dictionaries(
            {k: _maybe(v) for k, v in required.items()}, optional={k: _maybe(v) for k, v in optional.items()}
        )
    )


_small_int = st.integers(min_value=-3, max_value=12) | st.sampled_from([0, 1, 1_000_000, 1_000_001, 2**31])
_int_or_str = _small_int | st.sampled_from(["0%", "25%", "100%", "101%", "5", "-5%", "%", "x"])
_names = st.sampled_from(["demo", "a" * 49, "a" * 52, "a" * 64, "Bad_Name", "", "lws-", "x"])
_pod_template = _fields(
    {}, {"metadata": _fields({}, {"labels": json_data, "name": json_data}), "spec": json_data}
)

#: Objects shaped like a LeaderWorkerSet, with plausible or arbitrary values at every level.
lws_like = st.fixed_dictionaries(
    {
        "apiVersion": st.just(c.API_VERSION),
        "kind": st.just(c.KIND),
        "metadata": _fields(
            {"name": _names},
            {
                "namespace": st.sampled_from(["default", "Bad_NS", ""]),
                "generateName": _names,
                "labels": st.dictionaries(st.sampled_from(["app", "a/b/c", ""]), json_scalars, max_size=2),
                "annotations": st.dictionaries(
                    st.sampled_from([c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION, c.EXCLUSIVE_KEY_ANNOTATION, "x"]),
                    json_scalars,
                    max_size=2,
                ),
            },
        ),
        "spec": _fields(
            {
                "leaderWorkerTemplate": _fields(
                    {"workerTemplate": _pod_template},
                    {
                        "leaderTemplate": _pod_template,
                        "size": _small_int,
                        "restartPolicy": st.sampled_from([*c.UPSTREAM_RESTART_POLICIES, "", "Foo"]),
                        "subGroupPolicy": _fields(
                            {},
                            {
                                "subGroupSize": _small_int,
                                "subGroupPolicyType": st.sampled_from([*c.SUBGROUP_POLICY_TYPES, "Foo"]),
                            },
                        ),
                        "volumeClaimTemplates": st.lists(json_data, max_size=2),
                    },
                )
            },
            {
                "replicas": _small_int,
                "startupPolicy": st.sampled_from([*c.UPSTREAM_STARTUP_POLICIES, "", "Foo"]),
                "rolloutStrategy": _fields(
                    {},
                    {
                        "type": st.sampled_from(["RollingUpdate", "", "Recreate"]),
                        "rollingUpdateConfiguration": _fields(
                            {},
                            {"maxUnavailable": _int_or_str, "maxSurge": _int_or_str, "partition": _small_int},
                        ),
                    },
                ),
                "networkConfig": _fields(
                    {}, {"subdomainPolicy": st.sampled_from([*c.SUBDOMAIN_POLICIES, None, "Foo"])}
                ),
            },
        ),
    },
    optional={"status": json_data, "extra": json_data},
)
