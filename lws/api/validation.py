"""LeaderWorkerSet validation: what the API server and upstream's validating webhook would reject, and more.

:func:`validate_lws` runs, on a defaulted object (:func:`lws.api.defaulting.default_lws`):

1. the CRD schema checks the API server makes (:mod:`lws.api.structural`): types, enums, required and
   unknown fields, since ``lws validate`` and ``lws render`` run without a server;
2. object metadata rules (``ValidateObjectMeta``), the name being a DNS-1035 label since it also names a
   Service;
3. upstream's webhook rules, with upstream's detail texts, in upstream's order;
4. the name budget (upstream issue #410): derived names and labels must fit 63 characters (with
   ``groupIdentity: Hash``, the names a Deployment and its ReplicaSets generate count too);
5. on UPDATE, upstream's rules about what may not change.

Field paths are JSON paths. One deliberate difference: upstream reports subgroup errors under
``spec.leaderWorkerTemplate.SubGroupPolicy.subGroupSize`` (capital S, a Go field name); we use the real
path ``spec.leaderWorkerTemplate.subGroupPolicy.subGroupSize`` and keep upstream's texts.

Rules read values only where they have the right type; wrong types are reported once, by the schema
checks. The function never raises on arbitrary input. Plugin rules (``Hooks.validate``) are the callers'
to run afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from lws.api import constants as c
from lws.api.errors import FieldError
from lws.api.names import (
    GENERATED_SUFFIX_LEN,
    is_dns1035_label,
    is_dns1123_label,
    is_label_value,
    is_qualified_name,
    is_valid_percent,
    mask_trailing_dash,
    name_budget,
)
from lws.api.schema import INT32_MAX, INT32_MIN, Schema, leaderworkerset_schema
from lws.api.structural import check, join, type_error
from lws.k8s.json_types import format_path, too_deep

SPEC: Final = "spec"
REPLICAS: Final = "spec.replicas"
SIZE: Final = "spec.leaderWorkerTemplate.size"
ROLLING: Final = "spec.rolloutStrategy.rollingUpdateConfiguration"
MAX_UNAVAILABLE: Final = f"{ROLLING}.maxUnavailable"
MAX_SURGE: Final = f"{ROLLING}.maxSurge"
PARTITION: Final = f"{ROLLING}.partition"
SUBGROUP_SIZE: Final = "spec.leaderWorkerTemplate.subGroupPolicy.subGroupSize"
SUBDOMAIN_POLICY: Final = "spec.networkConfig.subdomainPolicy"
GROUP_IDENTITY: Final = "spec.groupIdentity"
GROUP_REPLACEMENT_POLICY: Final = "spec.groupReplacementPolicy"
ANNOTATIONS: Final = "metadata.annotations"
#: The API server's limit on the total size of an object's annotations (keys and values).
ANNOTATIONS_MAX_BYTES: Final = 256 * 1024

_METADATA_FIELDS: Final = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "labels",
        "annotations",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "ownerReferences",
        "finalizers",
        "managedFields",
        "selfLink",
    }
)


def validate_lws(
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None = None,
    *,
    startup_policies: Sequence[str],
    restart_policies: Sequence[str],
) -> list[FieldError]:
    """Every problem with a defaulted LeaderWorkerSet; an empty list when it would be admitted.

    :param obj: the object, defaulted (a raw one works too, but misses the defaults' effects).
    :param old: the stored object on UPDATE, else ``None`` (CREATE).
    :param startup_policies: the ``startupPolicy`` values enabled plugins implement; others are rejected.
    :param restart_policies: the same for ``restartPolicy``. ``Default``, the deprecated alias of ``None``,
        is accepted wherever ``None`` is.
    """
    root: object = obj  # typed callers aside, arbitrary YAML arrives here
    if not isinstance(root, Mapping):
        return [type_error("(root)", root, "object")]
    errors = check(_schema_for(tuple(startup_policies), _with_alias(restart_policies)), _without_status(obj))
    errors.extend(validate_metadata(obj.get("metadata")))
    spec = obj.get("spec")
    if spec is None:
        errors.append(FieldError(SPEC, "must be set: a LeaderWorkerSet needs a spec", type="Required"))
    elif isinstance(spec, Mapping):
        view = _Spec.read(spec)
        errors.extend(_validate_spec(view, _annotations(obj)))
        errors.extend(_validate_name_budget(obj.get("metadata"), view))
    if isinstance(old, Mapping) and isinstance(spec, Mapping):
        old_spec = old.get("spec")
        errors.extend(_validate_update(spec, old_spec if isinstance(old_spec, Mapping) else {}))
    return errors


def nesting_error(obj: Any, *, limit: int = c.MAX_NESTING, kind: str = c.KIND) -> FieldError | None:
    """An error naming where ``obj`` nests deeper than ``limit`` levels, or ``None`` (never recurses).

    :param kind: the kind the error names (no field of it goes that deep).
    """
    path = too_deep(obj, limit)
    if path is None:
        return None
    return FieldError(
        format_path(path) or "(root)",
        f"nests more than {limit} objects and arrays deep; no {kind} field goes that deep: remove "
        "what is nested under it",
    )


@lru_cache(maxsize=16)
def _schema_for(startup: tuple[str, ...], restart: tuple[str, ...]) -> Schema:
    return leaderworkerset_schema(startup_policies=startup, restart_policies=restart)


def _with_alias(restart_policies: Sequence[str]) -> tuple[str, ...]:
    values = tuple(restart_policies)
    if c.RESTART_NONE in values and c.RESTART_DEFAULT not in values:
        values += (c.RESTART_DEFAULT,)
    return values


def _without_status(obj: Mapping[str, Any]) -> dict[Any, Any]:
    # The status subresource makes the API server ignore any status written with the object.
    return {k: v for k, v in obj.items() if k != "status"}


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return annotations if isinstance(annotations, Mapping) else {}


# --- metadata -------------------------------------------------------------------------------------------


def validate_metadata(
    metadata: Any, name_rule: Callable[[str], list[str]] = is_dns1035_label
) -> list[FieldError]:
    """Object metadata rules (``ValidateObjectMeta``) as the API server applies them to a custom resource.

    :param name_rule: the format the name must have; a LeaderWorkerSet's also names a Service, hence the
        DNS-1035 default.
    """
    if metadata is None:
        return [FieldError("metadata.name", "name or generateName is required", type="Required")]
    if not isinstance(metadata, Mapping):
        return []  # reported by the schema checks
    errors: list[FieldError] = []
    for key in metadata:
        if key not in _METADATA_FIELDS:
            errors.append(
                FieldError(join("metadata", key), "unknown field in object metadata", type="Forbidden")
            )
    errors.extend(_validate_name(metadata, name_rule))
    namespace = metadata.get("namespace")
    if namespace is None or namespace == "":
        errors.append(FieldError("metadata.namespace", "must be set", type="Required"))
    elif not isinstance(namespace, str):
        errors.append(type_error("metadata.namespace", namespace, "string"))
    else:
        errors.extend(
            FieldError("metadata.namespace", m, value=namespace) for m in is_dns1123_label(namespace)
        )
    errors.extend(_validate_labels(metadata.get("labels")))
    errors.extend(_validate_annotations(metadata.get("annotations")))
    finalizers = metadata.get("finalizers")
    if finalizers is not None:
        if not isinstance(finalizers, list):
            errors.append(type_error("metadata.finalizers", finalizers, "array"))
        else:
            for i, item in enumerate(finalizers):
                path = f"metadata.finalizers[{i}]"
                if not isinstance(item, str):
                    errors.append(type_error(path, item, "string"))
                else:
                    errors.extend(FieldError(path, m, value=item) for m in is_qualified_name(item))
    return errors


def _validate_name(metadata: Mapping[str, Any], name_rule: Callable[[str], list[str]]) -> list[FieldError]:
    name = metadata.get("name")
    generate_name = metadata.get("generateName")
    errors: list[FieldError] = []
    if generate_name not in (None, ""):
        if not isinstance(generate_name, str):
            errors.append(type_error("metadata.generateName", generate_name, "string"))
        else:
            prefix = mask_trailing_dash(generate_name)
            errors.extend(
                FieldError("metadata.generateName", m, value=generate_name) for m in name_rule(prefix)
            )
    if name is None or name == "":
        if generate_name in (None, ""):
            errors.append(FieldError("metadata.name", "name or generateName is required", type="Required"))
    elif not isinstance(name, str):
        errors.append(type_error("metadata.name", name, "string"))
    else:
        errors.extend(FieldError("metadata.name", m, value=name) for m in name_rule(name))
    return errors


def _validate_labels(labels: Any) -> list[FieldError]:
    path = "metadata.labels"
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        return [type_error(path, labels, "object")]
    errors: list[FieldError] = []
    for key, value in labels.items():
        key_text = str(key)
        errors.extend(FieldError(path, m, value=key_text) for m in is_qualified_name(key_text))
        if not isinstance(value, str):
            errors.append(type_error(f"{path}.{key_text}", value, "string"))
        else:
            errors.extend(FieldError(path, m, value=value) for m in is_label_value(value))
    return errors


def _validate_annotations(annotations: Any) -> list[FieldError]:
    if annotations is None:
        return []
    if not isinstance(annotations, Mapping):
        return [type_error(ANNOTATIONS, annotations, "object")]
    errors: list[FieldError] = []
    total = 0
    for key, value in annotations.items():
        key_text = str(key)
        # As the API server: annotation keys are qualified names, in any letter case.
        errors.extend(FieldError(ANNOTATIONS, m, value=key_text) for m in is_qualified_name(key_text.lower()))
        if not isinstance(value, str):
            errors.append(type_error(f"{ANNOTATIONS}.{key_text}", value, "string"))
        else:
            total += len(key_text.encode()) + len(value.encode())
    if total > ANNOTATIONS_MAX_BYTES:
        errors.append(
            FieldError(
                ANNOTATIONS, f"may not be more than {ANNOTATIONS_MAX_BYTES} bytes in total", type="TooLong"
            )
        )
    return errors


# --- spec: upstream's webhook rules ------------------------------------------------------------------------


_ATOI_PERCENT: Final = re.compile(r"^([+-]?[0-9]+)%\Z")


def _get(obj: Mapping[str, Any], key: str, default: Any) -> Any:
    """``obj[key]``, or ``default`` when it is absent or null (the API server drops nulls)."""
    value = obj.get(key)
    return default if value is None else value


def _int(value: Any) -> int | None:
    """An int32 field's value, or ``None`` when it is absent or not an int32 (reported by the schema checks:
    upstream's webhook could not even decode it)."""
    if isinstance(value, int) and not isinstance(value, bool) and INT32_MIN <= value <= INT32_MAX:
        return value
    return None


def _int_or_string(value: Any) -> int | str | None:
    if isinstance(value, str):
        return value
    return _int(value)


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class _Spec:
    """The values upstream's rules read, each ``None`` when absent or of the wrong type.

    Absent values take upstream's defaults, so a raw (undefaulted) object is judged as its defaulted self.
    """

    replicas: int | None
    size: int | None
    rolling: Mapping[str, Any] | None
    max_unavailable: int | str | None
    max_surge: int | str | None
    partition: int | None
    subgroup: Mapping[str, Any] | None
    subgroup_written: bool
    subgroup_size: int | None
    subgroup_type: Any
    subdomain_policy: Any
    group_identity: Any
    replacement_policy: Any
    volume_claims: bool

    @property
    def hashed(self) -> bool:
        return bool(self.group_identity == c.GROUP_IDENTITY_HASH)

    @classmethod
    def read(cls, spec: Mapping[str, Any]) -> _Spec:
        template = _mapping(spec.get("leaderWorkerTemplate")) or {}
        strategy = _mapping(spec.get("rolloutStrategy")) or {}
        rolling = _mapping(strategy.get("rollingUpdateConfiguration"))
        raw_rolling = strategy.get("rollingUpdateConfiguration")
        if raw_rolling is None:
            # The webhook's default, for an object that was not defaulted.
            rolling = {"maxUnavailable": 1, "maxSurge": 0, "partition": 0}
        subgroup = _mapping(template.get("subGroupPolicy"))
        network = _mapping(spec.get("networkConfig")) or {}
        return cls(
            replicas=_int(_get(spec, "replicas", 1)),
            size=_int(_get(template, "size", 1)),
            rolling=rolling,
            max_unavailable=_int_or_string(_get(rolling or {}, "maxUnavailable", 1)),
            max_surge=_int_or_string(_get(rolling or {}, "maxSurge", 0)),
            partition=_int(_get(rolling or {}, "partition", 0)),
            subgroup=subgroup,
            subgroup_written=template.get("subGroupPolicy") is not None,
            subgroup_size=_int(subgroup.get("subGroupSize")) if subgroup is not None else None,
            subgroup_type=_get(subgroup or {}, "subGroupPolicyType", c.SUBGROUP_LEADER_WORKER),
            subdomain_policy=_get(network, "subdomainPolicy", c.SUBDOMAIN_SHARED),
            group_identity=_get(spec, "groupIdentity", c.GROUP_IDENTITY_ORDINAL) or c.GROUP_IDENTITY_ORDINAL,
            replacement_policy=_get(spec, "groupReplacementPolicy", c.GROUP_REPLACEMENT_POST_TERMINATION),
            volume_claims=bool(template.get("volumeClaimTemplates")),
        )


def _validate_spec(spec: _Spec, annotations: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    replicas, size = spec.replicas, spec.size
    if replicas is not None:
        if replicas < 0:
            errors.append(FieldError(REPLICAS, "replicas must be equal or greater than 0", value=replicas))
        if replicas > c.MAX_REPLICAS:
            errors.append(FieldError(REPLICAS, "replicas must be equal or less than 1000000", value=replicas))
    if size is not None and size < 1:
        errors.append(FieldError(SIZE, "size must be equal or greater than 1", value=size))
    if replicas is not None and size is not None and replicas * size > c.MAX_INT32:
        errors.append(
            FieldError(
                REPLICAS,
                f"the product of replicas and worker replicas must not exceed {c.MAX_INT32}",
                value=replicas,
            )
        )
    errors.extend(_validate_rolling_update(spec))
    errors.extend(_validate_group_identity(spec))
    if spec.subgroup is not None:
        errors.extend(_validate_subgroup(spec))
    elif not spec.subgroup_written and c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION in annotations:
        errors.append(
            FieldError(
                f"{ANNOTATIONS}.{c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION}",
                "cannot have subgroup-exclusive-topology without subGroupSize set",
                value=annotations[c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION],
            )
        )
    return errors


def _validate_rolling_update(spec: _Spec) -> list[FieldError]:
    if spec.rolling is None:
        return []  # not an object: reported by the schema checks
    errors: list[FieldError] = []
    for value, path in ((spec.max_unavailable, MAX_UNAVAILABLE), (spec.max_surge, MAX_SURGE)):
        if value is None:
            continue
        errors.extend(validate_int_or_percent(value, path))
    if spec.partition is not None and spec.partition < 0:
        errors.append(FieldError(PARTITION, "must be greater than or equal to 0", value=spec.partition))
    if spec.replicas is None or spec.max_unavailable is None or spec.max_surge is None:
        return errors
    unavailable = scaled(spec.max_unavailable, spec.replicas, round_up=False)
    if unavailable is None:
        errors.append(FieldError(MAX_UNAVAILABLE, "invalid value", value=spec.max_unavailable))
    surge = scaled(spec.max_surge, spec.replicas, round_up=True)
    if surge is None:
        errors.append(FieldError(MAX_SURGE, "invalid value", value=spec.max_surge))
    # As upstream, a value that cannot be scaled counts as 0 here.
    if not unavailable and not surge and spec.replicas != 0:
        errors.append(
            FieldError(MAX_UNAVAILABLE, "must not be 0 when `maxSurge` is 0", value=spec.max_unavailable)
        )
    return errors


def _validate_group_identity(spec: _Spec) -> list[FieldError]:
    """Upstream's groupIdentity and groupReplacementPolicy rules (texts and paths as upstream's webhook)."""
    errors: list[FieldError] = []
    if spec.hashed:
        # Claims exist to be reattached to a successor of the same identity, which Hash never reuses; a
        # partition is defined over ordinals, which a Deployment has none of.
        if spec.volume_claims:
            errors.append(
                FieldError(
                    GROUP_IDENTITY,
                    "volumeClaimTemplates are not supported with groupIdentity Hash",
                    value=spec.group_identity,
                )
            )
        if spec.partition:
            errors.append(
                FieldError(
                    GROUP_IDENTITY,
                    "rollingUpdateConfiguration.partition is not supported with groupIdentity Hash",
                    value=spec.group_identity,
                )
            )
        if spec.replicas == 0 and _raw_zero(spec.max_unavailable) and _raw_zero(spec.max_surge):
            # The general rule exempts 0 replicas; the leader Deployment's own validation does not.
            errors.append(
                FieldError(
                    MAX_UNAVAILABLE,
                    "must not be 0 when `maxSurge` is 0: with groupIdentity Hash the leader Deployment "
                    "refuses it even for 0 replicas",
                    value=spec.max_unavailable,
                )
            )
    elif spec.replacement_policy == c.GROUP_REPLACEMENT_IMMEDIATE:
        errors.append(
            FieldError(
                GROUP_REPLACEMENT_POLICY,
                "Immediate is only supported with groupIdentity Hash: a leader StatefulSet always waits "
                "for the previous leader pod to be gone",
                value=spec.replacement_policy,
            )
        )
    return errors


def _raw_zero(value: int | str | None) -> bool:
    # apps/v1 validation compares the written numbers, percentages unscaled ("0%" is zero, "10%" is not).
    if isinstance(value, str):
        try:
            return int(value.removesuffix("%")) == 0
        except ValueError:
            return False  # not a number: reported by the percentage rule
    return value == 0


def validate_int_or_percent(value: int | str, path: str) -> list[FieldError]:
    """Upstream's ``ValidatePositiveIntOrPercent`` and ``IsNotMoreThan100Percent`` (maxSurge and the like)."""
    if isinstance(value, int):
        if value < 0:
            return [FieldError(path, "must be greater than or equal to 0", value=value)]
        return []
    errors = [FieldError(path, m, value=value) for m in is_valid_percent(value)]
    if not errors and int(value[:-1]) > 100:
        errors.append(FieldError(path, "must not be greater than 100%", value=value))
    return errors


def scaled(value: int | str, total: int, *, round_up: bool) -> int | None:
    """apimachinery's ``GetScaledValueFromIntOrPercent``: ``None`` where it returns an error.

    Unlike :func:`lws.api.intstr.scaled_value`, a digit string such as ``"2"`` is an error here, as it is
    upstream: the API stores it as a string, which is not a percentage.
    """
    if isinstance(value, int):
        return value
    match = _ATOI_PERCENT.match(value)
    if match is None:
        return None
    product = int(match.group(1)) * total
    return -(-product // 100) if round_up else product // 100


def _validate_subgroup(spec: _Spec) -> list[FieldError]:
    assert spec.subgroup is not None
    raw = spec.subgroup.get("subGroupSize")
    if raw is None:
        # Upstream dereferences it unchecked: a subGroupPolicy without a size cannot be admitted.
        return [FieldError(SUBGROUP_SIZE, "must be set when subGroupPolicy is set", type="Required")]
    sgs, size = spec.subgroup_size, spec.size
    if sgs is None or size is None:
        return []
    errors: list[FieldError] = []
    if sgs < 1:
        errors.append(FieldError(SUBGROUP_SIZE, "subGroupSize must be equal or greater than 1", value=sgs))
    if sgs != 0:  # upstream would divide by zero here
        if size % sgs != 0 and (size - 1) % sgs != 0:
            errors.append(
                FieldError(SUBGROUP_SIZE, "size or size - 1 must be divisible by subGroupSize", value=sgs)
            )
        if size < sgs:
            errors.append(FieldError(SUBGROUP_SIZE, "subGroupSize cannot be larger than size", value=sgs))
        if spec.subgroup_type == c.SUBGROUP_LEADER_EXCLUDED and (size - 1) % sgs != 0:
            errors.append(
                FieldError(
                    SUBGROUP_SIZE,
                    "size-1 must be divisible by subGroupSize when using LeaderExcluded",
                    value=sgs,
                )
            )
    return errors


# --- the name budget ------------------------------------------------------------------------------------


def _validate_name_budget(metadata: Any, spec: _Spec) -> list[FieldError]:
    if not isinstance(metadata, Mapping):
        return []
    replicas, size = spec.replicas, spec.size
    if replicas is None or size is None or not 0 <= replicas <= c.MAX_REPLICAS or size < 1:
        return []  # the numbers are wrong: that is the error to fix first
    name = metadata.get("name")
    generated = False
    if name in (None, "") and isinstance(metadata.get("generateName"), str):
        name, generated = metadata["generateName"], True
    if not isinstance(name, str) or not name:
        return []
    length = len(name) + (GENERATED_SUFFIX_LEN if generated else 0)
    surge = 0
    if spec.max_surge is not None:
        surge = min(max(scaled(spec.max_surge, replicas, round_up=True) or 0, 0), replicas)
    highest = max(replicas + surge - 1, 0)
    policy = spec.subdomain_policy if isinstance(spec.subdomain_policy, str) else c.SUBDOMAIN_SHARED
    budget = name_budget(highest_group_index=highest, size=size, subdomain_policy=policy, hashed=spec.hashed)
    if length <= budget.max_length or length > c.DNS1035_LABEL_MAX:
        return []  # over 63 characters, the DNS-1035 rule has already said so
    if spec.hashed:
        detail = (
            f"must be no more than {budget.max_length} characters for groupIdentity Hash and size={size}: "
            f"{budget.reason}"
        )
    else:
        groups = f"replicas={replicas}"
        if surge:
            groups += f" and maxSurge={surge}"
        detail = (
            f"must be no more than {budget.max_length} characters for {groups} (highest group index "
            f"{highest}) and size={size}: {budget.reason}"
        )
    if generated:
        path, detail = (
            "metadata.generateName",
            f"with the {GENERATED_SUFFIX_LEN} generated characters, {detail}",
        )
    else:
        path = "metadata.name"
    return [FieldError(path, detail, type="TooLong", value=name)]


# --- UPDATE ---------------------------------------------------------------------------------------------


def _subgroup_size(spec: Mapping[str, Any]) -> tuple[bool, Any]:
    template = _mapping(spec.get("leaderWorkerTemplate")) or {}
    policy = template.get("subGroupPolicy")
    if not isinstance(policy, Mapping):
        return False, None
    return True, policy.get("subGroupSize")


def _validate_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    has_new, new_size = _subgroup_size(new)
    has_old, old_size = _subgroup_size(old)
    if has_new and has_old and new_size != old_size:
        errors.append(FieldError(SUBGROUP_SIZE, "field is immutable", value=new_size))
    if has_new and not has_old:
        errors.append(
            FieldError(
                SUBGROUP_SIZE, "cannot enable subGroupSize after the lws is already created", value=new_size
            )
        )
    if has_old and not has_new:
        errors.append(FieldError(SUBGROUP_SIZE, "cannot remove subGroupSize after enabled", value=old_size))
    new_identity = new.get("groupIdentity") or c.GROUP_IDENTITY_ORDINAL
    old_identity = old.get("groupIdentity") or c.GROUP_IDENTITY_ORDINAL
    if new_identity != old_identity:
        # "" and Ordinal are the same scheme (a set stored before the field existed has neither).
        errors.append(
            FieldError(GROUP_IDENTITY, "groupIdentity is immutable", value=new.get("groupIdentity"))
        )
    network = new.get("networkConfig")
    if isinstance(network, Mapping) and network.get("subdomainPolicy") is None:
        old_network = _mapping(old.get("networkConfig")) or {}
        errors.append(
            FieldError(
                SUBDOMAIN_POLICY,
                "cannot set subdomainPolicy as null",
                value=old_network.get("subdomainPolicy"),
            )
        )
    return errors
