"""Tracer hooks: node start/end/error with timings, retries, batch progress; scoped by the tracing() context."""

import asyncio

import pytest

import pocketflow as pf
from pocketflow.tracing import current_tracer


class Recorder(pf.Tracer):
    def __init__(self):
        self.events = []

    def on_node_start(self, node):
        self.events.append(("start", type(node).__name__))

    def on_node_end(self, node, action, seconds):
        assert seconds >= 0
        self.events.append(("end", type(node).__name__, action))

    def on_node_error(self, node, exc, seconds):
        self.events.append(("error", type(node).__name__, type(exc).__name__))

    def on_retry(self, node, attempt, exc):
        self.events.append(("retry", type(node).__name__, attempt, str(exc)))

    def on_item_done(self, node, done, failed, total):
        self.events.append(("item", type(node).__name__, done, failed, total))


class First(pf.AsyncNode):
    async def post_async(self, shared, prep_res, exec_res):
        return "next"


class Second(pf.Node):
    pass


class Flaky(pf.AsyncParallelBatchNode):
    async def prep_async(self, shared):
        return [0, 1, 2]

    async def exec_async(self, item):
        await asyncio.sleep(0)
        if item == 1 and self.cur_retry == 0:
            raise ValueError("transient")
        if item == 2:
            raise KeyError("permanent")
        return item


async def test_node_start_end_in_order_with_actions():
    first = First()
    first - "next" >> Second()
    tracer = Recorder()
    with pf.tracing(tracer):
        await pf.AsyncFlow(start=first).run_async({})
    assert tracer.events == [
        ("start", "AsyncFlow"),
        ("start", "First"),
        ("end", "First", "next"),
        ("start", "Second"),
        ("end", "Second", None),
        ("end", "AsyncFlow", None),
    ]


async def test_retry_progress_and_error_events_for_a_parallel_batch():
    tracer = Recorder()
    with pf.tracing(tracer):
        await Flaky(max_retries=2, errors="collect", max_concurrency=1).run_async({})
        with pytest.raises(KeyError):
            await Flaky(max_retries=2, max_concurrency=1).run_async({})
    collect_run, raise_run = tracer.events[: len(tracer.events) // 2], tracer.events[len(tracer.events) // 2 :]
    assert collect_run == [
        ("start", "Flaky"),
        ("item", "Flaky", 1, 0, 3),
        ("retry", "Flaky", 1, "transient"),
        ("item", "Flaky", 2, 0, 3),
        ("retry", "Flaky", 1, "'permanent'"),
        ("item", "Flaky", 3, 1, 3),
        ("end", "Flaky", None),
    ]
    assert raise_run[-2:] == [("item", "Flaky", 3, 1, 3), ("error", "Flaky", "KeyError")]


def test_sequential_batches_report_progress():
    class Items(pf.BatchNode):
        def prep(self, shared):
            return ["a", "b"]

    class Runs(pf.BatchFlow):
        def prep(self, shared):
            return [{}, {}]

    tracer = Recorder()
    with pf.tracing(tracer):
        Items().run({})
        Runs(start=Second()).run({})
    items = [e for e in tracer.events if e[0] == "item"]
    assert items == [("item", kind, done, 0, 2) for kind in ("Items", "Runs") for done in (1, 2)]


async def test_tracer_is_scoped_to_the_block_and_reaches_tasks():
    tracer = Recorder()
    assert current_tracer() is None
    with pf.tracing(tracer):
        await asyncio.create_task(First().run_async({}))
    assert current_tracer() is None
    await First().run_async({})  # outside the block: not recorded
    assert tracer.events == [("start", "First"), ("end", "First", "next")]
