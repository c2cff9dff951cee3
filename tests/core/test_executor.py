"""CPU offload: a parallel node's sync exec really runs on several threads or processes."""

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import pocketflow as pf
from pocketflow.executors import usable_cores


class WhereAmI(pf.AsyncParallelBatchNode):
    """Sync exec reports which thread and process ran it; the sleep keeps workers busy so several are used."""

    async def prep_async(self, shared):
        return list(range(shared["n"]))

    def exec(self, item):
        time.sleep(0.05)
        return item, threading.get_ident(), os.getpid(), self.cur_retry

    async def post_async(self, shared, prep_res, exec_res):
        shared["out"] = exec_res


class FlakyInWorker(pf.AsyncParallelBatchNode):
    async def prep_async(self, shared):
        return [2, 1, 0]

    def exec(self, item):
        if self.cur_retry < item:
            raise ValueError(item)
        return self.cur_retry

    async def post_async(self, shared, prep_res, exec_res):
        shared["out"] = exec_res


async def test_thread_executor_uses_several_threads_off_the_loop():
    shared = {"n": 6}
    await WhereAmI(executor="thread", max_concurrency=3).run_async(shared)
    items, threads, _, _ = zip(*shared["out"])
    assert items == tuple(range(6))
    assert len(set(threads)) > 1 and threading.get_ident() not in threads


async def test_process_executor_uses_several_processes():
    shared = {"n": 4}
    await WhereAmI(executor="process", max_concurrency=2).run_async(shared)
    items, _, pids, _ = zip(*shared["out"])
    assert items == tuple(range(4))
    assert len(set(pids)) > 1 and os.getpid() not in pids


async def test_given_executor_is_used_and_left_open():
    with ThreadPoolExecutor(2, thread_name_prefix="mine") as pool:
        shared = {"n": 4}
        await WhereAmI(executor=pool).run_async(shared)
        assert len({thread for _, thread, _, _ in shared["out"]}) > 1
        assert pool.submit(lambda: 1).result() == 1  # still usable


async def test_cur_retry_reaches_offloaded_exec_per_item():
    shared = {}
    await FlakyInWorker(max_retries=3, executor="thread").run_async(shared)
    assert shared["out"] == [2, 1, 0]


def test_executor_with_overridden_exec_async_is_flow_error():
    class Wrong(pf.AsyncParallelBatchNode):
        async def exec_async(self, item):
            return item

    with pytest.raises(pf.FlowError, match="override exec"):
        Wrong(executor="thread")


async def test_offloaded_exec_failure_goes_to_the_sync_exec_fallback():
    class Rescued(FlakyInWorker):
        def exec_fallback(self, item, exc):
            return ("fallback", item, self.cur_retry)

    shared = {}
    await Rescued(max_retries=2, executor="thread").run_async(shared)
    assert shared["out"] == [("fallback", 2, 1), 1, 0]


class Sleepy(pf.AsyncParallelBatchNode):
    """Sync exec sleeps a little and reports its thread's name (pool number and worker number)."""

    async def prep_async(self, shared):
        return range(self.params.get("n", 12))

    def exec(self, item):
        time.sleep(0.02)
        return threading.current_thread().name

    async def post_async(self, shared, prep_res, exec_res):
        shared.setdefault("threads", []).extend(exec_res)


async def test_owned_pool_is_sized_by_usable_cores_not_by_max_concurrency():
    shared = {}
    await Sleepy(executor="thread", max_concurrency=12).run_async(shared)
    assert 1 <= len(set(shared["threads"])) <= usable_cores()
    shared = {}
    await Sleepy(executor="thread", max_concurrency=12, workers=3).run_async(shared)
    assert len(set(shared["threads"])) == 3


def test_workers_only_size_an_owned_pool():
    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(pf.FlowError, match="workers"):
            Sleepy(executor=pool, workers=2)
    with pytest.raises(pf.FlowError, match="workers"):
        Sleepy(executor="thread", workers=0)


async def test_one_pool_is_shared_by_every_run_of_a_batch_flow():
    class Runs(pf.AsyncParallelBatchFlow):
        async def prep_async(self, shared):
            return [{"n": 3} for _ in range(8)]

    shared = {}
    await Runs(start=Sleepy(executor="thread", workers=2)).run_async(shared)
    pools = {name.rsplit("_", 1)[0] for name in shared["threads"]}
    assert len(shared["threads"]) == 24 and len(pools) == 1 and len(set(shared["threads"])) <= 2


class Unpicklable(pf.AsyncParallelBatchNode):
    def __init__(self, **options):
        super().__init__(**options)
        self.lock = threading.Lock()  # a client or lock on the node: it can't be sent to a process

    async def prep_async(self, shared):
        shared["prepped"] = True
        return [1, 2]

    def exec(self, item):
        return item


async def test_a_node_that_cannot_be_pickled_is_rejected_before_the_first_item():
    shared = {}
    with pytest.raises(pf.FlowError, match="Unpicklable can't be sent to a process pool"):
        await Unpicklable(executor="process", max_retries=3).run_async(shared)
    assert shared["prepped"]
    shared = {}
    await Unpicklable(executor="thread").run_async(shared)  # threads need no pickling


async def test_cancelling_the_batch_cancels_queued_executor_futures():
    ran = []

    class Slow(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return range(6)

        def exec(self, item):
            ran.append(item)
            time.sleep(0.1)

    with ThreadPoolExecutor(1) as pool:
        run = asyncio.create_task(Slow(executor=pool, max_concurrency=6).run_async({}))
        await asyncio.sleep(0.05)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert ran == [0]


class Pids(pf.AsyncParallelBatchNode):
    async def prep_async(self, shared):
        return range(2)

    def exec(self, item):
        time.sleep(0.05)
        return os.getpid()

    async def post_async(self, shared, prep_res, exec_res):
        shared["pids"].update(exec_res)


async def test_sub_flow_runs_in_flight_share_one_process_pool():
    class Runs(pf.AsyncParallelBatchFlow):
        async def prep_async(self, shared):
            return [{} for _ in range(8)]

    shared = {"pids": set()}
    await Runs(start=Pids(executor="process", workers=2), max_concurrency=8).run_async(shared)
    assert 1 <= len(shared["pids"]) <= 2 and os.getpid() not in shared["pids"]
