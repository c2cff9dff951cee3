"""benchmarks.image_cluster end to end on a tiny job: every mode runs, writes the same bytes, and the report says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import image_cluster
from benchmarks import image_filters as photos_job

pytest.importorskip("distributed")


def test_the_cluster_benchmark_runs_every_mode_and_reports(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(photos_job, "MEGAPIXELS", 0.2)  # small photos: this checks the path, not the speed
    monkeypatch.setattr(photos_job, "CACHE", tmp_path / "cache")
    image_cluster.main(["--images", "2", "--tiny", "4", "--rounds", "1", "--out", str(tmp_path / "results")])
    report = json.loads((tmp_path / "results" / "image_cluster.json").read_text())
    modes = [(run["job"], run["mode"]) for run in report["all_runs"]]
    assert modes == [
        ("photos", image_cluster.POOL),
        ("photos", image_cluster.STANDING),
        ("photos", image_cluster.LOCAL),
        ("tiny", image_cluster.POOL),
        ("tiny", image_cluster.STANDING),
    ]
    assert all(run["identical"] and run["outputs"] in (6, 12) for run in report["all_runs"])
    assert report["verdicts"][1]["met"] is True  # every output, byte-identical
    assert "per image" in " ".join(report["notes"]) and (tmp_path / "results" / "image_cluster.png").exists()
    assert "MET    every cluster run wrote every output" in capsys.readouterr().out
