"""Batches of small images in forked worker processes (.processes): the work really runs there, gives the same
files as a sequential run, survives a worker being killed, stops cleanly on Ctrl-C to the whole process group
(recording every output already written), and is never forked while another thread runs. The runs are
command lines in subprocesses, so that this test process's own threads don't decide whether the app forks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from apps.image_filters.cpus import usable_cpus
from apps.image_filters.processes import small_image_pool
from tests.image_filters.make_images import gradient

ROOT = Path(__file__).resolve().parents[2]
FILTERS = "grayscale,blur,sepia"

# Runs the command line with render_batch wrapped (before the fork, so the workers inherit it): each call
# appends its process id to PIDS; with KILL_FIRST, the first call in a worker kills that worker. A large
# OpenCV blur first starts OpenCV's own thread pool in the parent, as a photo run before this one would.
DRIVER = """
import os, signal, sys
import cv2, numpy
cv2.GaussianBlur(numpy.zeros((2000, 2000, 3), numpy.uint8), (0, 0), 3)
from apps.image_filters import nodes
from apps.image_filters.__main__ import main
real = nodes.render_batch
parent = os.getpid()
def render_batch(work, options):
    with open(os.environ["PIDS"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    if os.environ.get("KILL_FIRST") and os.getpid() != parent and not os.path.exists(os.environ["PIDS"] + ".k"):
        open(os.environ["PIDS"] + ".k", "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return real(work, options)
nodes.render_batch = render_batch
print(parent, file=sys.stderr)
sys.exit(main(sys.argv[1:]))
"""


def small_images(folder: Path, count: int) -> list[Path]:
    """`count` different 400x300 JPEGs (~20 KB: batched as small files; large enough for OpenCV's kernels)."""
    folder.mkdir()
    base = gradient((400, 300))
    paths = []
    for i in range(count):
        path = folder / f"s{i:03d}.jpg"
        base.rotate(i * 7).save(path, quality=90)
        paths.append(path)
    return paths


def drive(tmp_path: Path, src: Path, out: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    pids = tmp_path / "pids.txt"
    pids.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(src), "-o", str(out), "-f", FILTERS, "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PIDS": str(pids), **env},
    )
    return done, [int(line) for line in pids.read_text().split()] if pids.exists() else []


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def test_small_images_are_made_in_worker_processes_with_the_same_files_as_a_sequential_run(tmp_path: Path) -> None:
    src_paths = small_images(tmp_path / "in", 48)
    done, pids = drive(tmp_path, tmp_path / "in", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    parent = int(done.stderr.split()[0])
    assert len(pids) == 3 and parent not in pids  # 48 images, 16 to a batch, none made in the parent
    sequential = subprocess.run(
        [sys.executable, "-m", "apps.image_filters", *map(str, src_paths), "-o", str(tmp_path / "seq"), "-f",
         FILTERS, "--sequential", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert sequential.returncode == 0, sequential.stderr
    made = outputs(tmp_path / "out")
    assert len(made) == 144 and made == outputs(tmp_path / "seq")
    records = json.loads((tmp_path / "out" / ".image_filters.json").read_text())["outputs"]
    assert set(records) == set(made)  # recorded by the parent from the workers' results


def test_a_worker_killed_mid_run_loses_no_image(tmp_path: Path) -> None:
    small_images(tmp_path / "in", 64)
    done, pids = drive(tmp_path, tmp_path / "in", tmp_path / "out", KILL_FIRST="1")
    assert done.returncode == 0, done.stderr
    assert "a worker process died" in done.stderr and "Traceback" not in done.stderr
    parent = int(done.stderr.split()[0])
    assert parent in pids  # the batch in the dead worker, and those after it, were made in threads here
    assert len(outputs(tmp_path / "out")) == 192
    for name in outputs(tmp_path / "out"):
        with Image.open(tmp_path / "out" / name) as img:
            img.load()


def test_ctrl_c_to_the_process_group_stops_workers_quietly(tmp_path: Path) -> None:
    small_images(tmp_path / "in", 400)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.image_filters", str(tmp_path / "in"), "-o", str(out), "-f",
         "blur:radius=6,sharpen,emboss,contour,edges", "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out.exists() and len(os.listdir(out)) > 500) and time.monotonic() < deadline:  # past 4 batches
        time.sleep(0.01)
    children = _children(proc.pid)
    assert len(children) == usable_cpus() >= 2  # the forked workers
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    written = outputs(out)
    assert 0 < len(written) < 2000
    records = json.loads((out / ".image_filters.json").read_text())["outputs"]
    # Every output on disk is recorded, those of the batches in hand at Ctrl-C too, so none is redone.
    assert set(records) == set(written)
    for name in records:
        with Image.open(out / name) as img:
            img.load()


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]


def test_never_forks_while_another_thread_runs() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with ThreadPoolExecutor(2) as threads:
            assert small_image_pool(2, threads) is None
    finally:
        stop.set()
        other.join()


def test_one_worker_gains_nothing_from_a_process() -> None:
    with ThreadPoolExecutor(1) as threads:
        assert small_image_pool(1, threads) is None
