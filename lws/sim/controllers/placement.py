"""Where a pod may run: the default scheduler's filters and a deterministic score, as pure code.

The scheduler loop keeps a :class:`ClusterSnapshot` (nodes, the pods bound to them and namespace
labels) up to date from watches and asks :func:`find_node` for one pod at a time. Filters follow
kube-scheduler's default plugins in their order — NodeUnschedulable, NodeName, TaintToleration,
NodeAffinity, NodeResourcesFit, PodTopologySpread, InterPodAffinity — and a node that fails is
reported with the reason text Kubernetes uses, so ``0/8 nodes are available: ...`` reads the same.

Inter-pod affinity is counted per topology domain in one pass over the pods of the namespaces a
term can match (kube-scheduler's PreFilter), so a pod costs O(pods + nodes), not O(pods * nodes).
Existing pods' required anti-affinity is kept in a side index, because it must be checked
symmetrically against every incoming pod.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lws.k8s.quantity import QuantityError, milli_value
from lws.sim.selectors import (
    LabelSelector,
    Operator,
    SelectorError,
    label_selector_from_dict,
    make_requirement,
    node_selector_requirements,
)

PodKey = tuple[str, str]

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
FILTERING_EFFECTS = ("NoSchedule", "NoExecute")

# kube-scheduler's reason strings (framework plugins), so messages read as on a real cluster.
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_TOO_MANY_PODS = "Too many pods"
REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REASON_SPREAD = "node(s) didn't match pod topology spread constraints"
REASON_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"


class PodSpecError(ValueError):
    """A pod whose scheduling constraints cannot be parsed (bad selector, bad quantity)."""


# ---------------------------------------------------------------------------------------------------
# Pods and nodes as the scheduler sees them


@dataclass(frozen=True)
class AffinityTerm:
    """A pod (anti-)affinity term, resolved against the pod that declares it."""

    selector: LabelSelector
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None
    topology_key: str

    def matches(self, pod: PodInfo, namespace_labels: Mapping[str, Mapping[str, str]]) -> bool:
        """Whether ``pod`` is one the term selects (namespace and labels)."""
        if pod.namespace not in self.namespaces and not (
            self.namespace_selector is not None
            and self.namespace_selector.matches(namespace_labels.get(pod.namespace, {}))
        ):
            return False
        return self.selector.matches(pod.labels)


@dataclass(frozen=True)
class WeightedTerm:
    """A preferred (anti-)affinity term and its weight."""

    weight: int
    term: AffinityTerm


@dataclass(frozen=True)
class SpreadConstraint:
    """A ``whenUnsatisfiable: DoNotSchedule`` topology spread constraint."""

    max_skew: int
    topology_key: str
    selector: LabelSelector
    min_domains: int


@dataclass(frozen=True)
class NodeSelectorTerm:
    """One required node-affinity term: label requirements plus ``metadata.name`` field requirements."""

    labels: LabelSelector
    names_in: frozenset[str] | None
    names_not_in: frozenset[str]
    empty: bool

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether a node with this name and labels satisfies the term (an empty term matches none)."""
        if self.empty:
            return False
        if self.names_in is not None and name not in self.names_in:
            return False
        return name not in self.names_not_in and self.labels.matches(labels)


@dataclass
class PodInfo:
    """What the scheduler needs of a pod, parsed once."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    node_name: str
    requests: Mapping[str, int]
    node_selector: Mapping[str, str] = field(default_factory=dict)
    node_affinity: tuple[NodeSelectorTerm, ...] | None = None
    preferred_node_affinity: tuple[tuple[int, NodeSelectorTerm], ...] = ()
    tolerations: tuple[Mapping[str, Any], ...] = ()
    affinity: tuple[AffinityTerm, ...] = ()
    anti_affinity: tuple[AffinityTerm, ...] = ()
    preferred_affinity: tuple[WeightedTerm, ...] = ()
    preferred_anti_affinity: tuple[WeightedTerm, ...] = ()
    spread: tuple[SpreadConstraint, ...] = ()
    terminating: bool = False
    nonzero: Mapping[str, int] = field(default_factory=dict)
    """cpu and memory with kube-scheduler's defaults for containers that request none (for scoring)."""

    @property
    def key(self) -> PodKey:
        """``(namespace, name)``."""
        return (self.namespace, self.name)


@dataclass
class NodeInfo:
    """A node, its allocatable resources and what its pods already request."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, Any], ...]
    allocatable: Mapping[str, int]
    unschedulable: bool
    requested: Counter[str] = field(default_factory=Counter)
    nonzero_requested: Counter[str] = field(default_factory=Counter)
    pods: set[PodKey] = field(default_factory=set)


def pod_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """Requests in thousandths: max(each init container, sum of containers); limits stand in for requests."""

    def container_requests(container: Mapping[str, Any]) -> Counter[str]:
        resources = container.get("resources") or {}
        merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        try:
            return Counter({name: milli_value(value) for name, value in merged.items()})
        except QuantityError as exc:
            raise PodSpecError(f"container {container.get('name')!r}: {exc}") from exc

    total: Counter[str] = Counter()
    for container in spec.get("containers") or []:
        total.update(container_requests(container))
    for container in spec.get("initContainers") or []:
        for name, value in container_requests(container).items():
            total[name] = max(total[name], value)
    return dict(total)


# kube-scheduler scores a container without requests as if it asked for 100m CPU and 200Mi memory,
# so pods without requests still spread across nodes.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY_MILLI = 200 * 2**20 * 1000


def nonzero_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """Summed cpu and memory requests with the scoring defaults for unset ones (thousandths)."""
    cpu = memory = 0
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        requests = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        try:
            cpu += milli_value(requests["cpu"]) if "cpu" in requests else DEFAULT_MILLI_CPU
            memory += milli_value(requests["memory"]) if "memory" in requests else DEFAULT_MEMORY_MILLI
        except QuantityError as exc:
            raise PodSpecError(f"container {container.get('name')!r}: {exc}") from exc
    return {"cpu": cpu, "memory": memory}


def node_info(node: Mapping[str, Any]) -> NodeInfo:
    """Parse a Node object. A NotReady node gets the taint the node lifecycle controller would add."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    taints = [dict(t) for t in spec.get("taints") or []]
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    ready_status = ready.get("status") if ready else "Unknown"
    implicit = None
    if ready_status == "False":
        implicit = NOT_READY_TAINT
    elif ready_status != "True":
        implicit = UNREACHABLE_TAINT
    if implicit and not any(t.get("key") == implicit and t.get("effect") == "NoSchedule" for t in taints):
        taints.append({"key": implicit, "effect": "NoSchedule"})
    allocatable = {}
    for name, value in (status.get("allocatable") or status.get("capacity") or {}).items():
        try:
            allocatable[name] = milli_value(value)
        except QuantityError:
            allocatable[name] = 0
    return NodeInfo(
        name=str(meta.get("name", "")),
        labels=dict(meta.get("labels") or {}),
        taints=tuple(taints),
        allocatable=allocatable,
        unschedulable=bool(spec.get("unschedulable")),
    )


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    """Parse a Pod object; raises :class:`PodSpecError` when a selector or quantity is malformed."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    labels: Mapping[str, str] = meta.get("labels") or {}
    namespace = str(meta.get("namespace", "default"))
    affinity = spec.get("affinity") or {}
    try:
        node_aff = affinity.get("nodeAffinity") or {}
        required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution")
        node_terms = (
            tuple(_node_term(t) for t in required.get("nodeSelectorTerms") or [])
            if required is not None
            else None
        )
        preferred_nodes = tuple(
            (int(p.get("weight", 0)), _node_term(p.get("preference") or {}))
            for p in node_aff.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        )
        pod_aff = affinity.get("podAffinity") or {}
        anti = affinity.get("podAntiAffinity") or {}
        info = PodInfo(
            namespace=namespace,
            name=str(meta.get("name", "")),
            labels=labels,
            node_name=str(spec.get("nodeName") or ""),
            requests=pod_requests(spec),
            nonzero=nonzero_requests(spec),
            node_selector=dict(spec.get("nodeSelector") or {}),
            node_affinity=node_terms,
            preferred_node_affinity=preferred_nodes,
            tolerations=tuple(spec.get("tolerations") or []),
            affinity=_terms(pod_aff.get("requiredDuringSchedulingIgnoredDuringExecution"), namespace, labels),
            anti_affinity=_terms(
                anti.get("requiredDuringSchedulingIgnoredDuringExecution"), namespace, labels
            ),
            preferred_affinity=_weighted(
                pod_aff.get("preferredDuringSchedulingIgnoredDuringExecution"), namespace, labels
            ),
            preferred_anti_affinity=_weighted(
                anti.get("preferredDuringSchedulingIgnoredDuringExecution"), namespace, labels
            ),
            spread=_spread(spec.get("topologySpreadConstraints"), labels),
            terminating=bool(meta.get("deletionTimestamp")),
        )
    except SelectorError as exc:
        raise PodSpecError(f"pod {namespace}/{meta.get('name')}: {exc}") from exc
    return info


def _node_term(term: Mapping[str, Any]) -> NodeSelectorTerm:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    names_in: set[str] | None = None
    names_not_in: set[str] = set()
    for expr in fields:
        if expr.get("key") != "metadata.name":
            raise SelectorError(f"not a valid field selector key: {expr.get('key')}")
        values = set(expr.get("values") or [])
        if expr.get("operator") == "In":
            names_in = values if names_in is None else names_in & values
        elif expr.get("operator") == "NotIn":
            names_not_in |= values
        else:
            raise SelectorError(
                f"unexpected field selector operator for metadata.name: {expr.get('operator')}"
            )
    return NodeSelectorTerm(
        labels=node_selector_requirements(exprs),
        names_in=frozenset(names_in) if names_in is not None else None,
        names_not_in=frozenset(names_not_in),
        empty=not exprs and not fields,
    )


def _selector_with_keys(
    raw: Mapping[str, Any] | None,
    labels: Mapping[str, str],
    match_keys: Iterable[str],
    mismatch_keys: Iterable[str],
) -> LabelSelector:
    # matchLabelKeys/mismatchLabelKeys take their values from the declaring pod (KEP-3633); a key the pod
    # lacks is ignored, as kube-apiserver does when it merges them into the selector.
    selector = label_selector_from_dict(raw)
    if raw is None:
        return selector
    extra = [make_requirement(key, Operator.IN, [labels[key]]) for key in match_keys if key in labels]
    extra += [make_requirement(key, Operator.NOT_IN, [labels[key]]) for key in mismatch_keys if key in labels]
    if not extra:
        return selector
    return LabelSelector((*selector.requirements, *extra))


def _term(raw: Mapping[str, Any], namespace: str, labels: Mapping[str, str]) -> AffinityTerm:
    selector = _selector_with_keys(
        raw.get("labelSelector"), labels, raw.get("matchLabelKeys") or [], raw.get("mismatchLabelKeys") or []
    )
    namespaces = frozenset(raw.get("namespaces") or [])
    ns_selector_raw = raw.get("namespaceSelector")
    ns_selector = label_selector_from_dict(ns_selector_raw) if ns_selector_raw is not None else None
    if not namespaces and ns_selector is None:
        namespaces = frozenset({namespace})
    return AffinityTerm(
        selector=selector,
        namespaces=namespaces,
        namespace_selector=ns_selector,
        topology_key=str(raw.get("topologyKey", "")),
    )


def _terms(
    raw: Sequence[Mapping[str, Any]] | None, namespace: str, labels: Mapping[str, str]
) -> tuple[AffinityTerm, ...]:
    return tuple(_term(t, namespace, labels) for t in raw or [])


def _weighted(
    raw: Sequence[Mapping[str, Any]] | None, namespace: str, labels: Mapping[str, str]
) -> tuple[WeightedTerm, ...]:
    return tuple(
        WeightedTerm(int(t.get("weight", 0)), _term(t.get("podAffinityTerm") or {}, namespace, labels))
        for t in raw or []
    )


def _spread(
    raw: Sequence[Mapping[str, Any]] | None, labels: Mapping[str, str]
) -> tuple[SpreadConstraint, ...]:
    constraints = []
    for c in raw or []:
        if c.get("whenUnsatisfiable", "DoNotSchedule") != "DoNotSchedule":
            continue
        constraints.append(
            SpreadConstraint(
                max_skew=int(c.get("maxSkew", 1)),
                topology_key=str(c.get("topologyKey", "")),
                selector=_selector_with_keys(
                    c.get("labelSelector"), labels, c.get("matchLabelKeys") or [], []
                ),
                min_domains=int(c.get("minDomains") or 1),
            )
        )
    return tuple(constraints)


# ---------------------------------------------------------------------------------------------------
# The snapshot


class ClusterSnapshot:
    """Nodes, the non-terminal pods bound to them, and namespace labels: the scheduler's view."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.pods: dict[PodKey, PodInfo] = {}
        self.namespace_labels: dict[str, Mapping[str, str]] = {}
        self._by_namespace: dict[str, dict[PodKey, PodInfo]] = {}
        self._with_anti_affinity: dict[PodKey, PodInfo] = {}
        self._sorted_nodes: list[NodeInfo] | None = None

    def sorted_nodes(self) -> list[NodeInfo]:
        """Nodes in name order (cached until a node changes)."""
        if self._sorted_nodes is None:
            self._sorted_nodes = sorted(self.nodes.values(), key=lambda n: n.name)
        return self._sorted_nodes

    def set_node(self, node: Mapping[str, Any]) -> None:
        """Add or replace a node, keeping what its pods request."""
        info = node_info(node)
        old = self.nodes.get(info.name)
        if old is not None:
            info.requested = old.requested
            info.nonzero_requested = old.nonzero_requested
            info.pods = old.pods
        self.nodes[info.name] = info
        self._sorted_nodes = None

    def remove_node(self, name: str) -> None:
        """Forget a node (its pods stay until they are removed, as orphans on no node)."""
        self.nodes.pop(name, None)
        self._sorted_nodes = None

    def set_namespace(self, name: str, labels: Mapping[str, str]) -> None:
        """Record a namespace's labels, for terms with a namespaceSelector."""
        self.namespace_labels[name] = dict(labels)

    def add_pod(self, info: PodInfo) -> None:
        """Account for a pod bound to ``info.node_name`` (replacing an older version of it)."""
        self.remove_pod(info.key)
        self.pods[info.key] = info
        self._by_namespace.setdefault(info.namespace, {})[info.key] = info
        if info.anti_affinity:
            self._with_anti_affinity[info.key] = info
        node = self.nodes.get(info.node_name)
        if node is not None:
            node.requested.update(info.requests)
            node.nonzero_requested.update(info.nonzero)
            node.pods.add(info.key)

    def remove_pod(self, key: PodKey) -> None:
        """Release what a pod held."""
        info = self.pods.pop(key, None)
        if info is None:
            return
        self._by_namespace.get(info.namespace, {}).pop(key, None)
        self._with_anti_affinity.pop(key, None)
        node = self.nodes.get(info.node_name)
        if node is not None:
            node.requested.subtract(info.requests)
            node.nonzero_requested.subtract(info.nonzero)
            node.pods.discard(key)

    def pods_for(self, term: AffinityTerm) -> Iterable[PodInfo]:
        """The pods in the namespaces a term can select (labels are checked by the caller)."""
        if term.namespace_selector is None:
            for namespace in term.namespaces:
                yield from self._by_namespace.get(namespace, {}).values()
            return
        for namespace, pods in self._by_namespace.items():
            if namespace in term.namespaces or term.namespace_selector.matches(
                self.namespace_labels.get(namespace, {})
            ):
                yield from pods.values()

    def pods_in(self, namespace: str) -> Iterable[PodInfo]:
        """The bound pods of one namespace."""
        return self._by_namespace.get(namespace, {}).values()

    def with_anti_affinity(self) -> Iterable[PodInfo]:
        """Bound pods that declare required anti-affinity."""
        return self._with_anti_affinity.values()

    def domain_counts(self, term: AffinityTerm) -> Counter[str]:
        """How many pods the term selects in each value of its topology key."""
        counts: Counter[str] = Counter()
        for other in self.pods_for(term):
            node = self.nodes.get(other.node_name)
            value = node.labels.get(term.topology_key) if node else None
            if value is not None and term.matches(other, self.namespace_labels):
                counts[value] += 1
        return counts


# ---------------------------------------------------------------------------------------------------
# Filtering and scoring


@dataclass(frozen=True)
class Placement:
    """The decision for one pod: a node, or why every node was rejected."""

    node: str | None
    reasons: Mapping[str, int]
    total_nodes: int

    @property
    def message(self) -> str:
        """``0/8 nodes are available: 4 Insufficient nvidia.com/gpu, 4 node(s) ....`` as kube-scheduler."""
        if self.node is not None:
            return ""
        reasons = sorted(f"{count} {reason}" for reason, count in self.reasons.items())
        suffix = f": {', '.join(reasons)}." if reasons else "."
        return f"0/{self.total_nodes} nodes are available{suffix}"


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Whether any toleration tolerates the taint (``ToleratesTaint`` semantics)."""
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = toleration.get("key") or ""
        operator = toleration.get("operator") or "Equal"
        if operator == "Exists":
            if not key or key == taint.get("key"):
                return True
            continue
        if key == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _untolerated_taint(pod: PodInfo, node: NodeInfo) -> Mapping[str, Any] | None:
    for taint in node.taints:
        if taint.get("effect") in FILTERING_EFFECTS and not tolerates(pod.tolerations, taint):
            return taint
    return None


def _matches_node_affinity(pod: PodInfo, node: NodeInfo) -> bool:
    if any(node.labels.get(key) != value for key, value in pod.node_selector.items()):
        return False
    if pod.node_affinity is None:
        return True
    return any(term.matches(node.name, node.labels) for term in pod.node_affinity)


def _insufficient(pod: PodInfo, node: NodeInfo) -> list[str]:
    reasons = []
    if len(node.pods) + 1 > node.allocatable.get("pods", 110_000) // 1000:
        reasons.append(REASON_TOO_MANY_PODS)
    for resource, amount in pod.requests.items():
        if amount <= 0:
            continue
        if node.requested.get(resource, 0) + amount > node.allocatable.get(resource, 0):
            reasons.append(f"Insufficient {resource}")
    return reasons


@dataclass
class _AffinityCounts:
    """Per (topologyKey, value) counts computed once per pod (kube-scheduler's PreFilter state)."""

    affinity: Counter[tuple[str, str]]
    anti_affinity: Counter[tuple[str, str]]
    existing_anti: dict[str, Counter[str]]
    """Topology key → value → existing pods whose anti-affinity rejects the incoming pod there."""
    self_match_all: bool


def _affinity_counts(pod: PodInfo, snapshot: ClusterSnapshot) -> _AffinityCounts:
    ns_labels = snapshot.namespace_labels
    affinity: Counter[tuple[str, str]] = Counter()
    if pod.affinity:
        # An existing pod counts only if it matches every required affinity term.
        candidates: dict[PodKey, PodInfo] = {}
        for term in pod.affinity:
            for other in snapshot.pods_for(term):
                candidates[other.key] = other
        for other in candidates.values():
            if other.key == pod.key or not all(t.matches(other, ns_labels) for t in pod.affinity):
                continue
            node = snapshot.nodes.get(other.node_name)
            if node is None:
                continue
            for term in pod.affinity:
                value = node.labels.get(term.topology_key)
                if value is not None:
                    affinity[(term.topology_key, value)] += 1
    anti: Counter[tuple[str, str]] = Counter()
    for term in pod.anti_affinity:
        for other in snapshot.pods_for(term):
            if other.key == pod.key or not term.matches(other, ns_labels):
                continue
            node = snapshot.nodes.get(other.node_name)
            value = node.labels.get(term.topology_key) if node else None
            if value is not None:
                anti[(term.topology_key, value)] += 1
    existing: dict[str, Counter[str]] = {}
    for other in snapshot.with_anti_affinity():
        if other.key == pod.key:
            continue
        node = snapshot.nodes.get(other.node_name)
        if node is None:
            continue
        for term in other.anti_affinity:
            value = node.labels.get(term.topology_key)
            if value is not None and term.matches(pod, ns_labels):
                existing.setdefault(term.topology_key, Counter())[value] += 1
    self_match = all(t.matches(pod, ns_labels) for t in pod.affinity)
    return _AffinityCounts(affinity, anti, existing, self_match)


def _interpod_reason(pod: PodInfo, node: NodeInfo, counts: _AffinityCounts) -> str | None:
    # Same order as kube-scheduler's InterPodAffinity.Filter: own affinity, own anti-affinity, existing pods'.
    if pod.affinity:
        pods_exist = True
        for term in pod.affinity:
            domain = node.labels.get(term.topology_key)
            if domain is None:
                return REASON_AFFINITY
            if counts.affinity[(term.topology_key, domain)] <= 0:
                pods_exist = False
        # The first pod of a group with affinity to itself may go anywhere (kube-scheduler's special case).
        if not pods_exist and not (not counts.affinity and counts.self_match_all):
            return REASON_AFFINITY
    for term in pod.anti_affinity:
        domain = node.labels.get(term.topology_key)
        if domain is not None and counts.anti_affinity[(term.topology_key, domain)] > 0:
            return REASON_ANTI_AFFINITY
    for key, values in counts.existing_anti.items():
        if values.get(node.labels.get(key, "\0"), 0) > 0:
            return REASON_EXISTING_ANTI_AFFINITY
    return None


@dataclass
class _SpreadCounts:
    counts: list[Counter[str]]
    minimum: list[int]
    self_match: list[bool]


def _spread_counts(pod: PodInfo, snapshot: ClusterSnapshot, eligible: Sequence[NodeInfo]) -> _SpreadCounts:
    keys = [c.topology_key for c in pod.spread]
    domain_nodes = [n for n in eligible if all(k in n.labels for k in keys)]
    node_names = {n.name for n in domain_nodes}
    counts: list[Counter[str]] = []
    minimum: list[int] = []
    for constraint in pod.spread:
        counter: Counter[str] = Counter({n.labels[constraint.topology_key]: 0 for n in domain_nodes})
        for other in snapshot.pods_in(pod.namespace):
            if other.terminating or other.node_name not in node_names or other.key == pod.key:
                continue
            if constraint.selector.matches(other.labels):
                counter[snapshot.nodes[other.node_name].labels[constraint.topology_key]] += 1
        counts.append(counter)
        low = min(counter.values()) if counter else 0
        minimum.append(0 if len(counter) < constraint.min_domains else low)
    return _SpreadCounts(counts, minimum, [c.selector.matches(pod.labels) for c in pod.spread])


def _spread_reason(pod: PodInfo, node: NodeInfo, spread: _SpreadCounts) -> str | None:
    for i, constraint in enumerate(pod.spread):
        value = node.labels.get(constraint.topology_key)
        if value is None:
            return REASON_SPREAD_LABEL
        skew = spread.counts[i][value] + (1 if spread.self_match[i] else 0) - spread.minimum[i]
        if skew > constraint.max_skew:
            return REASON_SPREAD
    return None


def _score(
    pod: PodInfo, node: NodeInfo, preferred: Sequence[tuple[int, str, Counter[str]]], extended: Sequence[str]
) -> tuple[int, int, int]:
    preferred_nodes = 0
    for weight, term in pod.preferred_node_affinity:
        if term.matches(node.name, node.labels):
            preferred_nodes += weight
    interpod = 0
    for weight, key, per_domain in preferred:
        value = node.labels.get(key)
        if value is not None:
            interpod += weight * per_domain[value]
    # LeastAllocated over cpu and memory (with scoring defaults) and any extended resource the pod
    # asks for: the emptiest node wins, which spreads load.
    free = 0
    for resource in ("cpu", "memory"):
        capacity = node.allocatable.get(resource, 0)
        if capacity > 0:
            used = node.nonzero_requested[resource] + pod.nonzero.get(resource, 0)
            free += max(0, (capacity - used) * 100 // capacity)
    for resource in extended:
        capacity = node.allocatable.get(resource, 0)
        if capacity > 0:
            used = node.requested[resource] + pod.requests[resource]
            free += max(0, (capacity - used) * 100 // capacity)
    return (preferred_nodes, interpod, free // (2 + len(extended)))


def find_node(pod: PodInfo, snapshot: ClusterSnapshot) -> Placement:
    """Run the filters over every node and pick the best-scoring feasible one (ties: node name)."""
    reasons: Counter[str] = Counter()
    nodes = snapshot.sorted_nodes()
    needs_counts = pod.affinity or pod.anti_affinity or any(True for _ in snapshot.with_anti_affinity())
    counts = _affinity_counts(pod, snapshot) if needs_counts else None
    spread = None
    if pod.spread:
        # Domains for spreading come from nodes that pass the pod's node affinity (nodeAffinityPolicy: Honor).
        spread = _spread_counts(pod, snapshot, [n for n in nodes if _matches_node_affinity(pod, n)])
    feasible: list[NodeInfo] = []
    for node in nodes:
        reason = _filter(pod, node, counts, spread)
        if reason:
            reasons.update(reason)
        else:
            feasible.append(node)
    if not feasible:
        return Placement(None, dict(reasons), len(nodes))
    preferred = [
        (w.weight, w.term.topology_key, snapshot.domain_counts(w.term)) for w in pod.preferred_affinity
    ]
    preferred += [
        (-w.weight, w.term.topology_key, snapshot.domain_counts(w.term)) for w in pod.preferred_anti_affinity
    ]
    # max() keeps the first of equal scores, and nodes are in name order: ties go to the first name.
    extended = [r for r in pod.requests if r not in ("cpu", "memory")]
    best = max(feasible, key=lambda n: _score(pod, n, preferred, extended))
    return Placement(best.name, {}, len(nodes))


def _filter(
    pod: PodInfo, node: NodeInfo, counts: _AffinityCounts | None, spread: _SpreadCounts | None
) -> list[str]:
    if node.unschedulable and not tolerates(
        pod.tolerations, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
    ):
        return [REASON_UNSCHEDULABLE]
    taint = _untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"]
    if not _matches_node_affinity(pod, node):
        return [REASON_NODE_AFFINITY]
    insufficient = _insufficient(pod, node)
    if insufficient:
        return insufficient
    if spread is not None:
        reason = _spread_reason(pod, node, spread)
        if reason:
            return [reason]
    if counts is not None:
        reason = _interpod_reason(pod, node, counts)
        if reason:
            return [reason]
    return []
