"""Kubernetes Events (``events.k8s.io/v1``) as upstream's recorder writes them, without event storms.

Reporting controller ``leaderworkerset``, upstream's reasons, actions and notes, ``regarding`` the
LeaderWorkerSet and ``related`` the revision, pod or StatefulSet concerned, so ``kubectl describe lws`` and
dashboards read the same as with the Go controller.

Recording never blocks a reconcile and never fails it: events go to a background sender. An event
identical to one sent within the aggregation window (same object, related object, type, reason, action
and note) is not created again; its ``series.count`` is raised instead, at most once per flush interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from lws.api import constants as c
from lws.cluster.client import Cluster
from lws.cluster.errors import ApiError, NotFound
from lws.cluster.resources import EVENTS

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
_NOTE_LIMIT = 1024


def object_reference(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ObjectReference`` of an object, as events carry it."""
    meta = obj.get("metadata") or {}
    ref: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": meta.get("name", ""),
    }
    for source, target in (
        ("namespace", "namespace"),
        ("uid", "uid"),
        ("resourceVersion", "resourceVersion"),
    ):
        if meta.get(source):
            ref[target] = meta[source]
    return ref


def micro_time(moment: datetime) -> str:
    """``MicroTime``: RFC 3339 with microseconds, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Series:
    name: str
    namespace: str
    count: int
    sent_count: int
    last_seen: float
    last_observed: datetime
    created: bool = False


@dataclass(frozen=True)
class RecordedEvent:
    """One call to :meth:`EventRecorder.record`, kept for tests and logs."""

    type: EventType
    reason: str
    action: str
    note: str
    regarding: str
    related: str | None


@dataclass
class EventRecorder:
    """Sends events for the operator; :meth:`run` must be running for them to reach the API server.

    :param instance: ``reportingInstance``, e.g. the pod name of this replica.
    :param window: seconds within which identical events are aggregated into one series.
    :param flush_interval: at most one series update per event per this many seconds.
    """

    cluster: Cluster
    instance: str
    controller: str = c.REPORTING_CONTROLLER
    window: float = 600.0
    flush_interval: float = 30.0
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    monotonic: Callable[[], float] = field(default=time.monotonic)
    recorded: list[RecordedEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._series: dict[tuple[str, ...], _Series] = {}
        self._pending: asyncio.Queue[tuple[tuple[str, ...], dict[str, Any]]] | None = None
        self._dirty: set[tuple[str, ...]] = set()

    def record(
        self,
        regarding: Mapping[str, Any],
        type_: EventType,
        reason: str,
        action: str,
        note: str,
        *,
        related: Mapping[str, Any] | None = None,
        controller: str | None = None,
    ) -> None:
        """Record an event about ``regarding`` (the LeaderWorkerSet); returns at once.

        :param controller: ``reportingController`` when not the recorder's own (upstream records
            DisaggregatedSet events as ``disaggregatedset``).
        """
        note = note[:_NOTE_LIMIT]
        regarding_ref = object_reference(regarding)
        related_ref = object_reference(related) if related is not None else None
        self.recorded.append(
            RecordedEvent(
                type_,
                reason,
                action,
                note,
                f"{regarding_ref['kind']}/{regarding_ref['name']}",
                f"{related_ref['kind']}/{related_ref['name']}" if related_ref else None,
            )
        )
        del self.recorded[:-1000]
        log.log(
            logging.WARNING if type_ == "Warning" else logging.INFO,
            "event %s %s on %s/%s: %s",
            type_,
            reason,
            regarding_ref.get("namespace", ""),
            regarding_ref["name"],
            note,
        )
        key = (
            str(regarding_ref.get("uid") or regarding_ref["name"]),
            str((related_ref or {}).get("uid") or (related_ref or {}).get("name") or ""),
            type_,
            reason,
            action,
            note,
        )
        moment, mono = self.now(), self.monotonic()
        series = self._series.get(key)
        if series is not None and mono - series.last_seen < self.window:
            series.count += 1
            series.last_seen = mono
            series.last_observed = moment
            self._dirty.add(key)
            return
        namespace = str(regarding_ref.get("namespace") or "default")
        name = f"{regarding_ref['name']}.{time.time_ns():x}"
        self._series[key] = _Series(name, namespace, 1, 0, mono, moment)
        body: dict[str, Any] = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "eventTime": micro_time(moment),
            "reportingController": controller or self.controller,
            "reportingInstance": self.instance,
            "action": action,
            "reason": reason,
            "note": note,
            "type": type_,
            "regarding": regarding_ref,
        }
        if related_ref is not None:
            body["related"] = related_ref
        self._queue().put_nowait((key, body))

    async def run(self) -> None:
        """Send queued events and series updates until cancelled (then send what is left, briefly)."""
        queue = self._queue()
        next_flush = self.monotonic() + self.flush_interval
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                    # arrives as the queue hands over an item, and this loop would never end.
                    async with asyncio.timeout(max(0.0, next_flush - self.monotonic())):
                        key, body = await queue.get()
                except TimeoutError:
                    await self.flush_series()
                    self._prune()
                    next_flush = self.monotonic() + self.flush_interval
                    continue
                await self._create(key, body)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self.drain()
            raise

    async def drain(self) -> None:
        """Send everything queued and every pending series update now (tests, shutdown)."""
        queue = self._queue()
        while not queue.empty():
            key, body = queue.get_nowait()
            await self._create(key, body)
        await self.flush_series()

    async def flush_series(self) -> None:
        for key in list(self._dirty):
            series = self._series.get(key)
            self._dirty.discard(key)
            if series is None or not series.created or series.count == series.sent_count:
                continue
            patch = {"series": {"count": series.count, "lastObservedTime": micro_time(series.last_observed)}}
            try:
                await self.cluster.patch(EVENTS, series.namespace, series.name, patch, patch_type="merge")
                series.sent_count = series.count
            except NotFound:
                self._series.pop(key, None)  # expired on the server; the next occurrence starts a new one
            except ApiError as exc:
                log.warning("could not update event %s/%s: %s", series.namespace, series.name, exc)

    async def _create(self, key: tuple[str, ...], body: dict[str, Any]) -> None:
        try:
            await self.cluster.create(EVENTS, body["metadata"]["namespace"], body)
        except ApiError as exc:
            log.warning("could not record event %s %s: %s", body["reason"], body["note"], exc)
            self._series.pop(key, None)
            return
        series = self._series.get(key)
        if series is not None:
            series.created = True
            series.sent_count = 1
            if series.count > 1:
                self._dirty.add(key)

    def _prune(self) -> None:
        cutoff = self.monotonic() - self.window
        for key in [k for k, s in self._series.items() if s.last_seen < cutoff and k not in self._dirty]:
            del self._series[key]

    def _queue(self) -> asyncio.Queue[tuple[tuple[str, ...], dict[str, Any]]]:
        if self._pending is None:
            self._pending = asyncio.Queue()
        return self._pending
