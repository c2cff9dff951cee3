"""Observability: a Tracer installed in a ContextVar sees every node run, retry and batch item.

With no tracer installed the cost is one ContextVar lookup per node run (and per batch), nothing per item.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .nodes import BaseNode

T = TypeVar("T")


class Tracer:
    """Override the hooks you need; each runs on the event loop thread (or the caller's thread for sync flows)."""

    def on_node_start(self, node: BaseNode, /) -> None:
        """A node (or flow) run begins."""

    def on_node_end(self, node: BaseNode, action: Any, seconds: float, /) -> None:
        """A node run returned `action` after `seconds`."""

    def on_node_error(self, node: BaseNode, exc: BaseException, seconds: float, /) -> None:
        """A node run raised (cancellation included) after `seconds`."""

    def on_retry(self, node: BaseNode, attempt: int, exc: Exception, /) -> None:
        """An item's exec raised `exc`; retry number `attempt` (1 = first retry) comes next."""

    def on_item_done(self, node: BaseNode, done: int, failed: int, total: int, /) -> None:
        """A batch item finished: `done` of `total` finished so far, `failed` of them with an error.

        `total` is the number of items, or, when prep returned an iterator, the number taken from it so far.
        """


_TRACER: ContextVar[Tracer | None] = ContextVar("pocketflow_tracer", default=None)


def current_tracer() -> Tracer | None:
    """The tracer installed for the current context, if any."""
    return _TRACER.get()


@contextmanager
def tracing(tracer: Tracer) -> Iterator[Tracer]:
    """Install `tracer` for everything run inside the block, tasks it spawns included."""
    token = _TRACER.set(tracer)
    try:
        yield tracer
    finally:
        _TRACER.reset(token)


def run_traced(node: BaseNode, step: Callable[[Any], Any], shared: Any) -> Any:
    """Run a sync node step, reporting start/end/error when a tracer is installed."""
    tracer = _TRACER.get()
    if tracer is None:
        return step(shared)
    tracer.on_node_start(node)
    start = time.perf_counter()
    try:
        action = step(shared)
    except BaseException as exc:
        tracer.on_node_error(node, exc, time.perf_counter() - start)
        raise
    tracer.on_node_end(node, action, time.perf_counter() - start)
    return action


async def run_traced_async(node: BaseNode, step: Callable[[Any], Awaitable[Any]], shared: Any) -> Any:
    """Async twin of run_traced."""
    tracer = _TRACER.get()
    if tracer is None:
        return await step(shared)
    tracer.on_node_start(node)
    start = time.perf_counter()
    try:
        action = await step(shared)
    except BaseException as exc:
        tracer.on_node_error(node, exc, time.perf_counter() - start)
        raise
    tracer.on_node_end(node, action, time.perf_counter() - start)
    return action


def report_retry(node: BaseNode, attempt: int, exc: Exception) -> None:
    """Tell the tracer (if any) that an item is about to be retried."""
    tracer = _TRACER.get()
    if tracer is not None:
        tracer.on_retry(node, attempt, exc)


def progress(node: BaseNode, items: Iterator[T], total: int | None) -> Iterator[T]:
    """Iterate a sequential batch; with a tracer, report on_item_done after each item's loop body."""
    tracer = _TRACER.get()
    return items if tracer is None else _reporting(tracer, node, items, total)


def _reporting(tracer: Tracer, node: BaseNode, items: Iterator[T], total: int | None) -> Iterator[T]:
    for done, item in enumerate(items, 1):
        yield item
        tracer.on_item_done(node, done, 0, done if total is None else total)
