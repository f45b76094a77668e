"""What the chaos test is made of: a rollout-budget observer fed by every committed pod change, a supervisor
that kills and restarts operator replicas, and a log watch for tracebacks.

The observer listens to the embedded cluster's store (every committed change, the stream every watch is
cut from), not to an HTTP watch: the test's own view must not suffer the API faults it injects into the
operator's, and no state goes unsampled when the operator's watches are dropped and compacted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lws.api import constants as c
from lws.controller.in_process import InProcessOperator, OperatorError
from lws.k8s.pods import pod_ready
from lws.sim.runner import EmbeddedCluster
from lws.sim.store import StoredEvent

Obj = dict[str, Any]
PODS_GR = ("", "pods")
#: A fault's excuse ends when its group is ready again under a new leader, or after this long at most.
EXCUSE_SECONDS = 20.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """A set's rolling-update budget, as its spec gives it."""

    replicas: int
    size: int
    max_unavailable: int
    max_surge: int


@dataclass
class _Excuse:
    """A group hit by an injected fault: its being down is the fault's doing, not the rollout's."""

    since: float
    leader_uid: str


@dataclass
class SetRecord:
    """What the observer saw of one set."""

    budget: Budget
    pods: dict[str, Obj] = field(default_factory=dict)
    excused: dict[int, _Excuse] = field(default_factory=dict)
    moments: int = 0
    #: The tightest moment: ready + excused groups minus the floor (replicas - maxUnavailable).
    least_headroom: int = 1 << 30
    most_groups: int = 0


class RolloutObserver:
    """Checks, at every committed change of a set's pods, that the rollout keeps to its budget:

    * groups with a live leader never exceed ``replicas + maxSurge``;
    * ready groups plus groups down because of an injected fault never fall below
      ``replicas - maxUnavailable``: involuntary disruptions (a crashed container, a failed node) are not
      the rollout's to count, but the rollout must not add to them beyond its budget.

    A fault excuses its group (:meth:`excuse`) until the group is ready again under another leader (the
    restart policy recreates it) or :data:`EXCUSE_SECONDS` have passed.
    """

    def __init__(self, cluster: EmbeddedCluster, namespace: str, budgets: Mapping[str, Budget]) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.sets = {name: SetRecord(budget) for name, budget in budgets.items()}
        self.violations: list[str] = []
        self._lock = threading.Lock()

    # --- lifecycle (from the test's thread) -----------------------------------------------------------

    def start(self) -> None:
        async def attach() -> None:
            with self._lock:
                for obj in self.cluster.api.store.items(PODS_GR, self.namespace):
                    record = self.sets.get(str(_labels(obj).get(c.SET_NAME_LABEL)))
                    if record is not None:
                        record.pods[str(obj["metadata"]["name"])] = obj
                for name, record in self.sets.items():
                    self._check(name, record)
            self.cluster.api.store.add_listener(self._on_event)

        self.cluster.call(attach())

    def stop(self) -> None:
        async def detach() -> None:
            self.cluster.api.store.remove_listener(self._on_event)

        self.cluster.call(detach())

    def excuse(self, set_name: str, indices: Iterable[int]) -> None:
        """Groups about to be hit by a fault (call before injecting it)."""
        now = time.monotonic()
        with self._lock:
            record = self.sets[set_name]
            for index in indices:
                leader = record.pods.get(f"{set_name}-{index}")
                record.excused[index] = _Excuse(now, _uid(leader))

    def group_of(self, pod_name: str) -> tuple[str, int] | None:
        """(set, group index) of a pod the observer knows."""
        with self._lock:
            for name, record in self.sets.items():
                pod = record.pods.get(pod_name)
                if pod is not None:
                    return name, int(_labels(pod).get(c.GROUP_INDEX_LABEL, "-1"))
        return None

    def pods(self) -> list[Obj]:
        """Every pod of the observed sets, as last seen."""
        with self._lock:
            return [p for record in self.sets.values() for p in record.pods.values()]

    @property
    def moments(self) -> int:
        return sum(r.moments for r in self.sets.values())

    # --- on the cluster's loop ------------------------------------------------------------------------

    def _on_event(self, gr: Any, event: StoredEvent) -> None:
        if tuple(gr) != PODS_GR:
            return
        try:
            self._seen(event.type, event.obj)
        except Exception:  # a listener must never raise into the store
            log.exception("chaos observer failed on %s", event.type)

    def _seen(self, kind: str, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        if meta.get("namespace") != self.namespace:
            return
        set_name = _labels(pod).get(c.SET_NAME_LABEL)
        with self._lock:
            record = self.sets.get(str(set_name))
            if record is None:
                return
            if kind == "DELETED":
                record.pods.pop(str(meta.get("name")), None)
            else:
                record.pods[str(meta.get("name"))] = pod
            self._check(str(set_name), record)

    def _check(self, name: str, record: SetRecord) -> None:
        budget = record.budget
        leaders = {
            int(_labels(p).get(c.GROUP_INDEX_LABEL, "-1")): p
            for p in record.pods.values()
            if _labels(p).get(c.WORKER_INDEX_LABEL) == "0" and not _deleting(p)
        }
        ready = {index for index, leader in leaders.items() if self._group_ready(record, index, leader)}
        now = time.monotonic()
        for index, excuse in list(record.excused.items()):
            leader = leaders.get(index)
            recovered = index in ready and _uid(leader) != excuse.leader_uid
            if recovered or now - excuse.since > EXCUSE_SECONDS:
                del record.excused[index]
        excused_down = {index for index in record.excused if index not in ready}
        record.moments += 1
        headroom = len(ready) + len(excused_down) - (budget.replicas - budget.max_unavailable)
        record.least_headroom = min(record.least_headroom, headroom)
        record.most_groups = max(record.most_groups, len(leaders))
        if headroom < 0:
            self.violations.append(
                f"{name} at moment {record.moments}: {len(ready)} groups ready and {len(excused_down)} down "
                f"by injected faults, below replicas - maxUnavailable = "
                f"{budget.replicas - budget.max_unavailable} (ready {sorted(ready)}, leaders {sorted(leaders)})"
            )
        if len(leaders) > budget.replicas + budget.max_surge:
            self.violations.append(
                f"{name} at moment {record.moments}: {len(leaders)} groups, above replicas + maxSurge = "
                f"{budget.replicas + budget.max_surge}"
            )

    @staticmethod
    def _group_ready(record: SetRecord, index: int, leader: Obj) -> bool:
        if not pod_ready(leader):
            return False
        revision = _labels(leader).get(c.REVISION_KEY)
        workers = [
            p
            for p in record.pods.values()
            if _labels(p).get(c.GROUP_INDEX_LABEL) == str(index)
            and _labels(p).get(c.WORKER_INDEX_LABEL) != "0"
            and _labels(p).get(c.REVISION_KEY) == revision
            and pod_ready(p)
        ]
        return len(workers) == record.budget.size - 1


class Replicas:
    """Operator replicas under a supervisor: each slot runs one replica; a killed one (as by ``kill -9``)
    is started again at once, and a start that fails is tried again with backoff, as the kubelet restarts
    a crashed container."""

    def __init__(self, count: int, make: Callable[[], InProcessOperator]) -> None:
        self._make = make
        self._slots = [_Slot(self, n) for n in range(count)]
        self._stopping = threading.Event()
        self.lock = threading.Lock()
        self.starts = 0
        self.failed_starts: list[str] = []
        self.kills = 0

    def start(self, timeout: float = 60.0) -> None:
        """Start every slot; return once each has a running replica."""
        for slot in self._slots:
            slot.thread.start()
        deadline = time.monotonic() + timeout
        for slot in self._slots:
            if not slot.running.wait(max(0.0, deadline - time.monotonic())):
                raise OperatorError(f"replica slot {slot.number} did not start: {self.failed_starts[-3:]}")

    def running(self) -> list[InProcessOperator]:
        with self.lock:
            return [s.current for s in self._slots if s.current is not None]

    def leader(self) -> InProcessOperator | None:
        for operator in self.running():
            if operator.operator is not None and operator.leading:
                return operator
        return None

    def kill(self, *, leader: bool) -> bool:
        """Kill the leader (or a standby); ``False`` if there is none right now."""
        for slot in self._slots:
            current = slot.current
            if current is None or current.operator is None or current.leading != leader:
                continue
            slot.kill.set()
            with self.lock:
                self.kills += 1
            return True
        return False

    def wait_all_running(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for slot in self._slots:
            while slot.current is None:
                if time.monotonic() > deadline:
                    raise OperatorError(f"replica slot {slot.number} has no running replica")
                slot.running.wait(0.1)

    def stop(self) -> None:
        self._stopping.set()
        for slot in self._slots:
            slot.kill.set()
        for slot in self._slots:
            slot.thread.join(60)


class _Slot:
    def __init__(self, owner: Replicas, number: int) -> None:
        self.owner = owner
        self.number = number
        self.current: InProcessOperator | None = None
        self.kill = threading.Event()
        self.running = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"chaos replica {number}", daemon=True)

    def _run(self) -> None:
        backoff = 0.2
        while not self.owner._stopping.is_set():
            operator = self.owner._make()
            try:
                operator.start(timeout=30)
            except OperatorError as exc:
                with self.owner.lock:
                    self.owner.failed_starts.append(str(exc))
                operator.stop(clean=False)
                self.owner._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            with self.owner.lock:
                self.owner.starts += 1
                self.current = operator
            self.running.set()
            self.kill.wait()
            self.kill.clear()
            with self.owner.lock:
                self.current = None
            self.running.clear()
            operator.stop(clean=self.owner._stopping.is_set())


class Tracebacks(logging.Handler):
    """Every log record of the operator (``lws.*`` but the embedded cluster, and ``kopf``) that carries a
    traceback; and a count of its errors."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        name = record.name
        ours = (name.startswith("lws") and not name.startswith("lws.sim")) or name.startswith("kopf")
        if not ours:
            return
        if record.levelno >= logging.ERROR:
            self.errors += 1
        if record.exc_info is not None and record.exc_info[0] is not None:
            self.records.append(record)

    def report(self) -> str:
        return "\n\n".join(self.format(r) for r in self.records[:5])


def _labels(obj: Obj | None) -> Mapping[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _uid(obj: Obj | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def _deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))
