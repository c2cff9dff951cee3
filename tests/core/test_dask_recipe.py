"""The Dask recipe: a parallel batch's sync exec on a real cluster via `executor=client.get_executor(pure=False)`.

One LocalCluster of two single-threaded worker processes serves the whole module, so every exec below really
crosses a process boundary through the scheduler: the node (a copy without successors) and the item go out
pickled, the result or the exception comes back pickled. Retries, cur_retry, exec_fallback, errors="collect",
cancellation and the budgets of nested batches are all decided on the client, by pocketflow, as with a local pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import Executor, Future
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

import pocketflow as pf

distributed = pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.CRITICAL
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _worker() -> str:
    """The address of the Dask worker running the caller (raises ValueError outside a worker)."""
    return distributed.get_worker().address


def _active_tasks(client) -> list[str]:
    """Tasks the scheduler still means to run or is running (finished or failed results held by someone don't count)."""
    states = client.run_on_scheduler(lambda dask_scheduler: [t.state for t in dask_scheduler.tasks.values()])
    return [state for state in states if state in ("waiting", "queued", "no-worker", "processing")]


class WhereAmI(pf.AsyncParallelBatchNode):
    async def prep_async(self, shared):
        return list(range(shared["n"]))

    def exec(self, item):
        time.sleep(0.02)
        return item, _worker(), os.getpid()

    async def post_async(self, shared, prep_res, exec_res):
        shared["out"] = exec_res


class Flaky(pf.AsyncParallelBatchNode):
    """Item n fails on its first n attempts, on the worker, which sees cur_retry."""

    async def prep_async(self, shared):
        return [2, 1, 0]

    def exec(self, item):
        if self.cur_retry < item:
            raise ValueError(f"item {item} failed on attempt {self.cur_retry} at {_worker()}")
        return item, self.cur_retry, _worker()

    async def post_async(self, shared, prep_res, exec_res):
        shared["out"] = exec_res


class Rescued(Flaky):
    def exec_fallback(self, item, exc):
        # Runs on the client, with the worker's exception (same type, same message) after the last attempt.
        return "fallback", item, type(exc).__name__, str(exc), self.cur_retry, os.getpid()


async def test_exec_runs_on_cluster_workers_in_input_order(client):
    shared = {"n": 8}
    await WhereAmI(executor=client.get_executor(pure=False)).run_async(shared)
    items, workers, pids = zip(*shared["out"], strict=True)
    assert items == tuple(range(8))
    assert set(workers) <= set(client.scheduler_info()["workers"])
    assert os.getpid() not in pids


async def test_retries_and_cur_retry_run_each_attempt_on_a_worker(client):
    shared = {}
    await Flaky(max_retries=3, executor=client.get_executor(pure=False)).run_async(shared)
    assert [(item, attempt) for item, attempt, _ in shared["out"]] == [(2, 2), (1, 1), (0, 0)]
    assert all(worker.startswith("tcp://") for _, _, worker in shared["out"])


async def test_exec_fallback_runs_on_the_client_with_the_workers_exception(client):
    shared = {}
    await Rescued(max_retries=2, executor=client.get_executor(pure=False)).run_async(shared)
    fallback, (one, attempt_one, _), (zero, attempt_zero, _) = shared["out"]
    assert fallback[:3] == ("fallback", 2, "ValueError")
    assert fallback[3].startswith("item 2 failed on attempt 1 at tcp://")
    assert fallback[4:] == (1, os.getpid())  # cur_retry is the last attempt's, and we are in this process
    assert (one, attempt_one, zero, attempt_zero) == (1, 1, 0, 0)


async def test_collect_keeps_each_workers_exception_in_its_slot(client):
    node = Flaky(max_retries=1, errors="collect", executor=client.get_executor(pure=False))
    shared = {}
    await node.run_async(shared)
    two, one, zero = shared["out"]
    assert isinstance(two, ValueError) and isinstance(one, ValueError)
    assert zero[:2] == (0, 0)


async def test_first_failure_propagates_and_leaves_nothing_on_the_cluster(client):
    with pytest.raises(ValueError, match="item [12] failed on attempt 0"):
        await Flaky(executor=client.get_executor(pure=False)).run_async({})
    await _until(lambda: not _active_tasks(client))


def test_pure_false_matters_identical_items_would_run_once(client, tmp_path):
    """The default get_executor() is pure: equal (node, item, attempt) share one key, so exec runs once for both."""

    class Touch(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return [str(tmp_path / "hits")] * 2

        def exec(self, path):
            with open(path, "a") as f:
                f.write(f"{_worker()}\n")

    asyncio.run(Touch(executor=client.get_executor()).run_async({}))
    assert len((tmp_path / "hits").read_text().splitlines()) == 1
    (tmp_path / "hits").unlink()
    asyncio.run(Touch(executor=client.get_executor(pure=False)).run_async({}))
    assert len((tmp_path / "hits").read_text().splitlines()) == 2


class Locked(WhereAmI):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lock = threading.Lock()  # travels with the node copy, and a lock can't be pickled


async def test_unpicklable_node_fails_before_anything_runs(client):
    with pytest.raises(TypeError, match="(?i)pickle|serializ"):
        await Locked(executor=client.get_executor(pure=False)).run_async({"n": 3})
    assert not _active_tasks(client)


async def test_a_class_defined_in_a_function_travels_by_value(client):
    """cloudpickle sends classes it can't import by reference by value, which a ProcessPoolExecutor can't do."""

    class Local(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return ["a", "b"]

        def exec(self, item):
            return item.upper(), _worker()

        async def post_async(self, shared, prep_res, exec_res):
            shared["out"] = [value for value, _ in exec_res]

    shared = {}
    await Local(executor=client.get_executor(pure=False)).run_async(shared)
    assert shared["out"] == ["A", "B"]


class Marking(pf.AsyncParallelBatchNode):
    """Each item marks its start on the worker, works for `seconds` in small steps, then marks its end."""

    def __init__(self, folder: Path, seconds: float, **kwargs):
        super().__init__(**kwargs)
        self.folder, self.seconds = str(folder), seconds

    async def prep_async(self, shared):
        return list(range(shared["n"]))

    def exec(self, item):
        Path(self.folder, f"started-{item}").write_text(_worker())
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)
        Path(self.folder, f"finished-{item}").write_text(_worker())
        return item


async def test_cancelling_the_run_cancels_every_cluster_future(client, tmp_path):
    """Queued items never start on a worker; the two running calls finish and nothing else runs after them."""
    node = Marking(tmp_path, 0.5, executor=client.get_executor(pure=False))
    run = asyncio.create_task(node.run_async({"n": 10}))
    await _until(lambda: len(list(tmp_path.glob("started-*"))) == 2)
    started = time.monotonic()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert time.monotonic() - started < 0.4  # cancelling doesn't wait for the running calls
    await _until(lambda: not _active_tasks(client))
    await _until(lambda: len(list(tmp_path.glob("finished-*"))) == 2)
    await asyncio.sleep(1.0)  # two more calls' worth of time: any survivor would have started by now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["finished-0", "finished-1", "started-0", "started-1"]
    assert not any(client.processing().values())


class CountingExecutor(Executor):
    """Delegates to the cluster and records the most futures ever outstanding at once."""

    def __init__(self, inner: Executor) -> None:
        self.inner, self.outstanding, self.peak = inner, 0, 0
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        with self._lock:
            self.outstanding += 1
            self.peak = max(self.peak, self.outstanding)
        future = self.inner.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future) -> None:
        with self._lock:
            self.outstanding -= 1


class Leaf(pf.AsyncParallelBatchNode):
    async def prep_async(self, shared):
        return [(self.params["group"], i) for i in range(4)]

    def exec(self, item):
        time.sleep(0.05)
        return item, _worker()

    async def post_async(self, shared, prep_res, exec_res):
        shared["results"].extend(item for item, _ in exec_res)


class Groups(pf.AsyncParallelBatchFlow):
    async def prep_async(self, shared):
        return [{"group": g} for g in range(4)]


@pytest.mark.parametrize(
    ("outer", "inner", "limiter", "peak"),
    [(2, 3, None, 6), (3, 4, 5, 5)],
    ids=["caps-multiply", "shared-limiter"],
)
async def test_nested_batches_keep_their_budgets_with_leaves_on_the_cluster(client, outer, inner, limiter, peak):
    counting = CountingExecutor(client.get_executor(pure=False))
    shared_limit = pf.Limiter(limiter) if limiter else None
    leaf = Leaf(executor=counting, max_concurrency=inner, limiter=shared_limit)
    flow = Groups(leaf, max_concurrency=outer, limiter=shared_limit)
    shared = {"results": []}
    await flow.run_async(shared)
    assert sorted(shared["results"]) == [(g, i) for g in range(4) for i in range(4)]
    # The cluster has only two worker threads: the rest wait in the scheduler, still inside the budget.
    assert counting.peak == peak


async def _until(condition) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the timeout")
        await asyncio.sleep(0.02)


def test_the_readme_recipe_runs_as_shown() -> None:
    """The README's Dask example (a `python dask` block, which the README test leaves to this one), as a script."""
    tokens = MarkdownIt().parse((ROOT / "README.md").read_text(encoding="utf-8"))
    blocks = [t.content for t in tokens if t.type == "fence" and t.info.strip() == "python dask"]
    assert len(blocks) == 1
    done = subprocess.run([sys.executable, "-c", blocks[0]], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([(n * n, 0) for n in range(10)])
