"""The request pipeline of the embedded API server (:class:`APIServer`).

Every write, whether it arrives over HTTP or from a built-in controller in the same process, goes
through the same steps, in Kubernetes' order:

    decode -> metadata rules -> defaulting -> mutating admission -> (re-default) -> validation
           -> validating admission -> optimistic-concurrency check -> store

The server is generic: it knows resource *types* (``lws.sim.resources``) and what a CRD teaches, never
particular workloads. Everything runs on the cluster's own event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import datetime
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypedDict, Unpack

from lws.sim import crds, errors, objects, scale
from lws.sim.causes import Cause
from lws.sim.conversion import present, to_storage
from lws.sim.defaults import apply_builtin_defaults, validate_builtin
from lws.sim.errors import APIError
from lws.sim.eviction import evict
from lws.sim.objects import clone
from lws.sim.paging import ContinueToken, check_limit, page
from lws.sim.patch import PatchError
from lws.sim.patch.apply import record_update, restore_unchanged_timestamps, server_side_apply
from lws.sim.patch.jsonpatch import apply_json_patch
from lws.sim.patch.mergepatch import apply_merge_patch
from lws.sim.patch.strategic import apply_strategic_merge_patch
from lws.sim.podupdate import validate_pod_update
from lws.sim.resources import GVR, SUBRESOURCE_VERBS, ResourceRegistry, ResourceType
from lws.sim.schema import StructuralSchema
from lws.sim.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from lws.sim.store import ADDED, DELETED, MODIFIED, Store, StoredEvent, TooOld

NAMESPACES_GVR: GVR = ("", "v1", "namespaces")
PODS_GVR: GVR = ("", "v1", "pods")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"
NAMESPACE_FINALIZER = "kubernetes"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)


class ListOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`APIServer.list` and :meth:`APIServer.list_raw`."""

    label_selector: str | None
    field_selector: str | None
    limit: int | None
    continue_: str | None
    resource_version: str | None
    resource_version_match: str | None


class WatchOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`APIServer.watch`, :meth:`APIServer.watch_raw` and
    :meth:`APIServer.watch_batches`."""

    label_selector: str | None
    field_selector: str | None
    resource_version: str | None
    allow_bookmarks: bool
    timeout_seconds: float | None
    send_initial_events: bool | None


# The field manager of in-process writes that name none (the built-in controllers should name theirs).
DEFAULT_MANAGER = "lws-sim"

# How often a write is retried when the object changed while admission webhooks were being awaited
# (only for requests that did not pin a resourceVersion; those get 409 instead).
_MAX_WRITE_ATTEMPTS = 8


#: Marks a mirror pod, which the ServiceAccount admission plugin lets through.
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


@dataclass(frozen=True)
class AdmissionAttributes:
    """What admission needs to know about one write (mirrors ``AdmissionReview.request``)."""

    operation: str  # CREATE, UPDATE, DELETE
    resource: ResourceType
    subresource: str | None
    namespace: str | None
    name: str
    dry_run: bool
    old: dict[str, Any] | None


class Admission(Protocol):
    """Admission control: webhooks (``lws.sim.admission``) plugged into the pipeline."""

    async def mutate(self, attrs: AdmissionAttributes, obj: dict[str, Any]) -> dict[str, Any]:
        """Run mutating admission; returns the (possibly changed) object or raises ``APIError``."""

    async def validate(self, attrs: AdmissionAttributes, obj: dict[str, Any]) -> None:
        """Run validating admission; raises ``APIError`` to reject."""


Defaulter = Callable[[ResourceType, dict[str, Any]], dict[str, Any]]
Validator = Callable[[ResourceType, dict[str, Any], dict[str, Any] | None], list[Any]]


class APIServer:
    """The in-process Kubernetes API: the same operations and semantics the HTTP routes expose.

    :param store: object storage (a fresh one by default).
    :param registry: served resource types (the built-ins by default).
    :param bookmark_interval: seconds between BOOKMARK events on watches that allow them.
    """

    def __init__(
        self,
        *,
        store: Store | None = None,
        registry: ResourceRegistry | None = None,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.store = store if store is not None else Store()
        self.registry = registry if registry is not None else ResourceRegistry.with_builtins()
        self.bookmark_interval = bookmark_interval
        self.admission: Admission | None = None
        self.defaulters: list[Defaulter] = []
        self.validators: list[Validator] = []
        self._drop_watches: asyncio.Future[None] | None = None
        self._schemas: dict[GVR, tuple[Mapping[str, Any], StructuralSchema]] = {}
        self._bootstrapped = False

    # -- set-up ----------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Create the namespaces every cluster starts with (idempotent)."""
        if self._bootstrapped:
            return
        self._bootstrapped = True
        gr = ("", "namespaces")
        for name in INITIAL_NAMESPACES:
            if self.store.get(gr, "", name) is None:
                self.store.put(gr, _new_namespace(name))
            # Their default ServiceAccounts, which pods need (the ServiceAccount admission plugin), are there
            # from the start too, even on an API server running without the namespace-defaults controller.
            if self.store.get(("", "serviceaccounts"), name, "default") is None:
                self.store.put(("", "serviceaccounts"), _default_service_account(name))

    # -- resolution ------------------------------------------------------------------------------

    def resource(self, gvr: GVR) -> ResourceType:
        """The served resource type for ``gvr``; a 404 when the server does not serve it."""
        found = self.registry.get(gvr)
        if found is None:
            group, version, plural = gvr
            where = f"{group}/{version}" if group else version
            raise errors.resource_not_found(f"{plural} in {where}")
        return found

    def _live(self, resource: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored object as ``resource`` serves it (shared with the store: never mutate it)."""
        obj = self.store.get(resource.storage, self._ns(resource, namespace), name)
        if obj is None:
            raise errors.not_found(resource.plural, resource.group, name)
        return present(obj, resource)

    def _put(self, resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` (written through ``resource``); returns it as stored, resourceVersion stamped."""
        return self.store.put(resource.storage, to_storage(resource, obj)).obj

    @staticmethod
    def _ns(resource: ResourceType, namespace: str | None) -> str:
        if not resource.namespaced:
            return ""
        if not namespace:
            raise errors.bad_request(
                f"{resource.describe()} is namespaced: the request needs a namespace (none was given)"
            )
        return namespace

    def _out(self, resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = clone(present(obj, resource))
        return result

    # -- reads -----------------------------------------------------------------------------------

    async def get(
        self, gvr: GVR, namespace: str | None, name: str, *, subresource: str | None = None
    ) -> dict[str, Any]:
        """Read one object (``subresource="scale"`` gives its ``Scale``; ``"status"`` the whole object)."""
        resource = self.resource(gvr)
        self._check_subresource(resource, subresource, "get")
        obj = self._live(resource, namespace, name)
        if subresource == "scale":
            return scale.scale_of(resource, obj)
        return self._out(resource, obj)

    async def list(
        self, gvr: GVR, namespace: str | None = None, **options: Unpack[ListOptions]
    ) -> dict[str, Any]:
        """A ``<Kind>List`` with ``metadata.resourceVersion`` (and ``continue`` when ``limit`` cut it);
        ``options`` as :meth:`list_raw` takes them."""
        result = self.list_raw(gvr, namespace, **options)
        result["items"] = [clone(item) for item in result["items"]]
        return result

    def list_raw(
        self,
        gvr: GVR,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> dict[str, Any]:
        """Like :meth:`list`, but the items are the stored objects themselves: serialise, never mutate."""
        resource = self.resource(gvr)
        check_limit(limit)
        labels, fields = self._selectors(resource, label_selector, field_selector)
        ns = (namespace or None) if resource.namespaced else None
        start_after: tuple[str, str] | None = None
        if continue_:
            if resource_version not in (None, "", "0"):
                raise errors.bad_request("specifying resource version is not allowed when using continue")
            token = ContinueToken.decode(continue_)
            snapshot_rv, start_after = token.rv, token.start_after
            items = self._items_at(resource, ns, snapshot_rv, continuing=True)
        else:
            snapshot_rv = self._list_rv(resource_version, resource_version_match)
            items = self._items_at(resource, ns, snapshot_rv, continuing=False)
        items = [obj for obj in items if _matches(obj, labels, fields)]
        chosen, next_token, remaining = page(items, limit=limit, rv=snapshot_rv, start_after=start_after)
        meta: dict[str, Any] = {"resourceVersion": str(snapshot_rv)}
        if next_token is not None:
            meta["continue"] = next_token
            meta["remainingItemCount"] = remaining
        return {
            "kind": resource.list_kind,
            "apiVersion": resource.api_version,
            "metadata": meta,
            "items": [present(obj, resource) for obj in chosen],
        }

    def _list_rv(self, resource_version: str | None, match: str | None) -> int:
        current = self.store.resource_version
        if match not in (None, "", "NotOlderThan", "Exact"):
            raise errors.bad_request(
                f'resourceVersionMatch "{match}" is not supported: use NotOlderThan or Exact'
            )
        if resource_version in (None, ""):
            if match:
                raise errors.bad_request(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided"
                )
            return current
        requested = _parse_rv(resource_version)
        if requested == 0:
            if match == "Exact":
                raise errors.bad_request('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
            return current
        if requested > current:
            raise APIError(
                errors.status(
                    504,
                    "Timeout",
                    f"Too large resource version: {requested}, current: {current}",
                    causes=[Cause("", "ResourceVersionTooLarge", "Too large resource version")],
                    retry_after_seconds=1,
                )
            )
        return requested if match == "Exact" else current

    def _items_at(
        self, resource: ResourceType, namespace: str | None, rv: int, *, continuing: bool
    ) -> builtins.list[dict[str, Any]]:
        try:
            return self.store.items_at(resource.storage, namespace, rv)
        except TooOld as exc:
            if continuing:
                raise errors.gone(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                ) from exc
            # What etcd answers for a list at a compacted revision (an Exact list the cache cannot serve).
            raise errors.gone("The resourceVersion for the provided list is too old.") from exc

    def _selectors(
        self, resource: ResourceType, label_selector: str | None, field_selector: str | None
    ) -> tuple[LabelSelector | None, FieldSelector | None]:
        try:
            labels = parse_label_selector(label_selector) if label_selector else None
            fields = (
                parse_field_selector(
                    field_selector,
                    kind=(resource.group, resource.kind),
                    selectable_fields=resource.selectable_fields,
                )
                if field_selector
                else None
            )
        except SelectorError as exc:
            raise errors.bad_request(str(exc)) from exc
        if labels is not None and labels.is_empty():
            labels = None
        if fields is not None and fields.is_empty():
            fields = None
        return labels, fields

    # -- watch -----------------------------------------------------------------------------------

    def watch(
        self, gvr: GVR, namespace: str | None = None, **options: Unpack[WatchOptions]
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream ``{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}`` events; ``options``
        as :meth:`watch_batches` takes them.

        ``resource_version`` None/""/"0" starts with synthetic ADDED events for the current objects (unless
        ``send_initial_events`` is False); a number resumes after it, or yields one ERROR ``410 Expired``
        event when that version has left the history. Bad arguments raise ``APIError`` here, not later.
        """
        return _cloned(self.watch_raw(gvr, namespace, **options))

    def watch_raw(
        self, gvr: GVR, namespace: str | None = None, **options: Unpack[WatchOptions]
    ) -> AsyncIterator[dict[str, Any]]:
        """Like :meth:`watch`, but events carry the stored objects themselves: serialise, never mutate."""
        return _flattened(self.watch_batches(gvr, namespace, **options))

    def watch_batches(
        self,
        gvr: GVR,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        allow_bookmarks: bool = False,
        timeout_seconds: float | None = None,
        send_initial_events: bool | None = None,
    ) -> AsyncIterator[builtins.list[dict[str, Any]]]:
        """The events of :meth:`watch_raw` in lists: those that were ready together come together (one
        write can carry them to an HTTP client). Never an empty list."""
        resource = self.resource(gvr)
        labels, fields = self._selectors(resource, label_selector, field_selector)
        if resource_version in (None, "", "0"):
            start_rv: int | None = None
            initial = send_initial_events is not False
        else:
            start_rv = _parse_rv(resource_version)
            initial = bool(send_initial_events)
        return self._watch_batches(
            resource,
            (namespace or None) if resource.namespaced else None,
            labels,
            fields,
            start_rv,
            initial=initial,
            initial_end_bookmark=bool(send_initial_events) and allow_bookmarks,
            allow_bookmarks=allow_bookmarks,
            timeout_seconds=timeout_seconds,
            dropped=self._drop_signal(),
        )

    def drop_watches(self) -> None:
        """End every open watch stream now, as when an API server restarts (clients must resume)."""
        if self._drop_watches is not None and not self._drop_watches.done():
            self._drop_watches.set_result(None)
        self._drop_watches = None

    def _drop_signal(self) -> asyncio.Future[None]:
        if self._drop_watches is None or self._drop_watches.done():
            self._drop_watches = asyncio.get_running_loop().create_future()
        return self._drop_watches

    async def _watch_batches(
        self,
        resource: ResourceType,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
        start_rv: int | None,
        *,
        initial: bool,
        initial_end_bookmark: bool,
        allow_bookmarks: bool,
        timeout_seconds: float | None,
        dropped: asyncio.Future[None],
    ) -> AsyncIterator[builtins.list[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        gr = resource.storage
        deadline = loop.time() + timeout_seconds if timeout_seconds else None
        if start_rv is None or initial:
            # Snapshot and cursor are taken together, with no await in between: nothing is missed.
            cursor = self.store.cursor_now(gr)
            first: builtins.list[dict[str, Any]] = []
            if initial:
                first = [
                    {"type": ADDED, "object": present(obj, resource)}
                    for obj in self.store.items(gr, namespace)
                    if _matches(obj, labels, fields)
                ]
            if initial_end_bookmark:
                first.append(_bookmark(resource, self.store.resource_version, initial_events_end=True))
            if first:
                yield first
        else:
            try:
                cursor = self.store.cursor_after(gr, start_rv)
            except TooOld as exc:
                yield [_expired(exc)]
                return
        next_bookmark = loop.time() + self.bookmark_interval
        while True:
            # Taken before reading: a change while the consumer holds a batch resolves it, and is read at
            # once. Taken after, such a change waited for the next one (or the next bookmark).
            changed = self.store.changed(gr)
            try:
                events, cursor = self.store.read(gr, cursor)
            except TooOld as exc:
                if self.registry.get(resource.gvr) is None:
                    return  # the CRD went away: the stream simply ends
                yield [_expired(exc)]
                return
            batch = []
            for event in events:
                out = _visible(event, namespace, labels, fields)
                if out is not None:
                    batch.append({"type": out[0], "object": present(out[1], resource)})
            if batch:
                yield batch
            if dropped.done() or self.registry.get(resource.gvr) is None:
                return
            now = loop.time()
            if deadline is not None and now >= deadline:
                if allow_bookmarks:
                    yield [_bookmark(resource, self.store.resource_version)]
                return
            if allow_bookmarks and now >= next_bookmark:
                yield [_bookmark(resource, self.store.resource_version)]
                next_bookmark = now + self.bookmark_interval
                continue
            wake_times = [t for t in (deadline, next_bookmark if allow_bookmarks else None) if t is not None]
            timeout = max(0.0, min(wake_times) - now) if wake_times else None
            await asyncio.wait((changed, dropped), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)

    # -- writes: create --------------------------------------------------------------------------

    async def create(
        self,
        gvr: GVR,
        namespace: str | None,
        body: dict[str, Any],
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        subresource: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Create an object (``201`` over HTTP), or act on a create-only subresource of ``name``
        (``pods/eviction``, ``pods/binding``)."""
        resource = self.resource(gvr)
        if subresource is not None:
            self._check_subresource(resource, subresource, "create")
            if name is None:
                raise errors.bad_request(f"creating {resource.plural}/{subresource} needs the object's name")
            return await self._create_subresource(
                resource=resource,
                namespace=namespace,
                name=name,
                subresource=subresource,
                body=body,
                dry_run=dry_run,
            )
        self._check_verb(resource, "create")
        return await self._create_object(resource, namespace, body, dry_run=dry_run, manager=field_manager)

    async def _create_object(
        self,
        resource: ResourceType,
        namespace: str | None,
        body: dict[str, Any],
        *,
        dry_run: bool,
        manager: str | None,
        applied: bool = False,
    ) -> dict[str, Any]:
        obj = self._decode(resource, body)
        meta = obj["metadata"]
        ns = self._ns(resource, namespace)
        self._check_body_namespace(resource, meta, ns)
        if not meta.get("name") and not meta.get("generateName"):
            raise errors.invalid(
                resource.kind,
                resource.group,
                "",
                [
                    Cause(
                        "metadata.name",
                        "FieldValueRequired",
                        "Required value: name or generateName is required",
                    )
                ],
            )
        requested = str(meta.get("name") or "")
        self._check_namespace_usable(resource, ns, requested)
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        for key in objects.SERVER_OWNED_METADATA:
            meta.pop(key, None)
        # Defaults count as the writer's (they are applied as the body is decoded); the status the server
        # resets and then fills in itself (below, in ``prepare``) does not.
        obj = self._default(resource, obj)
        if not applied:
            obj = self._record_create(resource, obj, manager)
        attrs = AdmissionAttributes("CREATE", resource, None, ns or None, requested, dry_run, None)

        def prepare(admitted: dict[str, Any]) -> None:
            # rest.BeforeCreate, which runs after mutating admission and before validation: mutating
            # webhooks see neither a generated name nor a uid (a generateName pod has no name yet), and the
            # strategy's PrepareForCreate sees the pod as the webhooks left it (gates they added included).
            ameta = admitted["metadata"]
            if not ameta.get("name"):
                ameta["name"] = self._unused_name(resource, ns, str(ameta.get("generateName") or ""))
            ameta["uid"] = objects.new_uid()
            ameta["creationTimestamp"] = objects.now()
            if resource.tracks_generation:
                ameta["generation"] = 1
            self._reset_on_create(resource, admitted)
            self._set_initial_state(resource, admitted)

        if (resource.group, resource.kind) == ("", "Pod"):
            await self._check_service_account(obj, ns, requested or str(meta.get("generateName") or ""))
        obj = await self._admit(resource, attrs, obj, None, defaulted=True, prepare=prepare)
        name = obj["metadata"]["name"]
        if self.store.get(resource.storage, ns, name) is not None:
            raise errors.already_exists(resource.plural, resource.group, name)
        if dry_run:
            return self._out(resource, obj)
        stored = self._put(resource, obj)
        self._after_write(resource, stored)
        return self._out(resource, stored)

    def _unused_name(self, resource: ResourceType, namespace: str, prefix: str) -> str:
        for _ in range(32):
            candidate = objects.generated_name(prefix)
            if self.store.get(resource.storage, namespace, candidate) is None:
                return candidate
        raise errors.internal(f"could not generate a free name with prefix {prefix!r}")

    @staticmethod
    def _reset_on_create(resource: ResourceType, obj: dict[str, Any]) -> None:
        """Creating cannot set status where a status subresource exists (nodes excepted).

        Pods too: the pod registry replaces whatever status the client sent with ``phase: Pending`` (and the
        ``qosClass``), which defaulting then fills in, as ``podStrategy.PrepareForCreate`` does.
        """
        if resource.has_status and resource.kind != "Node":
            obj.pop("status", None)

    @staticmethod
    def _set_initial_state(resource: ResourceType, obj: dict[str, Any]) -> None:
        """What the registry strategies force on new objects (initial status comes from defaulting)."""
        if (resource.group, resource.kind) == ("", "Namespace"):
            obj.setdefault("spec", {})["finalizers"] = [NAMESPACE_FINALIZER]
        elif (resource.group, resource.kind) == ("", "Pod") and (obj.get("spec") or {}).get(
            "schedulingGates"
        ):
            # applySchedulingGatedCondition: a gated pod is born unschedulable, before any scheduler looks.
            obj["status"] = {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "SchedulingGated",
                        "message": "Scheduling is blocked due to non-empty scheduling gates",
                        "lastTransitionTime": objects.now(),
                    }
                ]
            }

    # -- writes: update and patch ----------------------------------------------------------------

    async def update(
        self,
        gvr: GVR,
        namespace: str | None,
        name: str,
        body: dict[str, Any],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Replace an object (PUT). A ``metadata.resourceVersion`` in ``body`` must match (else 409);
        without one the write is unconditional."""
        resource = self.resource(gvr)
        self._check_write(resource, subresource, "update")
        new_body = self._decode(resource, body) if subresource != "scale" else clone(body)
        body_name = (new_body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        pinned = (new_body.get("metadata") or {}).get("resourceVersion") or None

        def compute(old: dict[str, Any]) -> dict[str, Any]:
            if subresource == "scale":
                return scale.with_scale(resource, old, new_body)
            copied: dict[str, Any] = clone(new_body)
            return copied

        result = await self._update(
            resource=resource,
            namespace=namespace,
            name=name,
            compute=compute,
            subresource=subresource,
            pinned_rv=pinned,
            dry_run=dry_run,
            manager=field_manager,
        )
        return scale.scale_of(resource, result) if subresource == "scale" else result

    async def patch(
        self,
        gvr: GVR,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Patch an object with a JSON, merge, strategic-merge or server-side-apply patch."""
        resource = self.resource(gvr)
        self._check_write(resource, subresource, "patch")
        is_apply = patch_type.split(";", maxsplit=1)[0].strip() == APPLY_PATCH
        if is_apply:
            apply_patch = self._applier(
                resource, patch, manager=field_manager, force=force, subresource=subresource
            )
        else:
            apply_patch = _patcher(resource, patch_type, patch)
        if is_apply and self.store.get(resource.storage, self._ns(resource, namespace), name) is None:
            if subresource is not None:
                raise errors.not_found(resource.plural, resource.group, name)
            created = apply_patch(None)
            created.setdefault("metadata", {})["name"] = name
            return await self._create_object(
                resource, namespace, created, dry_run=dry_run, manager=field_manager, applied=True
            )
        # The patch may name a resourceVersion; if it differs from the live one the write is a conflict.
        pinned = (
            _pinned_rv(patch) if patch_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH) else None
        )

        def compute(old: dict[str, Any]) -> dict[str, Any]:
            if subresource == "scale":
                patched_scale = apply_patch(scale.scale_of(resource, old))
                return scale.with_scale(resource, old, patched_scale)
            current = present(old, resource)
            patched = apply_patch(current if is_apply else clone(current))
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch must produce a JSON object")
            return patched

        result = await self._update(
            resource=resource,
            namespace=namespace,
            name=name,
            compute=compute,
            subresource=subresource,
            pinned_rv=pinned,
            dry_run=dry_run,
            manager=None if is_apply else field_manager,
            record=not is_apply,
        )
        return scale.scale_of(resource, result) if subresource == "scale" else result

    async def _update(
        self,
        *,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        compute: Callable[[dict[str, Any]], dict[str, Any]],
        subresource: str | None,
        pinned_rv: str | None,
        dry_run: bool,
        manager: str | None = None,
        record: bool = True,
    ) -> dict[str, Any]:
        ns = self._ns(resource, namespace)
        for _attempt in range(_MAX_WRITE_ATTEMPTS):
            old = self._live(resource, ns, name)
            old_rv = old["metadata"]["resourceVersion"]
            if pinned_rv is not None and pinned_rv != old_rv:
                raise errors.conflict(resource.plural, resource.group, name, errors.STALE_OBJECT)
            new = compute(old)
            new = self._merge_update(resource, old, new, subresource)
            # A write that changes only managedFields (kubectl handing fields over, an apply taking a
            # field it already shares) is a write; one that changes nothing at all keeps the version.
            probe = self._record(resource, old, new, manager, subresource) if record else new
            if _unchanged(old, probe):
                return self._out(resource, old)
            attrs = AdmissionAttributes("UPDATE", resource, subresource, ns or None, name, dry_run, old)
            new = await self._admit(resource, attrs, new, old)
            current = self.store.get(resource.storage, ns, name)
            if current is None:
                raise errors.not_found(resource.plural, resource.group, name)
            if current["metadata"]["resourceVersion"] != old_rv:
                if pinned_rv is not None:
                    raise errors.conflict(resource.plural, resource.group, name, errors.STALE_OBJECT)
                continue  # changed while admission ran: recompute from the newer object
            if record:
                new = self._record(resource, old, new, manager, subresource)
            # Defaults may undo what an apply changed (an atomic list the server completes): then only the
            # applier's timestamp moved, and Kubernetes keeps the object as it was.
            new = restore_unchanged_timestamps(old, new)
            if _unchanged(old, new):
                return self._out(resource, old)
            if dry_run:
                return self._out(resource, new)
            if _ready_to_remove(new):
                event = self.store.remove(resource.storage, ns, name)
                assert event is not None
                self._after_remove(resource, event.obj)
                final = present(event.obj, resource)
                return self._out(resource, {**final, **{k: v for k, v in new.items() if k != "metadata"}})
            stored = self._put(resource, new)
            self._after_write(resource, stored)
            return self._out(resource, stored)
        raise errors.conflict(
            resource.plural,
            resource.group,
            name,
            "the object kept changing while the update was admitted; retry",
        )

    def _merge_update(
        self, resource: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str | None
    ) -> dict[str, Any]:
        """Apply the registry's update rules: server-owned metadata survives, status and spec are kept
        apart when a status subresource exists, generation counts spec changes."""
        if subresource == "status":
            # A status write changes status only (plus nothing else the client sent).
            merged: dict[str, Any] = clone(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            managed = (new.get("metadata") or {}).get("managedFields")
            if managed is not None:
                merged["metadata"]["managedFields"] = managed
            return merged
        new.setdefault("metadata", {})
        new["apiVersion"] = old.get("apiVersion", resource.api_version)
        new["kind"] = resource.kind
        meta, old_meta = new["metadata"], old["metadata"]
        for key in (*objects.SERVER_OWNED_METADATA, "name", "namespace"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if subresource is None and resource.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                raise errors.invalid(
                    resource.kind,
                    resource.group,
                    old_meta["name"],
                    [
                        Cause(
                            "metadata.finalizers",
                            "FieldValueForbidden",
                            f"Forbidden: no new finalizers can be added if the object is being deleted, "
                            f"found new finalizers {sorted(added)}",
                        )
                    ],
                )
        if resource.tracks_generation and objects.spec_changed(resource, old, new):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        return new

    # -- writes: delete --------------------------------------------------------------------------

    async def delete(
        self,
        gvr: GVR,
        namespace: str | None,
        name: str,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete an object; returns it (when deletion is pending, or for kinds that return it) or a Status.

        Objects with finalizers, foreground/orphan deletions, namespaces and bound pods with a grace period
        are only marked (``deletionTimestamp``) and go away once their finalizers or the kubelet say so.
        """
        resource = self.resource(gvr)
        self._check_verb(resource, "delete")
        if propagation_policy not in (None, "", "Background", "Foreground", "Orphan"):
            raise errors.bad_request(
                f'propagationPolicy "{propagation_policy}" is not supported: '
                "use Background, Foreground or Orphan"
            )
        if grace_period_seconds is not None and grace_period_seconds < 0:
            grace_period_seconds = 1  # Kubernetes treats a negative grace period as "as soon as possible"
        ns = self._ns(resource, namespace)
        old = self._live(resource, ns, name)
        _check_preconditions(resource, old, preconditions or {})
        attrs = AdmissionAttributes("DELETE", resource, None, ns or None, name, dry_run, old)
        await self._admit_delete(attrs, old)
        old = self._live(resource, ns, name)
        marked = self._deletion_mark(resource, old, propagation_policy or "", grace_period_seconds)
        if marked is not None:
            if dry_run:
                return self._out(resource, marked)
            if marked is old:
                return self._out(resource, old)
            if _ready_to_remove(marked):
                return self._remove(resource, ns, name, dry_run=False)
            stored = self._put(resource, marked)
            self._after_write(resource, stored)
            return self._out(resource, stored)
        return self._remove(resource, ns, name, dry_run=dry_run)

    def _deletion_mark(
        self, resource: ResourceType, old: dict[str, Any], policy: str, grace: int | None
    ) -> dict[str, Any] | None:
        """The object marked for deletion, ``old`` itself if nothing changes, or None to remove it now."""
        meta = old["metadata"]
        finalizers = list(meta.get("finalizers") or ())
        if policy == "Foreground" and FOREGROUND_FINALIZER not in finalizers:
            finalizers.append(FOREGROUND_FINALIZER)
        elif policy == "Orphan" and ORPHAN_FINALIZER not in finalizers:
            finalizers.append(ORPHAN_FINALIZER)
        is_namespace = resource.group == "" and resource.kind == "Namespace"
        is_crd = resource.gvr == crds.CRD_GVR
        if is_crd and crds.CLEANUP_FINALIZER not in finalizers:
            finalizers.append(crds.CLEANUP_FINALIZER)
        pod_grace = self._pod_grace(resource, old, grace)
        if not finalizers and not is_namespace and pod_grace is None:
            return None
        if meta.get("deletionTimestamp"):
            # Already being deleted: only a shorter grace period or new GC finalizers change anything.
            current_grace = meta.get("deletionGracePeriodSeconds") or 0
            new_grace = current_grace
            if resource.group == "" and resource.kind == "Pod":
                new_grace = min(current_grace, pod_grace or 0)
            if new_grace == 0 and not finalizers and not is_namespace:
                return None
            if new_grace != current_grace or finalizers != list(meta.get("finalizers") or ()):
                return _marked(old, finalizers, new_grace, keep_time=new_grace == current_grace)
            return old
        marked = _marked(old, finalizers, pod_grace or 0)
        if is_namespace:
            marked["status"] = {**(marked.get("status") or {}), "phase": "Terminating"}
        return marked

    @staticmethod
    def _pod_grace(resource: ResourceType, pod: dict[str, Any], grace: int | None) -> int | None:
        """Seconds a pod gets to terminate, or None when it can go at once (unbound, finished, grace 0)."""
        if not (resource.group == "" and resource.kind == "Pod"):
            return None
        spec = pod.get("spec") or {}
        if not spec.get("nodeName") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return None
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds")
            grace = 30 if grace is None else int(grace)
        return grace if grace > 0 else None

    def _remove(self, resource: ResourceType, namespace: str, name: str, *, dry_run: bool) -> dict[str, Any]:
        if dry_run:
            obj = self._live(resource, namespace, name)
        else:
            event = self.store.remove(resource.storage, namespace, name)
            if event is None:
                raise errors.not_found(resource.plural, resource.group, name)
            obj = event.obj
            self._after_remove(resource, obj)
        if resource.returns_deleted_object:
            return self._out(resource, obj)
        return _success_status(resource, obj)

    async def delete_collection(
        self,
        gvr: GVR,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete every matching object; returns the list of what was deleted (or marked)."""
        resource = self.resource(gvr)
        self._check_verb(resource, "deletecollection")
        listed = self.list_raw(gvr, namespace, label_selector=label_selector, field_selector=field_selector)
        deleted: list[dict[str, Any]] = []
        for item in listed["items"]:
            meta = item["metadata"]
            try:
                result = await self.delete(
                    gvr,
                    meta.get("namespace"),
                    meta["name"],
                    propagation_policy=propagation_policy,
                    grace_period_seconds=grace_period_seconds,
                    dry_run=dry_run,
                )
            except APIError as exc:
                if exc.code == 404:
                    continue
                raise
            deleted.append(result if result.get("kind") == resource.kind else clone(item))
        listed["items"] = deleted
        return listed

    # -- subresources ----------------------------------------------------------------------------

    async def _create_subresource(
        self,
        *,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        subresource: str,
        body: dict[str, Any],
        dry_run: bool,
    ) -> dict[str, Any]:
        if subresource == "eviction":
            return await evict(self, self._ns(resource, namespace), name, body or {}, dry_run=dry_run)
        if subresource == "binding":
            target = (body or {}).get("target") or {}
            node = target.get("name")
            if not node:
                raise errors.invalid(
                    "Binding", "", name, [Cause("target.name", "FieldValueRequired", "Required value")]
                )

            def bind(old: dict[str, Any]) -> dict[str, Any]:
                current = (old.get("spec") or {}).get("nodeName")
                if current:
                    raise errors.conflict(
                        resource.plural,
                        resource.group,
                        name,
                        f"pod {name} is already assigned to node {current!r}",
                    )
                new: dict[str, Any] = clone(old)
                new.setdefault("spec", {})["nodeName"] = node
                status = new.setdefault("status", {})
                conditions = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
                conditions.append(
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": objects.now()}
                )
                status["conditions"] = conditions
                return new

            await self._update(
                resource=resource,
                namespace=namespace,
                name=name,
                compute=bind,
                subresource="binding",
                pinned_rv=None,
                dry_run=dry_run,
            )
            return _CREATED_STATUS.copy()
        raise errors.method_not_allowed(f"{resource.plural}/{subresource} does not support create")

    # -- pipeline pieces -------------------------------------------------------------------------

    def _decode(self, resource: ResourceType, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"the body must be a JSON object ({resource.kind}), got {type(body).__name__}"
            )
        obj: dict[str, Any] = clone(body)
        api_version = obj.get("apiVersion")
        if api_version and api_version != resource.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({resource.api_version})"
            )
        kind = obj.get("kind")
        if kind and kind != resource.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
            )
        obj["apiVersion"] = resource.api_version
        obj["kind"] = resource.kind
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = {}
        elif not isinstance(meta, dict):
            raise errors.bad_request("metadata must be a JSON object")
        return obj

    @staticmethod
    def _check_body_namespace(resource: ResourceType, meta: dict[str, Any], namespace: str) -> None:
        if not resource.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace

    def _check_namespace_usable(self, resource: ResourceType, namespace: str, name: str) -> None:
        if not resource.namespaced:
            return
        ns_obj = self.store.get(("", "namespaces"), "", namespace)
        if ns_obj is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                resource.plural,
                resource.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    async def _check_service_account(self, pod: dict[str, Any], namespace: str, name: str) -> None:
        """The ``ServiceAccount`` admission plugin: a pod may only name a ServiceAccount that exists (403
        otherwise). It runs before the mutating webhooks. Like the plugin, wait a moment for ``default``,
        which kube-controller-manager (here the namespace-defaults controller) makes just after the
        namespace: ten looks, 100 to 200 ms apart. Mirror pods (a kubelet's static pods) are exempt."""
        if MIRROR_POD_ANNOTATION in (pod["metadata"].get("annotations") or {}):
            return
        account = str((pod.get("spec") or {}).get("serviceAccountName") or "default")
        for attempt in range(10 if account == "default" else 1):
            if attempt:
                await asyncio.sleep(0.1 + 0.1 * random.random())
            if self.store.get(("", "serviceaccounts"), namespace, account) is not None:
                return
        raise errors.forbidden(
            "pods",
            "",
            name,
            f'error looking up service account {namespace}/{account}: serviceaccount "{account}" not found',
        )

    def _check_verb(self, resource: ResourceType, verb: str) -> None:
        if verb not in resource.verbs:
            raise errors.method_not_allowed(f"{resource.describe()} does not support {verb}")

    @staticmethod
    def _check_subresource(resource: ResourceType, subresource: str | None, verb: str) -> None:
        if subresource is None:
            return
        if subresource not in resource.subresources:
            raise errors.resource_not_found(f"{resource.describe()}/{subresource}")
        if verb not in SUBRESOURCE_VERBS.get(subresource, ()):
            raise errors.method_not_allowed(f"{resource.plural}/{subresource} does not support {verb}")

    def _check_write(self, resource: ResourceType, subresource: str | None, verb: str) -> None:
        """A write to a subresource needs that subresource to take ``verb``; one to the object, the type."""
        self._check_subresource(resource, subresource, verb)
        if subresource is None:
            self._check_verb(resource, verb)

    async def _admit(
        self,
        resource: ResourceType,
        attrs: AdmissionAttributes,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        *,
        defaulted: bool = False,
        prepare: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Mutating admission, then ``prepare`` (what the registry does before validating a create), then
        validation and validating admission, as kube-apiserver orders them."""
        if not defaulted:
            obj = self._default(resource, obj)
        if self.admission is not None:
            mutated = await self.admission.mutate(attrs, obj)
            if mutated is not obj:  # a webhook changed it: default what it added (defaulting is idempotent)
                obj = self._default(resource, mutated)
        if prepare is not None:
            prepare(obj)
            obj = self._default(resource, obj)  # the initial status the registry left, filled in
            # Validating webhooks see the generated name (AdmissionToValidateObjectFunc).
            attrs = replace(attrs, name=str(obj["metadata"].get("name") or attrs.name))
        self._validate(resource, obj, old, attrs.subresource)
        if self.admission is not None:
            await self.admission.validate(attrs, obj)
        return obj

    async def _admit_delete(self, attrs: AdmissionAttributes, old: dict[str, Any]) -> None:
        if self.admission is not None:
            await self.admission.validate(attrs, old)

    def _default(self, resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        schema = self._schema(resource)
        if schema is not None:
            # As when a real server decodes a custom resource: defaults applied, unknown fields dropped.
            obj = schema.prune(schema.default(obj))
        elif not resource.custom:
            obj = apply_builtin_defaults(resource.group, resource.kind, obj)
        for defaulter in self.defaulters:
            obj = defaulter(resource, obj)
        return obj

    def _schema(self, resource: ResourceType) -> StructuralSchema | None:
        if resource.schema is None:
            return None
        cached = self._schemas.get(resource.gvr)
        if cached is None or cached[0] is not resource.schema:
            cached = (resource.schema, StructuralSchema(resource.schema))
            self._schemas[resource.gvr] = cached
        return cached[1]

    def _record_create(
        self, resource: ResourceType, obj: dict[str, Any], manager: str | None
    ) -> dict[str, Any]:
        if not resource.has_status or "status" not in obj or (resource.group, resource.kind) == ("", "Node"):
            return self._record(resource, None, obj, manager, None)
        view = {key: value for key, value in obj.items() if key != "status"}
        recorded = self._record(resource, None, view, manager, None)
        recorded["status"] = obj["status"]
        return recorded

    def _record(
        self,
        resource: ResourceType,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        manager: str | None,
        subresource: str | None,
    ) -> dict[str, Any]:
        """``new`` with ``managedFields`` recording this write (not for apply, which records its own)."""
        if subresource == "finalize":
            subresource = None  # finalize writes the namespace itself
        try:
            return record_update(
                old,
                new,
                manager=manager or DEFAULT_MANAGER,
                operation="Create" if old is None else "Update",
                now=objects.now(),
                kind=(resource.group, resource.kind),
                schema=resource.schema if resource.custom else None,
                subresource=subresource,
            )
        except PatchError as exc:
            raise errors.from_code(exc.code, str(exc)) from exc

    def _applier(
        self,
        resource: ResourceType,
        applied: Any,
        *,
        manager: str | None,
        force: bool,
        subresource: str | None,
    ) -> Callable[[Any], Any]:
        """The function that server-side-applies ``applied`` to a live object (or None to create)."""
        if not manager:
            raise errors.bad_request("PATCH with server-side apply requires a fieldManager")
        if not isinstance(applied, dict):
            raise errors.bad_request("an apply patch must be a YAML or JSON object")
        kind = (resource.group, resource.kind)
        schema = resource.schema if resource.custom else None

        def apply(live: Any) -> Any:
            return _run_patch(
                lambda doc, config: server_side_apply(
                    doc,
                    config,
                    manager=manager,
                    force=force,
                    kind=kind,
                    now=objects.now(),
                    schema=schema,
                    subresource=subresource,
                    status_subresource=resource.has_status,
                ),
                live,
                applied,
            )

        return apply

    def _validate(
        self,
        resource: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        subresource: str | None = None,
    ) -> None:
        problems: list[Any] = []
        if resource.gvr == crds.CRD_GVR:
            problems.extend(crds.validate_crd(obj))
        schema = self._schema(resource)
        if schema is not None:
            problems.extend(schema.validate(obj))
            problems.extend(scale.validate_custom_scale(resource, obj, spec=subresource != "status"))
        elif not resource.custom:
            problems.extend(validate_builtin(resource.group, resource.kind, obj))
            if old is not None and subresource is None and (resource.group, resource.kind) == ("", "Pod"):
                problems.extend(validate_pod_update(obj, old))
        for validator in self.validators:
            problems.extend(validator(resource, obj, old))
        if problems:
            raise errors.invalid(resource.kind, resource.group, obj["metadata"].get("name", ""), problems)

    def _after_write(self, resource: ResourceType, obj: dict[str, Any]) -> None:
        if resource.gvr == crds.CRD_GVR:
            self._install_crd(obj)

    def _after_remove(self, resource: ResourceType, obj: dict[str, Any]) -> None:
        if resource.gvr == crds.CRD_GVR:
            name = obj["metadata"]["name"]
            group_resources = {rt.group_resource for rt in self.registry if rt.crd_name == name}
            self.registry.remove_crd(name)
            for gr in group_resources:
                self.store.drop_resource(gr)

    def _install_crd(self, crd: dict[str, Any]) -> None:
        """Serve the CRD's versions and, once, record the status a real server would settle on."""
        name = crd["metadata"]["name"]
        self.registry.remove_crd(name)
        for served in crds.resource_types(crd):
            self.registry.add(served)
        status = crds.established_status(crd, objects.now())
        if crd.get("status") != status and not crd["metadata"].get("deletionTimestamp"):
            updated = {**crd, "metadata": dict(crd["metadata"]), "status": status}
            self.store.put(("apiextensions.k8s.io", "customresourcedefinitions"), updated)


# -- helpers ---------------------------------------------------------------------------------------


def _parse_rv(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise errors.bad_request(
            f'invalid resource version "{text}": use a resourceVersion the server returned'
        )
    return value


def _pinned_rv(patch: Any) -> str | None:
    if isinstance(patch, dict):
        meta = patch.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("resourceVersion"), str):
            return meta["resourceVersion"] or None
    return None


def _unchanged(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether storing ``new`` over ``old`` would change nothing, ownership (managedFields) included."""
    return objects.same_content(old, new) and (old.get("metadata") or {}).get("managedFields") == (
        new.get("metadata") or {}
    ).get("managedFields")


def _patcher(resource: ResourceType, patch_type: str, patch: Any) -> Callable[[Any], Any]:
    """The function that applies ``patch`` to a document, chosen by content type."""
    base = patch_type.split(";", maxsplit=1)[0].strip()
    if base == JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.bad_request("a JSON patch must be a JSON array of operations")
        return lambda doc: _run_json_patch(doc, patch)
    if base == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise errors.bad_request("a merge patch must be a JSON object")
        return lambda doc: _run_patch(apply_merge_patch, doc, patch)
    if base == STRATEGIC_MERGE_PATCH:
        if resource.custom:
            raise errors.unsupported_media_type(base, (JSON_PATCH, MERGE_PATCH, APPLY_PATCH))
        if not isinstance(patch, dict):
            raise errors.bad_request("a strategic merge patch must be a JSON object")
        kind = (resource.group, resource.kind)
        return lambda doc: _run_patch(lambda d, p: apply_strategic_merge_patch(d, p, kind), doc, patch)
    raise errors.unsupported_media_type(patch_type, PATCH_TYPES)


def _run_json_patch(doc: Any, patch: list[Any]) -> Any:
    """Apply a JSON patch; one that does not apply answers as Kubernetes does, 422 with a generic message
    (the apiserver wraps the library's error in NewGenericServerResponse, which keeps none of its text)."""
    try:
        return apply_json_patch(doc, patch)
    except PatchError as exc:
        if exc.code != 422:
            raise errors.from_code(exc.code, str(exc)) from exc
        raise APIError(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "the server rejected our request due to an error in our request",
                "reason": "Invalid",
                "details": {},
                "code": 422,
            }
        ) from exc


def _run_patch(function: Callable[[Any, Any], Any], doc: Any, patch: Any) -> Any:
    try:
        return function(doc, patch)
    except APIError:
        raise
    except ValueError as exc:
        raise errors.from_code(getattr(exc, "code", 422), str(exc)) from exc


def _check_preconditions(
    resource: ResourceType, obj: dict[str, Any], preconditions: Mapping[str, Any]
) -> None:
    meta = obj["metadata"]
    uid = preconditions.get("uid")
    if uid and uid != meta.get("uid"):
        raise errors.conflict(
            resource.plural,
            resource.group,
            meta["name"],
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.get('uid')}",
        )
    rv = preconditions.get("resourceVersion")
    if rv and rv != meta.get("resourceVersion"):
        raise errors.conflict(
            resource.plural,
            resource.group,
            meta["name"],
            f"Precondition failed: ResourceVersion in precondition: {rv}, "
            f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
        )


def _marked(
    old: dict[str, Any], finalizers: list[str], grace: int, *, keep_time: bool = False
) -> dict[str, Any]:
    marked = dict(old)
    meta = dict(old["metadata"])
    if not meta.get("deletionTimestamp") and meta.get("generation"):
        # Kubernetes bumps the generation when it first sets deletionTimestamp (rest.BeforeDelete for graceful
        # deletions, markAsDeleting for finalizers), so controllers see that the object's intent changed.
        meta["generation"] = int(meta["generation"]) + 1
    if not keep_time:
        moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=grace)
        meta["deletionTimestamp"] = objects.format_time(moment)
    meta["deletionGracePeriodSeconds"] = grace
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    marked["metadata"] = meta
    return marked


def _ready_to_remove(obj: dict[str, Any]) -> bool:
    """An object being deleted goes once no finalizer holds it and no grace period is running."""
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return False
    if obj.get("kind") == "Namespace" and (obj.get("spec") or {}).get("finalizers"):
        return False
    return not meta.get("deletionGracePeriodSeconds")


_CREATED_STATUS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def _success_status(resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return errors.success(name=meta["name"], group=resource.group, kind=resource.plural, uid=meta.get("uid"))


def _default_service_account(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "default",
            "namespace": namespace,
            "uid": objects.new_uid(),
            "creationTimestamp": objects.now(),
        },
    }


def _new_namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": objects.new_uid(),
            "creationTimestamp": objects.now(),
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": [NAMESPACE_FINALIZER]},
        "status": {"phase": "Active"},
    }


def _matches(obj: dict[str, Any], labels: LabelSelector | None, fields: FieldSelector | None) -> bool:
    if labels is not None and not labels.matches(obj["metadata"].get("labels")):
        return False
    return fields is None or fields.matches(obj)


def _visible(
    event: StoredEvent, namespace: str | None, labels: LabelSelector | None, fields: FieldSelector | None
) -> tuple[str, dict[str, Any]] | None:
    """How a watcher with these filters sees ``event``: objects entering the selection are ADDED,
    leaving it DELETED, as the Kubernetes watch cache reports them."""
    if namespace is not None and event.obj["metadata"].get("namespace") != namespace:
        return None
    if labels is None and fields is None:
        return event.type, event.obj
    now_in = event.type != DELETED and _matches(event.obj, labels, fields)
    was_in = event.prev is not None and _matches(event.prev, labels, fields)
    if event.type == DELETED:
        return (DELETED, event.obj) if was_in else None
    if now_in and was_in:
        return MODIFIED, event.obj
    if now_in:
        return ADDED, event.obj
    if was_in:
        return DELETED, event.obj
    return None


def _bookmark(resource: ResourceType, rv: int, *, initial_events_end: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": meta},
    }


def _expired(exc: TooOld) -> dict[str, Any]:
    return {
        "type": "ERROR",
        "object": errors.gone(f"too old resource version: {exc.requested} ({exc.oldest})").status,
    }


async def _flattened(batches: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[dict[str, Any]]:
    async for batch in batches:
        for event in batch:
            yield event


async def _cloned(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    async for event in stream:
        yield {"type": event["type"], "object": clone(event["object"])}
