"""Adaptive micro-batching (owner: ML engineer): many concurrent requests, one `predict_proba` call.

Scoring one record with a gradient-boosted pipeline costs about as much as scoring a thousand (the cost
is per call, not per row), so a service that scores each request alone spends its time on overhead. Each
request puts its records on a queue and awaits its own answer. One worker takes whatever is waiting,
up to `max_records`, optionally waits `max_wait_ms` for more, scores the lot in one call off the event
loop, and hands each request its slice. With one client nothing waits; under load, requests that
arrive while a batch is scored form the next batch, so batches grow exactly when they help.

A batch is scored by the model that was current when the batch started; every request in it reports
that model's version, so a champion swap never mixes versions within an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.api.model_store import LoadedModel


@dataclass
class _Pending:
    records: list[dict[str, Any]]
    future: asyncio.Future[tuple[np.ndarray, LoadedModel]]


class NoModelError(RuntimeError):
    """No champion is loaded; the request cannot be scored (503)."""


class MicroBatcher:
    def __init__(
        self,
        current_model: Callable[[], LoadedModel | None],
        *,
        max_records: int = 1024,
        max_wait_ms: float = 1.0,
        threads: int = 1,
        on_batch: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self._current_model = current_model
        self.max_records = max_records
        self.max_wait_s = max_wait_ms / 1000
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None
        # One inference thread: the model itself spreads a call over the cores (OpenMP), so two calls at
        # once would only fight over them.
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="inference", initializer=_limit_threads, initargs=(threads,)
        )
        self._inflight = 0  # requests submitted and not yet answered (event-loop thread only)

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run(self._queue), name="micro-batcher")

    async def stop(self) -> None:
        """Score what is queued, then stop; requests already accepted still get their answers."""
        if self._worker is not None and self._queue is not None:
            await self._queue.join()
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=True)

    async def predict(self, records: list[dict[str, Any]]) -> tuple[np.ndarray, LoadedModel]:
        """Probabilities for `records`, in order, and the model that produced them."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        future: asyncio.Future[tuple[np.ndarray, LoadedModel]] = asyncio.get_running_loop().create_future()
        self._inflight += 1
        try:
            await self._queue.put(_Pending(records, future))
            return await future
        finally:
            self._inflight -= 1

    async def _take_batch(self, queue: asyncio.Queue[_Pending]) -> list[_Pending]:
        batch = [await queue.get()]
        size = len(batch[0].records)
        deadline = time.perf_counter() + self.max_wait_s
        while size < self.max_records:
            try:
                nxt = queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                # Wait for company only when other requests are in flight: a lone client never waits.
                if remaining <= 0 or self._inflight <= len(batch):
                    break
                try:
                    nxt = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(nxt)
            size += len(nxt.records)
        return batch

    async def _run(self, queue: asyncio.Queue[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._take_batch(queue)
            try:
                model = self._current_model()
                if model is None:
                    raise NoModelError("no champion model is loaded")
                records = [r for p in batch for r in p.records]
                started = time.perf_counter()
                proba = await loop.run_in_executor(self._executor, model.predict_records, records)
                if self._on_batch is not None:
                    self._on_batch(len(batch), len(records), time.perf_counter() - started)
                answers = np.split(proba, np.cumsum([len(p.records) for p in batch])[:-1])
                for p, answer in zip(batch, answers, strict=True):
                    if not p.future.done():  # the client may have gone away
                        p.future.set_result((answer, model))
            except Exception as exc:  # one bad batch must not stop the worker; each request gets the error
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
            finally:
                for _ in batch:
                    queue.task_done()


def _limit_threads(threads: int) -> None:
    # OpenMP's thread count belongs to the calling thread: this limits the model's calls from the inference
    # thread only, whatever else the process runs.
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="openmp")
