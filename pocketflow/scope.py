"""Per-run isolation: a layer over the shared store so concurrent sub-flow runs never see each other's keys."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any


class Scope(MutableMapping[Any, Any]):
    """One run's view of `shared`: reads fall through to `parent`, writes land in `local`.

    Mutating an inherited object (`shared["results"].append(x)`) reaches the parent's object, which is how a
    run publishes results; `shared.parent[key] = v` writes a top-level key explicitly.
    """

    __slots__ = ("parent", "local")

    def __init__(self, parent: MutableMapping[Any, Any]) -> None:
        self.parent = parent
        self.local: dict[Any, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        local = self.local
        if key in local:
            return local[key]
        return self.parent[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.local[key] = value

    def __delitem__(self, key: Any) -> None:
        if key not in self.local:
            raise KeyError(f"{key!r} is not this run's own key; delete inherited keys via shared.parent")
        del self.local[key]

    def __contains__(self, key: object) -> bool:
        return key in self.local or key in self.parent

    def __iter__(self) -> Iterator[Any]:
        yield from self.local
        yield from (key for key in self.parent if key not in self.local)

    def __len__(self) -> int:
        return len(self.local) + sum(1 for key in self.parent if key not in self.local)

    def __repr__(self) -> str:
        return f"Scope(local={self.local!r}, parent={type(self.parent).__name__})"
