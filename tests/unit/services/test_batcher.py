from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from services.api.batcher import MicroBatcher, NoModelError
from services.api.model_store import LoadedModel


class Echo:
    """A stand-in model: probability = x / 100, with a per-call cost like a real pipeline's."""

    def __init__(self, cost_s: float = 0.005, fail_on: float | None = None) -> None:
        self.calls: list[int] = []
        self.cost_s = cost_s
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        with self.lock:
            self.calls.append(len(frame))
        time.sleep(self.cost_s)
        if self.fail_on is not None and (frame["x"] == self.fail_on).any():
            raise ValueError("model failed on this batch")
        p = frame["x"].to_numpy() / 100
        return np.column_stack([1 - p, p])


def loaded(model: Any, version: str = "1") -> LoadedModel:
    return LoadedModel("m", version, 0.5, "dv", "run", datetime.now(UTC), model)


async def _gather(batcher: MicroBatcher, values: list[int]) -> list[tuple[np.ndarray, LoadedModel]]:
    return list(await asyncio.gather(*(batcher.predict([{"x": v}]) for v in values)))


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_answer() -> None:
    echo = Echo()

    async def go() -> None:
        batcher = MicroBatcher(lambda: loaded(echo), max_records=64, max_wait_ms=2)
        batcher.start()
        results = await _gather(batcher, list(range(40)))
        await batcher.stop()
        assert [float(p[0, 1]) for p, _ in results] == [v / 100 for v in range(40)]
        assert sum(echo.calls) == 40 and len(echo.calls) < 10  # batched, not one call per request

    asyncio.run(go())


def test_batches_never_exceed_max_records_but_never_split_a_request() -> None:
    echo = Echo(cost_s=0.01)

    async def go() -> None:
        batcher = MicroBatcher(lambda: loaded(echo), max_records=8, max_wait_ms=5)
        batcher.start()
        singles = _gather(batcher, list(range(30)))
        big = batcher.predict([{"x": 1}] * 20)
        await asyncio.gather(singles, big)
        await batcher.stop()
        assert 20 in echo.calls  # a request larger than the cap is scored whole, alone
        assert all(n <= 8 for n in echo.calls if n != 20)

    asyncio.run(go())


def test_a_failing_batch_fails_its_requests_and_the_worker_carries_on() -> None:
    echo = Echo(fail_on=13)

    async def go() -> None:
        batcher = MicroBatcher(lambda: loaded(echo), max_records=1, max_wait_ms=0)
        batcher.start()
        with pytest.raises(ValueError, match="model failed"):
            await batcher.predict([{"x": 13}])
        proba, _ = await batcher.predict([{"x": 50}])
        assert float(proba[0, 1]) == 0.5
        await batcher.stop()

    asyncio.run(go())


def test_each_answer_names_the_model_that_scored_it_across_a_swap() -> None:
    old, new = loaded(Echo(), "1"), loaded(Echo(), "2")
    current = {"model": old}

    async def go() -> None:
        batcher = MicroBatcher(lambda: current["model"], max_records=4, max_wait_ms=0)
        batcher.start()
        first = await _gather(batcher, [1, 2, 3])
        current["model"] = new
        second = await _gather(batcher, [4, 5])
        await batcher.stop()
        assert {m.version for _, m in first} == {"1"} and {m.version for _, m in second} == {"2"}

    asyncio.run(go())


def test_no_model_is_a_clear_error_and_stop_answers_what_was_queued() -> None:
    echo = Echo(cost_s=0.02)

    async def go() -> None:
        empty = MicroBatcher(lambda: None)
        empty.start()
        with pytest.raises(NoModelError, match="no champion"):
            await empty.predict([{"x": 1}])
        await empty.stop()

        batcher = MicroBatcher(lambda: loaded(echo), max_records=2, max_wait_ms=0)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.predict([{"x": v}])) for v in range(6)]
        await asyncio.sleep(0)  # let them queue
        await batcher.stop()
        assert all(p.done() and not p.exception() for p in pending)

    asyncio.run(go())
