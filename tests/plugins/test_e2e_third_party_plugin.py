"""The example third-party plugin (``rack_spread``, ``examples/lws-plugin-example``), installed with pip like
any plugin, changes where groups land on the embedded cluster: what the plugin guide walks an author through.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lws.api import constants as c
from lws.cluster.resources import NODES
from tests.operator.e2e_kit import make_lws
from tests.plugins.plugin_cluster import PluginCluster, placed_set, simulate

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lws-plugin-example"
RACKS = "rack-spread.lws.x-k8s.io/racks"
RACK = "example.com/rack"


def example_manifest() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((EXAMPLE / "rack-spread.yaml").read_text())
    return loaded


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("enabled", [True, False], ids=["installed", "disabled"])
def test_lws_simulate_shows_the_example_manifest_landing_on_the_racks_it_names(
    tmp_path: Path, enabled: bool
) -> None:
    args = () if enabled else ("--disable-plugin", "rack_spread")
    report = simulate(tmp_path, "gpu-multilevel", example_manifest(), args=args)

    assert ("rack_spread" in report["plugins"]) is enabled, "loaded through its entry point"
    racks = [{pod["topology"][RACK] for pod in g["pods"]} for g in placed_set(report, "spread")["groups"]]
    if enabled:
        assert racks == [{"zone-a-block-0-rack-0"}, {"zone-b-block-0-rack-0"}]
    else:
        assert {"zone-b-block-0-rack-0"} not in racks, (
            f"without the plugin nothing sends group 1 there: {racks}"
        )


def test_the_operator_pins_each_group_to_its_rack_round_robin(
    default_plugins: PluginCluster, ns: str
) -> None:
    env = default_plugins
    body = make_lws("rr", replicas=3, size=2, annotations={RACKS: "zone-a-rack-1,zone-a-rack-0"})
    env.kube.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(body))
    env.kube.wait_available(ns, "rr")

    rack_of = {n["metadata"]["name"]: n["metadata"]["labels"][RACK] for n in env.kube.list(NODES, None)}
    by_group: dict[str, set[str]] = {}
    for pod in env.pods(ns, "rr"):
        by_group.setdefault(pod["metadata"]["labels"][c.GROUP_INDEX_LABEL], set()).add(
            rack_of[pod["spec"]["nodeName"]]
        )
    assert by_group == {"0": {"zone-a-rack-1"}, "1": {"zone-a-rack-0"}, "2": {"zone-a-rack-1"}}


def test_kubectl_apply_is_refused_with_the_example_plugins_message(
    default_plugins: PluginCluster, ns: str
) -> None:
    body = make_lws("bad", replicas=1, size=2, annotations={RACKS: "rack a,rack-b"})
    result = default_plugins.kube.kubectl(
        "apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(body), check=False
    )

    assert result.returncode != 0
    assert 'admission webhook "vleaderworkerset.kb.io" denied the request' in result.stderr
    assert (
        f'metadata.annotations.{RACKS}: Invalid value: "rack a,rack-b": must list node label values separated by '
        "commas, e.g. rack-a,rack-b; 'rack a': "
    ) in result.stderr, result.stderr
    assert default_plugins.kube.lws(ns, "bad") is None
