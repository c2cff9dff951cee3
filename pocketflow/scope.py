"""Per-run isolation: a layer over the shared store so concurrent sub-flow runs never see each other's keys."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any


class Scope(MutableMapping[Any, Any]):
    """One run's view of `shared`: reads fall through to `parent`; writes and deletions stay in this run.

    Mutating an inherited object (`shared["results"].append(x)`) reaches the parent's object, which is how a
    run publishes results; `shared.parent[key] = v` writes a top-level key explicitly. Deleting or popping a
    key hides it from this run only (unlike `collections.ChainMap`, whose `del` fails for inherited keys and
    unmasks them for overridden ones). A Scope is a mapping, not a dict: `json.dumps(dict(scope))` serializes
    what the run sees.
    """

    __slots__ = ("parent", "local", "hidden")

    def __init__(self, parent: MutableMapping[Any, Any]) -> None:
        self.parent: MutableMapping[Any, Any] = parent
        self.local: dict[Any, Any] = {}
        self.hidden: set[Any] = set()  # inherited keys this run deleted

    def __getitem__(self, key: Any) -> Any:
        local = self.local
        if key in local:
            return local[key]
        if key in self.hidden:
            raise KeyError(key)
        return self.parent[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.local[key] = value
        if self.hidden:
            self.hidden.discard(key)

    def __delitem__(self, key: Any) -> None:
        if key not in self:
            raise KeyError(key)
        self.local.pop(key, None)
        if key in self.parent:
            self.hidden.add(key)

    def __contains__(self, key: object) -> bool:
        return key in self.local or (key not in self.hidden and key in self.parent)

    def __iter__(self) -> Iterator[Any]:
        local, hidden = self.local, self.hidden
        yield from local
        yield from (key for key in self.parent if key not in local and key not in hidden)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> Scope:
        """A new run's view with the same parent and a copy of this run's own keys and deletions."""
        twin = Scope(self.parent)
        twin.local, twin.hidden = dict(self.local), set(self.hidden)
        return twin

    __copy__ = copy

    def __or__(self, other: Mapping[Any, Any]) -> Scope:
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: Mapping[Any, Any]) -> dict[Any, Any]:
        return {**other, **self}

    def __ior__(self, other: Mapping[Any, Any]) -> Scope:
        self.update(other)
        return self

    def __repr__(self) -> str:
        return f"Scope(local={self.local!r}, parent={type(self.parent).__name__})"
