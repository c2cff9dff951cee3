"""Nodes: prep reads the shared store, exec does the work (with retries), post writes back and picks an action."""

from __future__ import annotations

import asyncio
import random
import time
import warnings
from contextvars import ContextVar
from typing import Any, TypeVar

from .errors import FlowError
from .tracing import progress, report_retry, run_traced, run_traced_async

N = TypeVar("N", bound="BaseNode")

# The attempt number of the item being executed; per task, so concurrent items never share it.
_RETRY: ContextVar[int] = ContextVar("pocketflow_cur_retry", default=0)


def as_items(items: Any) -> list[Any]:
    """A batch's items as a list; None (prep returned nothing) means no items."""
    return items if isinstance(items, list) else list(items or ())


class BaseNode:
    """A step in a graph. Successors are keyed by the action that post returns (None means "default")."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.successors: dict[str, BaseNode] = {}

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def next(self, node: N, action: str = "default") -> N:
        """Make `node` the successor for `action`; returns it so chains read left to right."""
        if action in self.successors:
            warnings.warn(f"Overwriting successor for action {action!r} of {type(self).__name__}", stacklevel=2)
        self.successors[action] = node
        return node

    def __rshift__(self, other: N) -> N:
        return self.next(other)

    def __sub__(self, action: str) -> _Transition:
        if not isinstance(action, str):
            raise TypeError(f"Action must be a str, got {type(action).__name__}: {action!r}")
        return _Transition(self, action)

    def prep(self, shared: Any) -> Any:
        return None

    def exec(self, prep_res: Any) -> Any:
        return None

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
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
            warnings.warn(f"{type(self).__name__}.run() won't run its successors; use a Flow", stacklevel=2)
        return self._run(shared)


class _Transition:
    """The `node - "action"` half of `node - "action" >> successor`."""

    def __init__(self, source: BaseNode, action: str) -> None:
        self.source, self.action = source, action

    def __rshift__(self, target: N) -> N:
        return self.source.next(target, self.action)


class Node(BaseNode):
    """A node whose exec is retried `max_retries` times in all; exec_fallback handles the last failure.

    The delay before retry n is `wait * backoff**(n-1)`, times a random factor in [1-jitter, 1+jitter].
    """

    def __init__(self, max_retries: int = 1, wait: float = 0, *, backoff: float = 1.0, jitter: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= jitter <= 1.0:
            raise FlowError(f"jitter must be within [0, 1], got {jitter!r}")
        self.max_retries, self.wait, self.backoff, self.jitter = max_retries, wait, backoff, jitter

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

    def exec_fallback(self, prep_res: Any, exc: Exception) -> Any:
        raise exc

    def _exec(self, prep_res: Any) -> Any:
        last = self.max_retries - 1
        for attempt in range(self.max_retries):
            token = _RETRY.set(attempt)
            try:
                return self.exec(prep_res)
            except Exception as exc:
                if attempt == last:
                    return self.exec_fallback(prep_res, exc)
                report_retry(self, attempt + 1, exc)
                if self.wait > 0:
                    time.sleep(self._retry_delay(attempt + 1))
            finally:
                _RETRY.reset(token)
        return None


class BatchNode(Node):
    """Runs exec (with its retries) once per item of the list prep returns."""

    def _exec(self, items: Any) -> Any:
        return [Node._exec(self, item) for item in progress(self, as_items(items))]


class AsyncNode(Node):
    """A node with async prep/exec/post; run it with `await node.run_async(shared)` or inside an AsyncFlow."""

    async def prep_async(self, shared: Any) -> Any:
        return None

    async def exec_async(self, prep_res: Any) -> Any:
        return None

    async def exec_fallback_async(self, prep_res: Any, exc: Exception) -> Any:
        raise exc

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        return None

    async def _exec_async(self, prep_res: Any) -> Any:
        last = self.max_retries - 1
        for attempt in range(self.max_retries):
            token = _RETRY.set(attempt)
            try:
                return await self.exec_async(prep_res)
            except Exception as exc:
                if attempt == last:
                    return await self.exec_fallback_async(prep_res, exc)
                report_retry(self, attempt + 1, exc)
                if self.wait > 0:
                    await asyncio.sleep(self._retry_delay(attempt + 1))
            finally:
                _RETRY.reset(token)
        return None

    async def _lifecycle_async(self, shared: Any) -> Any:
        prep_res = await self.prep_async(shared)
        return await self.post_async(shared, prep_res, await self._exec_async(prep_res))

    async def _run_async(self, shared: Any) -> Any:
        return await run_traced_async(self, self._lifecycle_async, shared)

    async def run_async(self, shared: Any) -> Any:
        """Run this node alone (successors are not followed; use an AsyncFlow for that)."""
        if self.successors:
            warnings.warn(f"{type(self).__name__}.run_async() won't run its successors; use an AsyncFlow", stacklevel=2)
        return await self._run_async(shared)

    def _run(self, shared: Any) -> Any:
        raise RuntimeError(f"{type(self).__name__} is async: use `await node.run_async(shared)` (or an AsyncFlow)")


class AsyncBatchNode(AsyncNode, BatchNode):
    """Runs exec_async (with its retries) once per item, one item after another."""

    async def _exec_async(self, items: Any) -> Any:
        return [await AsyncNode._exec_async(self, item) for item in progress(self, as_items(items))]
