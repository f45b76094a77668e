"""The set reconciler's revision memo: computed once per spec and propagated annotations."""

from __future__ import annotations

import copy
from typing import Any

from lws.api.model import LeaderWorkerSet
from lws.controller.deps import RevisionMemo
from lws.core import desired
from lws.core.admission import admit
from lws.hooks.manager import make_hooks
from lws.plugin_testing import lws_manifest

HOOKS = make_hooks()


def stored(**changes: Any) -> dict[str, Any]:
    obj, errors = admit(lws_manifest("memo", replicas=2, size=2), None, HOOKS)
    assert not errors
    obj["metadata"].update(uid="u-1", generation=1, resourceVersion="10")
    obj["metadata"].update(changes)
    return obj


def test_the_same_spec_is_hashed_once_and_equals_a_fresh_computation() -> None:
    memo = RevisionMemo(HOOKS)
    first = memo.current(LeaderWorkerSet(stored()))
    # A status write moves resourceVersion, not generation: the memo answers.
    again = memo.current(LeaderWorkerSet(stored(resourceVersion="11")))
    assert again is first and memo.computed == 1
    assert first == desired.current_revision(LeaderWorkerSet(stored()), HOOKS)


def test_a_spec_change_or_a_propagated_annotation_gives_a_new_revision() -> None:
    memo = RevisionMemo(HOOKS)
    base = memo.current(LeaderWorkerSet(stored()))
    changed = stored(generation=2)
    changed["spec"]["leaderWorkerTemplate"]["size"] = 3
    assert memo.current(LeaderWorkerSet(changed)).key != base.key
    annotated = stored(annotations={"leaderworkerset.sigs.k8s.io/exclusive-topology": "example.com/rack"})
    assert memo.current(LeaderWorkerSet(annotated)).key != base.key
    # An annotation no plugin propagates is not part of the revision.
    unrelated = stored(annotations={"team": "search"})
    assert memo.current(LeaderWorkerSet(unrelated)) is base
    assert memo.computed == 3


def test_the_memo_keeps_only_the_most_recent_entries() -> None:
    memo = RevisionMemo(HOOKS, keep=2)
    objs = [stored(uid=f"u-{i}") for i in range(3)]
    for obj in objs:
        memo.current(LeaderWorkerSet(copy.deepcopy(obj)))
    memo.current(LeaderWorkerSet(objs[0]))
    assert memo.computed == 4, "the oldest entry was dropped and had to be computed again"
