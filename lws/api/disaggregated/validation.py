"""DisaggregatedSet validation: what the API server and upstream's validating webhook would reject.

:func:`validate_disaggregatedset` judges a defaulted object (:mod:`lws.api.disaggregated.defaulting`) in the
API server's order, and stops after the first stage that finds a problem, as the server does (a webhook never
sees an object the schema rejected):

1. the CRD schema (:mod:`lws.api.structural`: types, enums, patterns, required and unknown fields, duplicate
   role names), the ranges the schema declares (2 to 10 roles, 1 to 100 slices, role replicas 0 to 1000000),
   upstream's CEL rule (all non-External roles have zero replicas, or all have some) with its exact message,
   and the object metadata (the name a DNS subdomain, as for any custom resource);
2. upstream's webhook rules, in upstream's order and with upstream's texts: each role's rollout strategy
   (``RollingUpdate`` only, no partition, maxSurge/maxUnavailable), External roles (scaler name length, a
   warning for ``replicas > 1``, no ``slices > 1``), the name budget of the child Services, then the
   placement policy.

Upstream has no update-only rules for DisaggregatedSets, so CREATE and UPDATE are judged alike. Whether each
role's child LeaderWorkerSet would itself be admitted is the core's to check
(:mod:`lws.core.disaggregated.admission`), since it needs the child built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.api.disaggregated.schema import disaggregatedset_schema
from lws.api.errors import FieldError
from lws.api.names import hash_name_budget, is_dns1123_subdomain
from lws.api.schema import Schema
from lws.api.structural import check, type_error
from lws.api.validation import scaled, validate_int_or_percent, validate_metadata

ROLES: Final = "spec.roles"
SLICES: Final = "spec.slices"
PLACEMENT: Final = "spec.placementPolicy"

#: The LWS annotations whose exclusive placement conflicts with a DisaggregatedSet placement policy.
EXCLUSIVE_ANNOTATIONS: Final = (c.EXCLUSIVE_KEY_ANNOTATION, c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION)

# The child Service name <ds>-<slice>-<revision>-<role>-prv must be a DNS-1035 label.
_SEPARATORS: Final = 3


@dataclass
class Verdict:
    """Errors reject the object; warnings go back to the client (``kubectl`` prints them) and admit it."""

    errors: list[FieldError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def validate_disaggregatedset(
    obj: Mapping[str, Any], *, startup_policies: Sequence[str], restart_policies: Sequence[str]
) -> Verdict:
    """Every problem with a defaulted DisaggregatedSet, and upstream's warnings.

    :param startup_policies: the ``startupPolicy`` values the roles may use (the enabled plugins').
    :param restart_policies: the same for ``restartPolicy`` (``Default`` is accepted wherever ``None`` is).
    """
    root: object = obj  # typed callers aside, arbitrary YAML arrives here
    if not isinstance(root, Mapping):
        return Verdict([type_error("(root)", root, "object")])
    restart = tuple(restart_policies)
    if c.RESTART_NONE in restart and c.RESTART_DEFAULT not in restart:
        restart += (c.RESTART_DEFAULT,)
    schema = _schema_for(tuple(startup_policies), restart)
    body = {k: v for k, v in obj.items() if k != "status"}
    errors = check(schema, body, ranges=True)
    errors.extend(validate_metadata(obj.get("metadata"), is_dns1123_subdomain))
    if errors:
        return Verdict(errors)
    spec = obj["spec"]
    if not replicas_rule_holds(spec["roles"]):
        # How the API server reports a failed CEL rule on an object.
        return Verdict([FieldError("spec", d.REPLICAS_RULE_MESSAGE, value="object")])
    return _webhook(obj["metadata"], spec)


@lru_cache(maxsize=16)
def _schema_for(startup: tuple[str, ...], restart: tuple[str, ...]) -> Schema:
    return disaggregatedset_schema(startup_policies=startup, restart_policies=restart)


# --- stage 1: what the API server checks ---------------------------------------------------------------


def is_external(role: Mapping[str, Any]) -> bool:
    """Whether a role's replicas come from its DisaggregatedSetRoleScaler (``scaling.mode: External``)."""
    scaling = role.get("scaling")
    return isinstance(scaling, Mapping) and scaling.get("mode") == d.SCALING_EXTERNAL


def replicas_rule_holds(roles: Sequence[Mapping[str, Any]]) -> bool:
    """Upstream's CEL rule: the non-External roles' replicas are all zero (or unset), or all set and non-zero.

    External roles are exempt: their replicas live in their RoleScalers.
    """
    counted = [(role.get("spec") or {}).get("replicas") for role in roles if not is_external(role)]
    return all(r is None or r == 0 for r in counted) or all(r is not None and r > 0 for r in counted)


# --- stage 2: upstream's webhook -----------------------------------------------------------------------


def _webhook(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> Verdict:
    verdict = Verdict()
    name = _effective_name(metadata)
    roles: list[Mapping[str, Any]] = spec["roles"]
    has_external = False
    for i, role in enumerate(roles):
        path = f"{ROLES}[{i}]"
        verdict.errors.extend(_rollout_strategy(role, path))
        if not is_external(role):
            continue
        has_external = True
        scaler = f"{name}-{role['name']}"
        if len(scaler) > d.SCALER_NAME_MAX:
            verdict.errors.append(
                FieldError(
                    f"{path}.name",
                    f"would produce scaler name {json.dumps(scaler)} exceeding {d.SCALER_NAME_MAX} "
                    "characters",
                    value=role["name"],
                )
            )
        replicas = (role.get("spec") or {}).get("replicas")
        if replicas is not None and replicas > 1:
            verdict.warnings.append(
                f'role "{role["name"]}" sets scaling.mode: External and spec.replicas: {replicas} — '
                f'spec.replicas is ignored; drive replicas via DisaggregatedSetRoleScaler "{scaler}" instead'
            )
    slices = spec.get("slices", 1)
    if has_external and slices > 1:
        verdict.errors.append(
            FieldError(
                SLICES,
                "spec.slices > 1 is not supported while any role has scaling.mode: External "
                "(alpha restriction)",
                type="Forbidden",
            )
        )
    verdict.errors.extend(_name_budget(name, roles, slices))
    verdict.errors.extend(_hash_child_name_budget(name, roles, slices))
    verdict.errors.extend(_placement(spec, roles))
    return verdict


def _effective_name(metadata: Mapping[str, Any]) -> str:
    # Admission sees the generated name; before creation, count the 5 characters the server will add.
    name = metadata.get("name")
    if name:
        return str(name)
    return str(metadata.get("generateName") or "") + "x" * 5


def _rollout_strategy(role: Mapping[str, Any], path: str) -> list[FieldError]:
    spec = role.get("spec") or {}
    strategy = spec.get("rolloutStrategy") or {}
    rollout = f"{path}.spec.rolloutStrategy"
    errors: list[FieldError] = []
    kind = strategy.get("type", "")
    if kind not in ("", c.ROLLING_UPDATE):
        errors.append(
            FieldError(
                f"{rollout}.type",
                f'supported values: "{c.ROLLING_UPDATE}", ""',
                type="NotSupported",
                value=kind,
            )
        )
    rolling = strategy.get("rollingUpdateConfiguration")
    if rolling is None:
        return errors
    ruc = f"{rollout}.rollingUpdateConfiguration"
    if rolling.get("partition", 0) != 0:
        errors.append(
            FieldError(
                f"{ruc}.partition",
                "partition is not supported by DisaggregatedSet; rolling updates are managed across roles by "
                "the DisaggregatedSet controller",
                type="Forbidden",
            )
        )
    errors.extend(_surge_and_unavailable(rolling, spec.get("replicas"), ruc))
    return errors


def _surge_and_unavailable(rolling: Mapping[str, Any], replicas: int | None, ruc: str) -> list[FieldError]:
    # Roles with no replicas are exempt: an all-zero DisaggregatedSet is legitimate.
    if not replicas:
        return []
    # Go's zero IntOrString is the integer 0.
    unavailable = rolling.get("maxUnavailable", 0)
    surge = rolling.get("maxSurge", 0)
    errors = [
        *validate_int_or_percent(unavailable, f"{ruc}.maxUnavailable"),
        *validate_int_or_percent(surge, f"{ruc}.maxSurge"),
    ]
    if errors:
        return errors  # the combined check means nothing until each value is valid
    unavailable_value = scaled(unavailable, replicas, round_up=False)
    if unavailable_value is None:
        return [FieldError(f"{ruc}.maxUnavailable", "invalid value", value=unavailable)]
    surge_value = scaled(surge, replicas, round_up=True)
    if surge_value is None:
        return [FieldError(f"{ruc}.maxSurge", "invalid value", value=surge)]
    if unavailable_value == 0 and surge_value == 0:
        return [FieldError(f"{ruc}.maxUnavailable", "must not be 0 when `maxSurge` is 0", value=unavailable)]
    return []


def child_name_length(set_name_length: int, role: str, slices: int) -> int:
    """The longest child LeaderWorkerSet name ``<ds>-<slice>-<revision>-<role>`` a set of ``slices`` slices
    can produce."""
    return set_name_length + _SEPARATORS + len(str(slices - 1)) + d.REVISION_LENGTH + len(role)


def service_name_length(set_name_length: int, role: str, slices: int) -> int:
    """The longest ``<ds>-<slice>-<revision>-<role>-prv`` a set of ``slices`` slices can produce."""
    return child_name_length(set_name_length, role, slices) + len(d.SERVICE_SUFFIX)


def _name_budget(name: str, roles: Sequence[Mapping[str, Any]], slices: int) -> list[FieldError]:
    limit = c.DNS1035_LABEL_MAX
    overhead = _SEPARATORS + len(str(slices - 1)) + d.REVISION_LENGTH + len(d.SERVICE_SUFFIX)
    errors: list[FieldError] = []
    for i, role in enumerate(roles):
        length = service_name_length(len(name), role["name"], slices)
        if length > limit:
            errors.append(
                FieldError(
                    f"{ROLES}[{i}].name",
                    f"the generated service name ({length} chars) would exceed the DNS-1035 limit of {limit} "
                    f"characters; reduce the DisaggregatedSet name and/or role name (combined limit: "
                    f"{limit - overhead} characters)",
                    value=role["name"],
                )
            )
    return errors


def _hash_child_name_budget(name: str, roles: Sequence[Mapping[str, Any]], slices: int) -> list[FieldError]:
    """A ``groupIdentity: Hash`` role's child LeaderWorkerSet ``<ds>-<slice>-<revision>-<role>`` must fit
    the Hash name budget (which does not depend on replicas): said here, rather than by the child's own
    admission once the set is rolling out, where nobody is told."""
    errors: list[FieldError] = []
    for i, role in enumerate(roles):
        spec = _dict(role.get("spec"))
        if spec.get("groupIdentity") != c.GROUP_IDENTITY_HASH or not isinstance(role.get("name"), str):
            continue
        size = _dict(spec.get("leaderWorkerTemplate")).get("size", 1)
        policy = _dict(spec.get("networkConfig")).get("subdomainPolicy") or c.SUBDOMAIN_SHARED
        if not isinstance(size, int) or size < 1:
            continue  # the field's own rule reports it
        budget = hash_name_budget(size=size, subdomain_policy=str(policy))
        length = child_name_length(len(name), role["name"], slices)
        if length > budget.max_length:
            errors.append(
                FieldError(
                    f"{ROLES}[{i}].name",
                    f"the child LeaderWorkerSet name <name>-<slice>-<revision>-<role> ({length} chars) "
                    f"would exceed {budget.max_length} characters, the limit for groupIdentity Hash and "
                    f"size={size} ({budget.reason}); shorten the DisaggregatedSet name and/or role name "
                    f"by {length - budget.max_length}",
                    value=role["name"],
                )
            )
    return errors


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _placement(spec: Mapping[str, Any], roles: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    policy = spec.get("placementPolicy") or {}
    kind = policy.get("type", "")
    if kind in ("", d.PLACEMENT_NONE):
        return []
    errors: list[FieldError] = []
    if not policy.get("topology"):
        errors.append(
            FieldError(f"{PLACEMENT}.topology", "topology is required when type is not None", type="Required")
        )
    for i, role in enumerate(roles):
        key = role_exclusive_annotation(role)
        if key is not None:
            errors.append(
                FieldError(
                    f"{ROLES}[{i}]",
                    f'the "{key}" annotation must not be combined with a non-None spec.placementPolicy.type '
                    f"({kind})",
                    type="Forbidden",
                )
            )
    return errors


def role_exclusive_annotation(role: Mapping[str, Any]) -> str | None:
    """The first LWS exclusive-topology annotation a role carries where it takes effect, as upstream looks:
    the role's metadata, the leader template, then the worker template, for each key in turn."""
    template = (role.get("spec") or {}).get("leaderWorkerTemplate") or {}
    places = [role.get("metadata")]
    if template.get("leaderTemplate") is not None:
        places.append(template["leaderTemplate"].get("metadata"))
    places.append((template.get("workerTemplate") or {}).get("metadata"))
    for key in EXCLUSIVE_ANNOTATIONS:
        for metadata in places:
            if key in ((metadata or {}).get("annotations") or {}):
                return key
    return None
