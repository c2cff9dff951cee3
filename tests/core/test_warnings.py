"""Upstream's warning texts, attributed to the user's line; misuse that would silently do nothing warns."""

import asyncio
import warnings

import pytest

import pocketflow as pf

HERE = __file__


def caught(action):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        action()
    return [(str(w.message), w.filename) for w in seen]


class Go(pf.Node):
    def post(self, shared, prep_res, exec_res):
        return "go"


def test_upstream_texts_point_at_the_callers_line():
    a = Go()
    a >> pf.Node()
    assert caught(lambda: a >> pf.Node()) == [("Overwriting successor for action 'default'", HERE)]
    assert caught(lambda: a.run({})) == [("Node won't run successors. Use Flow.", HERE)]
    assert caught(lambda: pf.Flow(start=a).run({})) == [("Flow ends: 'go' not found in ['default']", HERE)]


def test_async_texts_point_at_the_awaiting_line():
    class AGo(pf.AsyncNode):
        async def post_async(self, shared, prep_res, exec_res):
            return None

    a = AGo()
    a - "other" >> pf.AsyncNode()

    async def alone():
        await a.run_async({})

    async def in_flow():
        await pf.AsyncFlow(start=a).run_async({})

    assert caught(lambda: asyncio.run(alone())) == [("Node won't run successors. Use AsyncFlow.", HERE)]
    assert caught(lambda: asyncio.run(in_flow())) == [("Flow ends: 'None' not found in ['other']", HERE)]


def test_a_successor_set_to_none_ends_the_flow_quietly():
    a = Go()
    a - "go" >> None
    assert caught(lambda: pf.Flow(start=a).run({})) == []
    assert "n1" in pf.Flow(start=a).to_mermaid()


def test_async_def_exec_on_a_sync_node_warns_at_the_class_statement():
    def define():
        class Wrong(pf.Node):
            async def exec(self, prep_res):
                return 1

    [(message, filename)] = caught(define)
    assert "Wrong.exec is `async def` on a sync node" in message and "exec_async" in message
    assert filename == HERE


@pytest.mark.parametrize("hook", ["prep", "exec", "post"])
def test_a_sync_hook_an_async_node_never_calls_warns(hook):
    def define():
        type("Forgot", (pf.AsyncNode,), {hook: lambda self, *args: None})

    [(message, _)] = caught(define)
    assert f"Forgot defines {hook}(), which an async node never calls" in message


def test_a_sync_hook_paired_with_its_async_one_is_fine():
    def define():
        class Both(pf.AsyncNode):
            def prep(self, shared):
                return 1

            async def prep_async(self, shared):
                return self.prep(shared)

        class Offloaded(pf.AsyncParallelBatchNode):
            def exec(self, item):
                return item

    assert caught(define) == []


def test_sync_exec_on_a_parallel_node_without_executor_warns_at_construction():
    class Offloaded(pf.AsyncParallelBatchNode):
        def exec(self, item):
            return item

    [(message, filename)] = caught(lambda: Offloaded())
    assert "no executor=" in message and "every item's result would be None" in message and filename == HERE
    assert caught(lambda: Offloaded(executor="thread")) == []
