"""A cluster described as data: topology levels, a node shape and per-group overrides → Node objects.

A topology file lists levels outermost first. Each level names the node label that carries its
domain (``topology.kubernetes.io/zone``, ``example.com/rack`` ...) and how many domains each parent
holds; the last level is always ``kubernetes.io/hostname``, one domain per node. Domain values are
the path of segment names joined by ``-`` (``zone-a``, ``zone-a-rack-1``, ``zone-a-rack-1-node-3``),
so a rack label is unique across zones and the node name is its full path. See
``lws/sim/topologies/*.yaml`` for examples.

```yaml
name: gpu-small
levels:
  - {key: topology.kubernetes.io/zone, names: [zone-a]}
  - {key: example.com/rack, count: 2}
  - {key: kubernetes.io/hostname, count: 4, prefix: node-}
node:
  capacity: {cpu: "96", memory: 1Ti, nvidia.com/gpu: 8}
  labels: {node.kubernetes.io/instance-type: a3-highgpu-8g}
  taints: []
kubelet: {startDelaySeconds: 0.2, readyDelaySeconds: 0.3}
schedulerNames: [default-scheduler]   # the scheduler's profiles: pods naming another scheduler stay Pending
overrides:
  - match: {example.com/rack: zone-a-rack-1}
    capacity: {nvidia.com/gpu: 4}
```
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lws.k8s.quantity import QuantityError, parse_quantity

HOSTNAME_LABEL = "kubernetes.io/hostname"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
DEFAULT_PODS_PER_NODE = "110"
# Pod CIDRs are carved per node from 10.64.0.0/10 (a /24 each: up to 16,384 nodes); node addresses
# come from 172.16.0.0/12. Neither overlaps the 10.96.0.0/12 Service range.
POD_NETWORK = ipaddress.IPv4Network("10.64.0.0/10")
NODE_NETWORK = ipaddress.IPv4Network("172.16.0.0/12")


class TopologyError(ValueError):
    """A topology file that does not describe a cluster; the message names the file and the bad key."""


@dataclass(frozen=True)
class NodeTiming:
    """How long the simulated kubelet of a node takes to move a pod along (seconds)."""

    start_delay: float = 0.0
    """From binding to containers running (image pull plus container start)."""
    ready_delay: float = 0.0
    """From containers running to containers Ready (readiness probes)."""
    init_delay: float = 0.0
    """How long each init container runs before it completes."""


@dataclass(frozen=True)
class NodeSpec:
    """One node that the topology describes."""

    name: str
    labels: Mapping[str, str]
    capacity: Mapping[str, str]
    allocatable: Mapping[str, str]
    taints: Sequence[Mapping[str, str]]
    timing: NodeTiming
    index: int


@dataclass(frozen=True)
class Level:
    """One topology level: the node label that carries it and the segment names inside one parent."""

    key: str
    segments: tuple[str, ...]


@dataclass(frozen=True)
class Override:
    """Changes applied to every node whose labels include all of ``match``."""

    match: Mapping[str, str]
    capacity: Mapping[str, str] = field(default_factory=dict)
    allocatable: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, str]] | None = None
    timing: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Topology:
    """A validated cluster description. Build it with :func:`load_topology` or :func:`parse_topology`."""

    name: str
    description: str
    levels: tuple[Level, ...]
    capacity: Mapping[str, str]
    allocatable: Mapping[str, str]
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, str], ...]
    timing: NodeTiming
    overrides: tuple[Override, ...] = ()
    #: The names the cluster's scheduler answers to, as kube-scheduler profiles do (``schedulerNames``).
    scheduler_names: tuple[str, ...] = ("default-scheduler",)

    @property
    def level_keys(self) -> tuple[str, ...]:
        """The node-label keys of the levels, outermost first (the last is ``kubernetes.io/hostname``)."""
        return tuple(level.key for level in self.levels)

    def node_specs(self) -> list[NodeSpec]:
        """Every node, in topology order (zone by zone, rack by rack)."""
        specs = []
        for index, path in enumerate(_paths(self.levels)):
            labels = dict(self.labels)
            for depth, level in enumerate(self.levels):
                labels[level.key] = "-".join(path[: depth + 1])
            name = labels[HOSTNAME_LABEL]
            capacity = dict(self.capacity)
            allocatable = dict(self.allocatable)
            taints = list(self.taints)
            timing = {
                "start_delay": self.timing.start_delay,
                "ready_delay": self.timing.ready_delay,
                "init_delay": self.timing.init_delay,
            }
            for override in self.overrides:
                if all(labels.get(key) == value for key, value in override.match.items()):
                    capacity.update(override.capacity)
                    allocatable.update(override.allocatable)
                    labels.update(override.labels)
                    if override.taints is not None:
                        taints = list(override.taints)
                    timing.update(override.timing)
            for resource, quantity in capacity.items():
                allocatable.setdefault(resource, quantity)
            specs.append(
                NodeSpec(
                    name=name,
                    labels=labels,
                    capacity=capacity,
                    allocatable=allocatable,
                    taints=tuple(taints),
                    timing=NodeTiming(**timing),
                    index=index,
                )
            )
        return specs

    def timings(self) -> dict[str, NodeTiming]:
        """Kubelet timing per node name (overrides applied)."""
        return {spec.name: spec.timing for spec in self.node_specs()}

    def nodes(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """The Node objects (``v1``) to create, Ready, with capacity, labels, taints and addresses."""
        stamp = _rfc3339(now or datetime.now(UTC))
        return [node_object(spec, stamp) for spec in self.node_specs()]


def node_object(spec: NodeSpec, stamp: str) -> dict[str, Any]:
    """The Node object for one node spec, with conditions stamped at ``stamp`` (RFC 3339)."""
    pod_cidr = ""
    if spec.index < POD_NETWORK.num_addresses // 256:
        pod_cidr = f"{POD_NETWORK.network_address + spec.index * 256}/24"
    address = str(NODE_NETWORK.network_address + spec.index + 2)
    node_spec: dict[str, Any] = {"providerID": f"sim://{spec.name}"}
    if pod_cidr:
        node_spec["podCIDR"] = pod_cidr
        node_spec["podCIDRs"] = [pod_cidr]
    if spec.taints:
        node_spec["taints"] = [dict(taint) for taint in spec.taints]
    labels = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", **spec.labels}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": node_spec,
        "status": {
            "capacity": dict(spec.capacity),
            "allocatable": dict(spec.allocatable),
            "conditions": [
                _condition("MemoryPressure", "False", "KubeletHasSufficientMemory", stamp),
                _condition("DiskPressure", "False", "KubeletHasNoDiskPressure", stamp),
                _condition("PIDPressure", "False", "KubeletHasSufficientPID", stamp),
                _condition("Ready", "True", "KubeletReady", stamp, "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": spec.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "lws embedded cluster",
                "kernelVersion": "6.1.0-sim",
                "kubeletVersion": "v1.35.0-sim",
                "kubeProxyVersion": "v1.35.0-sim",
                "containerRuntimeVersion": "sim://1.0.0",
                "machineID": f"{spec.index:032x}",
                "systemUUID": f"{spec.index:032x}",
                "bootID": f"{spec.index:032x}",
            },
        },
    }


def _condition(kind: str, status: str, reason: str, stamp: str, message: str = "") -> dict[str, str]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message or reason,
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _paths(levels: Sequence[Level]) -> Iterator[tuple[str, ...]]:
    if not levels:
        yield ()
        return
    for segment in levels[0].segments:
        for rest in _paths(levels[1:]):
            yield (segment, *rest)


# ---------------------------------------------------------------------------------------------------
# Loading and validation


def builtin_topologies() -> list[str]:
    """Names of the topologies shipped in ``lws/sim/topologies/``."""
    folder = resources.files("lws.sim").joinpath("topologies")
    return sorted(
        entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml")
    )


def load_topology(path_or_name: str | Path) -> Topology:
    """Load a topology from a YAML file path, or by the name of a shipped one (``"gpu-small"``)."""
    path = Path(path_or_name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise TopologyError(f"topology file {str(path)!r} does not exist")
        text = path.read_text(encoding="utf-8")
        source = str(path)
    else:
        name = str(path_or_name)
        resource = resources.files("lws.sim").joinpath("topologies", f"{name}.yaml")
        if not resource.is_file():
            shipped = ", ".join(builtin_topologies())
            raise TopologyError(f"no topology named {name!r}: pass a YAML file path or one of {shipped}")
        text = resource.read_text(encoding="utf-8")
        source = f"{name}.yaml"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TopologyError(f"topology {source!r} is not valid YAML: {exc}") from exc
    return parse_topology(data, source=source)


_TOP_KEYS = {"name", "description", "levels", "node", "kubelet", "overrides", "schedulerNames"}
_LEVEL_KEYS = {"key", "count", "names", "prefix"}
_NODE_KEYS = {"capacity", "allocatable", "labels", "taints"}
_KUBELET_KEYS = {
    "startDelaySeconds": "start_delay",
    "readyDelaySeconds": "ready_delay",
    "initDelaySeconds": "init_delay",
}
_OVERRIDE_KEYS = {"match", "capacity", "allocatable", "labels", "taints", "kubelet"}
_TAINT_KEYS = {"key", "value", "effect"}


def parse_topology(data: Any, *, source: str = "<topology>") -> Topology:
    """Validate a topology document (already parsed from YAML) and build the :class:`Topology`."""
    check = _Checker(source)
    top = check.mapping(data, "", _TOP_KEYS)
    name = check.string(top.get("name", Path(source).stem), "name")
    description = check.string(top.get("description", ""), "description")
    raw_levels: Any = top.get("levels")
    if not isinstance(raw_levels, list) or not raw_levels:
        check.fail(
            "levels",
            "must be a non-empty list of levels, outermost first, ending with kubernetes.io/hostname",
        )
    levels = tuple(check.level(raw, f"levels[{i}]") for i, raw in enumerate(raw_levels))
    keys = [level.key for level in levels]
    if keys[-1] != HOSTNAME_LABEL:
        check.fail(
            f"levels[{len(levels) - 1}].key", f"the last level must be {HOSTNAME_LABEL!r}, got {keys[-1]!r}"
        )
    for i, key in enumerate(keys):
        if keys.index(key) != i:
            check.fail(f"levels[{i}].key", f"{key!r} is used by two levels")
    node = check.mapping(top.get("node", {}), "node", _NODE_KEYS)
    capacity = check.quantities(node.get("capacity", {}), "node.capacity")
    capacity.setdefault("pods", DEFAULT_PODS_PER_NODE)
    allocatable = check.quantities(node.get("allocatable", {}), "node.allocatable")
    labels = check.labels(node.get("labels", {}), "node.labels")
    for key in keys:
        if key in labels:
            check.fail(f"node.labels.{key}", "is set by the levels; remove it from node.labels")
    taints = check.taints(node.get("taints", []), "node.taints")
    timing = NodeTiming(**check.timing(top.get("kubelet", {}), "kubelet"))
    raw_overrides = top.get("overrides", [])
    if not isinstance(raw_overrides, list):
        check.fail("overrides", "must be a list of {match, capacity, labels, taints, kubelet}")
    overrides = tuple(check.override(raw, f"overrides[{i}]") for i, raw in enumerate(raw_overrides))
    scheduler_names = top.get("schedulerNames", ["default-scheduler"])
    if (
        not isinstance(scheduler_names, list)
        or not scheduler_names
        or not all(isinstance(n, str) and n for n in scheduler_names)
    ):
        check.fail("schedulerNames", "must be a non-empty list of scheduler names, e.g. [default-scheduler]")
    return Topology(
        name=name,
        description=description,
        levels=levels,
        capacity=capacity,
        allocatable=allocatable,
        labels=labels,
        taints=tuple(taints),
        timing=timing,
        overrides=overrides,
        scheduler_names=tuple(scheduler_names),
    )


class _Checker:
    """Validation helpers that raise TopologyError naming the source and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> Any:
        location = f"{where}: " if where else ""
        raise TopologyError(f"topology {self.source!r}: {location}{problem}")

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, got {type(value).__name__}")
        checked: dict[str, Any] = value
        for key in checked:
            if key not in allowed:
                self.fail(
                    f"{where}.{key}" if where else str(key),
                    f"unknown key; allowed: {', '.join(sorted(allowed))}",
                )
        return checked

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            self.fail(where, f"must be a string, got {value!r}")
        return str(value)

    def level(self, raw: Any, where: str) -> Level:
        level = self.mapping(raw, where, _LEVEL_KEYS)
        key = self.string(level.get("key"), f"{where}.key")
        if "names" in level and "count" in level:
            self.fail(where, "give either count or names, not both")
        if "names" in level:
            names = level["names"]
            if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
                self.fail(f"{where}.names", "must be a non-empty list of non-empty strings")
            if len(set(names)) != len(names):
                self.fail(f"{where}.names", "has duplicates")
            segments = tuple(names)
        else:
            count: Any = level.get("count")
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                self.fail(f"{where}.count", f"must be a positive integer, got {count!r}")
            default_prefix = ("node" if key == HOSTNAME_LABEL else key.rsplit("/", 1)[-1]) + "-"
            prefix = self.string(level.get("prefix", default_prefix), f"{where}.prefix")
            segments = tuple(f"{prefix}{i}" for i in range(count))
        return Level(key=key, segments=segments)

    def quantities(self, raw: Any, where: str) -> dict[str, str]:
        if not isinstance(raw, dict):
            self.fail(where, f"must be a mapping of resource name to quantity, got {type(raw).__name__}")
        result = {}
        for resource, value in raw.items():
            try:
                parse_quantity(value)
            except (QuantityError, TypeError) as exc:
                self.fail(f"{where}.{resource}", str(exc))
            result[str(resource)] = str(value)
        return result

    def labels(self, raw: Any, where: str) -> dict[str, str]:
        if not isinstance(raw, dict):
            self.fail(where, f"must be a mapping of label key to value, got {type(raw).__name__}")
        for key, value in raw.items():
            if not isinstance(value, str):
                self.fail(f"{where}.{key}", f"label values must be strings (quote it), got {value!r}")
        return {str(key): value for key, value in raw.items()}

    def taints(self, raw: Any, where: str) -> list[dict[str, str]]:
        if not isinstance(raw, list):
            self.fail(where, "must be a list of {key, value, effect}")
        taints = []
        for i, item in enumerate(raw):
            taint = self.mapping(item, f"{where}[{i}]", _TAINT_KEYS)
            key = self.string(taint.get("key"), f"{where}[{i}].key")
            effect = taint.get("effect")
            if effect not in TAINT_EFFECTS:
                self.fail(
                    f"{where}[{i}].effect", f"must be one of {', '.join(TAINT_EFFECTS)}, got {effect!r}"
                )
            entry = {"key": key, "effect": str(effect)}
            if "value" in taint:
                entry["value"] = self.string(taint["value"], f"{where}[{i}].value")
            taints.append(entry)
        return taints

    def timing(self, raw: Any, where: str) -> dict[str, float]:
        block = self.mapping(raw, where, set(_KUBELET_KEYS))
        result = {}
        for key, value in block.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                self.fail(f"{where}.{key}", f"must be a number of seconds >= 0, got {value!r}")
            result[_KUBELET_KEYS[key]] = float(value)
        return result

    def override(self, raw: Any, where: str) -> Override:
        block = self.mapping(raw, where, _OVERRIDE_KEYS)
        match = self.labels(block.get("match"), f"{where}.match") if "match" in block else {}
        if not match:
            self.fail(f"{where}.match", "must be a non-empty mapping of node label to value")
        return Override(
            match=match,
            capacity=self.quantities(block.get("capacity", {}), f"{where}.capacity"),
            allocatable=self.quantities(block.get("allocatable", {}), f"{where}.allocatable"),
            labels=self.labels(block.get("labels", {}), f"{where}.labels"),
            taints=self.taints(block["taints"], f"{where}.taints") if "taints" in block else None,
            timing=self.timing(block.get("kubelet", {}), f"{where}.kubelet"),
        )
