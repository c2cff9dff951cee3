"""Nodes: prep reads the shared store, exec does the work (with retries), post writes back and picks an action."""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Callable, Iterator, Sized
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar

from .errors import FlowError, warn
from .tracing import progress, report_retry, run_traced, run_traced_async

N = TypeVar("N", bound="BaseNode")

#: Which exceptions are retried: exception types, or a predicate on the exception.
RetryOn = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]

# The attempt number of the item being executed; per task, so concurrent items never share it.
_RETRY: ContextVar[int] = ContextVar("pocketflow_cur_retry", default=0)

_HOOKS = ("prep", "exec", "exec_fallback", "post")


def batch_items(items: Any) -> tuple[Iterator[Any], int | None]:
    """A batch's items and their count: a snapshot of a sized collection, or an iterator consumed lazily.

    The snapshot lets prep hand over a list it keeps changing (say, removing finished items); an iterator
    (a generator, a chunked file reader) is read one item at a time so memory follows the items in flight.
    None (prep returned nothing) means no items.
    """
    if items is None:
        return iter(()), 0
    if isinstance(items, (tuple, range)):  # immutable: nothing to snapshot
        return iter(items), len(items)
    if isinstance(items, Sized):  # list, tuple, dict, set, numpy array...
        snapshot = list(items)  # type: ignore[call-overload]  # Sized and iterable, as any collection
        return iter(snapshot), len(snapshot)
    return iter(items), None


class BaseNode:
    """A step in a graph. Successors are keyed by the action that post returns (None means "default")."""

    params: dict[str, Any]
    successors: dict[str, BaseNode | None]
    # Async nodes run the *_async hooks; the sync hooks named here are still theirs to call (see _check_hooks).
    _async_hooks: ClassVar[bool] = False
    _sync_hooks_used: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.params = {}
        self.successors = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_hooks(cls)

    def set_params(self, params: dict[str, Any], /) -> None:
        self.params = params

    def next(self, node: N, action: str = "default") -> N:
        """Make `node` the successor for `action`; returns it so chains read left to right."""
        if action in self.successors:
            warn(f"Overwriting successor for action '{action}'")
        self.successors[action] = node
        return node

    def __rshift__(self, other: N) -> N:
        return self.next(other)

    def __sub__(self, action: str) -> _Transition:
        if not isinstance(action, str):
            raise TypeError(f"Action must be a str, got {type(action).__name__}: {action!r}")
        return _Transition(self, action)

    def prep(self, shared: Any, /) -> Any:
        """Read what exec needs from the shared store."""
        return None

    def exec(self, prep_res: Any, /) -> Any:
        """Do the work; retried on failure; must not touch the shared store."""
        return None

    def post(self, shared: Any, prep_res: Any, exec_res: Any, /) -> Any:
        """Write results back; the returned action picks the successor."""
        return None

    def _exec(self, prep_res: Any) -> Any:
        return self.exec(prep_res)

    def _lifecycle(self, shared: Any) -> Any:
        prep_res = self.prep(shared)
        return self.post(shared, prep_res, self._exec(prep_res))

    def _run(self, shared: Any) -> Any:
        return run_traced(self, self._lifecycle, shared)

    def run(self, shared: Any) -> Any:
        """Run this node alone (successors are not followed; use a Flow for that)."""
        if self.successors:
            warn("Node won't run successors. Use Flow.")
        return self._run(shared)


def _check_hooks(cls: type[BaseNode]) -> None:
    """Warn, at the class statement, about hooks that would silently never run (or never be awaited)."""
    for name in _HOOKS:
        hook = cls.__dict__.get(name)
        if hook is None:
            continue
        if not cls._async_hooks and inspect.iscoroutinefunction(hook):
            warn(f"{cls.__name__}.{name} is `async def` on a sync node, so post would get an unawaited coroutine: "
                 f"subclass AsyncNode and define {name}_async instead")  # fmt: skip
        elif (cls._async_hooks and name not in cls._sync_hooks_used
              and getattr(cls, f"{name}_async").__module__.startswith(__package__ + ".")):  # fmt: skip
            warn(f"{cls.__name__} defines {name}(), which an async node never calls: rename it {name}_async "
                 f"(async def)")  # fmt: skip


class _Transition:
    """The `node - "action"` half of `node - "action" >> successor`."""

    def __init__(self, source: BaseNode, action: str) -> None:
        self.source: BaseNode = source
        self.action: str = action

    def __rshift__(self, target: N) -> N:
        return self.source.next(target, self.action)


class Node(BaseNode):
    """A node whose exec is tried `max_retries` times in all; exec_fallback handles the last failure.

    The delay before retry n is `wait * backoff**(n-1)`, times a random factor in [1-jitter, 1+jitter].
    `retry_on` (exception types, or a predicate on the exception) limits which failures are retried; any
    other goes straight to exec_fallback. `timeout` (async nodes only: a thread can't be interrupted) bounds
    each attempt in seconds; a timed-out attempt raises TimeoutError, retried like any other failure.
    """

    max_retries: int
    wait: float
    backoff: float
    jitter: float
    retry_on: RetryOn | None
    timeout: float | None

    def __init__(
        self,
        max_retries: int = 1,
        wait: float = 0,
        *,
        backoff: float = 1.0,
        jitter: float = 0.0,
        retry_on: RetryOn | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        if timeout is not None and not (self._async_hooks and timeout > 0):
            raise FlowError(f"timeout must be a positive number of seconds on an async node, got {timeout!r}")
        if not 0.0 <= jitter <= 1.0:
            raise FlowError(f"jitter must be within [0, 1], got {jitter!r}")
        if retry_on is not None and not (isinstance(retry_on, (type, tuple)) or callable(retry_on)):
            raise FlowError(f"retry_on must be exception types or a predicate, got {retry_on!r}")
        self.max_retries, self.wait, self.backoff, self.jitter = max_retries, wait, backoff, jitter
        self.retry_on, self.timeout = retry_on, timeout

    @property
    def cur_retry(self) -> int:
        """The current item's attempt number (0 = first try); per item even when items run concurrently."""
        return _RETRY.get()

    @cur_retry.setter
    def cur_retry(self, value: int) -> None:
        _RETRY.set(value)

    def _retry_delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        delay = self.wait * self.backoff ** (retry - 1)
        return delay * random.uniform(1.0 - self.jitter, 1.0 + self.jitter) if self.jitter else delay

    def _gives_up(self, attempt: int, exc: Exception) -> bool:
        """Whether `exc` on attempt `attempt` (0-based) is final: attempts used up, or not a retryable kind."""
        retry_on = self.retry_on
        if attempt == self.max_retries - 1:
            return True
        if retry_on is None:
            return False
        return not (isinstance(exc, retry_on) if isinstance(retry_on, (type, tuple)) else retry_on(exc))

    def exec_fallback(self, prep_res: Any, exc: Exception, /) -> Any:
        """Handle exec's last failure; the default re-raises it."""
        raise exc

    def _exec(self, prep_res: Any) -> Any:
        for attempt in range(self.max_retries):
            token = _RETRY.set(attempt)
            try:
                result = self.exec(prep_res)
            except Exception as exc:
                if self._gives_up(attempt, exc):
                    return self.exec_fallback(prep_res, exc)
                report_retry(self, attempt + 1, exc)
                if self.wait > 0:
                    time.sleep(self._retry_delay(attempt + 1))
            else:
                return result
            finally:
                _RETRY.reset(token)
        return None  # max_retries=0: exec never runs, as upstream


class BatchNode(Node):
    """Runs exec (with its retries) once per item prep returns: a list is snapshot, an iterator read lazily."""

    def _exec(self, items: Any) -> Any:
        source, total = batch_items(items)
        return [Node._exec(self, item) for item in progress(self, source, total)]


class AsyncNode(Node):
    """A node with async prep/exec/post; run it with `await node.run_async(shared)` or inside an AsyncFlow."""

    _async_hooks = True

    async def prep_async(self, shared: Any, /) -> Any:
        """Read what exec_async needs from the shared store."""
        return None

    async def exec_async(self, prep_res: Any, /) -> Any:
        """Do the work; retried on failure; must not touch the shared store."""
        return None

    async def exec_fallback_async(self, prep_res: Any, exc: Exception, /) -> Any:
        """Handle exec_async's last failure; the default re-raises it."""
        raise exc

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any, /) -> Any:
        """Write results back; the returned action picks the successor."""
        return None

    async def _exec_async(self, prep_res: Any) -> Any:
        if self.max_retries == 1 and self.timeout is None and not _RETRY.get():  # the common case, kept lean
            try:
                return await self.exec_async(prep_res)
            except Exception as exc:
                return await self.exec_fallback_async(prep_res, exc)
        for attempt in range(self.max_retries):
            token = _RETRY.set(attempt)
            try:
                if self.timeout is None:
                    result = await self.exec_async(prep_res)
                else:
                    async with asyncio.timeout(self.timeout):
                        result = await self.exec_async(prep_res)
            except Exception as exc:
                if self._gives_up(attempt, exc):
                    return await self.exec_fallback_async(prep_res, exc)
                report_retry(self, attempt + 1, exc)
                if self.wait > 0:
                    await asyncio.sleep(self._retry_delay(attempt + 1))
            else:
                return result
            finally:
                _RETRY.reset(token)
        return None  # max_retries=0: exec never runs, as upstream

    async def _lifecycle_async(self, shared: Any) -> Any:
        prep_res = await self.prep_async(shared)
        return await self.post_async(shared, prep_res, await self._exec_async(prep_res))

    async def _run_async(self, shared: Any) -> Any:
        return await run_traced_async(self, self._lifecycle_async, shared)

    async def run_async(self, shared: Any) -> Any:
        """Run this node alone (successors are not followed; use an AsyncFlow for that)."""
        if self.successors:
            warn("Node won't run successors. Use AsyncFlow.")
        return await self._run_async(shared)

    def _run(self, shared: Any) -> Any:
        raise RuntimeError(f"{type(self).__name__} is async: use `await node.run_async(shared)` (or an AsyncFlow)")


class AsyncBatchNode(AsyncNode, BatchNode):
    """Runs exec_async (with its retries) once per item, one item after another."""

    async def _exec_async(self, items: Any) -> Any:
        source, total = batch_items(items)
        return [await AsyncNode._exec_async(self, item) for item in progress(self, source, total)]
