"""What a demo run measured, and what it prints at the end.

:class:`DemoRecord` holds the run's data (step times, rollout order, recreations, the operator's API
requests, its telemetry seam); :class:`GroupHistory` derives recreations and rollout order from the views
the narrator saw; :func:`report` is called once the run is over, with the record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lws.controller.context import Telemetry
from lws.demo.sample import Shape
from lws.demo.view import SetView


@dataclass(frozen=True)
class StepRecord:
    """One step of the demo."""

    number: int
    title: str
    started: float
    """Wall-clock start (``time.time()``), to line the step up with traces and logs."""
    seconds: float
    result: str


@dataclass
class GroupHistory:
    """Every group's leader incarnations, as successive views showed them.

    A new leader (a new uid) on the same revision is a *recreation* (the group was rebuilt after a
    failure); on another revision, an *update* (the rollout reached the group).
    """

    leaders: dict[int, tuple[str, str]] = field(default_factory=dict)
    recreated: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)

    def observe(self, view: SetView) -> None:
        """Take one more view into account."""
        for group in view.groups:
            leader = group.leader
            if leader is None:
                continue
            previous = self.leaders.get(group.index)
            if previous is not None and previous[0] != leader.uid:
                (self.recreated if previous[1] == leader.revision else self.updated).append(group.index)
            self.leaders[group.index] = (leader.uid, leader.revision)


@dataclass
class DemoRecord:
    """Everything a demo run measured; :func:`report` gets it at the end."""

    namespace: str
    name: str
    topology: str
    shape: Shape
    started: float
    """Wall-clock start of the run (``time.time()``)."""
    telemetry: Telemetry | None = None
    """The operator's telemetry seam, for reports built from what it collected."""
    steps: list[StepRecord] = field(default_factory=list)
    history: GroupHistory = field(default_factory=GroupHistory)
    partitions: list[int] = field(default_factory=list)
    """Every partition the leader StatefulSet went through during the rollout, in order."""
    rollout_order: list[int] = field(default_factory=list)
    operator_requests: int | None = None
    operator_writes: int | None = None
    total_seconds: float = 0.0

    def step(self, number: int) -> StepRecord | None:
        return next((s for s in self.steps if s.number == number), None)

    def note_partition(self, partition: int | None) -> None:
        """Remember a partition seen during the rollout (each value once, in order)."""
        if partition is not None and (not self.partitions or self.partitions[-1] != partition):
            self.partitions.append(partition)


def _seconds(step: StepRecord | None) -> str:
    return f"{step.seconds:.1f} s" if step is not None else "-"


def summary_lines(record: DemoRecord) -> list[str]:
    """The summary table, one line per figure (pure)."""
    shape = record.shape
    create, rollout, restart, scale = (record.step(n) for n in (1, 2, 3, 4))
    order = ", then ".join(f"group {i}" for i in record.rollout_order) or "-"
    partitions = " -> ".join(str(p) for p in record.partitions) or "-"
    recreated = sorted(set(record.history.recreated))
    rows = [
        ("time to Available", _seconds(create), f"{shape.replicas} groups of {shape.size} pods"),
        ("rollout", _seconds(rollout), f"{order}; partition {partitions}"),
        (
            "recovery after the worker restart",
            _seconds(restart),
            f"{len(record.history.recreated)} group recreation(s): "
            + (", ".join(f"group {i}" for i in recreated) or "none"),
        ),
        ("scale-up", _seconds(scale), f"{shape.replicas} -> {shape.scaled_replicas} groups"),
    ]
    if record.operator_requests is not None:
        rows.append(
            (
                "operator API requests",
                str(record.operator_requests),
                f"{record.operator_writes} of them writes",
            )
        )
    rows.append(("total", f"{record.total_seconds:.1f} s", f"topology {record.topology}"))
    width = max(len(r[0]) for r in rows)
    figures = max(len(r[1]) for r in rows)
    return [f"  {label.ljust(width)}  {value.rjust(figures)}  {detail}" for label, value, detail in rows]


def report(record: DemoRecord, say: Callable[[str], None]) -> None:
    """Print what the run measured; called once, after the last step.

    This is the place for every end-of-run report: the per-group timeline built from the spans the
    operator's telemetry collected (``record.telemetry``), and writing them out (``--trace-out``).
    """
    say("")
    say("Summary")
    for line in summary_lines(record):
        say(line)
