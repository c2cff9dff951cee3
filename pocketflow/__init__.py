"""pocketflow: a PocketFlow-compatible graph engine whose parallel batches are bounded, isolated and cancellable."""

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
