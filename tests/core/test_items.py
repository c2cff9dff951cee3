"""How every batch kind reads prep's items: sequences snapshot, iterators lazily, numpy arrays, input order."""

import asyncio
import tracemalloc

import numpy as np
import pytest

import pocketflow as pf

KINDS = ["batch", "async batch", "parallel", "parallel bounded", "batch flow", "async batch flow", "parallel flow"]


def run_kind(kind, items, work):
    """Run `work(item)` for each of `items` with one batch kind; returns the results in the order recorded."""
    seen = []

    def record(item):
        seen.append(item)
        return work(item)

    if kind == "batch":

        class B(pf.BatchNode):
            def prep(self, shared):
                return items

            def exec(self, item):
                return record(item)

            def post(self, shared, prep_res, exec_res):
                shared["out"] = exec_res

        shared = {}
        B().run(shared)
        return shared["out"], seen
    if kind in ("async batch", "parallel", "parallel bounded"):
        base = pf.AsyncBatchNode if kind == "async batch" else pf.AsyncParallelBatchNode
        options = {"max_concurrency": 3} if kind == "parallel bounded" else {}

        class A(base):
            async def prep_async(self, shared):
                return items

            async def exec_async(self, item):
                await asyncio.sleep(0)
                return record(item)

            async def post_async(self, shared, prep_res, exec_res):
                shared["out"] = exec_res

        shared = {}
        asyncio.run(A(**options).run_async(shared))
        return shared["out"], seen
    if kind == "batch flow":

        class Step(pf.Node):
            def prep(self, shared):
                shared["out"].append(record(self.params["item"]))

        class F(pf.BatchFlow):
            def prep(self, shared):
                return items

        shared = {"out": []}
        F(start=Step()).run(shared)
        return shared["out"], seen

    class AStep(pf.AsyncNode):
        async def prep_async(self, shared):
            await asyncio.sleep(0)
            shared["out"][self.params["item"]] = record(self.params["item"])

    base = pf.AsyncBatchFlow if kind == "async batch flow" else pf.AsyncParallelBatchFlow

    class AF(base):
        async def prep_async(self, shared):
            return items

    shared = {"out": {}}
    asyncio.run(AF(start=AStep()).run_async(shared))
    return shared["out"], seen


@pytest.mark.parametrize("kind", ["batch", "async batch", "parallel", "parallel bounded"])
def test_removing_finished_items_from_preps_list_processes_every_item_in_order(kind):
    pending = list(range(10))

    def work(item):
        pending.remove(item)  # the common "done, drop it from pending" pattern
        return item * 10

    out, _ = run_kind(kind, pending, work)
    assert out == [i * 10 for i in range(10)] and pending == []


@pytest.mark.parametrize("kind", ["batch", "async batch", "parallel", "parallel bounded"])
def test_a_list_that_grows_during_the_batch_is_read_as_it_was(kind):
    items = list(range(5))

    def work(item):
        if item < 100:
            items.append(item + 100)
        return item

    out, _ = run_kind(kind, items, work)
    assert out == list(range(5)) and len(items) == 10


@pytest.mark.parametrize("kind", ["batch", "async batch", "parallel", "parallel bounded"])
def test_a_numpy_array_is_a_batch_of_its_rows(kind):
    out, _ = run_kind(kind, np.arange(6).reshape(3, 2), lambda row: int(row.sum()))
    assert out == [1, 5, 9]


@pytest.mark.parametrize("kind", ["batch flow", "async batch flow", "parallel flow"])
def test_batch_flows_accept_a_generator_of_params(kind):
    items = ({"item": i} for i in range(6))
    out, seen = run_kind(kind, items, lambda i: i)
    assert sorted(seen) == list(range(6))


@pytest.mark.parametrize("kind", KINDS)
def test_a_generator_is_consumed_lazily_never_listed_up_front(kind):
    taken, peak_ahead = [], 0
    processed = []

    def generate():
        for i in range(30):
            taken.append(i)
            yield {"item": i} if "flow" in kind else i

    def work(item):
        nonlocal peak_ahead
        processed.append(item)
        peak_ahead = max(peak_ahead, len(taken) - len(processed))
        return item

    out, seen = run_kind(kind, generate(), work)
    assert sorted(seen) == list(range(30))
    if "flow" not in kind:
        assert out == list(range(30))
    # Taken but not yet processed: the items in flight at most (3 workers when bounded; none when sequential).
    limit = {"parallel bounded": 3, "parallel": 30, "parallel flow": 30}.get(kind, 1)
    assert peak_ahead <= limit


def test_bounded_batch_over_a_generator_holds_only_the_items_in_flight():
    class Big(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return (bytes(10_000) for _ in range(2_000))

        async def exec_async(self, blob):
            await asyncio.sleep(0)
            return len(blob)

        async def post_async(self, shared, prep_res, exec_res):
            shared["n"] = sum(exec_res)

    shared = {}
    tracemalloc.start()
    try:
        asyncio.run(Big(max_concurrency=10).run_async(shared))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert shared["n"] == 20_000_000
    assert peak < 2_000_000  # a listed generator would hold 20 MB


async def test_a_generator_that_raises_fails_the_batch_with_its_error():
    def broken():
        yield 1
        raise KeyError("source broke")

    class B(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return broken()

        async def exec_async(self, item):
            return item

    with pytest.raises(KeyError, match="source broke"):
        await B(max_concurrency=2, errors="collect").run_async({})


async def test_tracer_total_for_an_iterator_counts_the_items_taken_so_far():
    totals = []

    class Count(pf.Tracer):
        def on_item_done(self, node, done, failed, total):
            totals.append((done, total))

    class B(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return iter(range(3))

        async def exec_async(self, item):
            return item

    with pf.tracing(Count()):
        await B(max_concurrency=1).run_async({})
    assert totals == [(1, 1), (2, 2), (3, 3)]
