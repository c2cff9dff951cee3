"""Run the image flow on a Dask cluster: `python -m apps.image_filters --cluster tcp://host:8786` (or `local[:N]`).

The per-image flow is the local one. Only where the work runs changes: LoadOnWorker decodes each image on a
worker and leaves the pixels there (the run's Loaded.picture is a Dask future), and FilterAndSave sends its
filter-and-encode jobs through `client.get_executor(pure=False)` with that future as an argument, so Dask
runs them on the worker that holds the pixels. Only paths, filter specs and results cross the network.
Workers read inputs and write outputs by path, so every worker needs the same paths as this machine (shared
storage); `Cluster.prepare` checks that on every worker before any work starts.

If a worker dies, Dask reruns its jobs (decoding the image again if its pixels were lost) on another worker;
outputs are written atomically, so a rerun only replaces a file with the same bytes. Needs the `dask` extra.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import signal
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pocketflow import AsyncFlow
from utils.images import Picture

from .cpus import usable_cpus
from .filters import FilterSpec
from .flow import Settings, build_flow
from .nodes import LoadImage, run_on
from .render import OutputOptions, load_source, thumbnail

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

INSTALL_HINT = "pip install -e '.[dask]'"
# glibc malloc settings for workers. Dask's default (MALLOC_TRIM_THRESHOLD_=65536) hands every freed 36 MB
# image buffer back to the system, and the next image faults it in again: measured on 12 MP photos, twice
# the page faults and 1.6x the CPU of the app's thread pool. Buffers under 256 MB stay in the heap instead.
WORKER_ENVIRON = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "268435456"}
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler, and then to see its first worker


class ClusterError(ValueError):
    """The cluster can't be used: Dask missing, a bad address, no scheduler or workers, or files workers can't see."""


@dataclass(frozen=True)
class ClusterAddress:
    """Where to run: a scheduler's address, or (scheduler None) a LocalCluster of `workers` processes started here."""

    scheduler: str | None
    workers: int = 0

    @classmethod
    def parse(cls, text: str) -> ClusterAddress:
        if text == "local":
            return cls(None, usable_cpus())
        if text.startswith("local:"):
            count = text.removeprefix("local:")
            if not count.isdigit() or not 1 <= int(count) <= 256:
                raise ClusterError(f"--cluster {text}: expected local:N with N worker processes from 1 to 256")
            return cls(None, int(count))
        if "://" not in text:
            raise ClusterError(
                f"--cluster {text}: expected a scheduler address like tcp://host:8786, or local, or local:N"
            )
        return cls(text)


class Cluster:
    """A Dask client connected to a scheduler with workers (and the LocalCluster it started, if it did)."""

    def __init__(self, client: Client, local: LocalCluster | None = None) -> None:
        self.client, self.local = client, local
        # For the little done here: header checks, and the contact sheet from the thumbnails workers send back.
        self.local_pool = ThreadPoolExecutor(usable_cpus(), thread_name_prefix="image-filters-client")

    @classmethod
    def open(cls, address: ClusterAddress) -> Cluster:
        """Connect (or start a LocalCluster) and wait for a worker; ClusterError with one line if that fails."""
        try:
            import distributed
        except ImportError:
            raise ClusterError(f"--cluster needs Dask's distributed package: {INSTALL_HINT}") from None
        # Dask narrates its own life at INFO; problems reach us as exceptions, so keep only its errors.
        logging.getLogger("distributed").setLevel(logging.ERROR)
        if address.scheduler is None:
            # Worker processes inherit an ignored SIGINT: a terminal's Ctrl-C reaches the whole process group,
            # and it is this process that stops the run and closes the workers, without their tracebacks.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                local = local_cluster(address.workers)
            finally:
                signal.signal(signal.SIGINT, previous)
            return cls(distributed.Client(local), local)
        try:
            client = distributed.Client(address.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address.scheduler}: {exc}") from None
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except (TimeoutError, distributed.TimeoutError):
            client.close()
            raise ClusterError(
                f"no Dask workers are connected to {address.scheduler}: "
                f"start one on each machine with `dask worker {address.scheduler}`"
            ) from None
        return cls(client)

    def close(self) -> None:
        """Drop our futures and disconnect; a LocalCluster's worker processes end, whatever they were doing."""
        # Futures dropped here (Ctrl-C mid-run) may still be cascading on Dask's IO thread when the connection
        # closes; tornado would log each as a traceback. Nothing is waiting for them any more: keep it quiet.
        logging.getLogger("tornado.application").setLevel(logging.CRITICAL)
        self.local_pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        if self.local is not None:
            self.local.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def threads(self) -> int:
        return sum(worker["nthreads"] for worker in self.client.scheduler_info()["workers"].values())

    def prepare(
        self, settings: Settings, images: Sequence[Path], workers: int | None = None
    ) -> tuple[Settings, list[Path]]:
        """Settings and inputs with absolute paths (workers have their own working folders), checked on every
        worker, with `workers` (default: the cluster's worker threads) standing for settings.workers, which sets
        the images in flight as it does for a thread pool."""
        out_dir = settings.out_dir.absolute()
        absolute = [path.absolute() for path in images]
        self.check_access(absolute, out_dir)
        return replace(settings, out_dir=out_dir, workers=workers or self.threads), absolute

    def check_access(self, images: Sequence[Path], out_dir: Path) -> None:
        """ClusterError naming the first worker that can't read the inputs or share and write `out_dir`.

        This machine writes a random token into `out_dir`; a worker must read it back (so it sees the same
        folder, not a local one of the same name) and write a file of its own there.
        """
        token = secrets.token_hex(8)
        marker = out_dir / f".cluster-check-{token}"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            marker.write_text(token)
        except OSError as exc:
            raise ClusterError(f"cannot write to output folder {out_dir}: {exc.strerror}") from None
        try:
            answers = self.client.run(probe, [str(p) for p in images], str(marker), token)
        finally:
            marker.unlink(missing_ok=True)
        for worker, problem in sorted(answers.items()):
            if problem:
                raise ClusterError(
                    f"worker {worker} {problem}; every worker needs this machine's paths (shared storage)"
                )

    def build_flow(self, settings: Settings) -> AsyncFlow:
        """build_flow with the decoding and the filter-and-encode jobs on the cluster (prepare the settings first)."""
        jobs = self.client.get_executor(pure=False)  # pure=False: equal calls are separate jobs, each run
        load = LoadOnWorker(self.client, settings.options, self.local_pool)
        return build_flow(settings, jobs, load=load, sheet_executor=self.local_pool)


def local_cluster(workers: int) -> LocalCluster:
    """`workers` single-threaded worker processes on this machine, with WORKER_ENVIRON."""
    import dask
    import distributed

    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **WORKER_ENVIRON}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):  # read as each nanny starts
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )


def probe(images: list[str], marker: str, token: str) -> str | None:
    """Runs on each worker: what it can't do with the inputs or the output folder, or None."""
    for image in images:
        if not os.path.isfile(image):
            return f"cannot see input folder {os.path.dirname(image)} ({os.path.basename(image)} is not there)"
    out_dir = os.path.dirname(marker)
    try:
        with open(marker) as f:
            seen = f.read()
    except OSError:
        seen = None
    if seen != token:
        return f"cannot see output folder {out_dir} as this machine does (it is another folder there)"
    mine = f"{marker}-{secrets.token_hex(4)}"
    try:
        with open(mine, "w") as f:
            f.write(token)
        os.unlink(mine)
    except OSError as exc:
        return f"cannot write to output folder {out_dir}: {exc.strerror}"
    return None


class LoadOnWorker(LoadImage):
    """LoadImage with the decoded picture left on the worker that decoded it: Loaded.picture is its Dask future.

    Header-only checks run on `local` (this machine sees the inputs too), saving a round trip per image.
    A load error still comes back here, so a bad image takes the "failed" route as in a local run.
    """

    def __init__(self, client: Client, options: OutputOptions, local: Executor) -> None:
        super().__init__(local, options)
        self.client, self.jobs = client, client.get_executor(pure=False)

    async def decode(self, source: Path, specs: list[FilterSpec]) -> tuple[Any, int, bytes | None]:
        picture = self.client.submit(decode, source, specs, self.options, pure=False)
        # Fails with decode's own error if the image can't be decoded; cancelled, it drops the decode too.
        frames, thumb = await run_on(self.jobs, describe, picture, self.options.thumbnails)
        return picture, frames, thumb


def decode(source: Path, specs: list[FilterSpec], options: OutputOptions) -> Picture:
    """render.load_source as a worker job defined here, so that a worker running it imports this module and so
    reports a decoded picture's real size (below): then the scheduler sends the picture's filter jobs to that
    worker instead of moving the pixels to another one."""
    _report_real_sizes()
    return load_source(source, specs, options)


def describe(picture: Picture, thumbnails: bool) -> tuple[int, bytes | None]:
    """What the client needs to know about a picture kept on a worker: its frame count and, if asked, thumbnail."""
    return len(picture.frames), thumbnail(picture) if thumbnails else None


@functools.cache
def _report_real_sizes() -> None:
    """Teach this worker's Dask a Picture's decoded size (it would count a few dozen bytes)."""
    from dask.sizeof import sizeof

    sizeof.register(Picture)(_picture_bytes)


def _picture_bytes(picture: Picture) -> int:
    return sum(frame.width * frame.height * len(frame.getbands()) for frame in picture.frames)
