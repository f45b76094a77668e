"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's rules.

The Lease is upstream's (``b8b2488c.x-k8s.io`` in the operator's namespace), so the Go and the Python
controllers exclude each other during a migration. The rules that keep two replicas from leading at once:

* a standby judges expiry by when *it* last saw the record change, never by comparing clocks with the
  holder: it takes over no sooner than ``lease_duration`` after it saw the last renewal;
* the leader counts its renew deadline from the start of its last successful renewal: every Lease request
  carries a timeout of what is left of the deadline (never the HTTP client's default of minutes), and
  when the deadline passes leadership is lost at once — whether a renewal is still in flight or not;
* listeners hear of a loss synchronously (:attr:`LeaderElector.listeners`), so the operator stops its
  reconciles before anything else runs.

So a deposed leader stops at most ``renew_deadline`` after its last renewal began, and a standby starts at
least ``lease_duration`` after that renewal reached the API server: with ``renew_deadline <
lease_duration`` the two never overlap (unless the clocks that measure these intervals drift apart by the
difference). On a clean stop the leader releases the Lease so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from lws.api import constants as c
from lws.cluster.client import Cluster
from lws.cluster.errors import AlreadyExists, ApiError, Conflict, NotFound
from lws.cluster.events import micro_time
from lws.cluster.resources import LEASES

log = logging.getLogger(__name__)
T = TypeVar("T")

LeadershipListener = Callable[[bool], None]
"""Called synchronously with ``True`` when this replica starts leading and ``False`` when it stops."""


@dataclass(frozen=True)
class LeaseConfig:
    """Upstream's defaults: 15 s lease, 10 s renew deadline, 2 s retry period."""

    identity: str
    namespace: str = c.OPERATOR_NAMESPACE
    name: str = c.LEADER_ELECTION_LEASE
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    #: Where to keep the Lease when ``namespace`` does not exist (running outside the cluster).
    fallback_namespace: str | None = "default"

    def problems(self) -> list[str]:
        """What makes these durations unsafe (client-go refuses the same), as sentences; empty when fine."""
        found = []
        if self.renew_deadline >= self.lease_duration:
            found.append(
                f"the renew deadline ({self.renew_deadline:g}s) must be shorter than the lease duration "
                f"({self.lease_duration:g}s), or a deposed leader may still act when a standby takes over"
            )
        if self.retry_period >= self.renew_deadline:
            found.append(
                f"the retry period ({self.retry_period:g}s) must be shorter than the renew deadline "
                f"({self.renew_deadline:g}s), or the leader gets no second try before it must step down"
            )
        if min(self.lease_duration, self.renew_deadline, self.retry_period) <= 0:
            found.append("the lease duration, renew deadline and retry period must be positive")
        return found


class LeaderElector:
    """Campaigns for the Lease, holds it, and tells :attr:`leading` whether this replica is the leader."""

    def __init__(
        self,
        cluster: Cluster,
        config: LeaseConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.namespace = config.namespace
        self.leading = asyncio.Event()
        #: Told of every start and stop of leadership, synchronously, in order.
        self.listeners: list[LeadershipListener] = []
        self._changed = asyncio.Event()
        self._monotonic = monotonic
        self._now = now
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        #: Release the Lease when :meth:`run` is cancelled (off: leave it to expire, as a crash would).
        self.release_on_stop = True
        self._observed_at = 0.0
        #: When (monotonic) the last successful acquisition or renewal began; the renew deadline counts
        #: from there.
        self.renewed_at = 0.0

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    async def wait_changed(self) -> None:
        """Return at the next gain or loss of leadership."""
        self._changed.clear()
        await self._changed.wait()

    async def run(self) -> None:
        """Campaign, lead, step down when renewals fail, campaign again; until cancelled (then release)."""
        try:
            while True:
                await self._acquire()
                await self._renew_until_lost()
        except asyncio.CancelledError:
            if self.is_leader and self.release_on_stop:
                await asyncio.shield(self.release())
            self._set_leading(False)
            raise

    async def _acquire(self) -> None:
        announced = False
        while True:
            namespace = self.namespace
            started = self._monotonic()
            # An acquisition attempt is bounded like a renewal: a hung request must not hold the loop.
            if await self._bounded(self._try_acquire_or_renew(), self.config.renew_deadline, False):
                self.renewed_at = started
                log.info("acquired lease %s/%s as %s", self.namespace, self.config.name, self.config.identity)
                self._set_leading(True)
                return
            if self.namespace != namespace:
                continue  # fell back to another namespace: try there at once
            if not announced:
                log.info(
                    "lease %s/%s is held by %s; standing by",
                    self.namespace,
                    self.config.name,
                    self._observed[0] if self._observed else "?",
                )
                announced = True
            await asyncio.sleep(self.config.retry_period * (1 + random.random() * 0.2))

    async def _renew_until_lost(self) -> None:
        """Renew every retry period; return (no longer leading) once the renew deadline has passed since the
        last successful renewal began, or another replica holds the Lease."""
        while True:
            remaining = self._remaining()
            await asyncio.sleep(min(self.config.retry_period, max(remaining, 0.0)))
            remaining = self._remaining()
            if remaining <= 0:
                break
            started = self._monotonic()
            if await self._bounded(self._try_acquire_or_renew(), remaining, False):
                self.renewed_at = started
                continue
            if self._remaining() <= 0 or not self._holding():
                break
        log.warning(
            "lost lease %s/%s (no renewal within the %gs renew deadline, or another replica holds it); "
            "stopping reconciles",
            self.namespace,
            self.config.name,
            self.config.renew_deadline,
        )
        self._set_leading(False)

    def _remaining(self) -> float:
        return self.renewed_at + self.config.renew_deadline - self._monotonic()

    async def _bounded(self, call: Awaitable[T], seconds: float, default: T) -> T:
        """``call``'s result, or ``default`` if it takes over ``seconds`` (the request is then cancelled)."""
        try:
            async with asyncio.timeout(max(seconds, 0.0)):
                return await call
        except TimeoutError:
            log.warning(
                "lease %s/%s: no answer within %.1fs; giving up this attempt",
                self.namespace,
                self.config.name,
                seconds,
            )
            return default

    def _holding(self) -> bool:
        return self._observed is not None and self._observed[0] == self.config.identity

    async def release(self) -> None:
        """Give the Lease up (holder cleared, 1 s duration) so another replica takes over immediately.

        Bounded by the renew deadline: a stop never waits longer on an API server that does not answer
        (the Lease then lapses as after a crash)."""
        self._set_leading(False)
        await self._bounded(self._release(), self.config.renew_deadline, None)

    async def _release(self) -> None:
        try:
            lease = await self.cluster.get(LEASES, self.namespace, self.config.name)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.config.identity:
                return
            spec = {**spec, "holderIdentity": None, "leaseDurationSeconds": 1}
            await self.cluster.replace(LEASES, self.namespace, self.config.name, {**lease, "spec": spec})
            log.info("released lease %s/%s", self.namespace, self.config.name)
        except ApiError as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.config.name, exc)

    async def _try_acquire_or_renew(self) -> bool:
        now = micro_time(self._now())
        duration = max(1, round(self.config.lease_duration))
        try:
            lease = await self.cluster.get(LEASES, self.namespace, self.config.name)
        except NotFound:
            return await self._create(now, duration)
        except ApiError as exc:
            log.warning("cannot read lease %s/%s: %s", self.namespace, self.config.name, exc)
            return False
        spec: dict[str, Any] = dict(lease.get("spec") or {})
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed, self._observed_at = record, self._monotonic()
        held_by_other = holder not in ("", self.config.identity)
        if held_by_other and self._observed_at + self.config.lease_duration > self._monotonic():
            return False
        if holder != self.config.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec.update(holderIdentity=self.config.identity, renewTime=now, leaseDurationSeconds=duration)
        try:
            await self.cluster.replace(LEASES, self.namespace, self.config.name, {**lease, "spec": spec})
        except (Conflict, NotFound):
            return False
        except ApiError as exc:
            log.warning("cannot update lease %s/%s: %s", self.namespace, self.config.name, exc)
            return False
        self._observed, self._observed_at = (self.config.identity, now), self._monotonic()
        return True

    async def _create(self, now: str, duration: int) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.config.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.config.identity,
                "leaseDurationSeconds": duration,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }
        try:
            await self.cluster.create(LEASES, self.namespace, body)
        except AlreadyExists:
            return False
        except NotFound:
            fallback = self.config.fallback_namespace
            if fallback and self.namespace != fallback:
                log.warning(
                    "namespace %s does not exist; keeping the leader election lease in namespace %s "
                    "(set --operator-namespace to choose)",
                    self.namespace,
                    fallback,
                )
                self.namespace = fallback
            return False
        except ApiError as exc:
            log.warning("cannot create lease %s/%s: %s", self.namespace, self.config.name, exc)
            return False
        self._observed, self._observed_at = (self.config.identity, now), self._monotonic()
        return True

    def _set_leading(self, value: bool) -> None:
        if value != self.is_leader:
            if value:
                self.leading.set()
            else:
                self.leading.clear()
            self._changed.set()
            for listener in list(self.listeners):
                try:
                    listener(value)
                except Exception:
                    log.exception("leadership listener failed")
