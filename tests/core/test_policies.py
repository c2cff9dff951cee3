"""Per-item policy (retry_on, timeout) and what errors="raise" keeps of simultaneous failures."""

import asyncio

import pytest

import pocketflow as pf

from .test_parallel import Batch, Boom


class Transient(Exception):
    pass


class Flaky(pf.Node):
    """exec raises shared["errors"] in turn; counts attempts."""

    def prep(self, shared):
        self.shared = shared
        return None

    def exec(self, prep_res):
        self.shared["attempts"] += 1
        raise self.shared["errors"].pop(0)

    def exec_fallback(self, prep_res, exc):
        return f"fallback after {type(exc).__name__}"

    def post(self, shared, prep_res, exec_res):
        return exec_res


@pytest.mark.parametrize("retry_on", [Transient, (Transient, TimeoutError), lambda exc: isinstance(exc, Transient)])
def test_retry_on_retries_only_matching_failures(retry_on):
    shared = {"attempts": 0, "errors": [Transient(), Transient(), KeyError("fatal"), Transient()]}
    assert Flaky(max_retries=5, retry_on=retry_on).run(shared) == "fallback after KeyError"
    assert shared["attempts"] == 3
    shared = {"attempts": 0, "errors": [Transient()] * 3}
    assert Flaky(max_retries=3, retry_on=retry_on).run(shared) == "fallback after Transient"
    assert shared["attempts"] == 3


async def test_retry_on_applies_to_async_items():
    attempts = []

    async def work(node, item):
        attempts.append(item)
        raise (Transient if item == 0 else Boom)(item)

    shared = {"items": [0, 1], "work": work}
    await Batch(max_retries=3, retry_on=Transient, errors="collect").run_async(shared)
    assert sorted(attempts) == [0, 0, 0, 1]
    with pytest.raises(pf.FlowError):
        pf.Node(retry_on="Transient")


async def test_timeout_bounds_each_attempt_of_an_item():
    attempts = []

    async def work(node, item):
        attempts.append(item)
        if item == 1 and len(attempts) < 4:
            await asyncio.sleep(30)
        return item

    shared = {"items": [0, 1], "work": work}
    async with asyncio.timeout(5):
        await Batch(max_retries=3, timeout=0.05, max_concurrency=1).run_async(shared)
    assert shared["out"] == [0, 1] and attempts == [0, 1, 1, 1]
    async with asyncio.timeout(5):
        with pytest.raises(TimeoutError):
            await Batch(timeout=0.02).run_async({"items": [1], "work": lambda n, i: asyncio.sleep(30)})


def test_timeout_needs_an_async_node():
    with pytest.raises(pf.FlowError, match="async node"):
        pf.Node(timeout=1)
    with pytest.raises(pf.FlowError):
        pf.AsyncNode(timeout=0)


async def test_simultaneous_failures_are_kept_as_notes_on_the_raised_one():
    started, go = [], asyncio.Event()

    async def work(node, item):
        started.append(item)
        if len(started) == 3:
            go.set()
            await asyncio.sleep(0)
        await go.wait()  # all three wake in the same loop turn and fail before any is cancelled
        raise Boom(f"item {item}")

    with pytest.raises(Boom, match="item 0") as info:
        await Batch(max_concurrency=3).run_async({"items": [0, 1, 2], "work": work})
    notes = info.value.__notes__
    assert notes == ["item 1 failed at the same time: Boom: item 1", "item 2 failed at the same time: Boom: item 2"]


async def test_a_failure_while_being_cancelled_is_noted_too():
    async def work(node, item):
        if item == 0:
            for _ in range(3):
                await asyncio.sleep(0)
            raise Boom("first")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise KeyError("cleanup broke") from None

    with pytest.raises(Boom, match="first") as info:
        await Batch().run_async({"items": [0, 1], "work": work})
    assert info.value.__notes__ == ["item 1 failed at the same time: KeyError: 'cleanup broke'"]
