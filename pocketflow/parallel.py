"""Parallel batches: bounded, order-keeping, fail-fast (or collecting), cancellable, optionally offloaded.

A batch run is a TaskGroup of workers pulling items from one shared iterator (a snapshot of a sized
collection, or prep's own iterator read lazily); there is never a task per item. The caller adds one worker
per event-loop turn while items remain, up to `max_concurrency` (no cap when None) and the limiter's
capacity. Items that finish without suspending are drained by the first worker; items that wait on I/O keep
the pool growing, so memory follows the items actually in flight. A worker takes its next item only while
the batch is neither failing nor cancelled: asyncio delivers a cancellation once, so an item that swallows
it must not keep its worker going.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from functools import partial
from typing import Any, Literal

from .errors import FlowError, warn
from .executors import PoolKind, pool, usable_cores
from .flows import AsyncFlow, BatchFlow
from .limiter import Limiter, held_lease, seat
from .nodes import _RETRY, AsyncNode, BaseNode, BatchNode, Node, RetryOn, batch_items
from .tracing import Tracer, current_tracer

Errors = Literal["raise", "collect"]
ExecutorSpec = PoolKind | Executor

# (executor, picklable copy of the node) while an offloading batch runs; its workers inherit it.
_OFFLOAD: ContextVar[tuple[Executor, Node] | None] = ContextVar("pocketflow_offload", default=None)


def _check_options(max_concurrency: int | None, errors: str) -> None:
    if max_concurrency is not None and (not isinstance(max_concurrency, int) or max_concurrency < 1):
        raise FlowError(f"max_concurrency must be a positive int or None, got {max_concurrency!r}")
    if errors not in ("raise", "collect"):
        raise FlowError(f"errors must be 'raise' or 'collect', got {errors!r}")


class _Batch:
    """One run of a parallel batch over `items`, calling `fn(item)` for each (`rescue(item, exc)` on failure)."""

    __slots__ = ("owner", "fn", "rescue", "source", "total", "results", "limiter", "held", "collect", "tracer", "done",
                 "failed", "ended", "stopping", "where")  # fmt: skip

    def __init__(
        self,
        owner: BaseNode,
        fn: Callable[[Any], Awaitable[Any]],
        items: Any,
        limiter: Limiter | None,
        errors: Errors,
        rescue: Callable[[Any, Exception], Awaitable[Any]] | None = None,
    ) -> None:
        self.owner, self.fn, self.rescue, self.limiter = owner, fn, rescue, limiter
        self.source, self.total = batch_items(items)
        self.results: list[Any] = []
        # The slot this task runs on, if any: the batch may borrow it (one item at a time) instead of a fresh one.
        self.held = None if limiter is None else held_lease(limiter)
        self.collect = errors == "collect"
        self.tracer: Tracer | None = current_tracer()
        self.done = self.failed = 0
        self.ended = self.stopping = False  # the items ran out / a failure is on its way out
        self.where: dict[int, int] = {}  # id(failure) -> item index, to name the item in notes

    async def run(self, max_concurrency: int | None) -> list[Any]:
        """Results (or, when collecting, exceptions) in input order; the first failure otherwise propagates."""
        cap = max_concurrency or sys.maxsize
        if self.total is not None:
            cap = min(cap, self.total)
        if self.limiter is not None:
            cap = min(cap, self.limiter.capacity)
            self.limiter._bind()
        try:
            async with asyncio.TaskGroup() as group:
                spawned = 0
                while spawned < cap and not (self.ended or self.stopping) and len(self.results) != self.total:
                    group.create_task(self._worker())
                    spawned += 1
                    await asyncio.sleep(0)
        except BaseExceptionGroup as failure:
            errors = [exc.cancel if isinstance(exc, _ItemCancelled) else exc for exc in failure.exceptions]
        else:
            return self.results
        # Raised outside the handler: `raise ... from None` would erase the item's own __cause__ and context.
        first = errors[0]
        for other in errors[1:]:
            first.add_note(f"{self._name(other)} failed at the same time: {type(other).__name__}: {other}")
        raise first

    async def _worker(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        source, fn, rescue, results = self.source, self.fn, self.rescue, self.results
        limiter, held = self.limiter, self.held
        lease = None
        place = None if limiter is None else seat(limiter)  # what this worker's items (and their tasks) run on
        if _RETRY.get():
            _RETRY.set(0)  # items start at attempt 0 even when the batch runs inside another item's retry
        try:
            while not self.stopping:
                if task.cancelling():
                    raise asyncio.CancelledError  # an item swallowed this worker's cancellation: stop here
                try:
                    item = next(source)
                except StopIteration:
                    self.ended = True
                    return
                index = len(results)
                results.append(None)
                if limiter is not None and place is not None:
                    if lease is None:
                        lease = limiter._try_take(held) or await limiter._take(held)
                    place.lease = lease
                try:
                    try:
                        results[index] = await fn(item)
                    except Exception as exc:
                        if rescue is None:
                            raise
                        results[index] = await rescue(item, exc)
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
                    if self.tracer is not None:
                        self._report()
                finally:
                    if limiter is not None and place is not None and lease is not None:
                        place.lease = None
                        # Kept for the next item (a lease per item is most of a Limiter's cost) unless it was
                        # borrowed, is lent out (to a task the item left running) or someone waits for a slot.
                        if lease.parent is not None or lease.lent or limiter._waiting:
                            limiter._give_back(lease)
                            lease = None
        finally:
            if limiter is not None and lease is not None:
                limiter._give_back(lease)

    def _failed(self, index: int, exc: BaseException) -> bool:
        """Count and report a failed item; when collecting, keep `exc` as its outcome. True: raise it."""
        self.failed += 1
        if self.collect:
            self.results[index] = exc
        else:
            self.stopping = True
            self.where[id(exc)] = index
        self._report()
        return not self.collect

    def _name(self, exc: BaseException) -> str:
        index = self.where.get(id(exc))
        return "another task" if index is None else f"item {index}"

    def _report(self) -> None:
        if self.tracer is not None:
            self.done += 1
            total = len(self.results) if self.total is None else self.total
            self.tracer.on_item_done(self.owner, self.done, self.failed, total)


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
    "process" or any concurrent.futures.Executor) runs the node's synchronous `exec` off the event loop, on a
    copy of the node without successors (which must be picklable for processes); its sync `exec_fallback` then
    handles the last failure, on the event loop. A "thread" or "process" pool has `workers` workers (default:
    the usable cores) and is shared by every run of the enclosing flow.
    """

    _sync_hooks_used = frozenset({"exec", "exec_fallback"})
    max_concurrency: int | None
    limiter: Limiter | None
    errors: Errors
    executor: ExecutorSpec | None
    workers: int | None

    def __init__(
        self,
        max_retries: int = 1,
        wait: float = 0,
        *,
        max_concurrency: int | None = None,
        limiter: Limiter | None = None,
        errors: Errors = "raise",
        executor: ExecutorSpec | None = None,
        workers: int | None = None,
        backoff: float = 1.0,
        jitter: float = 0.0,
        retry_on: RetryOn | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(max_retries, wait, backoff=backoff, jitter=jitter, retry_on=retry_on, timeout=timeout)
        _check_options(max_concurrency, errors)
        name = type(self).__name__
        if isinstance(executor, str) and executor not in ("thread", "process"):
            raise FlowError(f"executor must be 'thread', 'process' or an Executor, got {executor!r}")
        if workers is not None and (not isinstance(executor, str) or not isinstance(workers, int) or workers < 1):
            raise FlowError(f"workers must be a positive int and sizes a 'thread' or 'process' pool, got {workers!r}")
        overrides_exec_async = type(self).exec_async is not AsyncParallelBatchNode.exec_async
        if executor is not None and overrides_exec_async:
            raise FlowError(f"{name}: executor= runs the sync exec(); override exec, not exec_async")
        if executor is None and not overrides_exec_async and type(self).exec is not BaseNode.exec:
            warn(f"{name} defines a sync exec() but no executor=, so every item's result would be None: pass "
                 f"executor='thread' (or 'process', or an Executor), or define exec_async instead")  # fmt: skip
        self.max_concurrency, self.limiter, self.errors = max_concurrency, limiter, errors
        self.executor, self.workers = executor, workers

    async def exec_async(self, prep_res: Any, /) -> Any:
        """Upstream default (None), unless executor= is set: then the sync exec runs on the executor."""
        offload = _OFFLOAD.get()
        if offload is None:
            return None
        executor, stub = offload
        return await asyncio.get_running_loop().run_in_executor(executor, _call_exec, stub, prep_res, _RETRY.get())

    async def exec_fallback_async(self, prep_res: Any, exc: Exception, /) -> Any:
        """Upstream default (re-raise), unless executor= is set: then the sync exec's pair, exec_fallback, decides."""
        if self.executor is None:
            raise exc
        return self.exec_fallback(prep_res, exc)

    async def _exec_async(self, items: Any) -> Any:
        if self.max_retries == 1 and self.timeout is None:  # no retry loop to run: call the hooks directly
            batch = _Batch(self, self.exec_async, items, self.limiter, self.errors, self.exec_fallback_async)
        else:
            batch = _Batch(self, partial(AsyncNode._exec_async, self), items, self.limiter, self.errors)
        if self.executor is None:
            return await batch.run(self.max_concurrency)
        with self._executor() as executor:
            token = _OFFLOAD.set((executor, self._stub(executor)))
            try:
                return await batch.run(self.max_concurrency)
            finally:
                _OFFLOAD.reset(token)

    def _executor(self) -> AbstractContextManager[Executor]:
        if isinstance(self.executor, Executor):
            return nullcontext(self.executor)
        assert self.executor is not None
        return pool(self.executor, self.workers or usable_cores())

    def _stub(self, executor: Executor) -> Node:
        """The copy of this node that runs exec on the executor; checked up front for a process pool."""
        stub = copy.copy(self)
        stub.successors, stub.executor, stub.limiter = {}, None, None
        if isinstance(executor, ProcessPoolExecutor):
            try:
                pickle.dumps(stub)
            except Exception as exc:
                raise FlowError(
                    f"{type(self).__name__} can't be sent to a process pool ({type(exc).__name__}: {exc}): keep "
                    "clients, locks and open files off the node and define it at module level, or use "
                    "executor='thread'"
                ) from exc
        return stub


class AsyncParallelBatchFlow(AsyncFlow, BatchFlow):
    """Runs the flow once per params dict concurrently, with the same options as AsyncParallelBatchNode.

    With `errors="collect"`, post_async receives the per-run outcomes (last action or exception, in input
    order) as exec_res; otherwise exec_res is None, as upstream.
    """

    max_concurrency: int | None
    limiter: Limiter | None
    errors: Errors

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
        runs = await self.prep_async(shared)
        runs = [] if runs is None else runs
        batch = _Batch(self, partial(self._run_one, shared), runs, self.limiter, self.errors)
        outcomes = await batch.run(self.max_concurrency)
        return await self.post_async(shared, runs, outcomes if self.errors == "collect" else None)

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any, /) -> Any:
        """The default action, as upstream (whose exec_res here is always None)."""
        return None
