"""Smoke tests that keep the benchmarks from rotting: each one's core path on a tiny input, no timing asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import image_filters, translate
from benchmarks.report import Bars, Table, Verdict, write_report
from tests.utils.llm_env import clean_llm_env  # noqa: F401  (autouse: no key, no .env, fresh limiters)
from utils.llm_server import LLMServer


def test_report_writes_json_markdown_and_chart(tmp_path: Path) -> None:
    table = Table("t", ["mode", "seconds"], [["a", 1.5], ["b", 0.25]])
    written = write_report(
        "demo", title="Demo", command="python -m demo", tables=[table],
        charts=[Bars("wall", ["a", "b"], [1.5, 0.25], "s", reference=1.0, reference_label="ideal")],
        data={"extra": 7}, notes=["a note"], verdicts=[Verdict("b under 1 s", True, "0.25 s")], results_dir=tmp_path,
    )  # fmt: skip
    payload = json.loads(written.json.read_text())
    assert payload["extra"] == 7 and payload["verdicts"][0]["met"] is True
    assert payload["machine"]["cores"] >= 1
    markdown = written.markdown.read_text()
    assert "| b | 0.25 |" in markdown and "cores, Python" in markdown and "(demo.png)" in markdown
    assert written.chart.read_bytes().startswith(b"\x89PNG")


def test_rate_limit_floor_counts_the_burst() -> None:
    assert translate.rate_limit_floor(500, 600, 1.0) == 49.0  # 10 per second, the first 10 at once
    assert translate.rate_limit_floor(100, 1200, 1.0) == 4.0
    assert translate.rate_limit_floor(10, 600, 1.0) == 0.0
    assert translate.token_floor(540_000, 150_000, 1.0) == pytest.approx((540_000 - 2_500) * 60 / 150_000)


def test_excerpt_cuts_before_a_heading_within_budget() -> None:
    text = translate.LONG_DOCUMENT.read_text(encoding="utf-8")
    short = translate.excerpt(text, 700)
    assert text.startswith(short) and len(short) < len(text)
    assert translate.estimate_tokens(short) <= 700
    assert text[len(short) :].startswith("#")


async def test_translate_modes_and_scale_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = tmp_path / "doc.md"
    document.write_text(translate.excerpt(translate.LONG_DOCUMENT.read_text(encoding="utf-8"), 300), encoding="utf-8")
    async with LLMServer() as server:
        monkeypatch.setenv("LLM_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("LLM_MAX_CONCURRENCY", "64")
        results = [await translate.run_mode(mode, document, tmp_path / mode[:3]) for mode in translate.MODES]
    assert [r.ok for r in results] == [True, True, True]
    assert [r.requests for r in results][:2] == [8, 8] and results[2].requests >= 8
    assert all(0 < r.slowest <= r.wall for r in results)

    plan = translate.Plan(tps=1e6, short_tokens=100, long_tokens=100, scale_requests=12, scale_rpm=6000,
                          scale_tpm=10**7)  # fmt: skip
    for configured in (False, True):  # each sets OPENAI_BASE_URL itself; monkeypatch restores it
        scale, server_view = await translate.scale_run(plan, configured=configured)
        assert (scale.succeeded, scale.lost) == (12, 0)
        assert server_view["responses_by_status"]["200"] == 12
        assert "5,880 requests/min" in scale.limits  # 98% of the server's 6,000, learned or configured
        assert scale.tokens > 12 * 50 and scale.token_floor == 0 and scale.latency > translate.TTFT


def test_image_modes_run_side_by_side(tmp_path: Path) -> None:
    paths = image_filters.prepare_tiny(2, tmp_path / "in")  # small crops of the sample photos suffice here
    for job, mode in image_filters.MODES:
        if job != "photos" or "cluster" in mode:  # the cluster row has its own benchmark and tests
            continue
        out_dir = tmp_path / mode.replace(" ", "-")
        out_dir.mkdir()
        result = image_filters.measure(job, mode, paths, out_dir)
        assert result.outputs == 6 and result.peak_rss_mb > 0 and result.cpu_seconds > 0, mode
        levels = image_filters.mean_levels(tmp_path / "app", out_dir, paths) if mode != "app" else 0.0
        assert levels <= (3.0 if mode == "pyvips" else 1.0), (mode, levels)  # pyvips' grey is CIELAB lightness
