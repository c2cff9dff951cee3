"""Scope semantics and per-run isolation, including the race that breaks PocketFlow's parallel image example."""

import asyncio

import pytest

import pocketflow as pf


def test_scope_reads_fall_through_and_writes_stay_local():
    parent = {"a": 1, "results": []}
    scope = pf.Scope(parent)
    scope["b"] = 2
    scope["a"] = 10
    assert scope["a"] == 10 and parent["a"] == 1
    assert "b" in scope and "b" not in parent
    assert scope.local == {"b": 2, "a": 10} and scope.parent is parent
    scope["results"].append("x")
    assert parent["results"] == ["x"]
    assert sorted(scope) == ["a", "b", "results"] and len(scope) == 3
    assert scope.get("missing") is None
    with pytest.raises(KeyError):
        scope["missing"]


def test_scope_deletes_and_pops_within_this_run_only():
    parent = {"a": 1, "b": 2, "c": 3}
    scope = pf.Scope(parent)
    scope["a"] = 10
    del scope["a"]  # an overridden key: gone from this run, not unmasked
    assert "a" not in scope and scope.get("a") is None
    assert scope.pop("b", None) == 2 and "b" not in scope  # an inherited key
    assert scope.pop("b", "gone") == "gone"
    with pytest.raises(KeyError):
        del scope["b"]
    assert parent == {"a": 1, "b": 2, "c": 3}
    assert dict(scope) == {"c": 3} and len(scope) == 1 and list(scope) == ["c"]
    scope["b"] = 20  # writing a deleted key brings it back, locally
    assert dict(scope) == {"c": 3, "b": 20}
    scope.parent["top"] = True
    assert parent["top"] is True and scope["top"] is True


def test_scope_copy_merge_and_json():
    import copy
    import json

    parent = {"a": 1, "items": [1]}
    scope = pf.Scope(parent)
    scope["b"] = 2
    del scope["a"]
    twin = scope.copy()
    twin["c"] = 3
    assert "c" not in scope and twin.parent is parent and "a" not in twin
    assert copy.copy(scope) == scope and copy.copy(scope) is not scope
    merged = scope | {"d": 4}
    assert isinstance(merged, pf.Scope) and merged["d"] == 4 and "d" not in scope
    assert {"z": 0} | scope == {"z": 0, "b": 2, "items": [1]}
    scope |= {"e": 5}
    assert scope["e"] == 5
    assert json.loads(json.dumps(dict(scope))) == {"b": 2, "items": [1], "e": 5}
    assert scope == {"b": 2, "items": [1], "e": 5}


def test_nested_scopes_layer():
    root = {"x": 0}
    outer = pf.Scope(root)
    outer["y"] = 1
    inner = pf.Scope(outer)
    inner["z"] = 2
    assert (inner["x"], inner["y"], inner["z"]) == (0, 1, 2)
    assert "z" not in outer and "y" not in root


# The parallel image example's shape: load -> filter -> save per (image, filter) run, handing data between the
# nodes of one run through shared keys, with an await between one node's post and the next node's prep.
class Load(pf.AsyncNode):
    async def prep_async(self, shared):
        return self.params["image"]

    async def post_async(self, shared, prep_res, exec_res):
        shared["image"] = f"pixels({prep_res})"


class Filter(pf.AsyncNode):
    async def prep_async(self, shared):
        await asyncio.sleep(0)
        return shared["image"], self.params["filter"]

    async def exec_async(self, prep_res):
        image, name = prep_res
        return f"{name}({image})"

    async def post_async(self, shared, prep_res, exec_res):
        shared["filtered"] = exec_res


class Save(pf.AsyncNode):
    async def prep_async(self, shared):
        return shared["filtered"]

    async def post_async(self, shared, prep_res, exec_res):
        shared["saved"][(self.params["image"], self.params["filter"])] = prep_res


class ImageBatch(pf.AsyncParallelBatchFlow):
    async def prep_async(self, shared):
        return [{"image": i, "filter": f} for i in ("cat", "dog", "owl") for f in ("blur", "gray", "sepia")]


def image_flow(**kwargs):
    load = Load()
    load >> Filter() >> Save()
    return ImageBatch(start=pf.AsyncFlow(start=load), **kwargs)


EXPECTED = {(i, f): f"{f}(pixels({i}))" for i in ("cat", "dog", "owl") for f in ("blur", "gray", "sepia")}


async def test_isolated_runs_each_get_their_own_correct_result():
    for bound in (None, 4):
        shared = {"saved": {}}
        await image_flow(isolate=True, max_concurrency=bound).run_async(shared)
        assert shared["saved"] == EXPECTED
        assert set(shared) == {"saved"}  # per-run keys never reached the parent


async def test_without_isolation_runs_share_one_dict_as_upstream():
    shared = {"saved": {}}
    await image_flow().run_async(shared)
    wrong = [key for key, value in shared["saved"].items() if value != EXPECTED[key]]
    assert wrong  # the upstream race: runs read other runs' "image"
    assert shared["image"] == "pixels(owl)"  # every run wrote the one shared dict; the last write stays


def test_sync_batch_flow_isolation():
    class Write(pf.Node):
        def prep(self, shared):
            return shared.get("mine")

        def post(self, shared, prep_res, exec_res):
            shared["seen"].append(prep_res)
            shared["mine"] = self.params["i"]

    class Runs(pf.BatchFlow):
        def prep(self, shared):
            return [{"i": 1}, {"i": 2}]

    shared = {"seen": []}
    Runs(start=Write(), isolate=True).run(shared)
    assert shared == {"seen": [None, None]}
    shared = {"seen": []}
    Runs(start=Write()).run(shared)
    assert shared == {"seen": [None, 1], "mine": 2}


async def test_async_batch_flow_isolation():
    class Write(pf.AsyncNode):
        async def prep_async(self, shared):
            return isinstance(shared, pf.Scope)

        async def post_async(self, shared, prep_res, exec_res):
            shared["kinds"].append(prep_res)
            shared["tmp"] = 1

    class Runs(pf.AsyncBatchFlow):
        async def prep_async(self, shared):
            return [{}, {}]

    shared = {"kinds": []}
    await Runs(start=Write(), isolate=True).run_async(shared)
    assert shared == {"kinds": [True, True]}
