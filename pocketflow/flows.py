"""Flows: walk a graph of nodes, following the action each node's post returns. Flows nest as nodes.

Every step runs a shallow copy of its node, so concurrent runs of one flow never share node state.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import warn
from .executors import shared_pools
from .nodes import AsyncNode, BaseNode, N, batch_items
from .scope import Scope
from .tracing import progress


class Flow(BaseNode):
    """Runs nodes from `start`, returning the last node's action (post receives it as exec_res)."""

    start_node: BaseNode | None

    def __init__(self, start: BaseNode | None = None) -> None:
        super().__init__()
        self.start_node = start

    def start(self, start: N) -> N:
        self.start_node = start
        return start

    def get_next_node(self, curr: BaseNode, action: Any) -> BaseNode | None:
        """The successor for `action`; None ends the flow (with a warning unless `>> None` said so)."""
        key = action or "default"
        nxt = curr.successors.get(key)
        if nxt is None and curr.successors and key not in curr.successors:
            warn(f"Flow ends: '{action}' not found in {list(curr.successors)}")
        return nxt

    def _orch(self, shared: Any, params: dict[str, Any] | None = None) -> Any:
        run_params = {**self.params} if params is None else params
        node, action = copy.copy(self.start_node), None
        while node is not None:
            node.set_params(run_params)
            action = node._run(shared)
            node = copy.copy(self.get_next_node(node, action))
        return action

    def _lifecycle(self, shared: Any) -> Any:
        prep_res = self.prep(shared)
        return self.post(shared, prep_res, self._orch(shared))

    def post(self, shared: Any, prep_res: Any, exec_res: Any, /) -> Any:
        """The flow's action: by default the last node's."""
        return exec_res

    def to_mermaid(self) -> str:
        """This flow as a Mermaid flowchart: nested flows as subgraphs, actions as edge labels."""
        from .mermaid import to_mermaid

        return to_mermaid(self)


class BatchFlow(Flow):
    """Runs the whole flow once per params dict that prep returns, each merged over the flow's own params.

    With `isolate=True` each run gets a `Scope` over `shared`, so runs can't see each other's keys.
    """

    isolate: bool

    def __init__(self, start: BaseNode | None = None, *, isolate: bool = False) -> None:
        super().__init__(start)
        self.isolate = isolate

    def _shared_for_run(self, shared: Any) -> Any:
        return Scope(shared) if self.isolate else shared

    def _lifecycle(self, shared: Any) -> Any:
        runs = self.prep(shared)
        runs = [] if runs is None else runs
        for run_params in progress(self, *batch_items(runs)):
            self._orch(self._shared_for_run(shared), {**self.params, **run_params})
        return self.post(shared, runs, None)


class AsyncFlow(Flow, AsyncNode):
    """A flow that may contain async and sync nodes alike; run it with `await flow.run_async(shared)`."""

    async def _orch_async(self, shared: Any, params: dict[str, Any] | None = None) -> Any:
        run_params = {**self.params} if params is None else params
        node, action = copy.copy(self.start_node), None
        while node is not None:
            node.set_params(run_params)
            action = await node._run_async(shared) if isinstance(node, AsyncNode) else node._run(shared)
            node = copy.copy(self.get_next_node(node, action))
        return action

    async def _lifecycle_async(self, shared: Any) -> Any:
        prep_res = await self.prep_async(shared)
        return await self.post_async(shared, prep_res, await self._orch_async(shared))

    async def _run_async(self, shared: Any) -> Any:
        with shared_pools():
            return await super()._run_async(shared)

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any, /) -> Any:
        """The flow's action: by default the last node's."""
        return exec_res


class AsyncBatchFlow(AsyncFlow, BatchFlow):
    """BatchFlow for async flows: one run per params dict, one after another."""

    async def _lifecycle_async(self, shared: Any) -> Any:
        runs = await self.prep_async(shared)
        runs = [] if runs is None else runs
        for run_params in progress(self, *batch_items(runs)):
            await self._orch_async(self._shared_for_run(shared), {**self.params, **run_params})
        return await self.post_async(shared, runs, None)
