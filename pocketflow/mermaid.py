"""Render a flow's graph as a Mermaid flowchart."""

from __future__ import annotations

from .flows import Flow
from .nodes import BaseNode


def _text(value: str) -> str:
    return value.replace('"', "#quot;").replace("|", "#124;")


def to_mermaid(flow: Flow) -> str:
    """Nodes are labelled with their class; nested flows become subgraphs; non-default actions label edges."""
    ids: dict[int, str] = {}
    declared: set[int] = set()
    lines = ["flowchart TD"]

    def ident(node: BaseNode) -> str:
        return ids.setdefault(id(node), f"n{len(ids) + 1}")

    def walk(inner: Flow, depth: int) -> None:
        pad = "    " * depth
        pending = [] if inner.start_node is None else [inner.start_node]
        while pending:
            node = pending.pop(0)
            if id(node) in declared:
                continue
            declared.add(id(node))
            name, label = ident(node), _text(type(node).__name__)
            if isinstance(node, Flow):
                lines.append(f'{pad}subgraph {name}["{label}"]')
                walk(node, depth + 1)
                lines.append(f"{pad}end")
            else:
                lines.append(f'{pad}{name}["{label}"]')
            for action, successor in node.successors.items():
                if successor is None:  # `node - "end" >> None`: the flow ends there
                    continue
                arrow = "-->" if action == "default" else f'-->|"{_text(action)}"|'
                lines.append(f"{pad}{name} {arrow} {ident(successor)}")
                pending.append(successor)

    walk(flow, 1)
    return "\n".join(lines) + "\n"
