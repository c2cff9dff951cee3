"""Randomized nesting: batches of flows of batches, limiters at some levels, failures and cancellations anywhere.

Every case checks the shared budget, the results and that no task outlives the run.
"""

import asyncio
import random

import pytest

import pocketflow as pf


class Boom(Exception):
    pass


class Case:
    """One random shape: per level a batch kind, a bound, whether it uses the shared limiter, an item count."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.seed = seed
        self.depth = rng.randint(1, 3)
        self.levels = [
            {"n": rng.randint(1, 4), "bound": rng.choice([None, 1, 2, 3]), "limited": rng.random() < 0.6,
             "sequential": rng.random() < 0.2}
            for _ in range(self.depth)
        ]  # fmt: skip
        for level in self.levels:
            if level["sequential"]:  # AsyncBatchNode / AsyncBatchFlow: one item at a time, no options
                level["bound"], level["limited"] = None, False
        self.capacity = rng.randint(1, 3)
        self.fail_rate = rng.choice([0, 0, 0.05, 0.2])
        self.swallow_rate = rng.choice([0, 0.3])
        self.collect_leaves = rng.random() < 0.3
        self.cancel_after = rng.choice([None, None, rng.randint(1, 30)])
        self.limiter = pf.Limiter(self.capacity)
        self.now = self.peak = 0
        self.done = []

    def draw(self, path, item, what):
        return random.Random(f"{self.seed}/{path}/{item}/{what}").random()

    def build(self):
        """The outermost node; leaves are AsyncParallelBatchNodes, every other level an AsyncParallelBatchFlow."""
        case, node = self, None
        for depth in reversed(range(self.depth)):
            level = self.levels[depth]
            options = {"max_concurrency": level["bound"], "limiter": self.limiter if level["limited"] else None}
            if level["sequential"]:
                options = {}
            elif node is None:
                options["errors"] = "collect" if self.collect_leaves else "raise"
            if node is None:
                node = (SequentialLeaf if level["sequential"] else Leaf)(case, level["n"], **options)
            else:
                node = (SequentialRuns if level["sequential"] else Runs)(
                    case, level["n"], start=pf.AsyncFlow(start=node), **options
                )
        return node


class LeafWork:
    """The leaf batch's items, for a parallel or a sequential node."""

    def __init__(self, case, n, **options):
        super().__init__(**options)
        self.case, self.n = case, n

    async def prep_async(self, shared):
        return range(self.n)

    async def exec_async(self, item):
        case, path = self.case, self.params.get("path", ())
        counted = getattr(self, "limiter", None) is not None
        case.now += counted
        case.peak = max(case.peak, case.now)
        try:
            for _ in range(1 + int(case.draw(path, item, "turns") * 4)):
                await asyncio.sleep(0)
            if case.draw(path, item, "fail") < case.fail_rate:
                raise Boom((path, item))
        except asyncio.CancelledError:
            if case.draw(path, item, "swallow") < case.swallow_rate:
                return "swallowed"
            raise
        finally:
            case.now -= counted
        case.done.append((path, item))
        return item * 2

    async def post_async(self, shared, prep_res, exec_res):
        shared.setdefault("results", {})[self.params.get("path", ())] = exec_res


class Leaf(LeafWork, pf.AsyncParallelBatchNode):
    pass


class SequentialLeaf(LeafWork, pf.AsyncBatchNode):
    pass


class RunsWork:
    def __init__(self, case, n, **options):
        super().__init__(**options)
        self.n = n

    async def prep_async(self, shared):
        path = self.params.get("path", ())
        return ({"path": (*path, i)} for i in range(self.n))  # a generator: read lazily


class Runs(RunsWork, pf.AsyncParallelBatchFlow):
    pass


class SequentialRuns(RunsWork, pf.AsyncBatchFlow):
    pass


def expected_paths(case):
    paths = [()]
    for level in case.levels[:-1]:
        paths = [(*p, i) for p in paths for i in range(level["n"])]
    return paths


async def run_case(case):
    shared = {}
    run = asyncio.create_task(case.build().run_async(shared))
    outcome = "ok"
    if case.cancel_after is not None:
        for _ in range(case.cancel_after):
            await asyncio.sleep(0)
        run.cancel()
    try:
        async with asyncio.timeout(10):
            await run
    except asyncio.CancelledError:
        outcome = "cancelled"
    except Boom:
        outcome = "failed"
    return outcome, shared


@pytest.mark.parametrize("block", range(4))
async def test_random_nesting_keeps_budget_results_and_leaves_no_task(block):
    outcomes = set()
    for seed in range(block * 60, block * 60 + 60):
        case = Case(seed)
        outcome, shared = await run_case(case)
        outcomes.add(outcome)
        context = f"seed {seed}: {case.levels}, capacity {case.capacity}, outcome {outcome}"
        assert asyncio.all_tasks() == {asyncio.current_task()}, context
        assert (case.limiter.in_flight, case.limiter.waiting) == (0, 0), context
        if case.levels[-1]["limited"]:
            assert case.peak <= case.capacity, context
        assert len(case.done) == len(set(case.done)), context  # no item ran twice
        if outcome == "ok" and case.cancel_after is None:
            n = case.levels[-1]["n"]
            results = shared["results"]
            assert sorted(results) == expected_paths(case), context
            for out in results.values():
                assert len(out) == n, context
                for item, value in enumerate(out):
                    assert value == item * 2 or (case.collect_leaves and isinstance(value, Boom)), context
        if outcome == "failed":
            assert case.fail_rate and (not case.collect_leaves or case.levels[-1]["sequential"]), context
    assert "ok" in outcomes
