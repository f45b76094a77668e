"""Plugin calls: ``lws_plugin_hook_duration_seconds`` per plugin and hook, and a ``call hook`` /
``call policy`` child span in the reconcile or admission request that made the call."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanKind

from lws.observability import attributes as a
from lws.observability.metrics import LwsMetrics
from lws.observability.records import ChildSpan, SpanRecord


def record_plugin_call(
    *,
    metrics: LwsMetrics | None,
    record: SpanRecord | None,
    hook: str,
    plugin: str,
    seconds: float,
    error: BaseException | None,
    policy_plugins: Mapping[str, str],
) -> None:
    """A plugin implementation (or policy) ran: its latency, and a span in ``record`` when tracing.

    :param policy_plugins: which plugin implements each policy value: the façade reports a policy call as
        hook ``policy``, plugin ``startupPolicy=LeaderReady``.
    """
    policy_value = None
    if hook == "policy":
        hook, _, policy_value = plugin.partition("=")
        plugin = policy_plugins.get(f"{hook}={policy_value}", "lws")
    if metrics is not None:
        metrics.hook_timer(plugin, hook).observe(seconds)
        if error is not None:
            metrics.hook_errors.labels(plugin, hook).inc()
    if record is None or record.children is None:
        return
    end = time.time_ns()
    start = end - int(seconds * 1e9)
    failed = type(error).__name__ if error is not None else None
    last = record.children[-1] if record.children else None
    if policy_value is None and last is not None and last.attributes.get(a.HOOK_NAME) == hook:
        # pluggy calls a hook's implementations one after the other: one span for the call (the time of
        # each plugin is in lws_plugin_hook_duration_seconds), listing who ran.
        names: list[str] = last.attributes[a.PLUGIN_NAMES]
        names.append(plugin)
        last.attributes.pop(a.PLUGIN_NAME, None)
        last.end_ns = end
        if failed is not None:
            last.attributes[a.PLUGIN_NAME] = plugin
            last.error, last.description = failed, str(error)
        return
    attrs: dict[str, Any] = {a.HOOK_NAME: hook, a.PLUGIN_NAME: plugin, a.PLUGIN_NAMES: [plugin]}
    if policy_value is not None:
        attrs[a.POLICY_VALUE] = policy_value
    name = f"call policy {hook}" if policy_value is not None else f"call hook {hook}"
    record.children.append(
        ChildSpan(name, SpanKind.INTERNAL, start, end, attrs, failed, str(error) if error else None)
    )
