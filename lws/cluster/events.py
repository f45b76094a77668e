"""Kubernetes Events (``events.k8s.io/v1``) as upstream's recorder writes them, without event storms.

Reporting controller ``leaderworkerset``, upstream's reasons, actions and notes, ``regarding`` the
LeaderWorkerSet and ``related`` the revision, pod or StatefulSet concerned, so ``kubectl describe lws`` and
dashboards read the same as with the Go controller.

Recording never blocks a reconcile and never fails it: events go to a background sender. Events are
aggregated as Kubernetes' own recorders do, so that a set of a thousand groups does not write a thousand
events when its groups come up:

* an event identical to one sent within the aggregation window (same object, related object, type, reason,
  action and note) is not created again: its ``series.count`` is raised (client-go's ``events.k8s.io``
  series);
* similar events (same object, type, reason and action, about another object of the same kind or with
  another note: "Created worker statefulset for leader pod x-7") are combined into one more event per
  window, noted ``(combined from similar events): <the latest note>`` with a series counting them, as
  client-go's ``EventCorrelator`` combines similar events.

Series counts are written at most once per flush interval, and when the recorder stops.
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
from lws.k8s.patch import json_clone

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
_NOTE_LIMIT = 1024
#: How a combined event's note begins (client-go's EventAggregator words it so).
COMBINED_PREFIX = "(combined from similar events): "


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
    """The events of one similarity key within the window: the first one as it was recorded (and its
    identical repeats), then one combined event for the others."""

    name: str
    namespace: str
    count: int
    sent_count: int
    last_seen: float
    last_observed: datetime
    #: The first event's note and related object: repeats of exactly it count on it.
    identity: tuple[str, str]
    #: The first event's body, the model of the combined one.
    body: dict[str, Any]
    created: bool = False
    #: Similar events since the first, and the latest of them.
    combined: int = 0
    combined_sent: int = 0
    combined_name: str | None = None
    latest: tuple[str, dict[str, Any] | None] = ("", None)


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
        #: Events to create: a body, or ``None`` for the combined event of a key's series.
        self._pending: asyncio.Queue[tuple[tuple[str, ...], dict[str, Any] | None]] | None = None
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
        related_id = str((related_ref or {}).get("uid") or (related_ref or {}).get("name") or "")
        key = (
            str(regarding_ref.get("uid") or regarding_ref["name"]),
            str((related_ref or {}).get("kind") or ""),
            type_,
            reason,
            action,
        )
        moment, mono = self.now(), self.monotonic()
        series = self._series.get(key)
        if series is not None and mono - series.last_seen < self.window:
            series.last_seen = mono
            series.last_observed = moment
            if series.identity == (note, related_id):
                series.count += 1
            else:
                series.combined += 1
                series.latest = (note, related_ref)
                if series.combined == 1:
                    # The first similar event is combined at once, as client-go's series start with
                    # their second event; later ones raise its count at the next flush.
                    self._queue().put_nowait((key, None))
                    return
            self._dirty.add(key)
            return
        namespace = str(regarding_ref.get("namespace") or "default")
        body: dict[str, Any] = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": self._name(regarding_ref), "namespace": namespace},
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
        self._series[key] = _Series(
            body["metadata"]["name"], namespace, 1, 0, mono, moment, (note, related_id), body
        )
        self._queue().put_nowait((key, body))

    @staticmethod
    def _name(regarding: Mapping[str, Any]) -> str:
        return f"{regarding['name']}.{time.time_ns():x}"

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
                        key, item = await queue.get()
                except TimeoutError:
                    await self.flush_series()
                    self._prune()
                    next_flush = self.monotonic() + self.flush_interval
                    continue
                await self._send(key, item)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self.drain()
            raise

    async def drain(self) -> None:
        """Send everything queued and every pending series update now (tests, shutdown)."""
        queue = self._queue()
        while not queue.empty():
            key, item = queue.get_nowait()
            await self._send(key, item)
        await self.flush_series()

    async def flush_series(self) -> None:
        """Write what the series gained since the last flush: counts, and combined events."""
        for key in list(self._dirty):
            series = self._series.get(key)
            self._dirty.discard(key)
            if series is None or not series.created:
                continue
            if series.count != series.sent_count and await self._patch_series(
                key, series, series.name, series.count
            ):
                series.sent_count = series.count
            if self._series.get(key) is not series:
                continue  # its event expired on the server: the next occurrence starts a new series
            if series.combined != series.combined_sent:
                await self._send_combined(key, series)

    async def _send_combined(self, key: tuple[str, ...], series: _Series) -> None:
        count = series.combined
        if series.combined_name is not None:
            if await self._patch_series(key, series, series.combined_name, count):
                series.combined_sent = count
            return
        note, related = series.latest
        body = json_clone(series.body)
        body["metadata"]["name"] = self._name(body["regarding"])
        body["eventTime"] = micro_time(series.last_observed)
        body["note"] = f"{COMBINED_PREFIX}{note}"[:_NOTE_LIMIT]
        body.pop("related", None)
        if related is not None:
            body["related"] = related
        if count >= 2:  # the API server accepts a series of two or more
            body["series"] = {"count": count, "lastObservedTime": micro_time(series.last_observed)}
        try:
            await self.cluster.create(EVENTS, series.namespace, body)
        except ApiError as exc:
            log.warning("could not record event %s %s: %s", body["reason"], body["note"], exc)
            return
        series.combined_name = body["metadata"]["name"]
        series.combined_sent = count

    async def _patch_series(self, key: tuple[str, ...], series: _Series, name: str, count: int) -> bool:
        # The series comes in, not its key: while the patch is in flight, a failed create or an expiry
        # may drop the key or start a new series under it.
        patch = {"series": {"count": count, "lastObservedTime": micro_time(series.last_observed)}}
        try:
            await self.cluster.patch(EVENTS, series.namespace, name, patch, patch_type="merge")
        except NotFound:
            if self._series.get(key) is series:
                del self._series[key]  # expired on the server: the next occurrence starts anew
            return False
        except ApiError as exc:
            log.warning("could not update event %s/%s: %s", series.namespace, name, exc)
            return False
        return True

    async def _send(self, key: tuple[str, ...], body: dict[str, Any] | None) -> None:
        if body is not None:
            await self._create(key, body)
            return
        series = self._series.get(key)
        if series is not None and series.created and series.combined_name is None:
            await self._send_combined(key, series)
        # Not created (yet, or it failed): the next flush sends what there is.

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
            if series.count > 1 or series.combined:
                self._dirty.add(key)

    def _prune(self) -> None:
        cutoff = self.monotonic() - self.window
        for key in [k for k, s in self._series.items() if s.last_seen < cutoff and k not in self._dirty]:
            del self._series[key]

    def _queue(self) -> asyncio.Queue[tuple[tuple[str, ...], dict[str, Any] | None]]:
        if self._pending is None:
            self._pending = asyncio.Queue()
        return self._pending
