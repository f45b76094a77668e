"""The work queue keeps controller-runtime's promises: one entry per key, one worker per key, backoff."""

from __future__ import annotations

import asyncio

import pytest

from lws.controller.queue import ShutDown, WorkQueue


async def test_a_key_added_many_times_is_queued_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert [await queue.get(), await queue.get()] == ["a", "b"]


async def test_a_key_added_while_processing_runs_again_after_and_never_twice_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0, "not handed to a second worker while the first still has it"
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "a"


async def test_failures_back_off_exponentially_up_to_the_cap_and_forget_resets() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=0.005, max_delay=0.04)
    delays = [queue.add_rate_limited("a") for _ in range(6)]
    assert delays == [0.005, 0.01, 0.02, 0.04, 0.04, 0.04]
    queue.forget("a")
    assert queue.add_rate_limited("a") == 0.005


async def test_delayed_add_fires_once_at_the_earliest_requested_time() -> None:
    queue: WorkQueue[str] = WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    queue.add_after("a", 60.0)
    queue.add_after("a", 0.01)
    queue.add_after("a", 30.0)
    assert not queue.idle() and not queue.busy()
    assert await asyncio.wait_for(queue.get(), 5) == "a"
    assert loop.time() - start < 30, "the earliest request won"
    queue.done("a")
    assert queue.idle()


async def test_shut_down_wakes_waiting_workers() -> None:
    queue: WorkQueue[str] = WorkQueue()
    started = asyncio.Event()

    async def worker() -> str:
        started.set()
        return await queue.get()  # runs on, in the same step, until it blocks waiting for work

    waiting = asyncio.create_task(worker())
    await started.wait()
    queue.shut_down()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(waiting, 5)
    queue.add("late")
    assert len(queue) == 0


async def test_a_spaced_key_runs_at_most_once_per_interval_and_changes_meanwhile_make_one_run() -> None:
    loop = asyncio.get_running_loop()
    queue: WorkQueue[str] = WorkQueue(spacing=lambda key: 0.3 if key.startswith("set") else 0.0)
    queue.add("set-a")
    first = loop.time()
    assert await queue.get() == "set-a"
    queue.done("set-a")
    for _ in range(5):
        queue.add("set-a")  # five changes of its groups, just after it ran
    queue.add("group-1")
    assert await asyncio.wait_for(queue.get(), 1) == "group-1", "other keys are not held back"
    queue.done("group-1")
    assert queue.busy() and not queue.idle(), "a key waiting for its interval is pending work"
    assert await asyncio.wait_for(queue.get(), 2) == "set-a"
    assert loop.time() - first >= 0.3 - 0.01
    queue.done("set-a")
    assert len(queue) == 0 and not queue.busy(), "the five changes made one run"


async def test_a_reconcile_that_stopped_to_read_again_goes_on_at_once_whatever_its_spacing() -> None:
    loop = asyncio.get_running_loop()
    queue: WorkQueue[str] = WorkQueue(spacing=lambda _key: 60.0)
    queue.add("set-a")
    assert await queue.get() == "set-a"
    queue.add("set-a", spaced=False)  # while it runs: right after it
    queue.done("set-a")
    started = loop.time()
    assert await asyncio.wait_for(queue.get(), 1) == "set-a"
    queue.done("set-a")
    queue.add("set-a")  # spaced: waits its minute...
    assert len(queue) == 0 and queue.busy()
    queue.add("set-a", spaced=False)  # ...unless asked to go on at once
    assert await asyncio.wait_for(queue.get(), 1) == "set-a"
    assert loop.time() - started < 5
    queue.done("set-a")
    queue.add("set-a")
    assert queue.busy()
    queue.shut_down()
    assert not queue.busy(), "shutting down drops the keys waiting for their interval"
