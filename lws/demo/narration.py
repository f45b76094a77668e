"""Telling the demo as it happens: a live table on a terminal, lines of text everywhere else.

Both narrators take the same calls from the scenario: :meth:`begin` a step, :meth:`show` every fresh
view of the set, :meth:`note` a remark, :meth:`end` the step with its result, and :meth:`say` anything
else (the summary). :class:`PlainNarrator` prints each change as a sentence (readable in CI logs and
tests) and the table after each step; :class:`LiveNarrator` redraws a rich table in place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lws.api import constants as c
from lws.demo.columns import align
from lws.demo.view import SetView, changes

COLUMNS = ("GROUP", "STATE", "POD", "ROLE", "NODE", "STATUS", "RESTARTS", "REVISION")


class Narrator(Protocol):
    """What the scenario tells, whatever the display."""

    def begin(self, number: int, title: str, detail: str) -> None:
        """A step starts."""

    def show(self, view: SetView) -> None:
        """The set as just read (called after every change, and now and then without one)."""

    def note(self, text: str) -> None:
        """A remark inside the current step."""

    def end(self, result: str, view: SetView) -> None:
        """The step converged; ``result`` says how, ``view`` is the set at that moment."""

    def say(self, text: str) -> None:
        """A line outside the steps (introduction, summary)."""

    def close(self) -> None:
        """Stop drawing."""


def revision_label(revision: str, target: str) -> str:
    """A revision, marked ``(new)`` when it is the one the set is rolling to and others exist."""
    if not revision:
        return "-"
    return f"{revision} (new)" if target and revision == target else f"{revision} (old)"


def table_rows(view: SetView) -> list[tuple[str, ...]]:
    """One row per pod, the group's index and state on its first row only (pure)."""
    rows: list[tuple[str, ...]] = []
    live = {pod.revision for group in view.groups for pod in group.pods if not pod.deleting and pod.revision}
    mixed = len(live) > 1
    for group in view.groups:
        for number, pod in enumerate(group.pods):
            revision = revision_label(pod.revision, view.target) if mixed else pod.revision or "-"
            rows.append(
                (
                    str(group.index) if number == 0 else "",
                    group.state if number == 0 else "",
                    pod.name,
                    pod.role,
                    pod.node or "-",
                    pod.status,
                    str(pod.restarts),
                    revision,
                )
            )
    return rows


def set_line(view: SetView) -> str:
    """One line about the set: groups ready and updated, partition, Available."""
    if not view.exists:
        return f"LeaderWorkerSet {view.namespace}/{view.name}: not created yet"
    available = view.condition(c.CONDITION_AVAILABLE)
    partition = "-" if view.partition is None else str(view.partition)
    return (
        f"LeaderWorkerSet {view.namespace}/{view.name}: {view.ready_replicas}/{view.replicas} groups ready, "
        f"{view.updated_replicas} updated, partition {partition}, Available={available}"
    )


class PlainNarrator:
    """Line-by-line narration: every change as a sentence stamped with the step's clock."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self._echo = echo
        self._last: SetView | None = None
        self._started = time.monotonic()

    def begin(self, number: int, title: str, detail: str) -> None:
        self._started = time.monotonic()
        self._echo("")
        self._echo(f"== Step {number}: {title}")
        self._echo(f"   {detail}")

    def show(self, view: SetView) -> None:
        stamp = f"[{time.monotonic() - self._started:5.1f}s]"
        for line in changes(self._last, view):
            self._echo(f"  {stamp} {line}")
        self._last = view

    def note(self, text: str) -> None:
        self._echo(f"  {text}")

    def end(self, result: str, view: SetView) -> None:
        self._echo(f"  done: {result}")
        self._echo(f"  {set_line(view)}")
        for line in align([COLUMNS, *table_rows(view)], indent="    "):
            self._echo(line)

    def say(self, text: str) -> None:
        self._echo(text)

    def close(self) -> None:
        """Nothing to stop."""


class LiveNarrator:
    """A rich table of groups and pods redrawn in place, with the step and its clock above it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._view: SetView | None = None
        self._step = ""
        self._started = time.monotonic()
        self._ended: float | None = None
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=8, transient=False)
        self._live.start()

    def _render(self) -> RenderableType:
        with self._lock:
            view, step, started, ended = self._view, self._step, self._started, self._ended
        header = Text(f"{step}  ", style="bold")
        header.append(f"{(ended or time.monotonic()) - started:5.1f}s", style="dim")
        if view is None:
            return header
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in COLUMNS:
            # Names stay whole; on a narrow terminal the state and status columns wrap instead.
            table.add_column(column, no_wrap=column in ("GROUP", "POD", "NODE", "RESTARTS"))
        styles = {"Ready": "green", "Terminating": "red", "Unschedulable": "red"}
        for row in table_rows(view):
            state, status = row[1], row[5]
            table.add_row(
                *row[:1],
                Text(state, style=styles.get(state, "yellow" if state else "")),
                *row[2:5],
                Text(status, style=styles.get(status, "yellow")),
                *row[6:],
            )
        return Group(header, Text(set_line(view), style="cyan"), table)

    def begin(self, number: int, title: str, detail: str) -> None:
        with self._lock:
            self._step = f"Step {number}: {title}"
            self._started = time.monotonic()
            self._ended = None
        self.console.print()
        self.console.print(Text(f"Step {number}: {title}", style="bold"))
        self.console.print(Text(detail, style="dim"))

    def show(self, view: SetView) -> None:
        with self._lock:
            self._view = view

    def note(self, text: str) -> None:
        self.console.print(f"  {text}")

    def end(self, result: str, view: SetView) -> None:
        with self._lock:
            self._view = view
            self._ended = time.monotonic()
        self.console.print(Text(f"  done: {result}", style="green"))

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def close(self) -> None:
        self._live.stop()
