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
