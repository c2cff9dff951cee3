"""Worker processes for the batches of small images.

With small images the GIL, not the CPU, is the limit: each image spends most of its time in Python (opening,
metadata, bookkeeping) between short C calls, so threads mostly take turns (2,000 JPEGs of 96x64 on 2 cores:
2 threads 1.30 s, 1 thread 1.32 s; 2 processes 0.80 s, on tmpfs). Worker processes each have their own GIL.

They are forked, so they start in milliseconds with every module already imported, and only while this process
has one Python thread: forking while other threads run can copy a lock one of them held, and deadlock. (The
native pools of OpenBLAS and of OpenCV's pthreads backend handle fork themselves; calling cv2.setNumThreads in
a forked child is what hangs, so the workers leave OpenCV as it is.) Where forking isn't safe (other threads,
not Linux), the batches stay on the thread pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class WorkerProcesses(Executor):
    """Forked worker processes; once one has died (killed, out of memory), every job goes to `fallback`.

    A job that was running in the dead process fails with BrokenExecutor: submit it again and it goes to
    `fallback` too.
    """

    def __init__(self, workers: int, fallback: Executor) -> None:
        self.fallback = fallback
        self.broken = False
        context = multiprocessing.get_context("fork")
        self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_leave_signals)
        self.pool.submit(int).result()  # forks every worker now, while the caller knows this is the only thread

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if not self.broken:
            try:
                return self.pool.submit(fn, *args, **kwargs)
            except BrokenExecutor as exc:
                self.broken = True
                log.warning("a worker process died (%s); the remaining small images are made in threads", exc)
        return self.fallback.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def small_image_pool(workers: int, fallback: Executor) -> WorkerProcesses | None:
    """`workers` forked worker processes falling back on `fallback`; None if forking isn't safe here or gains
    nothing. Call it before starting any thread (the fallback pool's threads start with its first job)."""
    if workers < 2 or sys.platform != "linux" or threading.active_count() > 1:
        return None
    return WorkerProcesses(workers, fallback)


def _leave_signals() -> None:
    """Ctrl-C reaches the whole process group; the parent stops the run and shuts the pool down, so a worker
    ignores it (no traceback per worker) and finishes the batch in hand. SIGTERM gets its default action back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
