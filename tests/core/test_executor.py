"""CPU offload: a parallel node's sync exec really runs on several threads or processes."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import pocketflow as pf


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
