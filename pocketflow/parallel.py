"""Parallel batches: bounded, order-keeping, fail-fast (or collecting), cancellable, optionally offloaded.

A batch run is a TaskGroup of workers pulling (index, item) pairs from one shared iterator; there is never a
task per item. The caller adds one worker per event-loop turn while unstarted items remain, up to
`max_concurrency` (no cap when None) and the limiter's capacity. Items that finish without suspending are
drained by the first worker; items that wait on I/O keep the pool growing until every item is started or the
cap is reached. So with no cap every item still gets in flight, just ramped up one per turn instead of all
at once, and memory follows the number of items actually in flight.
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextvars import ContextVar
from functools import partial
from operator import length_hint
from typing import Any, Literal

from .errors import FlowError
from .flows import AsyncFlow, BatchFlow
from .limiter import Limiter, holds, mark_held
from .nodes import _RETRY, AsyncNode, BaseNode, BatchNode, Node, as_items
from .tracing import Tracer, current_tracer

Errors = Literal["raise", "collect"]
ExecutorSpec = Literal["thread", "process"] | Executor

# (executor, picklable copy of the node) while an offloading batch runs; its workers inherit it.
_OFFLOAD: ContextVar[tuple[Executor, Node] | None] = ContextVar("pocketflow_offload", default=None)


def _check_options(max_concurrency: int | None, errors: str) -> None:
    if max_concurrency is not None and (not isinstance(max_concurrency, int) or max_concurrency < 1):
        raise FlowError(f"max_concurrency must be a positive int or None, got {max_concurrency!r}")
    if errors not in ("raise", "collect"):
        raise FlowError(f"errors must be 'raise' or 'collect', got {errors!r}")


class _Batch:
    """One run of a parallel batch over `items`, calling `fn(item)` for each."""

    __slots__ = ("owner", "fn", "results", "source", "pairs", "limiter", "collect", "tracer", "done", "failed", "waiting")

    def __init__(
        self,
        owner: BaseNode,
        fn: Callable[[Any], Awaitable[Any]],
        items: list[Any],
        limiter: Limiter | None,
        errors: Errors,
    ) -> None:
        self.owner, self.fn, self.limiter = owner, fn, limiter
        self.results: list[Any] = [None] * len(items)
        self.source = iter(items)
        self.pairs = enumerate(self.source)
        self.collect = errors == "collect"
        self.tracer: Tracer | None = current_tracer()
        self.done = self.failed = 0
        self.waiting: set[asyncio.Task[Any]] = set()

    async def run(self, max_concurrency: int | None) -> list[Any]:
        """Results (or, when collecting, exceptions) in input order; the first failure otherwise propagates."""
        cap = len(self.results)
        if max_concurrency is not None:
            cap = min(cap, max_concurrency)
        limiter = self.limiter
        inherit = limiter is not None and holds(limiter)
        if limiter is not None:
            # An inherited slot is one of the capacity, so `capacity` workers can already use every slot.
            cap = min(cap, limiter.capacity)
        try:
            async with asyncio.TaskGroup() as group:
                spawned = 0
                while spawned < cap and length_hint(self.source):
                    group.create_task(self._worker(acquire=not (inherit and spawned == 0)))
                    spawned += 1
                    await asyncio.sleep(0)
        except BaseExceptionGroup as failure:
            first = failure.exceptions[0]
        else:
            return self.results
        # Raised outside the handler: `raise ... from None` would erase the item's own __cause__ and context.
        raise first.cancel if isinstance(first, _ItemCancelled) else first

    async def _worker(self, acquire: bool) -> None:
        limiter = self.limiter if acquire else None
        if limiter is not None:
            mark_held(limiter)
        task = asyncio.current_task()
        assert task is not None
        pairs, fn, results, tracer = self.pairs, self.fn, self.results, self.tracer
        while True:
            if limiter is not None and not await self._acquire(limiter, task):
                return
            try:
                pair = next(pairs, None)
                if pair is None:
                    self._stop_waiters()
                    return
                index, item = pair
                try:
                    results[index] = await fn(item)
                except Exception as exc:
                    if self._failed(index, exc):
                        raise
                except asyncio.CancelledError as exc:
                    if task.cancelling():
                        raise  # the batch or its caller is stopping this worker
                    # The item cancelled itself (say, it awaited a cancelled future). A TaskGroup ignores a
                    # cancelled child, which would silently drop this worker's remaining items: fail instead.
                    if self._failed(index, exc):
                        raise _ItemCancelled(exc) from exc
                else:
                    if tracer is not None:
                        self._report()
            finally:
                if limiter is not None:
                    limiter.release()

    async def _acquire(self, limiter: Limiter, task: asyncio.Task[Any]) -> bool:
        """Wait for a slot unless the items run out first; a worker that finds them gone stops the waiters.

        Otherwise a finished batch would wait for slots it has no use for, behind other batches' items.
        """
        if not length_hint(self.source):
            self._stop_waiters()
            return False
        self.waiting.add(task)
        try:
            await limiter.acquire()
        finally:
            self.waiting.discard(task)
        return True

    def _stop_waiters(self) -> None:
        for waiter in self.waiting:
            waiter.cancel()

    def _failed(self, index: int, exc: BaseException) -> bool:
        """Count and report a failed item; when collecting, keep `exc` as its outcome. True: raise it."""
        self.failed += 1
        if self.collect:
            self.results[index] = exc
        self._report()
        return not self.collect

    def _report(self) -> None:
        if self.tracer is not None:
            self.done += 1
            self.tracer.on_item_done(self.owner, self.done, self.failed, len(self.results))


class _ItemCancelled(Exception):
    """Carries an item's own CancelledError out of its worker, which a TaskGroup would otherwise ignore."""

    def __init__(self, cancel: asyncio.CancelledError) -> None:
        super().__init__("a batch item was cancelled from inside")
        self.cancel = cancel


def _call_exec(node: Node, item: Any, attempt: int) -> Any:
    """Executor-side entry point: run the node's sync exec with the item's cur_retry visible."""
    _RETRY.set(attempt)
    return node.exec(item)


class AsyncParallelBatchNode(AsyncNode, BatchNode):
    """Runs exec_async for every item concurrently; see the module docstring for how items are scheduled.

    `max_concurrency` caps items in flight; `limiter` shares a cap with other batches; `errors="collect"` puts
    each failing item's exception in its result slot instead of cancelling the batch; `executor` ("thread",
    "process" or an Executor) runs the node's synchronous `exec` off the event loop (on a copy of the node
    without successors, which must be picklable for processes); its sync `exec_fallback` then handles the
    last failure, on the event loop.
    """

    def __init__(
        self,
        max_retries: int = 1,
        wait: float = 0,
        *,
        max_concurrency: int | None = None,
        limiter: Limiter | None = None,
        errors: Errors = "raise",
        executor: ExecutorSpec | None = None,
        backoff: float = 1.0,
        jitter: float = 0.0,
    ) -> None:
        super().__init__(max_retries, wait, backoff=backoff, jitter=jitter)
        _check_options(max_concurrency, errors)
        if isinstance(executor, str) and executor not in ("thread", "process"):
            raise FlowError(f"executor must be 'thread', 'process' or an Executor, got {executor!r}")
        if executor is not None and type(self).exec_async is not AsyncParallelBatchNode.exec_async:
            raise FlowError(f"{type(self).__name__}: executor= runs the sync exec(); override exec, not exec_async")
        self.max_concurrency, self.limiter, self.errors, self.executor = max_concurrency, limiter, errors, executor

    async def exec_async(self, prep_res: Any) -> Any:
        """Upstream default (None), unless executor= is set: then the sync exec runs on the executor."""
        offload = _OFFLOAD.get()
        if offload is None:
            return None
        pool, stub = offload
        return await asyncio.get_running_loop().run_in_executor(pool, _call_exec, stub, prep_res, _RETRY.get())

    async def exec_fallback_async(self, prep_res: Any, exc: Exception) -> Any:
        """Upstream default (re-raise), unless executor= is set: then the sync exec's pair, exec_fallback, decides."""
        if self.executor is None:
            raise exc
        return self.exec_fallback(prep_res, exc)

    async def _exec_async(self, items: Any) -> Any:
        batch = _Batch(self, partial(AsyncNode._exec_async, self), as_items(items), self.limiter, self.errors)
        if self.executor is None:
            return await batch.run(self.max_concurrency)
        pool, owned = self._open_executor()
        stub = copy.copy(self)
        stub.successors, stub.executor, stub.limiter = {}, None, None
        token = _OFFLOAD.set((pool, stub))
        try:
            return await batch.run(self.max_concurrency)
        finally:
            _OFFLOAD.reset(token)
            if owned:
                pool.shutdown(wait=False, cancel_futures=True)

    def _open_executor(self) -> tuple[Executor, bool]:
        """The executor for this run and whether the run owns it (and so shuts it down)."""
        if isinstance(self.executor, Executor):
            return self.executor, False
        size = self.max_concurrency or os.cpu_count() or 1
        return (ThreadPoolExecutor(size) if self.executor == "thread" else ProcessPoolExecutor(size)), True


class AsyncParallelBatchFlow(AsyncFlow, BatchFlow):
    """Runs the flow once per params dict concurrently, with the same options as AsyncParallelBatchNode.

    With `errors="collect"`, post_async receives the per-run outcomes (last action or exception, in input
    order) as exec_res; otherwise exec_res is None, as upstream.
    """

    def __init__(
        self,
        start: BaseNode | None = None,
        *,
        max_concurrency: int | None = None,
        limiter: Limiter | None = None,
        errors: Errors = "raise",
        isolate: bool = False,
    ) -> None:
        super().__init__(start, isolate=isolate)
        _check_options(max_concurrency, errors)
        self.max_concurrency, self.limiter, self.errors = max_concurrency, limiter, errors

    async def _run_one(self, shared: Any, run_params: dict[str, Any]) -> Any:
        return await self._orch_async(self._shared_for_run(shared), {**self.params, **run_params})

    async def _lifecycle_async(self, shared: Any) -> Any:
        runs = await self.prep_async(shared) or []
        batch = _Batch(self, partial(self._run_one, shared), as_items(runs), self.limiter, self.errors)
        outcomes = await batch.run(self.max_concurrency)
        return await self.post_async(shared, runs, outcomes if self.errors == "collect" else None)

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        """The default action, as upstream (whose exec_res here is always None)."""
        return None
