"""`--cluster`: the same flow with the pixel work on a real Dask cluster of worker processes.

Outputs are byte-identical to a local run; skip, --overwrite and per-image failures behave as locally; a worker
that can't see the input or output folder stops the run before any work (exit 2, one line naming the folder);
a worker killed mid-run loses no image; Ctrl-C stops the run and the cluster with it; and without Dask,
--cluster says how to install it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from apps.image_filters import cluster as cluster_module
from apps.image_filters.__main__ import main
from apps.image_filters.inputs import SAMPLES
from tests.image_filters.make_images import bad_inputs, exif_rotated_jpeg, solid

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
FILTERS = "grayscale,blur:radius=3,sepia,sharpen,edges"


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A scheduler address with two single-threaded worker processes, as `dask scheduler` + `dask worker` give."""
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.CRITICAL
    ) as cluster:
        yield cluster.scheduler_address


def photos(folder: Path, count: int = 0, side: int = 0) -> Path:
    """The bundled photographs, plus RGBA and EXIF-rotated files; with `count`, that many `side`-px JPEG copies."""
    folder.mkdir(parents=True)
    if count:
        sources = sorted(p for p in SAMPLES.iterdir() if p.suffix != ".md")
        for i in range(count):
            with Image.open(sources[i % len(sources)]) as img:
                img.convert("RGB").resize((side, side * 3 // 4), Image.Resampling.LANCZOS).save(
                    folder / f"photo{i:02d}.jpg", quality=90
                )
        return folder
    for sample in SAMPLES.iterdir():
        if sample.suffix != ".md":
            shutil.copy(sample, folder / sample.name)
    solid(folder / "glass.png", (200, 40, 90, 128), (64, 48), mode="RGBA")
    exif_rotated_jpeg(folder / "sideways.jpg")
    return folder


def images_in(folder: Path) -> dict[str, str]:
    """Output file name -> SHA-256 of its bytes (the manifest and hidden files left out)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if not p.name.startswith(".")}


def test_outputs_are_byte_identical_to_a_local_run(tmp_path: Path, scheduler: str, capsys) -> None:
    src = photos(tmp_path / "in")
    assert main([str(src), "-f", FILTERS, "-o", str(tmp_path / "local")]) == 0
    assert main([str(src), "-f", FILTERS, "-o", str(tmp_path / "cluster"), "--cluster", scheduler]) == 0
    local, cluster = images_in(tmp_path / "local"), images_in(tmp_path / "cluster")
    assert len(local) == 6 * 5 and cluster == local
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("images: 6, outputs written: 30, skipped: 0, failed: 0, ")


def test_skip_overwrite_and_failures_per_image_as_in_a_local_run(tmp_path: Path, scheduler: str, capsys) -> None:
    src = photos(tmp_path / "in")
    bad = bad_inputs(src)
    out = tmp_path / "out"
    argv = [str(src), "-f", "invert,sepia", "-o", str(out), "--cluster", scheduler, "--contact-sheet"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    failed = sorted(line for line in err if line.startswith("failed: "))
    assert len(failed) == len(bad) and all(str(path) in " ".join(failed) for path in bad.values())
    assert len(images_in(out)) == 6 * 2 + 1  # every good image's outputs, and the contact sheet
    with Image.open(out / "contact_sheet.png") as sheet:
        sheet.load()

    first = images_in(out)
    assert main(argv) == 1
    assert "outputs written: 0, skipped: 12, failed: 5" in capsys.readouterr().out
    assert main([*argv, "--overwrite"]) == 1
    assert "outputs written: 12, skipped: 0, failed: 5" in capsys.readouterr().out
    assert images_in(out) == first


def _can_hide_folders() -> bool:
    """Whether this user may mount a tmpfs in a private mount namespace (root, or a permissive container)."""
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "none", "/tmp"]  # its own /tmp only
    return subprocess.run(probe, capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_hide_folders(), reason="hiding a folder from one worker needs unshare(1) and mount")
@pytest.mark.parametrize("hidden", ["in", "out"])
def test_a_worker_that_cannot_see_a_folder_stops_the_run_before_any_work(tmp_path: Path, hidden: str, capsys) -> None:
    """A real `dask worker` in its own mount namespace, where an empty tmpfs covers the input or output folder."""
    src = photos(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    dask = Path(sys.executable).with_name("dask")
    with distributed.LocalCluster(
        n_workers=0, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL
    ) as cluster:
        script = 'mount -t tmpfs none "$1" && exec "$2" worker --nthreads 1 --no-nanny --no-dashboard "$3"'
        worker = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(tmp_path / hidden),
             str(dask), cluster.scheduler_address],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with distributed.Client(cluster) as client:
                client.wait_for_workers(1, timeout=30)
            status = main([str(src), "-o", str(out), "--cluster", cluster.scheduler_address])
        finally:
            worker.terminate()
            worker.wait(10)
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    folder = src if hidden == "in" else out
    assert f"cannot see {'input' if hidden == 'in' else 'output'} folder {folder}" in err
    assert "shared storage" in err and err.startswith("python -m apps.image_filters: error: worker tcp://")
    assert os.listdir(out) == []


def test_killing_a_worker_mid_run_loses_no_image(tmp_path: Path, scheduler: str, capsys) -> None:
    src = photos(tmp_path / "in", count=12, side=1600)
    out = tmp_path / "out"
    killed: list[bool] = []  # whether the run was still going when the worker died
    finished = threading.Event()

    def kill_one_worker_once_work_is_done() -> None:
        deadline = time.monotonic() + 30
        while not (out.exists() and any(n.endswith(".jpg") for n in os.listdir(out))):
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        with distributed.Client(scheduler) as client:
            pid = next(iter(client.run(os.getpid).values()))
        os.kill(pid, signal.SIGKILL)  # the nanny starts a new worker; Dask reruns the lost jobs elsewhere
        killed.append(not finished.is_set())

    killer = threading.Thread(target=kill_one_worker_once_work_is_done)
    killer.start()
    status = main([str(src), "-f", "grayscale,blur,sepia", "-o", str(out), "--cluster", scheduler])
    finished.set()
    killer.join()
    captured = capsys.readouterr()
    assert killed == [True], "the run ended before a worker could be killed"
    assert status == 0, captured.err
    assert "images: 12, outputs written: 36, skipped: 0, failed: 0" in captured.out
    assert main([str(src), "-f", "grayscale,blur,sepia", "-o", str(tmp_path / "local")]) == 0
    assert images_in(out) == images_in(tmp_path / "local")


def test_ctrl_c_stops_the_run_and_the_local_cluster(tmp_path: Path) -> None:
    """Ctrl-C in a terminal signals the whole process group, the LocalCluster's worker processes included."""
    src = photos(tmp_path / "in", count=40, side=1600)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.image_filters", str(src), "-o", str(out), "-f", "blur:radius=8,sharpen,sepia",
         "--cluster", "local:2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out.exists() and any(n.endswith(".jpg") for n in os.listdir(out))) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    stopped = time.monotonic()
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - stopped < 10
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == [
        "interrupted: outputs already written are complete; run again to finish the rest"
    ]
    while _group_alive(proc.pid):  # the workers end with the command
        assert time.monotonic() - stopped < 10, "a worker process outlived the command"
        time.sleep(0.05)
    written = sorted(n for n in os.listdir(out) if not n.startswith("."))
    assert 0 < len(written) < 120
    time.sleep(1.0)  # nothing keeps working after the command returned: no new outputs, no temp files
    assert sorted(n for n in os.listdir(out) if not n.startswith(".")) == written
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
    for name in written:
        with Image.open(out / name) as img:
            img.load()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_without_dask_cluster_says_how_to_install_it(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    assert main([str(SAMPLES), "-o", str(tmp_path / "o"), "--cluster", "local"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("error: --cluster needs Dask's distributed package: pip install -e '.[dask]'")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("somewhere:8786", "expected a scheduler address like tcp://host:8786, or local, or local:N"),
        ("local:0", "expected local:N with N worker processes from 1 to 256"),
        ("local:two", "expected local:N with N worker processes from 1 to 256"),
    ],
)
def test_bad_addresses_are_one_line_exit_2(tmp_path: Path, address: str, message: str, capsys) -> None:
    assert main([str(SAMPLES), "-o", str(tmp_path / "o"), "--cluster", address]) == 2
    assert capsys.readouterr().err.strip() == f"python -m apps.image_filters: error: --cluster {address}: {message}"


def test_a_scheduler_without_workers_or_no_scheduler_is_one_line_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", 1)
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0", silence_logs=logging.CRITICAL) as empty:
        address = empty.scheduler_address
        assert main([str(SAMPLES), "-o", str(tmp_path / "o"), "--cluster", address]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"error: no Dask workers are connected to {address}: start one on each machine with "
                        f"`dask worker {address}`")  # fmt: skip
    assert main([str(SAMPLES), "-o", str(tmp_path / "o"), "--cluster", address]) == 2  # the scheduler is gone now
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"error: cannot reach the Dask scheduler at {address}: " in err
    assert not (tmp_path / "o").exists()


def test_pixels_on_the_workers_are_released_image_by_image(tmp_path: Path, scheduler: str) -> None:
    """The workers hold at most the images in flight, whatever the number of inputs, and nothing once done."""
    import asyncio

    from apps.image_filters import Settings, parse_filter_specs
    from apps.image_filters.flow import IMAGES_PER_THREAD

    src = photos(tmp_path / "in", count=24, side=600)
    held: list[int] = []
    stop = threading.Event()
    with cluster_module.Cluster.open(cluster_module.ClusterAddress(scheduler)) as cluster:

        def decoded_pictures() -> int:
            return cluster.client.run_on_scheduler(
                lambda dask_scheduler: sum(1 for key in dask_scheduler.tasks if str(key).startswith("decode-"))
            )

        def watch() -> None:
            while not stop.is_set():
                held.append(decoded_pictures())
                time.sleep(0.02)

        settings, images = cluster.prepare(Settings(parse_filter_specs("grayscale,sepia"), tmp_path / "out"),
                                           sorted(src.iterdir()))  # fmt: skip
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            asyncio.run(cluster.build_flow(settings).run_async({"images": images}))
        finally:
            stop.set()
            watcher.join()
        in_flight = IMAGES_PER_THREAD * settings.workers  # settings.workers: the cluster's threads
        # A released key leaves the scheduler a moment after the next image's decode arrived: allow a few.
        assert 0 < max(held) <= in_flight + 4 < len(images)
        deadline = time.monotonic() + 10  # the last releases reach the scheduler a moment after the run returns
        while decoded_pictures() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert decoded_pictures() == 0
    assert len(images_in(tmp_path / "out")) == 48
