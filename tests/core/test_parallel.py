"""Parallel batches: order, bounds, limiter sharing, fail-fast and outer cancellation, collect mode, cur_retry."""

import asyncio

import pytest

import pocketflow as pf


class InFlight:
    """Counts concurrently running items and remembers the peak."""

    def __init__(self):
        self.now = self.peak = 0

    async def hold(self, turns=3):
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            for _ in range(turns):
                await asyncio.sleep(0)
        finally:
            self.now -= 1


class Batch(pf.AsyncParallelBatchNode):
    """Items come from shared["items"]; exec awaits shared["work"](self, item); results land in shared["out"]."""

    async def prep_async(self, shared):
        self.shared = shared
        return shared["items"]

    async def exec_async(self, item):
        return await self.shared["work"](self, item)

    async def post_async(self, shared, prep_res, exec_res):
        shared["out"] = exec_res


def only_current_task_left():
    return asyncio.all_tasks() == {asyncio.current_task()}


async def test_results_keep_input_order_when_items_finish_out_of_order():
    async def work(node, item):
        for _ in range(10 - item):
            await asyncio.sleep(0)
        return item * 2

    for bound in (None, 3):
        shared = {"items": list(range(10)), "work": work}
        await Batch(max_concurrency=bound).run_async(shared)
        assert shared["out"] == [i * 2 for i in range(10)]


async def test_bound_is_never_exceeded_and_no_task_per_item():
    gauge, tasks_seen = InFlight(), []

    async def work(node, item):
        tasks_seen.append(len(asyncio.all_tasks()))
        await gauge.hold()
        return item

    shared = {"items": list(range(50)), "work": work}
    await Batch(max_concurrency=4).run_async(shared)
    assert gauge.peak == 4
    assert max(tasks_seen) <= 4 + 1  # the workers plus the caller
    assert shared["out"] == list(range(50))


async def test_unbounded_puts_every_item_in_flight_at_once():
    n, started = 40, asyncio.Event()
    count = 0

    async def work(node, item):
        nonlocal count
        count += 1
        if count == n:
            started.set()
        await started.wait()  # deadlocks unless all n items are in flight together
        return item

    async with asyncio.timeout(5):
        await Batch().run_async({"items": list(range(n)), "work": work})


async def test_items_may_be_any_iterable_and_none_means_empty():
    async def work(node, item):
        return item + 1

    shared = {"items": (i for i in range(5)), "work": work}
    await Batch(max_concurrency=2).run_async(shared)
    assert shared["out"] == [1, 2, 3, 4, 5]
    shared = {"items": None, "work": work}
    await Batch().run_async(shared)
    assert shared["out"] == []


class Boom(Exception):
    pass


async def test_failure_cancels_running_siblings_and_raises_original_error():
    started, cancelled = set(), set()

    async def work(node, item):
        started.add(item)
        if item == 1:
            await asyncio.sleep(0)
            raise Boom("item 1")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.add(item)
            raise

    for bound in (None, 3):
        started.clear(), cancelled.clear()
        async with asyncio.timeout(5):
            with pytest.raises(Boom, match="item 1"):
                await Batch(max_concurrency=bound).run_async({"items": list(range(6)), "work": work})
        assert cancelled and cancelled == started - {1}
        assert only_current_task_left()


async def test_failure_happens_after_retries_and_fallback():
    attempts = []

    class Recovering(Batch):
        async def exec_fallback_async(self, item, exc):
            if item == 0:
                return "rescued"
            raise exc

    async def work(node, item):
        attempts.append(item)
        raise Boom(f"item {item}")

    shared = {"items": [0], "work": work}
    await Recovering(max_retries=3).run_async(shared)
    assert shared["out"] == ["rescued"] and attempts == [0, 0, 0]
    with pytest.raises(Boom):
        await Recovering(max_retries=2).run_async({"items": [0, 1], "work": work})


async def test_outer_cancellation_cancels_every_item_and_leaves_no_task():
    started, cancelled = set(), set()
    all_started = asyncio.Event()

    async def work(node, item):
        started.add(item)
        if len(started) == 4:
            all_started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.add(item)
            raise

    run = asyncio.create_task(Batch(max_concurrency=4).run_async({"items": list(range(10)), "work": work}))
    await all_started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert cancelled == started == {0, 1, 2, 3}
    assert only_current_task_left()


async def test_collect_mode_runs_every_item_and_keeps_exceptions_in_place():
    async def work(node, item):
        await asyncio.sleep(0)
        if item % 3 == 0:
            raise Boom(item)
        return item

    shared = {"items": list(range(7)), "work": work}
    await Batch(max_concurrency=2, errors="collect").run_async(shared)
    out = shared["out"]
    assert [type(r) for r in out] == [Boom, int, int, Boom, int, int, Boom]
    assert [r.args[0] if isinstance(r, Boom) else r for r in out] == list(range(7))


async def test_cur_retry_is_per_concurrent_item():
    seen = {}

    class Flaky(Batch):
        async def exec_fallback_async(self, item, exc):
            return ("fallback", self.cur_retry)

    async def work(node, item):
        mine = node.cur_retry
        seen.setdefault(item, []).append(mine)
        await asyncio.sleep(0)  # let other items (and their retries) interleave
        await asyncio.sleep(0)
        assert node.cur_retry == mine
        if mine < item:
            raise Boom(item)
        return mine

    shared = {"items": [0, 1, 2, 3, 5, 5], "work": work}
    await Flaky(max_retries=4, max_concurrency=6).run_async(shared)
    assert shared["out"] == [0, 1, 2, 3, ("fallback", 3), ("fallback", 3)]
    assert seen == {0: [0], 1: [0, 1], 2: [0, 1, 2], 3: [0, 1, 2, 3], 5: [0, 0, 1, 1, 2, 2, 3, 3]}


def test_invalid_options_are_flow_errors():
    for kwargs in ({"max_concurrency": 0}, {"errors": "ignore"}, {"executor": "gpu"}):
        with pytest.raises(pf.FlowError):
            pf.AsyncParallelBatchNode(**kwargs)
    with pytest.raises(pf.FlowError):
        pf.AsyncParallelBatchFlow(max_concurrency=-1)
    with pytest.raises(pf.FlowError):
        pf.Limiter(0)


class Leaf(pf.AsyncParallelBatchNode):
    """Holds each of params["n"] items for a few turns, counting leaf items in flight in shared["gauge"]."""

    async def prep_async(self, shared):
        self.gauge = shared["gauge"]
        return range(self.params["n"])

    async def exec_async(self, item):
        await self.gauge.hold()
        return item


class Fan(pf.AsyncParallelBatchFlow):
    async def prep_async(self, shared):
        return [{"run": i, "n": 4} for i in range(5)]


async def test_limiter_is_shared_across_nesting_without_deadlock():
    for capacity in (1, 3):
        limiter, gauge = pf.Limiter(capacity), InFlight()
        inner = pf.AsyncFlow(start=Leaf(max_concurrency=4, limiter=limiter))
        async with asyncio.timeout(5):
            await Fan(start=inner, max_concurrency=5, limiter=limiter).run_async({"gauge": gauge})
        assert gauge.peak == capacity


async def test_nested_caps_multiply_without_a_limiter():
    gauge = InFlight()
    await Fan(start=Leaf(max_concurrency=4), max_concurrency=5).run_async({"gauge": gauge})
    assert gauge.peak > 5


async def test_limiter_is_shared_by_sibling_batches():
    limiter, gauge = pf.Limiter(3), InFlight()
    shared = {"gauge": gauge}
    nodes = [Leaf(limiter=limiter) for _ in range(3)]
    for node in nodes:
        node.set_params({"n": 6})
    await asyncio.gather(*(node.run_async(shared) for node in nodes))
    assert gauge.peak == 3


async def test_parallel_flow_runs_concurrently_with_merged_params_and_bound():
    gauge, seen = InFlight(), []

    class Step(pf.AsyncNode):
        async def prep_async(self, shared):
            seen.append(dict(self.params))
            await gauge.hold()

    class Runs(pf.AsyncParallelBatchFlow):
        async def prep_async(self, shared):
            return [{"i": i} for i in range(8)]

    flow = Runs(start=Step(), max_concurrency=3)
    flow.set_params({"base": 1})
    assert await flow.run_async({}) is None
    assert gauge.peak == 3
    assert sorted(p["i"] for p in seen) == list(range(8)) and all(p["base"] == 1 for p in seen)


async def test_parallel_flow_fails_fast_or_collects_outcomes():
    class Step(pf.AsyncNode):
        async def prep_async(self, shared):
            await asyncio.sleep(0)
            if self.params["i"] == 2:
                raise Boom("run 2")
            return self.params["i"]

        async def post_async(self, shared, prep_res, exec_res):
            return f"done-{prep_res}"

    class Runs(pf.AsyncParallelBatchFlow):
        async def prep_async(self, shared):
            return [{"i": i} for i in range(4)]

        async def post_async(self, shared, prep_res, exec_res):
            shared["outcomes"] = exec_res

    with pytest.raises(Boom):
        await Runs(start=Step()).run_async({})
    assert only_current_task_left()
    shared = {}
    await Runs(start=Step(), errors="collect").run_async(shared)
    outcomes = shared["outcomes"]
    assert outcomes[:2] == ["done-0", "done-1"] and isinstance(outcomes[2], Boom) and outcomes[3] == "done-3"


async def test_failure_keeps_the_items_own_cause_and_context():
    async def work(node, item):
        await asyncio.sleep(0)
        try:
            raise KeyError("root")
        except KeyError as exc:
            raise Boom("wrapped") from exc

    with pytest.raises(Boom) as info:
        await Batch(max_concurrency=2).run_async({"items": [0, 1], "work": work})
    assert isinstance(info.value.__cause__, KeyError)
    assert not isinstance(info.value.__context__, BaseExceptionGroup)


async def test_item_cancelling_itself_fails_the_batch_instead_of_dropping_items():
    async def work(node, item):
        await asyncio.sleep(0)
        if item == 1:
            raise asyncio.CancelledError()  # as when an item awaits a future someone cancelled
        return item

    for bound in (None, 1):
        with pytest.raises(asyncio.CancelledError):
            await Batch(max_concurrency=bound).run_async({"items": list(range(4)), "work": work})
        assert only_current_task_left()
    shared = {"items": list(range(4)), "work": work}
    await Batch(max_concurrency=1, errors="collect").run_async(shared)
    assert shared["out"][::2] == [0, 2] and shared["out"][3] == 3
    assert isinstance(shared["out"][1], asyncio.CancelledError)


async def test_finished_batch_does_not_wait_for_a_slot_it_has_no_use_for():
    # Two outsiders take the limiter's two slots as the batch frees them, while one of the batch's workers
    # queues for a slot behind them; the batch's last item then finishes on its other worker.
    limiter, release = pf.Limiter(2), asyncio.Event()
    finish = [asyncio.Event() for _ in range(3)]
    finish[2].set()

    async def work(node, item):
        await finish[item].wait()
        return item

    async def outsider():
        await limiter.acquire()
        await release.wait()
        limiter.release()

    async def turns(n=5):
        for _ in range(n):
            await asyncio.sleep(0)

    shared = {"items": [0, 1, 2], "work": work}
    batch = asyncio.create_task(Batch(max_concurrency=2, limiter=limiter).run_async(shared))
    await turns()
    outsiders = [asyncio.create_task(outsider())]
    await turns()
    finish[0].set()  # its slot goes to the first outsider; that worker queues again for item 2
    await turns()
    outsiders.append(asyncio.create_task(outsider()))
    await turns()
    finish[1].set()  # its slot goes to the queued worker, which runs item 2; the other worker queues
    try:
        async with asyncio.timeout(5):
            await batch
    finally:
        release.set()
        await asyncio.gather(*outsiders)
    assert shared["out"] == [0, 1, 2]


async def test_nested_batch_on_an_inherited_slot_spawns_at_most_capacity_workers():
    peak_tasks = 0

    class Count(Leaf):
        async def exec_async(self, item):
            nonlocal peak_tasks
            peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
            return await super().exec_async(item)

    class One(pf.AsyncParallelBatchFlow):
        async def prep_async(self, shared):
            return [{"n": 10}]

    limiter = pf.Limiter(2)
    await One(start=Count(limiter=limiter), limiter=limiter).run_async({"gauge": InFlight()})
    assert peak_tasks <= 1 + 1 + 2  # caller, the outer run's worker, `capacity` inner workers


def test_limiter_works_across_event_loops():
    limiter = pf.Limiter(1)

    async def work(node, item):
        await asyncio.sleep(0)
        return item

    async def contend():  # two batches, so one waits for the other's slot
        shared = [{"items": [1, 2], "work": work} for _ in range(2)]
        await asyncio.gather(*(Batch(limiter=limiter).run_async(s) for s in shared))
        return [s["out"] for s in shared]

    for _ in range(2):
        assert asyncio.run(contend()) == [[1, 2], [1, 2]]
