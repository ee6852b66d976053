"""Inference off the event loop, with concurrent requests batched together.

Each model has one `Batcher`. A request hands it its images and awaits the
outputs; a loop per model takes every request waiting at that moment (up to
`max_batch` images), runs one forward pass for all of them in a worker
thread, and hands each request its slice. When the service is idle a request
runs alone, with no wait; under load, requests that arrive during a forward
pass share the next one, which is how batching raises throughput without
adding latency. The thread pool is bounded (`workers`), and so is the number
of images waiting (`max_pending`: past it, 503).
"""

import asyncio

import numpy as np

from captcha_keras.serving.errors import ApiError


class Batcher:
    """Batches the forward passes of one model.

    Args:
        forward: callable. Takes a uint8 batch, returns the model's outputs
            (an array, a dict of arrays or a list of arrays, batch first).
        executor: `concurrent.futures.Executor`. Where `forward` runs.
        max_batch: int. Images one forward pass takes at most.
        max_pending: int. Images allowed to wait.
    """

    def __init__(self, forward, executor, max_batch=64, max_pending=1024):
        self.forward = forward
        self.executor = executor
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.pending = 0
        self.batches = 0
        self.images = 0
        self._queue = None
        self._task = None

    async def run(self, arrays):
        """The outputs for `arrays` (uint8 `(n, h, w, c)`), computed with whatever else is waiting."""
        if self.pending + len(arrays) > self.max_pending:
            raise ApiError(503, f"The service is busy ({self.pending} images waiting); retry shortly.")
        loop = asyncio.get_running_loop()
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():
            # The one queue outlives a task that died: what waits in it is served by the next.
            self._task = loop.create_task(self._serve())
        future = loop.create_future()
        self.pending += len(arrays)
        try:
            self._queue.put_nowait((arrays, future))
            return await future
        finally:
            self.pending -= len(arrays)

    async def close(self):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _serve(self):
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            try:
                count = len(items[0][0])
                while count < self.max_batch and not self._queue.empty():
                    item = self._queue.get_nowait()
                    items.append(item)
                    count += len(item[0])
                # A request larger than max_batch, or several that overshoot it, run in slices.
                batch = np.concatenate([arrays for arrays, _ in items])
                outputs = await loop.run_in_executor(self.executor, self._forward_in_slices, batch)
                self.batches += 1
                self.images += len(batch)
                start = 0
                for arrays, future in items:
                    stop = start + len(arrays)
                    if not future.done():  # a client that went away leaves a cancelled future
                        future.set_result(_slice(outputs, start, stop))
                    start = stop
            except BaseException as error:
                # Whatever failed, no request that was taken from the queue waits forever.
                for _, future in items:
                    if not future.done():
                        future.set_exception(
                            error
                            if isinstance(error, Exception)
                            else RuntimeError(f"the batch was stopped ({type(error).__name__})")
                        )
                if not isinstance(error, Exception):
                    raise

    def _forward_in_slices(self, batch):
        parts = [self.forward(batch[i : i + self.max_batch]) for i in range(0, len(batch), self.max_batch)]
        return _concatenate(parts)


def _slice(outputs, start, stop):
    if isinstance(outputs, dict):
        return {k: v[start:stop] for k, v in outputs.items()}
    if isinstance(outputs, list):
        return [v[start:stop] for v in outputs]
    return outputs[start:stop]


def _concatenate(parts):
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if isinstance(first, dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in first}
    if isinstance(first, list):
        return [np.concatenate([p[i] for p in parts]) for i in range(len(first))]
    return np.concatenate(parts)
