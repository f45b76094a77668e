"""OpenAPI documents for the served resources: what kubectl reads to validate, patch and explain.

``/openapi/v3`` is an index of group-versions, each with a ``serverRelativeURL`` carrying a hash of its
document (kubectl caches documents by that URL, so the hash changes whenever a CRD's schema does);
``/openapi/v3/apis/<group>/<version>`` and ``/openapi/v3/api/v1`` are OpenAPI 3.0 documents with a path per
resource, its operations marked with ``x-kubernetes-action`` and ``x-kubernetes-group-version-kind``, and a
schema per kind. ``/openapi/v2`` is the same in Swagger 2.0 JSON.

What kubectl 1.37 takes from them, and why the documents look the way they do:

* Field validation. kubectl asks the server to validate (``fieldValidation=Strict``) when the PATCH operation
  of the kind lists a ``fieldValidation`` query parameter; otherwise it validates on its side with the
  *protobuf* v2 document, which this server does not produce. Every PATCH operation therefore lists it, and
  the server must honour it (see :mod:`lws.sim.fieldvalidation`).
* Client-side ``kubectl apply`` computes a strategic merge patch from a document's
  ``x-kubernetes-patch-merge-key``/``x-kubernetes-patch-strategy`` only when the PATCH operation accepts
  ``application/strategic-merge-patch+json``, and then needs every object field it meets to be described.
  Built-in kinds are described permissively here (``x-kubernetes-preserve-unknown-fields``, with only the
  merge lists spelled out), so their PATCH operations do not list that media type: kubectl then falls back to
  the patch metadata compiled into it, which is Kubernetes' own, and still sends a strategic merge patch. The
  merge keys are in the schemas all the same (from :data:`lws.sim.patch.strategic.STRATEGIES`), with the
  ``x-kubernetes-list-type`` extensions server-side apply uses.
* Custom resources get their CRD's ``openAPIV3Schema`` (``metadata`` as ObjectMeta, ``apiVersion``/``kind``
  added), which ``kubectl explain`` renders; kubectl sends them merge patches, as for a real cluster.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lws.sim.patch.fieldtypes import shape_for
from lws.sim.patch.strategic import STRATEGIES, FieldStrategy
from lws.sim.resources import ResourceRegistry, ResourceType

__all__ = [
    "V2_PROTOBUF",
    "OpenAPIDocuments",
    "definition_name",
    "group_version_document",
    "index_document",
    "kind_schema",
    "v2_document",
    "v2_protobuf",
]

KUBERNETES_VERSION = "v1.37.0"
V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = _META + "ObjectMeta"
LIST_META = _META + "ListMeta"
STATUS = _META + "Status"
DELETE_OPTIONS = _META + "DeleteOptions"
PATCH = _META + "Patch"
SCALE = "io.k8s.api.autoscaling.v1.Scale"

_PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json")


def definition_name(group: str, version: str, kind: str, *, custom: bool = False) -> str:
    """The schema name Kubernetes publishes for a kind: ``io.k8s.api.apps.v1.StatefulSet``.

    Custom resources are named by their reversed group (``io.x-k8s.leaderworkerset.v1.LeaderWorkerSet``).
    """
    if custom:
        return ".".join([*reversed(group.split(".")), version, kind])
    if group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{kind}"
    return f"io.k8s.api.{group.split('.', maxsplit=1)[0] if group else 'core'}.{version}.{kind}"


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


# --- schemas
# ---------------------------------------------------------------------------------------------------


def _object_meta() -> dict[str, Any]:
    string = {"type": "string"}
    string_map = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
    return {
        "description": "Standard object metadata: name, namespace, labels, annotations and the fields the "
        "server maintains.",
        "type": "object",
        "properties": {
            "name": {**string, "description": "Name, unique within a namespace."},
            "generateName": {**string, "description": "Prefix for a server-generated name."},
            "namespace": {**string, "description": "The namespace the object lives in."},
            "labels": {**string_map, "description": "Labels to organise and select objects."},
            "annotations": {**string_map, "description": "Unstructured key-value data for tools."},
            "finalizers": {
                "type": "array",
                "items": {"type": "string", "default": ""},
                "x-kubernetes-list-type": "set",
                "x-kubernetes-patch-strategy": "merge",
                "description": "Must be empty before the object is deleted from the registry.",
            },
            "ownerReferences": {
                "type": "array",
                "items": {
                    "type": "object",
                    "x-kubernetes-map-type": "atomic",
                    "x-kubernetes-preserve-unknown-fields": True,
                },
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["uid"],
                "x-kubernetes-patch-merge-key": "uid",
                "x-kubernetes-patch-strategy": "merge",
                "description": "Objects this one depends on; the garbage collector deletes it after them.",
            },
            "uid": {**string, "description": "Unique identifier, set by the server."},
            "resourceVersion": {**string, "description": "Opaque version for optimistic concurrency."},
            "generation": {"type": "integer", "format": "int64", "description": "Spec changes seen."},
            "creationTimestamp": {**string, "format": "date-time", "description": "When it was created."},
            "deletionTimestamp": {**string, "format": "date-time", "description": "When deletion started."},
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
            "managedFields": {
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "x-kubernetes-list-type": "atomic",
                "description": "Which field manager owns which fields (server-side apply).",
            },
            "selfLink": {**string, "description": "Deprecated; not set."},
        },
    }


def _common_schemas() -> dict[str, dict[str, Any]]:
    """Schemas every group-version document refers to."""
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        OBJECT_META: _object_meta(),
        LIST_META: {
            "description": "Metadata of a list: resourceVersion and continue token.",
            "type": "object",
            "properties": {
                "resourceVersion": {"type": "string"},
                "continue": {"type": "string"},
                "remainingItemCount": {"type": "integer", "format": "int64"},
            },
        },
        STATUS: {**loose, "description": "The outcome of an operation that returns no object."},
        DELETE_OPTIONS: {
            **loose,
            "description": "Options for a deletion (propagationPolicy, preconditions).",
        },
        PATCH: {"type": "object", "description": "A patch, in the media type of the request."},
    }


def _scale_schema(ref: str) -> dict[str, Any]:
    return {
        "description": "The scale subresource of a scalable resource.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"allOf": [{"$ref": ref + OBJECT_META}], "default": {}},
            "spec": {"type": "object", "properties": {"replicas": {"type": "integer", "format": "int32"}}},
            "status": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer", "format": "int32"},
                    "selector": {"type": "string"},
                },
            },
        },
        "x-kubernetes-group-version-kind": [_gvk("autoscaling", "v1", "Scale")],
    }


def _envelope(resource: ResourceType, ref: str) -> dict[str, dict[str, Any]]:
    return {
        "apiVersion": {
            "type": "string",
            "description": f"{resource.api_version}, the version of this schema.",
        },
        "kind": {"type": "string", "description": f"{resource.kind}, the kind of this object."},
        "metadata": {
            "allOf": [{"$ref": ref + OBJECT_META}],
            "default": {},
            "description": "Standard object metadata.",
        },
    }


def _patch_extensions(strategy: FieldStrategy) -> dict[str, Any]:
    strategies = [name for name in (strategy.strategy, "retainKeys" if strategy.retain_keys else "") if name]
    extensions: dict[str, Any] = {}
    if strategy.merge_key:
        extensions["x-kubernetes-patch-merge-key"] = strategy.merge_key
    if strategies:
        extensions["x-kubernetes-patch-strategy"] = ",".join(strategies)
    return extensions


def _builtin_body(resource: ResourceType) -> dict[str, Any]:
    """A permissive schema for a built-in kind that still spells out its merge lists.

    :data:`STRATEGIES` names list fields by dotted path without list segments (``spec.containers.env`` is the
    env list of each container); every path with a merge strategy is a list, every other segment an object.
    """
    strategies = STRATEGIES.get((resource.group, resource.kind), {})
    shape = shape_for((resource.group, resource.kind))
    root: dict[str, Any] = {"type": "object", "properties": {}}
    for dotted in sorted(strategies):
        node = root
        place = shape
        prefix: list[str] = []
        for segment in dotted.split("."):
            prefix.append(segment)
            strategy = strategies.get(".".join(prefix))
            place = place.child(segment)
            child = node["properties"].setdefault(
                segment, {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            )
            is_list = strategy is not None and strategy.strategy == "merge"
            if strategy is not None:
                child.update(_patch_extensions(strategy))
            if is_list:
                child["type"] = "array"
                child.pop("x-kubernetes-preserve-unknown-fields", None)
                rule = place.list_rule
                child["x-kubernetes-list-type"] = rule.kind
                if rule.keys:
                    child["x-kubernetes-list-map-keys"] = list(rule.keys)
                element: dict[str, Any] = child.setdefault(
                    "items",
                    {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    if strategy is not None and strategy.merge_key
                    else {"type": "string"},
                )
                node = element
                place = place.item()
            else:
                node = child
            node.setdefault("properties", {})
    _drop_empty_properties(root)
    return root


def _drop_empty_properties(node: dict[str, Any]) -> None:
    properties = node.get("properties")
    if properties == {}:
        del node["properties"]
    for child in (properties or {}).values():
        _drop_empty_properties(child)
    items = node.get("items")
    if isinstance(items, dict):
        _drop_empty_properties(items)


def kind_schema(resource: ResourceType, *, ref: str = V3_REF) -> dict[str, Any]:
    """The published schema of ``resource``'s kind, tagged with its ``x-kubernetes-group-version-kind``.

    Custom resources get their CRD's schema (whose ``metadata`` becomes ObjectMeta); built-in kinds a
    permissive object with their merge lists (see :func:`_builtin_body`).
    """
    body: dict[str, Any]
    if resource.custom and resource.schema is not None:
        body = json.loads(json.dumps(resource.schema))
        body.setdefault("type", "object")
        description = f"{resource.kind} is a custom resource of {resource.api_version}."
    else:
        body = _builtin_body(resource)
        body["x-kubernetes-preserve-unknown-fields"] = True
        description = f"{resource.kind} ({resource.api_version}); fields are not described by this server."
    body.setdefault("description", description)
    properties = body.setdefault("properties", {})
    properties.update(_envelope(resource, ref))
    if not resource.custom:
        for part in ("spec", "status"):
            properties.setdefault(part, {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    body["x-kubernetes-group-version-kind"] = [_gvk(resource.group, resource.version, resource.kind)]
    return body


def _list_schema(resource: ResourceType, ref: str) -> dict[str, Any]:
    item = definition_name(resource.group, resource.version, resource.kind, custom=resource.custom)
    return {
        "description": f"A list of {resource.kind} objects.",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": ref + item}},
            "metadata": {"allOf": [{"$ref": ref + LIST_META}], "default": {}},
        },
        "x-kubernetes-group-version-kind": [_gvk(resource.group, resource.version, resource.list_kind)],
    }


# --- paths
# -----------------------------------------------------------------------------------------------------


def _query(name: str, description: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": dict(schema or {"type": "string", "uniqueItems": True}),
    }


_WRITE_PARAMETERS = (
    _query("dryRun", "When present (All), the request is processed but nothing is persisted."),
    _query("fieldManager", "Name of the actor making the change, recorded in managedFields."),
    _query(
        "fieldValidation",
        "How unknown or duplicate fields are handled: Ignore, Warn or Strict (rejected with 400).",
    ),
)
_PATCH_PARAMETERS = (
    *_WRITE_PARAMETERS,
    _query("force", "Take over conflicting fields (apply only).", {"type": "boolean"}),
)
_LIST_PARAMETERS = tuple(
    _query(name, description)
    for name, description in (
        ("labelSelector", "Only objects whose labels match."),
        ("fieldSelector", "Only objects whose fields match."),
        ("resourceVersion", "The version to list or watch from."),
        ("resourceVersionMatch", "How resourceVersion applies to a list."),
        ("continue", "Continue token from a previous page."),
        ("limit", "Page size."),
        ("watch", "Stream changes instead of listing."),
        ("allowWatchBookmarks", "Send BOOKMARK events."),
        ("timeoutSeconds", "End the call after this many seconds."),
    )
)


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "uniqueItems": True},
    }


def _json_content(ref: str) -> dict[str, Any]:
    return {media: {"schema": {"$ref": ref}} for media in ("application/json", "application/yaml")}


def _operation(
    action: str,
    operation_id: str,
    gvk: Mapping[str, str],
    response_ref: str,
    *,
    parameters: Iterable[Mapping[str, Any]] = (),
    request: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "parameters": [dict(parameter) for parameter in parameters],
        "responses": {
            "200": {"description": "OK", "content": _json_content(response_ref)},
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": dict(gvk),
    }
    if request is not None:
        operation["requestBody"] = {"required": True, "content": dict(request)}
    return operation


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace("-", ".").split(".") if part)


def _resource_paths(resource: ResourceType, ref: str) -> dict[str, dict[str, Any]]:
    """The paths of one resource and its subresources, with kubectl's markers on each operation."""
    group, version, kind = resource.group, resource.version, resource.kind
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    scope = "Namespaced" if resource.namespaced else ""
    id_suffix = f"{_camel(group.split('.')[0]) if group else 'Core'}{_camel(version)}{scope}{kind}"
    collection = (
        f"{base}/namespaces/{{namespace}}/{resource.plural}"
        if resource.namespaced
        else (f"{base}/{resource.plural}")
    )
    gvk = _gvk(group, version, kind)
    item_ref = ref + definition_name(group, version, kind, custom=resource.custom)
    list_ref = ref + definition_name(group, version, resource.list_kind, custom=resource.custom)
    scope_parameters = (
        [_path_parameter("namespace", "The object's namespace.")] if resource.namespaced else []
    )
    verbs = set(resource.verbs)
    paths: dict[str, dict[str, Any]] = {}

    operations: dict[str, Any] = {"parameters": scope_parameters}
    if "list" in verbs:
        operations["get"] = _operation("list", f"list{id_suffix}", gvk, list_ref, parameters=_LIST_PARAMETERS)
    if "create" in verbs:
        operations["post"] = _operation(
            "post",
            f"create{id_suffix}",
            gvk,
            item_ref,
            parameters=_WRITE_PARAMETERS,
            request=_json_content(item_ref),
        )
    if "deletecollection" in verbs:
        operations["delete"] = _operation(
            "deletecollection", f"deletecollection{id_suffix}", gvk, ref + STATUS, parameters=_LIST_PARAMETERS
        )
    paths[collection] = operations
    if resource.namespaced and "list" in verbs:
        paths[f"{base}/{resource.plural}"] = {
            "get": _operation(
                "list",
                f"list{id_suffix.replace('Namespaced', '')}ForAllNamespaces",
                gvk,
                list_ref,
                parameters=_LIST_PARAMETERS,
            )
        }

    patch_media = {key: {"schema": {"$ref": ref + PATCH}} for key in _PATCH_TYPES}
    named: dict[str, Any] = {
        "parameters": [_path_parameter("name", f"Name of the {kind}."), *scope_parameters]
    }
    if "get" in verbs:
        named["get"] = _operation("get", f"read{id_suffix}", gvk, item_ref)
    if "update" in verbs:
        named["put"] = _operation(
            "put",
            f"replace{id_suffix}",
            gvk,
            item_ref,
            parameters=_WRITE_PARAMETERS,
            request=_json_content(item_ref),
        )
    if "patch" in verbs:
        named["patch"] = _operation(
            "patch", f"patch{id_suffix}", gvk, item_ref, parameters=_PATCH_PARAMETERS, request=patch_media
        )
    if "delete" in verbs:
        named["delete"] = _operation(
            "delete",
            f"delete{id_suffix}",
            gvk,
            ref + STATUS,
            parameters=[
                _query("propagationPolicy", "Orphan, Background or Foreground."),
                _query("gracePeriodSeconds", "Seconds before the object is deleted."),
            ],
            request=_json_content(ref + DELETE_OPTIONS),
        )
    paths[f"{collection}/{{name}}"] = named

    for sub in resource.subresources:
        if sub not in ("status", "scale"):
            continue
        sub_gvk, sub_ref = (
            (gvk, item_ref) if sub == "status" else (_gvk("autoscaling", "v1", "Scale"), ref + SCALE)
        )
        suffix = f"{id_suffix}{sub.capitalize()}"
        paths[f"{collection}/{{name}}/{sub}"] = {
            "parameters": named["parameters"],
            "get": _operation("get", f"read{suffix}", sub_gvk, sub_ref),
            "put": _operation(
                "put",
                f"replace{suffix}",
                sub_gvk,
                sub_ref,
                parameters=_WRITE_PARAMETERS,
                request=_json_content(sub_ref),
            ),
            "patch": _operation(
                "patch", f"patch{suffix}", sub_gvk, sub_ref, parameters=_PATCH_PARAMETERS, request=patch_media
            ),
        }
    return paths


# --- documents
# -------------------------------------------------------------------------------------------------


def group_version_document(resources: Sequence[ResourceType]) -> dict[str, Any]:
    """The OpenAPI 3.0 document of one group-version (all of ``resources`` share group and version)."""
    schemas: dict[str, dict[str, Any]] = _common_schemas()
    paths: dict[str, dict[str, Any]] = {}
    for resource in sorted(resources, key=lambda r: r.plural):
        name = definition_name(resource.group, resource.version, resource.kind, custom=resource.custom)
        schemas[name] = kind_schema(resource)
        schemas[
            definition_name(resource.group, resource.version, resource.list_kind, custom=resource.custom)
        ] = _list_schema(resource, V3_REF)
        if "scale" in resource.subresources:
            schemas[SCALE] = _scale_schema(V3_REF)
        paths.update(_resource_paths(resource, V3_REF))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _group_version_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _digest(document: Mapping[str, Any]) -> str:
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha512(encoded).hexdigest().upper()


def index_document(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The ``/openapi/v3`` index: each ``api/v1`` or ``apis/<group>/<version>`` key with its hashed URL."""
    return {
        "paths": {
            key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={_digest(document)}"}
            for key, document in sorted(documents.items())
        }
    }


def _v2_operation(operation: Mapping[str, Any], ref: str) -> dict[str, Any]:
    """An OpenAPI 3 operation rewritten as Swagger 2.0 (parameters inline, the body as a parameter)."""
    converted: dict[str, Any] = {
        key: value
        for key, value in operation.items()
        if key not in ("requestBody", "responses", "parameters")
    }
    parameters = [
        {key: value for key, value in parameter.items() if key != "schema"} | {"type": "string"}
        for parameter in operation.get("parameters", [])
    ]
    body = operation.get("requestBody")
    if body is not None:
        media = next(iter(body["content"].values()))
        parameters.append({"name": "body", "in": "body", "required": True, "schema": media["schema"]})
        converted["consumes"] = list(body["content"])
    converted["parameters"] = parameters
    converted["produces"] = ["application/json", "application/yaml"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    converted["responses"] = {
        "200": {"description": "OK", "schema": ok},
        "401": {"description": "Unauthorized"},
    }
    return converted


def v2_document(resources: Iterable[ResourceType]) -> dict[str, Any]:
    """The Swagger 2.0 document of every served resource (JSON; kubectl itself reads v3)."""
    served = list(resources)
    definitions: dict[str, dict[str, Any]] = _common_schemas()
    paths: dict[str, Any] = {}
    for resource in served:
        v3_paths = _resource_paths(resource, V2_REF)
        for path, item in v3_paths.items():
            converted: dict[str, Any] = {}
            for method, operation in item.items():
                if method == "parameters":
                    converted["parameters"] = [
                        {key: value for key, value in parameter.items() if key != "schema"}
                        | {"type": "string"}
                        for parameter in operation
                    ]
                else:
                    converted[method] = _v2_operation(operation, V2_REF)
            paths[path] = converted
        name = definition_name(resource.group, resource.version, resource.kind, custom=resource.custom)
        definitions[name] = kind_schema(resource, ref=V2_REF)
        list_name = definition_name(
            resource.group, resource.version, resource.list_kind, custom=resource.custom
        )
        definitions[list_name] = _list_schema(resource, V2_REF)
        if "scale" in resource.subresources:
            definitions[SCALE] = _scale_schema(V2_REF)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "definitions": definitions,
    }


V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def v2_protobuf() -> bytes:
    """``/openapi/v2`` as kubectl asks for it (gnostic protobuf): a document that describes no kind.

    kubectl validates on its side only kinds whose PATCH operation lacks ``fieldValidation`` in the v3
    documents, which here are only kinds the server does not serve yet (a custom resource whose CRD comes
    earlier in the same ``kubectl apply``). A real server's v2 document does not know them either, so kubectl
    skips them and the server validates them when they arrive; an empty document gives the same outcome. It
    is ``Document{swagger: "2.0"}``: field 1, length-delimited.
    """
    swagger = b"2.0"
    return bytes([0x0A, len(swagger)]) + swagger


class OpenAPIDocuments:
    """Answers ``/openapi/...`` paths from the live resource registry (CRDs appear as they are installed).

    Usable as the ``document(path)`` callback of :meth:`lws.sim.http.HTTPFrontend.set_openapi`: it returns
    a JSON-ready dict, or ``None`` for a path it does not serve (a 404). Documents are rebuilt only when the
    set of served resources or a schema changes.
    """

    def __init__(self, registry: ResourceRegistry) -> None:
        self._registry = registry
        self._fingerprint: tuple[Any, ...] | None = None
        self._documents: dict[str, dict[str, Any]] = {}
        self._index: dict[str, Any] = {}

    def respond(self, path: str, accept: str = "") -> tuple[bytes, str] | None:
        """The body and content type for a GET of ``path`` with header ``Accept: accept``; ``None`` is 404.

        ``/openapi/v2`` is protobuf when asked for it (kubectl does) and JSON otherwise; the rest is JSON.
        """
        if path.split("?", 1)[0].rstrip("/") == "/openapi/v2" and V2_PROTOBUF in accept:
            # Not the media type asked for: client-go refuses to parse the "@" in it as a Content-Type.
            return v2_protobuf(), "application/octet-stream"
        document = self(path)
        if document is None:
            return None
        return json.dumps(document, separators=(",", ":")).encode(), "application/json"

    def __call__(self, path: str) -> dict[str, Any] | None:
        path = path.split("?", 1)[0].rstrip("/")
        if path == "/openapi/v2":
            return v2_document(self._registry)
        if not path.startswith("/openapi/v3"):
            return None
        self._refresh()
        if path == "/openapi/v3":
            return self._index
        return self._documents.get(path.removeprefix("/openapi/v3/"))

    def _refresh(self) -> None:
        resources = list(self._registry)
        fingerprint = tuple(
            # The schema itself, not its id: compared by identity first, deeply only when replaced.
            (r.group, r.version, r.plural, r.kind, r.subresources, r.verbs, r.schema)
            for r in resources
        )
        if fingerprint == self._fingerprint:
            return
        by_group_version: dict[str, list[ResourceType]] = {}
        for resource in resources:
            by_group_version.setdefault(_group_version_key(resource.group, resource.version), []).append(
                resource
            )
        self._documents = {key: group_version_document(items) for key, items in by_group_version.items()}
        self._index = index_document(self._documents)
        self._fingerprint = fingerprint
