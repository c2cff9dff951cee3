"""Pools for offloaded sync exec: sized by the cores this process may use, shared by every run of one flow.

The outermost AsyncFlow run opens a registry; every batch inside it that asks for a "thread" or "process"
pool of a given size gets the same one, and the registry shuts them all down when that run ends. A batch run
outside any flow owns its pool for the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

PoolKind = Literal["thread", "process"]

_POOLS: ContextVar[dict[tuple[PoolKind, int], Executor] | None] = ContextVar("pocketflow_pools", default=None)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports one), at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@contextmanager
def shared_pools() -> Iterator[None]:
    """Share pools across everything run inside the block, unless an enclosing block already does."""
    if _POOLS.get() is not None:
        yield
        return
    pools: dict[tuple[PoolKind, int], Executor] = {}
    token = _POOLS.set(pools)
    try:
        yield
    finally:
        _POOLS.reset(token)
        for pool in pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


@contextmanager
def pool(kind: PoolKind, workers: int) -> Iterator[Executor]:
    """A `kind` pool of `workers`: the enclosing flow's shared one, or one owned by this block."""
    pools = _POOLS.get()
    if pools is not None:
        found = pools.get((kind, workers))
        if found is None:
            found = pools[kind, workers] = _new(kind, workers)
        yield found
        return
    owned = _new(kind, workers)
    try:
        yield owned
    finally:
        owned.shutdown(wait=False, cancel_futures=True)


def _new(kind: PoolKind, workers: int) -> Executor:
    return ThreadPoolExecutor(workers) if kind == "thread" else ProcessPoolExecutor(workers)
