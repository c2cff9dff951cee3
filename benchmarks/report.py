"""Shared result writer for the benchmarks: one JSON, one Markdown page and one PNG chart per benchmark.

    tables = [Table("8k doc", ["mode", "wall s", "speed-up"], [["(a)", 140.2, "1.0x"], ...])]
    charts = [Bars("wall time", ["(a)", "(b)", "(c)"], [140.2, 18.1, 2.3], "seconds")]
    paths = write_report("translate", title="Translation", command="python -m benchmarks.translate",
                         tables=tables, charts=charts, data={"runs": ...}, notes=["latency model: ..."],
                         verdicts=[Verdict("(c) at least 4x faster than (b)", True, "9.1x")])

Results go to the folder given with `--out` (default `benchmark-results/` in the working directory), never over
the committed results in benchmarks/results/ unless asked with `--out benchmarks/results`.

Every page names the machine it was measured on (CPU model, cores, Python and Pillow versions, date), because
the ratios only mean something next to it. Files are written atomically (a `.tmp` beside them, then replaced),
so an interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"  # the committed results, quoted by the README
DEFAULT_OUT = Path("benchmark-results")
_out = DEFAULT_OUT


@dataclass(frozen=True)
class Table:
    """A titled table; cells are printed as given (floats with `digits` decimals)."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    digits: int = 2

    def cells(self) -> list[list[str]]:
        return [[_cell(value, self.digits) for value in row] for row in self.rows]

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.headers) + " |"]
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.headers))) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.cells()]
        return "\n".join(lines)

    def text(self) -> str:
        """Aligned plain text for the console."""
        rows = [list(self.headers), *self.cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.headers))]
        lines = [self.title]
        for n, row in enumerate(rows):
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)


@dataclass(frozen=True)
class Bars:
    """One chart panel: a bar per label, with an optional dashed reference line (an ideal or a target)."""

    title: str
    labels: Sequence[str]
    values: Sequence[float]
    ylabel: str
    reference: float | None = None
    reference_label: str = ""


@dataclass(frozen=True)
class Verdict:
    """A target and whether this run met it; `detail` gives the measured value."""

    target: str
    met: bool
    detail: str

    def line(self) -> str:
        return f"{'MET   ' if self.met else 'MISSED'} {self.target}: {self.detail}"


@dataclass(frozen=True)
class Written:
    json: Path
    markdown: Path
    chart: Path


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 1,
        "python": platform.python_version(),
        "pillow": _version("PIL"),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line(machine: Mapping[str, Any]) -> str:
    return (
        f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, Pillow {machine['pillow']}, "
        f"{machine['date']}"
    )


def write_report(
    name: str,
    *,
    title: str,
    command: str,
    tables: Sequence[Table],
    charts: Sequence[Bars],
    data: Mapping[str, Any],
    notes: Sequence[str] = (),
    verdicts: Sequence[Verdict] = (),
    results_dir: Path | None = None,
) -> Written:
    """Write `<results_dir>/<name>.json`, `.md` and `.png`; returns their paths.

    The JSON holds the machine, notes, verdicts, tables and everything in `data` (which must be JSON-able).
    """
    machine = machine_info()
    results_dir = results_dir or _out
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = Written(results_dir / f"{name}.json", results_dir / f"{name}.md", results_dir / f"{name}.png")
    payload = {
        "name": name,
        "title": title,
        "command": command,
        "machine": machine,
        "notes": list(notes),
        "verdicts": [asdict(v) for v in verdicts],
        "tables": [{"title": t.title, "headers": list(t.headers), "rows": [list(r) for r in t.rows]} for t in tables],
        **data,
    }
    _write_atomic(paths.json, json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    _write_atomic(paths.markdown, _markdown(title, command, machine, tables, notes, verdicts, paths.chart.name))
    _chart(title, charts, paths.chart)
    return paths


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """A benchmark's options plus --out, which every later write_report() in the process writes to."""
    global _out
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the JSON, Markdown and PNG results (default: {DEFAULT_OUT}/; "
                             f"--out {RESULTS_DIR.relative_to(Path(__file__).resolve().parent.parent)} replaces the "
                             "committed results)")  # fmt: skip
    args = parser.parse_args(argv)
    _out = args.out
    return args


def console_text(tables: Sequence[Table], verdicts: Sequence[Verdict]) -> str:
    """The tables and the verdicts as printed at the end of a run."""
    parts = [t.text() for t in tables]
    if verdicts:
        parts.append("Targets\n" + "\n".join(v.line() for v in verdicts))
    return "\n\n".join(parts)


def _markdown(
    title: str,
    command: str,
    machine: Mapping[str, Any],
    tables: Sequence[Table],
    notes: Sequence[str],
    verdicts: Sequence[Verdict],
    chart_name: str,
) -> str:
    lines = [f"# {title}", "", f"`{command}` on {machine_line(machine)}.", ""]
    for table in tables:
        lines += [table.markdown(), ""]
    if verdicts:
        lines += ["### Targets", ""]
        lines += [f"- **{'met' if v.met else 'MISSED'}**: {v.target} ({v.detail})" for v in verdicts]
        lines.append("")
    if notes:
        lines += ["### How it was measured", ""] + [f"- {note}" for note in notes] + [""]
    lines += [f"![{title}]({chart_name})", ""]
    return "\n".join(lines)


def _chart(title: str, charts: Sequence[Bars], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = math.ceil(len(charts) / 3)
    cols = math.ceil(len(charts) / rows)
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(charts):]:
        ax.set_visible(False)
    for ax, bars in zip(axes.flat, charts):
        drawn = ax.bar(range(len(bars.values)), bars.values, color="#4c72b0")
        ax.bar_label(drawn, labels=[_cell(v, 2) for v in bars.values], fontsize=8, padding=2)
        ax.set_xticks(range(len(bars.labels)), bars.labels, rotation=20, ha="right", fontsize=8)
        ax.set_title(bars.title, fontsize=10)
        ax.set_ylabel(bars.ylabel)
        if bars.reference is not None:
            ax.axhline(bars.reference, color="#c44e52", linestyle="--", linewidth=1, label=bars.reference_label)
            if bars.reference_label:
                ax.legend(fontsize=8)
        ax.margins(y=0.15)
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(module: str) -> str:
    try:
        imported = __import__(module)
    except ImportError:
        return "not installed"
    return str(getattr(imported, "__version__", "unknown"))
