"""The per-reconcile context, and the telemetry seam it carries.

Every reconcile gets a :class:`ReconcileContext`: a logger prefixed with the object, the clock, and a span
(``reconcile LeaderWorkerSet`` / ``reconcile group``). It is the one record of "the reconcile running now"
(:func:`current`): the cluster client calls :meth:`ReconcileContext.api_call` around each request, the
plugin façade reports each hook call to :meth:`Telemetry.hook_called` with the current context's span, and
the reconcilers report what they decided with :meth:`ReconcileContext.decide` (typed records,
:mod:`lws.core.decisions`). Tracing and metrics plug in by subclassing :class:`Telemetry`, reading those
reports and nothing else; the default does nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from lws.cluster.client import ApiCall
from lws.core.decisions import Decision
from lws.core.routing import Key
from lws.hooks.types import HookObserver


@dataclass(frozen=True)
class Result:
    """How a reconcile ended: done, or to be run again after ``requeue_after`` seconds."""

    requeue_after: float | None = None


DONE = Result()


class Span(Protocol):
    """The part of a tracing span reconcilers use."""

    def set_attribute(self, key: str, value: Any) -> None: ...

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None: ...

    def record_error(self, error: BaseException) -> None: ...


class _NoopSpan:
    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        pass

    def record_error(self, error: BaseException) -> None:
        pass


NOOP_SPAN: Span = _NoopSpan()


class Telemetry:
    """Where reconciles, API calls and plugin calls are reported. Subclass to trace or measure.

    Every method is called on the operator's event loop and must not block.
    """

    def reconcile(self, key: Key, attributes: Mapping[str, Any]) -> AbstractContextManager[Span]:
        """Wraps one reconcile of ``key`` (span ``reconcile LeaderWorkerSet`` or ``reconcile group``)."""
        return contextlib.nullcontext(NOOP_SPAN)

    def api_call(self, parent: Span, call: ApiCall) -> AbstractContextManager[None]:
        """Wraps one API request made by a reconcile; ``call`` is complete when the block exits."""
        return contextlib.nullcontext()

    def hook_called(
        self, parent: Span | None, hook: str, plugin: str, seconds: float, error: BaseException | None
    ) -> None:
        """One plugin implementation ran (``parent`` is ``None`` outside reconciles, e.g. in webhooks)."""

    def reconcile_done(self, span: Span, key: Key, outcome: str, seconds: float) -> None:
        """The reconcile of ``key`` (the one ``span`` records) finished: ``outcome`` is ``success``,
        ``requeue`` or ``error``. Called inside its scope for an error, after it otherwise."""

    def decided(self, span: Span, decision: Decision) -> None:
        """The reconcile ``span`` records took ``decision`` (reported once it has taken effect)."""

    def trace_carrier(self, span: Span) -> Mapping[str, str]:
        """Annotations that carry the trace context of the group ``span`` reconciles, for the worker
        StatefulSet it creates (so an operator that restarts continues the group's trace); none by
        default."""
        return {}


@dataclass(frozen=True)
class Clock:
    """Wall time for timestamps, monotonic time for durations; replaced in tests."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def rfc3339(moment: datetime) -> str:
    """``metav1.Time``: seconds precision, UTC, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ReconcileContext:
    """What one reconcile carries besides its dependencies: who, when, and where to report."""

    key: Key
    log: logging.LoggerAdapter[logging.Logger]
    clock: Clock
    telemetry: Telemetry
    span: Span = field(default=NOOP_SPAN)

    def api_call(self, call: ApiCall) -> AbstractContextManager[None]:
        """The cluster client's hook (:class:`lws.cluster.client.CallContext`)."""
        return self.telemetry.api_call(self.span, call)

    def decide(self, decision: Decision) -> None:
        """Report a decision this reconcile took (to tracing and metrics)."""
        self.telemetry.decided(self.span, decision)

    def trace_carrier(self) -> Mapping[str, str]:
        """What to annotate the worker StatefulSet with so the group's trace survives a restart."""
        return self.telemetry.trace_carrier(self.span)

    def now(self) -> str:
        return rfc3339(self.clock.now())


_current: contextvars.ContextVar[ReconcileContext | None] = contextvars.ContextVar(
    "lws_reconcile", default=None
)


@contextlib.contextmanager
def reconciling(
    key: Key, *, clock: Clock, telemetry: Telemetry, logger: logging.Logger, attributes: Mapping[str, Any]
) -> Iterator[ReconcileContext]:
    """Open the span of one reconcile and make its context current (for plugin call reports)."""
    adapter = logging.LoggerAdapter(logger, {"key": str(key)})
    with telemetry.reconcile(key, attributes) as span:
        ctx = ReconcileContext(
            key=key, log=_Prefixed(adapter, str(key)), clock=clock, telemetry=telemetry, span=span
        )
        token = _current.set(ctx)
        try:
            yield ctx
        except BaseException as exc:
            span.record_error(exc)
            raise
        finally:
            _current.reset(token)


def current() -> ReconcileContext | None:
    """The reconcile running in this task, if any."""
    return _current.get()


def hook_observer(telemetry: Telemetry) -> HookObserver:
    """An observer for :attr:`lws.hooks.manager.Hooks.observer` that reports to the current reconcile."""

    def observe(hook: str, plugin: str, seconds: float, error: BaseException | None) -> None:
        ctx = _current.get()
        telemetry.hook_called(ctx.span if ctx else None, hook, plugin, seconds, error)

    return observe


class _Prefixed(logging.LoggerAdapter[logging.Logger]):
    """Log lines start with the key, as kopf's per-object loggers do: ``[set/ns/name] message``."""

    def __init__(self, inner: logging.LoggerAdapter[logging.Logger], prefix: str) -> None:
        super().__init__(inner.logger, inner.extra)
        self.prefix = prefix

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{self.prefix}] {msg}", kwargs
