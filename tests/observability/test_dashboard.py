"""The Grafana dashboard shipped next to the ServiceMonitor queries only metrics the operator exports, with
the labels they have, so it cannot rot silently."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from lws.observability.metrics import LwsMetrics

DASHBOARD = Path(__file__).parents[2] / "config" / "prometheus" / "grafana-dashboard.json"
#: Labels Prometheus adds to every scraped series, and histograms' bucket label.
SCRAPE_LABELS = {"job", "instance", "le"}


def _exported() -> dict[str, set[str]]:
    registry = CollectorRegistry()
    metrics = LwsMetrics(registry)
    metrics.known_plugins([("tpu", "lws_mutate_pod")], ["restart_policies"])
    metrics.reconciles.labels("set", "success")
    metrics.api_requests.labels("get", "pods", "200").inc()
    metrics.api_duration.labels("get", "pods").observe(0.01)
    metrics.watch_sets(lambda: [])
    found: dict[str, set[str]] = {}
    for family in registry.collect():
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    found.setdefault("lws_groups", set()).update({"namespace", "state"})
    return found


def test_the_dashboard_queries_only_exported_metrics_and_labels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _exported()
    targets = [t for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(targets) >= 20
    used: set[str] = set()
    for target in targets:
        expr = target["expr"]
        for name, selector in re.findall(r"(lws_[a-z_]+)(?:\{([^}]*)\})?", expr):
            assert name in exported, f"{name} in {expr!r} is not exported"
            used.add(name)
            labels = {part.split("=")[0].strip() for part in selector.split(",") if part.strip()}
            assert labels <= exported[name] | SCRAPE_LABELS, (name, labels)
        for group in re.findall(r"by \(([^)]*)\)", expr):
            labels = {label.strip() for label in group.split(",")}
            metric = re.search(r"lws_[a-z_]+", expr)
            assert metric is not None
            assert labels <= exported[metric.group(0)] | SCRAPE_LABELS, (expr, labels)
    # Every family shows up somewhere.
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", name) for name in exported}
    shown = {re.sub(r"_(total|bucket|count|sum|created)$", "", name) for name in used}
    assert families <= shown, families - shown
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "job", "namespace"}
