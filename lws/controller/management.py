"""Honouring the ``LeaderWorkerSetOperator`` named ``cluster`` while the operator runs.

When the cluster serves ``operator.openshift.io/v1`` ``LeaderWorkerSetOperator`` (its CRD is installed;
looked for at start and every minute after, discovery needing no permission), one informer caches the
``cluster`` object (field selector ``metadata.name=cluster``, so RBAC can grant it by name) and each
change is applied at once:

* log levels: ``logLevel`` and ``operatorLogLevel`` set the loggers :func:`lws.core.management.log_levels`
  names; what was set before (``lws run -v``) comes back when the object goes or the operator stops;
* ``managementState``: :attr:`ManagementWatch.managed` is cleared for ``Unmanaged`` and ``Removed``, and
  the operator's workers stop taking keys from the queue (a reconcile already running finishes; nothing
  is deleted; informers keep the caches and the queue current), then resume, after a full resync, when it
  is ``Managed`` again. Admission keeps defaulting and validating (pods of existing groups still need
  their mutation) and warns that a LeaderWorkerSet or DisaggregatedSet change waits;
* status: the replica holding the Lease writes ``Available``/``Progressing``/``Degraded``,
  ``observedGeneration`` and ``version`` with a merge patch, only when they change.

Without the CRD, or without a ``cluster`` object, the operator is Managed with its own log levels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lws.api import management as api
from lws.cluster.client import Cluster
from lws.cluster.errors import ApiError, NotFound
from lws.cluster.informer import Informer
from lws.cluster.resources import Resource
from lws.controller.context import Clock, rfc3339
from lws.core.management import Management, admission_warnings, log_levels, management_of, status_patch

log = logging.getLogger("lws.management")

RESOURCE = Resource(api.GROUP, api.VERSION, api.PLURAL, api.KIND, namespaced=False)


class ManagementWatch:
    """The ``cluster`` object, watched and applied.

    :param on_resume: called when reconciling resumes (the operator queues every set again).
    :param leading: set while this replica holds the Lease (only it writes the status; call :meth:`poke` on
        gaining it).
    :param rediscover: seconds between looks for the CRD while the cluster does not serve it.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        version: str,
        leading: asyncio.Event,
        on_resume: Callable[[], None] = lambda: None,
        rediscover: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self.cluster = cluster
        self.version = version
        self.leading = leading
        self.on_resume = on_resume
        self.rediscover = rediscover
        self.clock = clock or Clock()
        self.current = Management()
        #: Set while LeaderWorkerSets are to be reconciled.
        self.managed = asyncio.Event()
        self.managed.set()
        #: Whether the cluster serves the kind (known after the first discovery).
        self.served = asyncio.Event()
        self.informer: Informer | None = None
        self._changed = asyncio.Event()
        self._saved_levels: dict[str, int] | None = None

    def warnings(self, operation: str | None, kind: str) -> list[str]:
        """Admission warnings for an ``operation`` on a ``kind`` the operator reconciles (see
        :mod:`lws.core.management`)."""
        return admission_warnings(self.current, operation=operation, kind=kind)

    def poke(self) -> None:
        """Look at the object again and report on it if leading (on gaining the Lease, on resyncs)."""
        self._changed.set()

    async def run(self) -> None:
        """Find the kind, then keep the ``cluster`` object applied, until cancelled."""
        try:
            await self._discover()
            self.informer = Informer(
                self.cluster,
                RESOURCE,
                field_selector=f"metadata.name={api.NAME}",
                handlers=[lambda _kind, _obj, _old: self._changed.set()],
            )
            watching = asyncio.create_task(self.informer.run(), name="LeaderWorkerSetOperator informer")
            try:
                await self._apply_changes()
            finally:
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
        finally:
            self.restore()

    async def _discover(self) -> None:
        while True:
            try:
                await self.cluster.resource_for(api.API_VERSION, api.KIND, discover=True)
            except NotFound:
                log.debug("the cluster serves no %s; looking again in %.0fs", api.KIND, self.rediscover)
            except ApiError as exc:
                log.warning("cannot look for %s: %s; looking again in %.0fs", api.KIND, exc, self.rediscover)
            else:
                self.served.set()
                log.info("honouring %s %s (operator.openshift.io) when it exists", api.KIND, api.NAME)
                return
            await asyncio.sleep(self.rediscover)

    async def _apply_changes(self) -> None:
        assert self.informer is not None
        await self.informer.synced.wait()
        while True:
            obj = self.informer.get("", api.NAME)
            self.apply(management_of(obj))
            if self.leading.is_set():
                await self.report()
            await self._changed.wait()
            self._changed.clear()

    def apply(self, management: Management) -> None:
        """Make ``management`` the current settings: log levels, then pausing or resuming."""
        before = self.current
        self.current = management
        self._set_levels(management)
        if management.managed and not self.managed.is_set():
            log.info("%s %s is %s: reconciling resumes", api.KIND, api.NAME, management.state)
            self.managed.set()
            self.on_resume()
        elif not management.managed and (self.managed.is_set() or before.state != management.state):
            log.warning(
                "%s %s is %s: reconciling paused (nothing is deleted; admission continues)",
                api.KIND,
                api.NAME,
                management.state,
            )
            self.managed.clear()

    def _set_levels(self, management: Management) -> None:
        levels = log_levels(management) if management.present else None
        if levels is None:
            self.restore()
            return
        if self._saved_levels is None:
            self._saved_levels = {name: logging.getLogger(name).level for name in levels}
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)

    def restore(self) -> None:
        """Give the loggers back the levels they had before the ``cluster`` object set them."""
        if self._saved_levels is not None:
            for name, level in self._saved_levels.items():
                logging.getLogger(name).setLevel(level)
            self._saved_levels = None

    async def report(self) -> None:
        """Write the ``cluster`` object's status if it does not already say what is true (never raises)."""
        obj = self.informer.get("", api.NAME) if self.informer is not None else None
        if obj is None:
            return
        patch = status_patch(obj, self.current, now=rfc3339(self.clock.now()), version=self.version)
        if patch is None:
            return
        try:
            written = await self.cluster.patch(RESOURCE, None, api.NAME, patch, subresource="status")
        except ApiError as exc:
            log.warning("cannot report on %s %s: %s", api.KIND, api.NAME, exc)
            return
        if self.informer is not None:
            self.informer.observe_write(written)
