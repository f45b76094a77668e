"""``LwsMetrics`` on a fresh registry: names, help, zeros for known label sets; ``lws_groups`` read at
scrape time; ``/metrics`` served over HTTP."""

from __future__ import annotations

import urllib.request

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from lws.observability.metrics import LwsMetrics, MetricsServer, SetCounts

FAMILIES = {
    "lws_reconcile": "counter",
    "lws_reconcile_errors": "counter",
    "lws_reconcile_duration_seconds": "histogram",
    "lws_group_time_to_ready_seconds": "histogram",
    "lws_group_update_seconds": "histogram",
    "lws_group_recovery_seconds": "histogram",
    "lws_group_failure_detection_seconds": "histogram",
    "lws_group_recreations": "counter",
    "lws_group_restart_decisions": "counter",
    "lws_rollout_step_duration_seconds": "histogram",
    "lws_webhook_duration_seconds": "histogram",
    "lws_webhook_requests": "counter",
    "lws_plugin_hook_duration_seconds": "histogram",
    "lws_plugin_hook_errors": "counter",
    "lws_api_requests": "counter",
    "lws_api_request_duration_seconds": "histogram",
    "lws_groups": "gauge",
}


def test_every_metric_has_a_unit_suffix_a_type_and_a_sentence_of_help() -> None:
    registry = CollectorRegistry()
    LwsMetrics(registry)
    found = {family.name: family for family in registry.collect()}
    assert {name: family.type for name, family in found.items()} == FAMILIES
    for family in found.values():
        assert family.documentation.endswith(".") and len(family.documentation) > 30, family.name


def test_known_label_sets_start_at_zero() -> None:
    registry = CollectorRegistry()
    metrics = LwsMetrics(registry)
    for controller in ("set", "group"):
        for result in ("success", "requeue", "error"):
            assert (
                registry.get_sample_value("lws_reconcile_total", {"controller": controller, "result": result})
                == 0
            )
    assert (
        registry.get_sample_value("lws_webhook_requests_total", {"webhook": "mutate-pod", "result": "denied"})
        == 0
    )
    assert registry.get_sample_value("lws_group_recovery_seconds_count", {"kind": "recover"}) == 0

    metrics.known_plugins([("tpu", "lws_mutate_pod")], ["restart_policies"])
    assert (
        registry.get_sample_value(
            "lws_plugin_hook_duration_seconds_count", {"plugin": "tpu", "hook": "lws_mutate_pod"}
        )
        == 0
    )
    labels = {"reason": "pod-deletion", "plugin": "restart_policies"}
    assert registry.get_sample_value("lws_group_recreations_total", labels) == 0


def test_groups_by_state_are_summed_per_namespace_when_scraped() -> None:
    registry = CollectorRegistry()
    metrics = LwsMetrics(registry)
    sets = [
        SetCounts("team-a", desired=4, ready=3, updated=2, failed=1),
        SetCounts("team-a", desired=2, ready=2, updated=2, failed=0),
        SetCounts("team-b", desired=1, ready=0, updated=1, failed=0),
    ]
    assert registry.get_sample_value("lws_groups", {"namespace": "team-a", "state": "ready"}) is None
    metrics.watch_sets(lambda: sets)
    expected = {
        ("team-a", "desired"): 6,
        ("team-a", "ready"): 5,
        ("team-a", "updated"): 4,
        ("team-a", "failed"): 1,
        ("team-b", "desired"): 1,
        ("team-b", "ready"): 0,
        ("team-b", "updated"): 1,
        ("team-b", "failed"): 0,
    }
    for (namespace, state), value in expected.items():
        assert registry.get_sample_value("lws_groups", {"namespace": namespace, "state": state}) == value
    sets.pop()  # read again at the next scrape: a namespace with no set is gone
    assert registry.get_sample_value("lws_groups", {"namespace": "team-b", "state": "desired"}) is None


async def test_metrics_are_served_over_http() -> None:
    registry = CollectorRegistry()
    metrics = LwsMetrics(registry)
    metrics.reconciles.labels("group", "success").inc(3)
    async with MetricsServer(registry, host="127.0.0.1", port=0) as server:
        url = f"http://127.0.0.1:{server.port}/metrics"

        def scrape() -> str:
            with urllib.request.urlopen(url, timeout=10) as response:
                return str(response.read().decode())

        import asyncio

        text = await asyncio.to_thread(scrape)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in families["lws_reconcile"].samples}
    assert samples[("lws_reconcile_total", (("controller", "group"), ("result", "success")))] == 3
