"""What each output was made from, kept in a hidden JSON file in the output folder.

Each output's entry holds its input's identity (resolved path, size, modification time, inode), the
settings that shape its pixels (filter and parameters, quality, metadata policy, format) and the output's
own size and time as written. An output is fresh only while all of that still holds, so a replaced input
(even one with an older date), a changed parameter or an edited output is redone, and nothing else is.

The file also tells later runs which files in a folder are this app's outputs, so they are never taken as
inputs. It is written atomically and only after the outputs it lists were synced to disk, so after a crash
every output it vouches for is complete; anything written since is simply redone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.files import atomic_file

MANIFEST_NAME = ".image_filters.json"
_VERSION = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One output: what it was made from and how, and the file as written."""

    source: str
    source_stamp: tuple[int, int, int]  # size, mtime_ns, inode
    settings: str
    output_stamp: tuple[int, int]  # size, mtime_ns

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "source_stamp": list(self.source_stamp), "settings": self.settings,
                "output_stamp": list(self.output_stamp)}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        a, b, c = data["source_stamp"]
        d, e = data["output_stamp"]
        return cls(str(data["source"]), (int(a), int(b), int(c)), str(data["settings"]), (int(d), int(e)))


def source_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def output_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def read(folder: Path) -> dict[str, Record]:
    """Output file name -> Record for `folder`; empty if there is no manifest or it can't be read."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        if data.get("version") != _VERSION:
            return {}
        return {name: Record.from_json(entry) for name, entry in data["outputs"].items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable %s (outputs will be redone): %s", folder / MANIFEST_NAME, exc)
        return {}


def output_names(folder: Path) -> frozenset[str]:
    """The names of files in `folder` that a run of this app wrote (to keep them out of the inputs)."""
    return frozenset(read(folder))


def update(folder: Path, written: Mapping[str, Record], extra_outputs: Iterable[str] = ()) -> None:
    """Merge `written` (and names of other outputs, such as contact sheets) into `folder`'s manifest.

    Re-reads the file first, so a run that finished meanwhile keeps its entries. Call it only after the
    outputs are durable (utils.files.sync_filesystem); the manifest itself is fsynced and renamed into place.
    """
    folder.mkdir(parents=True, exist_ok=True)
    records = read(folder)
    records.update(written)
    for name in extra_outputs:
        records.setdefault(name, Record("", (0, 0, 0), "", (0, 0)))
    target = folder / MANIFEST_NAME
    payload = {"version": _VERSION, "outputs": {name: r.to_json() for name, r in sorted(records.items())}}
    data = json.dumps(payload, separators=(",", ":")).encode("utf-8")  # one write: json.dump writes piecemeal
    with atomic_file(target) as f:
        f.write(data)
