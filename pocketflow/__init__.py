"""pocketflow: a PocketFlow-compatible graph engine whose parallel batches are bounded, isolated and cancellable."""

import os as _os

from .errors import FlowError
from .flows import AsyncBatchFlow, AsyncFlow, BatchFlow, Flow
from .limiter import Limiter
from .nodes import AsyncBatchNode, AsyncNode, BaseNode, BatchNode, Node
from .parallel import AsyncParallelBatchFlow, AsyncParallelBatchNode
from .scope import Scope
from .tracing import Tracer, tracing

__all__ = [
    "AsyncBatchFlow",
    "AsyncBatchNode",
    "AsyncFlow",
    "AsyncNode",
    "AsyncParallelBatchFlow",
    "AsyncParallelBatchNode",
    "BaseNode",
    "BatchFlow",
    "BatchNode",
    "Flow",
    "FlowError",
    "Limiter",
    "Node",
    "Scope",
    "Tracer",
    "tracing",
]


def _warn_if_upstream_beside() -> None:
    """Upstream's distribution (`pocketflow`) installs the same pocketflow/ folder and pip lets the two overwrite
    each other's files silently: uninstalling it deletes ours, its __init__.pyi misleads type checkers. Say so."""
    folder = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    try:
        infos = [n for n in _os.listdir(folder) if n.startswith("pocketflow-") and n.endswith(".dist-info")]
    except OSError:
        return
    if not infos:  # the usual case, decided by one listdir
        return
    import importlib.metadata
    import warnings

    for info in infos:
        dist = importlib.metadata.Distribution.at(_os.path.join(folder, info))
        if any(str(file) == "pocketflow/__init__.py" for file in dist.files or ()):
            warnings.warn(
                f"upstream PocketFlow ({dist.metadata['Name']} {dist.version}) is installed in {folder} beside "
                "pocketflow-parallel, which replaces it like Pillow replaces PIL; they share the pocketflow/ folder. "
                "Fix: pip uninstall -y pocketflow pocketflow-parallel && pip install pocketflow-parallel",
                stacklevel=2,
            )


_warn_if_upstream_beside()
