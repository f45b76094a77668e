"""A compact per-group timeline, read from finished spans: what happened to each group, when, for how long,
and which plugin decided what. ``lws demo`` prints it at the end of a run::

    group team-a/vllm/1
      recreate group  1.84s  ready  (RecreateGroupOnPodRestart: worker vllm-1-2 restarted)
        +0.000  restart detected: recreate by restart_policies (container-restart)
        +0.003  reconcile group: recreate group
        +0.912  mutate Pod vllm-1
        +0.931  reconcile group: create worker StatefulSet
        +1.840  group ready

Only lifecycle spans (``create group``, ``recreate group``...) and what happened inside them are shown; a
reconcile that found nothing to do is left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from lws.observability import attributes as a
from lws.observability.lifecycle import SPAN_NAMES

_LIFECYCLE_NAMES = frozenset(SPAN_NAMES.values())
_ADMIT = "admit pod "


@dataclass(frozen=True)
class _Line:
    at: int
    text: str


def render_timeline(spans: Iterable[ReadableSpan], *, max_groups: int | None = None) -> str:
    """The groups' lifecycles in ``spans``, one block per group (sorted by namespace, set, index).

    :param max_groups: show at most this many groups, and say how many were left out.
    """
    spans = list(spans)
    lifecycles = [s for s in spans if s.name in _LIFECYCLE_NAMES and s.start_time is not None]
    if not lifecycles:
        return "no group lifecycle was traced"
    children = _children(spans)
    by_group: dict[tuple[str, str, int], list[ReadableSpan]] = defaultdict(list)
    for span in lifecycles:
        attrs = span.attributes or {}
        key = (
            str(attrs.get(a.K8S_NAMESPACE_NAME, "")),
            str(attrs.get(a.LWS_NAME, "")),
            int(str(attrs.get(a.GROUP_INDEX, -1))),
        )
        by_group[key].append(span)
    blocks: list[str] = []
    groups = sorted(by_group)
    shown = groups if max_groups is None else groups[:max_groups]
    for namespace, name, index in shown:
        lines = [f"group {namespace}/{name}/{index}"]
        for lifecycle in sorted(by_group[(namespace, name, index)], key=lambda s: s.start_time or 0):
            lines.extend(_lifecycle_block(lifecycle, children))
        blocks.append("\n".join(lines))
    if len(shown) < len(groups):
        blocks.append(f"... and {len(groups) - len(shown)} more groups")
    return "\n".join(blocks)


def _children(spans: Sequence[ReadableSpan]) -> Mapping[int, list[ReadableSpan]]:
    found: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        if span.parent is not None:
            found[span.parent.span_id].append(span)
    return found


def _lifecycle_block(lifecycle: ReadableSpan, children: Mapping[int, list[ReadableSpan]]) -> list[str]:
    attrs = lifecycle.attributes or {}
    start = lifecycle.start_time or 0
    duration = ((lifecycle.end_time or start) - start) / 1e9
    outcome = attrs.get(a.LIFECYCLE_OUTCOME, "open")
    reason = attrs.get(a.LIFECYCLE_REASON, "")
    head = f"  {lifecycle.name}  {duration:.2f}s  {outcome}" + (f"  ({reason})" if reason else "")
    lines = [
        _Line(event.timestamp, _event_text(event.name, event.attributes or {})) for event in lifecycle.events
    ]
    for child in children.get(lifecycle.context.span_id, []):
        lines.extend(_child_lines(child, children))
    lines = _merge_admissions(sorted((line for line in lines if line.text), key=lambda line: line.at))
    return [head] + [f"  | +{(line.at - start) / 1e9:.3f}  {line.text}" for line in lines]


def _merge_admissions(lines: list[_Line]) -> list[_Line]:
    """Consecutive pod admissions on one line: ``admit pods web-1, web-1-1``."""
    out: list[_Line] = []
    pods: list[str] = []  # the admissions gathered on out[-1], if it is an admission line
    for line in lines:
        if not line.text.startswith(_ADMIT):
            pods = []
            out.append(line)
            continue
        pod = line.text[len(_ADMIT) :]
        if pods:
            pods.append(pod)
            # A pod admitted more than once (recreated before its StatefulSet went away) is shown once.
            counts = Counter(pods)
            names = [
                f"{name} (x{counts[name]})" if counts[name] > 1 else name for name in dict.fromkeys(pods)
            ]
            out[-1] = _Line(out[-1].at, f"admit {'pods' if len(names) > 1 else 'pod'} {', '.join(names)}")
        else:
            pods = [pod]
            out.append(line)
    return out


def _child_lines(span: ReadableSpan, children: Mapping[int, list[ReadableSpan]]) -> list[_Line]:
    attrs = span.attributes or {}
    at = span.start_time or 0
    done = span.end_time or at  # a reconcile's decision is taken by the time it ends
    out: list[_Line] = []
    if span.name == "reconcile group":
        for event in span.events:
            if event.name == "restart detected":
                details = event.attributes or {}
                out.append(
                    _Line(
                        event.timestamp,
                        f"restart of {details.get(a.K8S_POD_NAME, '?')} detected: "
                        f"{details.get(a.RESTART_DECISION, '?')} by {details.get(a.RESTART_PLUGIN, '?')}",
                    )
                )
        decision = attrs.get(a.DECISION, "none")
        if decision != "none":
            text = f"reconcile group: {decision}"
            gate = attrs.get(a.STARTUP_GATE)
            if decision == "hold workers" and gate:
                text += f" ({gate})"
            for policy in children.get(span.context.span_id, []):
                if policy.name.startswith("call policy"):
                    policy_attrs = policy.attributes or {}
                    text += (
                        f" [{policy_attrs.get(a.HOOK_NAME)} {policy_attrs.get(a.POLICY_VALUE)}: "
                        f"{policy_attrs.get(a.PLUGIN_NAME)}]"
                    )
            out.append(_Line(done, text))
        if attrs.get(a.RECONCILE_RESULT) == "error":
            out.append(_Line(done, f"reconcile group failed: {attrs.get(a.ERROR_TYPE, 'error')}"))
    elif span.name.startswith(("mutate ", "validate ")):
        if span.name == "mutate Pod":
            out.append(_Line(at, f"admit pod {attrs.get(a.K8S_POD_NAME, '?')}"))
    else:
        out.append(_Line(at, span.name))
    return out


def _event_text(name: str, attrs: Mapping[str, Any]) -> str:
    gate = attrs.get(a.STARTUP_GATE)
    return f"{name}: {gate}" if gate else name
