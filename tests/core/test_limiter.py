"""A shared Limiter is never exceeded, however batches nest or tasks escape, and never deadlocks its holders."""

import asyncio

import pytest

import pocketflow as pf

from .test_parallel import InFlight


class Leaf(pf.AsyncParallelBatchNode):
    """params["n"] items, each held a few turns while shared["gauge"] counts leaf items in flight."""

    async def prep_async(self, shared):
        self.gauge = shared["gauge"]
        return range(self.params.get("n", 4))

    async def exec_async(self, item):
        await self.gauge.hold(turns=4)
        return item


class Runs(pf.AsyncParallelBatchFlow):
    async def prep_async(self, shared):
        return [{"n": 3} for _ in range(self.params.get("runs", 4))]


async def test_a_batch_between_two_limited_ones_does_not_multiply_the_borrowed_slot():
    for capacity in (1, 2):
        limiter, gauge = pf.Limiter(capacity), InFlight()
        middle = Runs(start=Leaf(limiter=limiter))  # no limiter here: its runs all inherit the outer item's slot
        outer = Runs(start=middle, limiter=limiter)
        async with asyncio.timeout(10):
            await outer.run_async({"gauge": gauge})
        assert gauge.peak == capacity
        assert (limiter.in_flight, limiter.waiting) == (0, 0)


async def test_tasks_an_item_starts_and_does_not_await_stay_within_the_budget():
    limiter, gauge, escaped = pf.Limiter(2), InFlight(), []

    class Spawner(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return range(4)

        async def exec_async(self, item):
            leaf = Leaf(limiter=limiter)
            escaped.append(asyncio.create_task(leaf.run_async({"gauge": gauge})))
            await asyncio.sleep(0)

    async with asyncio.timeout(10):
        await Spawner(limiter=limiter).run_async({})
        await asyncio.gather(*escaped)
    assert gauge.peak == 2 and limiter.in_flight == 0


async def test_one_holder_running_two_batches_at_once_lends_its_slot_to_one_at_a_time():
    limiter, gauge = pf.Limiter(1), InFlight()
    async with asyncio.timeout(10):
        async with limiter:
            await asyncio.gather(*(Leaf(limiter=limiter).run_async({"gauge": gauge}) for _ in range(3)))
    assert gauge.peak == 1 and limiter.in_flight == 0


async def test_acquire_then_a_batch_on_the_same_limiter_does_not_deadlock():
    limiter, gauge = pf.Limiter(1), InFlight()
    async with asyncio.timeout(5):
        await limiter.acquire()
        assert limiter.in_flight == 1
        await Leaf(limiter=limiter).run_async({"gauge": gauge})
        limiter.release()
    assert gauge.peak == 1 and limiter.in_flight == 0


async def test_async_with_counts_against_the_same_budget_as_batch_items():
    limiter, gauge = pf.Limiter(2), InFlight()
    peak_seen = 0

    async def outsider():
        nonlocal peak_seen
        async with limiter:
            gauge.now += 1
            gauge.peak = max(gauge.peak, gauge.now)
            peak_seen = max(peak_seen, limiter.in_flight)
            await asyncio.sleep(0.01)
            gauge.now -= 1

    async with asyncio.timeout(10):
        await asyncio.gather(Leaf(limiter=limiter).run_async({"gauge": gauge}), *(outsider() for _ in range(4)))
    assert gauge.peak == 2 and peak_seen == 2


async def test_in_flight_and_waiting_report_the_queue():
    limiter, go = pf.Limiter(1), asyncio.Event()

    async def holder():
        async with limiter:
            await go.wait()

    tasks = [asyncio.create_task(holder()) for _ in range(3)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert (limiter.in_flight, limiter.waiting) == (1, 2)
    assert "in_flight=1, waiting=2" in repr(limiter)
    go.set()
    await asyncio.gather(*tasks)
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


async def test_a_waiter_cancelled_while_waiting_gives_nothing_away():
    limiter, go = pf.Limiter(1), asyncio.Event()

    async def holder():
        async with limiter:
            await go.wait()

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert limiter.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    go.set()
    await held
    assert (limiter.in_flight, limiter.waiting) == (0, 0)
    async with limiter:
        assert limiter.in_flight == 1


async def test_release_without_acquire_is_an_error_not_a_bigger_budget():
    limiter = pf.Limiter(1)
    with pytest.raises(pf.FlowError, match="without a matching acquire"):
        limiter.release()
    await limiter.acquire()

    async def elsewhere():
        limiter.release()

    with pytest.raises(pf.FlowError):
        await asyncio.create_task(elsewhere())
    limiter.release()
    with pytest.raises(pf.FlowError):
        limiter.release()
    assert limiter.in_flight == 0


async def test_release_inside_a_batch_item_is_an_error():
    limiter = pf.Limiter(1)

    class Releaser(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return [1]

        async def exec_async(self, item):
            limiter.release()

    with pytest.raises(pf.FlowError):
        await Releaser(limiter=limiter).run_async({})
    assert limiter.in_flight == 0


async def test_cancelling_at_every_turn_gives_every_slot_back():
    limiter = pf.Limiter(2)
    for turns in range(60):
        gauge = InFlight()
        middle = Runs(start=Leaf(limiter=limiter, max_concurrency=2))
        run = asyncio.create_task(Runs(start=middle, limiter=limiter).run_async({"gauge": gauge}))
        for _ in range(turns):
            await asyncio.sleep(0)
        run.cancel()
        try:
            await run
        except asyncio.CancelledError:
            pass
        assert gauge.peak <= 2 and gauge.now == 0, turns
        assert (limiter.in_flight, limiter.waiting) == (0, 0), turns
        assert asyncio.all_tasks() == {asyncio.current_task()}, turns


async def test_a_batch_waiting_for_the_limiter_is_not_starved_by_one_that_keeps_its_slots():
    """A worker keeps its slot from one item to the next only while nobody waits for one: a second batch
    sharing the limiter gets slots as soon as items finish, not when the first batch has run out of items."""
    limiter, done = pf.Limiter(2), []

    class Steps(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return [(self.params["name"], i) for i in range(self.params["n"])]

        async def exec_async(self, item):
            await asyncio.sleep(0)
            done.append(item)

    async def late(batch):
        await asyncio.sleep(0)  # the long batch holds both slots by now
        await batch.run_async({})

    long, short = Steps(limiter=limiter), Steps(limiter=limiter)
    long.set_params({"name": "long", "n": 200})
    short.set_params({"name": "short", "n": 3})
    async with asyncio.timeout(10):
        await asyncio.gather(long.run_async({}), late(short))
    last_short = max(i for i, (name, _) in enumerate(done) if name == "short")
    assert last_short < 20  # within a few of the long batch's items, not after all 200
    assert (limiter.in_flight, limiter.waiting) == (0, 0)
