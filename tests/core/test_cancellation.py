"""An item that swallows its cancellation cannot keep its batch running: workers check before every next item."""

import asyncio

import pytest

import pocketflow as pf

from .test_parallel import Batch, Boom, only_current_task_left


async def swallow(started, item):
    """An item that catches the CancelledError meant for it and returns normally."""
    started.append(item)
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        return "swallowed"


@pytest.mark.parametrize("bound", [1, 2, None])
async def test_cancelling_a_batch_whose_items_swallow_it_starts_no_more_items(bound):
    started = []
    shared = {"items": list(range(20)), "work": lambda node, item: swallow(started, item)}
    run = asyncio.create_task(Batch(max_concurrency=bound).run_async(shared))
    for _ in range(25):
        await asyncio.sleep(0)
    in_flight = len(started)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await run
    assert len(started) == in_flight <= (bound or 20)
    assert only_current_task_left()


@pytest.mark.parametrize("bound", [2, 4])
async def test_a_failing_sibling_stops_items_that_swallow_their_cancellation(bound):
    started = []

    async def work(node, item):
        if item == 1:
            started.append(item)
            await asyncio.sleep(0)
            raise Boom("item 1")
        return await swallow(started, item)

    async with asyncio.timeout(5):
        with pytest.raises(Boom):
            await Batch(max_concurrency=bound).run_async({"items": list(range(20)), "work": work})
    assert len(started) <= bound
    assert only_current_task_left()


async def test_cancelling_a_parallel_flow_whose_runs_swallow_it_starts_no_more_runs():
    started = []

    class Step(pf.AsyncNode):
        async def prep_async(self, shared):
            return await swallow(started, self.params["i"])

    class Runs(pf.AsyncParallelBatchFlow):
        async def prep_async(self, shared):
            return [{"i": i} for i in range(20)]

    run = asyncio.create_task(Runs(start=Step(), max_concurrency=2).run_async({}))
    for _ in range(10):
        await asyncio.sleep(0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await run
    assert len(started) == 2
