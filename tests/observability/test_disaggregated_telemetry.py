"""DisaggregatedSets in traces and metrics, as LeaderWorkerSets are: a ``reconcile DisaggregatedSet`` span
per reconcile saying what it decided (from the decision records the reconciler reports), the API calls
under it, ``validate DisaggregatedSet`` admission spans, and the reconcile and webhook metrics with their
``controller`` and ``webhook`` labels."""

from __future__ import annotations

import pytest
from obs_harness import Traced
from obs_kit import attr, children, named

from lws.api.disaggregated import constants as d
from lws.observability import attributes as a
from lws.sim.errors import APIError
from lws.sim.testing import wait_until
from tests.api.ds_api_testing import make_ds, role

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

DS = (d.GROUP, d.VERSION, d.PLURAL)


def _available(traced: Traced, name: str) -> bool:
    obj = traced.cluster.sync.get(DS, traced.namespace, name)
    return any(
        cd["type"] == d.CONDITION_AVAILABLE and cd["status"] == "True"
        for cd in (obj.get("status") or {}).get("conditions") or []
    )


def test_disaggregatedset_reconciles_and_admission_are_traced_and_counted(traced: Traced) -> None:
    ns = traced.namespace
    body = make_ds(
        role("prefill", 2, "registry.k8s.io/pause:3.10"), role("decode", 1, "registry.k8s.io/pause:3.10")
    )
    body["spec"]["roles"][1]["scaling"] = {"mode": d.SCALING_EXTERNAL}
    traced.cluster.sync.create(DS, ns, body)
    wait_until(lambda: _available(traced, "demo"), 30, "the DisaggregatedSet to be Available")
    bad = make_ds(name="bad")
    bad["spec"]["roles"][0]["spec"]["rolloutStrategy"] = {"rollingUpdateConfiguration": {"partition": 1}}
    with pytest.raises(APIError, match="partition"):
        traced.cluster.sync.create(DS, ns, bad)

    def decisions() -> set[str]:
        spans = named(traced.exporter.get_finished_spans(), "reconcile DisaggregatedSet")
        return {part for s in spans for part in str(attr(s, a.DECISION)).split(", ")}

    wanted = {
        "create child",
        "create RoleScaler",
        "create Service",
        "update RoleScaler status",
        "update status",
    }
    wait_until(lambda: wanted <= decisions(), 10, f"reconcile spans deciding {wanted}")
    spans = traced.exporter.get_finished_spans()
    reconciles = named(spans, "reconcile DisaggregatedSet")
    assert all(
        attr(s, a.DS_NAME) == "demo" and attr(s, a.CONTROLLER) == "disaggregatedset" for s in reconciles
    )
    (first,) = [s for s in reconciles if "create child" in str(attr(s, a.DECISION))][:1]
    assert {c.name for c in children(spans, first)} >= {
        "create LeaderWorkerSet",
        "create DisaggregatedSetRoleScaler",
    }
    (validated,) = named(spans, "validate DisaggregatedSet", disaggregatedset__name="demo")
    assert attr(validated, a.ADMISSION_ALLOWED) is True
    (denied,) = named(spans, "validate DisaggregatedSet", disaggregatedset__name="bad")
    assert attr(denied, a.ADMISSION_ALLOWED) is False

    assert traced.sample("lws_reconcile_total", {"controller": "disaggregatedset", "result": "success"}) >= 1
    assert traced.sample("lws_reconcile_duration_seconds_count", {"controller": "disaggregatedset"}) >= 1
    webhook = "validate-disaggregatedset"
    assert traced.sample("lws_webhook_requests_total", {"webhook": webhook, "result": "allowed"}) == 1
    assert traced.sample("lws_webhook_requests_total", {"webhook": webhook, "result": "denied"}) == 1
