"""The flow factory as user code would use it: no CLI, a pocketflow Tracer watching the batch."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from apps.translate import TranslateSettings, create_translate_flow, translate
from apps.translate.languages import parse_languages
from apps.translate.nodes import TranslateChunks, TranslateChunksSequential
from pocketflow import BaseNode, Tracer, tracing


class ItemCounter(Tracer):
    def __init__(self) -> None:
        self.items: list[tuple[str, int, int]] = []

    def on_item_done(self, node: BaseNode, done: int, failed: int, total: int) -> None:
        self.items.append((type(node).__name__, done, total))


async def test_the_flow_runs_from_user_code_with_a_tracer(tricky: Path, tmp_path: Path) -> None:
    settings = TranslateSettings(
        files=(tricky,), languages=tuple(parse_languages("fr,de")), out_dir=tmp_path / "out", provider="offline"
    )
    shared: dict[str, Any] = {"settings": settings}
    tracer = ItemCounter()
    with tracing(tracer):
        await create_translate_flow(max_concurrency=4).run_async(shared)
    assert [job.status for job in shared["jobs"]] == ["done", "done"]
    batch = [entry for entry in tracer.items if entry[0] == "TranslateChunks"]
    assert len(batch) == len(shared["work"]) and batch[-1][1:] == (len(shared["work"]), len(shared["work"]))
    assert "TranslateChunks" in create_translate_flow().to_mermaid()


async def test_translate_helper_caches_and_reports_jobs(tricky: Path, tmp_path: Path) -> None:
    settings = TranslateSettings(files=(tricky,), languages=tuple(parse_languages("ja")), out_dir=tmp_path / "o",
                                 provider="offline")  # fmt: skip
    first = await translate(settings, cache_dir=tmp_path / "c")
    again = await translate(settings, cache_dir=tmp_path / "c", sequential=True)
    assert first[0].cached == 0 and again[0].cached == again[0].total > 0
    assert again[0].path.read_text(encoding="utf-8") == first[0].text()


def test_factory_picks_the_batch_node() -> None:
    for sequential, kind in ((False, TranslateChunks), (True, TranslateChunksSequential)):
        flow = create_translate_flow(sequential=sequential)
        plan = next(iter(flow.start_node.successors.values()))
        assert isinstance(next(iter(plan.successors.values())), kind)


class Recorder:
    """A Progress that looks at the disk, and at every job's pending chunks, each time a job finishes."""

    def __init__(self, shared: dict[str, Any]) -> None:
        self.shared = shared
        self.seen: list[tuple[str, bool, list[int]]] = []

    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, chunks: int, tokens: int) -> None:
        pass

    def job_finished(self, job: Any) -> None:
        pending = [len(other.pending) for other in self.shared["jobs"]]
        self.seen.append((job.language.code, job.path.exists(), pending))


async def test_each_file_is_written_as_soon_as_its_last_chunk_is_in(tricky: Path, tmp_path: Path) -> None:
    settings = TranslateSettings(files=(tricky,), languages=tuple(parse_languages("fr,de,es")),
                                 out_dir=tmp_path / "out", provider="offline")  # fmt: skip
    shared: dict[str, Any] = {"settings": settings}
    recorder = shared["progress"] = Recorder(shared)
    await create_translate_flow(sequential=True).run_async(shared)
    chunks = shared["jobs"][0].total
    assert recorder.seen == [
        ("fr", True, [0, chunks, chunks]),
        ("de", True, [0, 0, chunks]),
        ("es", True, [0, 0, 0]),
    ]
