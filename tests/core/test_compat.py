"""PocketFlow 0.0.3 semantics: graph wiring, warnings, flows, batches, params, retries, sync/async interplay."""

import asyncio
import contextvars
import warnings

import pytest

import pocketflow as pf


class Record(pf.Node):
    """Appends its name and params to shared["log"] and returns params.get("action")."""

    def __init__(self, name, action=None, **kw):
        super().__init__(**kw)
        self.name, self.action = name, action

    def prep(self, shared):
        return dict(self.params)

    def post(self, shared, prep_res, exec_res):
        shared.setdefault("log", []).append((self.name, prep_res))
        return self.action


class AsyncRecord(pf.AsyncNode):
    def __init__(self, name, action=None):
        super().__init__()
        self.name, self.action = name, action

    async def prep_async(self, shared):
        await asyncio.sleep(0)
        return dict(self.params)

    async def post_async(self, shared, prep_res, exec_res):
        shared.setdefault("log", []).append((self.name, prep_res))
        return self.action


def names(shared):
    return [name for name, _ in shared["log"]]


def test_rshift_and_transition_wire_successors():
    a, b, c = Record("a"), Record("b"), Record("c")
    assert (a >> b) is b
    assert (a - "other" >> c) is c
    assert a.successors == {"default": b, "other": c}
    assert a.next(c, "third") is c and a.successors["third"] is c


def test_non_string_action_is_type_error():
    with pytest.raises(TypeError):
        Record("a") - 1


def test_overwriting_successor_warns():
    a = Record("a")
    a >> Record("b")
    with pytest.warns(UserWarning, match="Overwriting successor"):
        a >> Record("c")


def test_running_node_with_successors_warns_and_runs_only_itself():
    a = Record("a")
    a >> Record("b")
    shared = {}
    with pytest.warns(UserWarning, match="successors"):
        a.run(shared)
    assert names(shared) == ["a"]


async def test_run_async_node_with_successors_warns():
    a = AsyncRecord("a")
    a >> AsyncRecord("b")
    with pytest.warns(UserWarning, match="successors"):
        await a.run_async({})


def test_node_without_successors_runs_silently_and_returns_post_action():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Record("a", action="go").run({}) == "go"


def test_flow_follows_actions_and_returns_last_action():
    a, b, c = Record("a", action="left"), Record("b"), Record("c", action="done")
    a - "left" >> c
    a - "right" >> b
    shared = {}
    assert pf.Flow(start=a).run(shared) == "done"
    assert names(shared) == ["a", "c"]


def test_none_action_means_default():
    a = Record("a", action=None)
    a >> Record("b")
    shared = {}
    pf.Flow(start=a).run(shared)
    assert names(shared) == ["a", "b"]


def test_flow_ending_on_unknown_action_warns():
    a = Record("a", action="missing")
    a >> Record("b")
    shared = {}
    with pytest.warns(UserWarning, match="Flow ends"):
        assert pf.Flow(start=a).run(shared) == "missing"
    assert names(shared) == ["a"]


def test_flow_ending_at_node_without_successors_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pf.Flow(start=Record("a", action="anything")).run({})


def test_flow_start_method_and_flow_post_gets_last_action():
    class Outer(pf.Flow):
        def post(self, shared, prep_res, exec_res):
            shared["seen"] = exec_res
            return "final"

    flow = Outer()
    assert isinstance(flow.start(Record("a", action="x")), Record)
    shared = {}
    assert flow.run(shared) == "final"
    assert shared["seen"] == "x"


def test_flow_params_reach_every_node():
    a = Record("a")
    a >> Record("b")
    flow = pf.Flow(start=a)
    flow.set_params({"k": 1})
    shared = {}
    flow.run(shared)
    assert shared["log"] == [("a", {"k": 1}), ("b", {"k": 1})]


def test_nested_flow_acts_as_node_and_routes_on_its_last_action():
    inner_start = Record("i1")
    inner_start >> Record("i2", action="out")
    inner = pf.Flow(start=inner_start)
    before, after, other = Record("before"), Record("after"), Record("other")
    before >> inner
    inner - "out" >> after
    inner >> other
    shared = {}
    pf.Flow(start=before).run(shared)
    assert names(shared) == ["before", "i1", "i2", "after"]


def test_each_run_works_on_copies_of_nodes():
    class Stateful(pf.Node):
        def prep(self, shared):
            self.seen = shared["x"]

    node = Stateful()
    pf.Flow(start=node).run({"x": 1})
    assert not hasattr(node, "seen")


async def test_concurrent_runs_of_one_flow_do_not_share_node_state():
    class Stateful(pf.AsyncNode):
        async def prep_async(self, shared):
            self.mine = shared["id"]
            await asyncio.sleep(0)

        async def post_async(self, shared, prep_res, exec_res):
            shared["got"] = self.mine

    flow = pf.AsyncFlow(start=Stateful())
    shared = [{"id": i} for i in range(5)]
    await asyncio.gather(*(flow.run_async(s) for s in shared))
    assert [s["got"] for s in shared] == list(range(5))


def test_batch_node_runs_exec_per_item_and_none_means_no_items():
    class Double(pf.BatchNode):
        def prep(self, shared):
            return shared["items"]

        def exec(self, item):
            shared_calls.append(item)
            return item * 2

        def post(self, shared, prep_res, exec_res):
            shared["out"] = exec_res

    shared_calls = []
    shared = {"items": [1, 2, 3]}
    Double().run(shared)
    assert shared["out"] == [2, 4, 6]
    shared = {"items": None}
    Double().run(shared)
    assert shared["out"] == [] and shared_calls == [1, 2, 3]


def test_batch_flow_merges_each_params_dict_over_flow_params():
    class Batch(pf.BatchFlow):
        def prep(self, shared):
            return [{"b": 2}, {"b": 3, "c": 4}]

        def post(self, shared, prep_res, exec_res):
            shared["post"] = (prep_res, exec_res)

    flow = Batch(start=Record("n"))
    flow.set_params({"a": 1, "b": 1})
    shared = {}
    assert flow.run(shared) is None
    assert shared["log"] == [("n", {"a": 1, "b": 2}), ("n", {"a": 1, "b": 3, "c": 4})]
    assert flow.params == {"a": 1, "b": 1}
    assert shared["post"] == ([{"b": 2}, {"b": 3, "c": 4}], None)


def test_batch_flow_with_no_params_runs_nothing():
    shared = {}
    pf.BatchFlow(start=Record("n")).run(shared)
    assert "log" not in shared


def test_node_retries_then_succeeds_with_cur_retry_per_attempt():
    class Flaky(pf.Node):
        def exec(self, prep_res):
            attempts.append(self.cur_retry)
            if self.cur_retry < 2:
                raise ValueError("not yet")
            return "ok"

    attempts = []
    assert Flaky(max_retries=3).run({}) is None
    assert attempts == [0, 1, 2]


def test_fallback_gets_last_exception_and_default_fallback_reraises():
    class Failing(pf.Node):
        def exec(self, prep_res):
            raise ValueError(f"attempt {self.cur_retry}")

    class Recovering(Failing):
        def exec_fallback(self, prep_res, exc):
            return (str(exc), self.cur_retry)

        def post(self, shared, prep_res, exec_res):
            shared["res"] = exec_res

    with pytest.raises(ValueError, match="attempt 1"):
        Failing(max_retries=2).run({})
    shared = {}
    Recovering(max_retries=3).run(shared)
    assert shared["res"] == ("attempt 2", 2)


def test_zero_retries_never_calls_exec():
    class Boom(pf.Node):
        def exec(self, prep_res):
            raise AssertionError("exec must not run")

    assert Boom(max_retries=0).run({}) is None


def test_sync_retry_waits_with_backoff(monkeypatch):
    delays = []
    monkeypatch.setattr("pocketflow.nodes.time.sleep", delays.append)

    class Failing(pf.Node):
        def exec(self, prep_res):
            raise ValueError

        def exec_fallback(self, prep_res, exc):
            return "fallback"

    Failing(max_retries=4, wait=1.0, backoff=2.0).run({})
    assert delays == [1.0, 2.0, 4.0]
    delays.clear()
    Failing(max_retries=3, wait=0.5).run({})
    assert delays == [0.5, 0.5]


async def test_async_retry_waits_with_backoff_and_jitter(monkeypatch):
    delays = []

    async def fake_sleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr("pocketflow.nodes.asyncio.sleep", fake_sleep)

    class Failing(pf.AsyncNode):
        async def exec_async(self, prep_res):
            raise ValueError

        async def exec_fallback_async(self, prep_res, exc):
            return "fallback"

    await Failing(max_retries=4, wait=1.0, backoff=3.0, jitter=0.5).run_async({})
    assert len(delays) == 3
    for delay, base in zip(delays, [1.0, 3.0, 9.0]):
        assert 0.5 * base <= delay <= 1.5 * base


def test_invalid_jitter_is_flow_error():
    with pytest.raises(pf.FlowError):
        pf.Node(jitter=2.0)


def test_run_on_async_node_or_flow_says_use_run_async():
    with pytest.raises(RuntimeError, match="run_async"):
        AsyncRecord("a").run({})
    with pytest.raises(RuntimeError, match="run_async"):
        pf.AsyncFlow(start=Record("a")).run({})
    with pytest.raises(RuntimeError, match="run_async"):
        pf.Flow(start=AsyncRecord("a")).run({})


async def test_async_node_retries_and_falls_back():
    class Flaky(pf.AsyncNode):
        async def exec_async(self, prep_res):
            attempts.append(self.cur_retry)
            raise KeyError("x")

        async def exec_fallback_async(self, prep_res, exc):
            return ("fallback", type(exc).__name__, self.cur_retry)

        async def post_async(self, shared, prep_res, exec_res):
            return exec_res[0]

    attempts = []
    assert await Flaky(max_retries=3).run_async({}) == "fallback"
    assert attempts == [0, 1, 2]


async def test_async_flow_runs_sync_and_async_nodes_and_nested_flows():
    sync_inner = Record("sync-inner")
    a = AsyncRecord("a")
    a >> Record("sync") >> pf.Flow(start=sync_inner) >> pf.AsyncFlow(start=AsyncRecord("async-inner"))
    shared = {}
    await pf.AsyncFlow(start=a).run_async(shared)
    assert names(shared) == ["a", "sync", "sync-inner", "async-inner"]


async def test_async_batch_node_runs_items_in_order():
    class Seq(pf.AsyncBatchNode):
        async def prep_async(self, shared):
            return [3, 1, 2]

        async def exec_async(self, item):
            order.append(item)
            await asyncio.sleep(0)
            return item * 10

        async def post_async(self, shared, prep_res, exec_res):
            shared["out"] = exec_res

    order, shared = [], {}
    await Seq().run_async(shared)
    assert order == [3, 1, 2] and shared["out"] == [30, 10, 20]


async def test_async_batch_flow_runs_sequentially_with_merged_params():
    class Batch(pf.AsyncBatchFlow):
        async def prep_async(self, shared):
            return [{"i": 1}, {"i": 2}]

    flow = Batch(start=AsyncRecord("n"))
    flow.set_params({"base": True})
    shared = {}
    assert await flow.run_async(shared) is None
    assert shared["log"] == [("n", {"base": True, "i": 1}), ("n", {"base": True, "i": 2})]


def test_class_relationships_match_upstream():
    assert issubclass(pf.AsyncParallelBatchNode, pf.AsyncNode) and issubclass(pf.AsyncParallelBatchNode, pf.BatchNode)
    assert issubclass(pf.AsyncBatchNode, pf.BatchNode) and issubclass(pf.AsyncNode, pf.Node)
    assert issubclass(pf.AsyncFlow, pf.Flow) and issubclass(pf.AsyncFlow, pf.AsyncNode)
    assert issubclass(pf.AsyncParallelBatchFlow, pf.BatchFlow) and issubclass(pf.AsyncBatchFlow, pf.AsyncFlow)
    assert issubclass(pf.BatchFlow, pf.Flow) and issubclass(pf.Flow, pf.BaseNode)


def test_cur_retry_setter_kept_for_code_that_assigns_it():
    class Manual(pf.Node):
        def _exec(self, prep_res):
            for self.cur_retry in range(3):
                pass
            return self.cur_retry

        def post(self, shared, prep_res, exec_res):
            return exec_res

    assert contextvars.copy_context().run(Manual().run, {}) == 2
