"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's rules.

The Lease is upstream's (``b8b2488c.x-k8s.io`` in the operator's namespace), so the Go and the Python
controllers exclude each other during a migration. Expiry is judged by when *this* replica last saw the
record change, never by comparing clocks with the holder (client-go's rule). A leader that cannot renew
for ``renew_deadline`` steps down; on a clean stop it releases the Lease so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lws.api import constants as c
from lws.cluster.client import Cluster
from lws.cluster.errors import AlreadyExists, ApiError, Conflict, NotFound
from lws.cluster.events import micro_time
from lws.cluster.resources import LEASES

log = logging.getLogger(__name__)


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
        self._changed = asyncio.Event()
        self._monotonic = monotonic
        self._now = now
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        #: Release the Lease when :meth:`run` is cancelled (off: leave it to expire, as a crash would).
        self.release_on_stop = True
        self._observed_at = 0.0

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
            if await self._try_acquire_or_renew():
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
        last_renewed = self._monotonic()
        while True:
            await asyncio.sleep(self.config.retry_period)
            if await self._try_acquire_or_renew():
                last_renewed = self._monotonic()
                continue
            if self._monotonic() - last_renewed >= self.config.renew_deadline or not self._holding():
                log.warning("lost lease %s/%s; stopping reconciles", self.namespace, self.config.name)
                self._set_leading(False)
                return

    def _holding(self) -> bool:
        return self._observed is not None and self._observed[0] == self.config.identity

    async def release(self) -> None:
        """Give the Lease up (holder cleared, 1 s duration) so another replica takes over immediately."""
        self._set_leading(False)
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
