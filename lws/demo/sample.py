"""The demo's vLLM LeaderWorkerSet (``vllm.yaml``), sized to the topology it runs on (pure).

GPUs per pod follow the nodes (a group is ``size`` whole nodes, as multi-node vLLM wants), and the placement
level is the topology's level just above the nodes (a rack, usually). The topology must hold the set once
it is scaled up; otherwise :class:`SampleError` says what is missing and which topology to pick.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from lws.k8s.quantity import QuantityError, parse_quantity
from lws.sim.topology import HOSTNAME_LABEL, Topology

GPU = "nvidia.com/gpu"
PLACEMENT_MODE = "placement.lws.x-k8s.io/mode"
PLACEMENT_TOPOLOGY = "placement.lws.x-k8s.io/topology"
#: The demo's last step scales the set up by one group.
SCALE_UP_BY = 1


class SampleError(ValueError):
    """The topology cannot host the demo's LeaderWorkerSet; the message says why and what to use."""


@dataclass(frozen=True)
class Shape:
    """How the demo's set fits a topology."""

    gpus_per_pod: int
    size: int
    replicas: int
    placement_key: str | None
    """The node label groups are kept within (and spread over); ``None``: no placement annotations."""

    @property
    def scaled_replicas(self) -> int:
        """Replicas after the demo's scale-up."""
        return self.replicas + SCALE_UP_BY


def load_sample() -> dict[str, Any]:
    """The demo's LeaderWorkerSet as shipped (``lws/demo/vllm.yaml``)."""
    text = resources.files("lws.demo").joinpath("vllm.yaml").read_text(encoding="utf-8")
    sample: dict[str, Any] = yaml.safe_load(text)
    return sample


def _gpus(allocatable: Mapping[str, str]) -> int:
    try:
        return int(parse_quantity(allocatable.get(GPU, "0")))
    except QuantityError:
        return 0


def shape_for(topology: Topology, sample: dict[str, Any]) -> Shape:
    """Fit ``sample`` (its ``replicas`` and ``size``) to ``topology``, or raise :class:`SampleError`."""
    spec = sample["spec"]
    replicas, size = int(spec["replicas"]), int(spec["leaderWorkerTemplate"]["size"])
    nodes = topology.node_specs()
    counts = Counter(g for g in (_gpus(n.allocatable) for n in nodes) if g > 0)
    if not counts:
        raise SampleError(
            f"topology {topology.name!r} has no nodes with {GPU}, and the demo runs a multi-node vLLM: "
            "use --topology gpu-small (the default), gpu-multilevel or gpu-large"
        )
    # The most common GPU count, the larger on a tie: smaller nodes are simply not used.
    gpus = max(counts, key=lambda g: (counts[g], g))
    eligible = [n for n in nodes if _gpus(n.allocatable) >= gpus]
    needed = (replicas + SCALE_UP_BY) * size
    if len(eligible) < needed:
        raise SampleError(
            f"topology {topology.name!r} has {len(eligible)} nodes with {gpus} GPUs; the demo needs {needed} "
            f"({replicas + SCALE_UP_BY} groups of {size} pods once scaled up): use --topology gpu-small"
        )
    key = topology.level_keys[-2] if len(topology.level_keys) >= 2 else None
    if key is not None:
        per_domain = Counter(n.labels[key] for n in eligible)
        if sum(n // size for n in per_domain.values()) < replicas + SCALE_UP_BY:
            key = None  # no level that holds whole groups: place pods freely
    return Shape(gpus_per_pod=gpus, size=size, replicas=replicas, placement_key=key)


def sized(sample: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """A copy of ``sample`` asking for ``shape``'s GPUs per pod and placement level."""
    body = copy.deepcopy(sample)
    annotations = body.setdefault("metadata", {}).setdefault("annotations", {})
    if shape.placement_key is None or shape.placement_key == HOSTNAME_LABEL:
        annotations.pop(PLACEMENT_MODE, None)
        annotations.pop(PLACEMENT_TOPOLOGY, None)
    else:
        annotations[PLACEMENT_TOPOLOGY] = shape.placement_key
    template = body["spec"]["leaderWorkerTemplate"]
    for key in ("leaderTemplate", "workerTemplate"):
        for container in (template.get(key) or {}).get("spec", {}).get("containers") or []:
            limits = container.setdefault("resources", {}).setdefault("limits", {})
            if GPU in limits:
                limits[GPU] = str(shape.gpus_per_pod)
    return body
