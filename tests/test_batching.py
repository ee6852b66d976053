"""captcha_keras.serving.batching: concurrent requests share forward passes, each gets its own rows back."""

import asyncio
import concurrent.futures
import threading

import numpy as np
import pytest

# Imported after the check: without the serve extra these modules cannot load, and the file is skipped.
pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install -e .[serve]")

from captcha_keras.serving.batching import Batcher  # noqa: E402
from captcha_keras.serving.errors import ApiError  # noqa: E402


class Forward:
    """A model stand-in: each image's output is its first pixel, doubled; the batches it saw are kept."""

    def __init__(self, kind="array", fail_on=None):
        self.kind = kind
        self.fail_on = fail_on
        self.batches = []
        self.threads = set()

    def __call__(self, batch):
        self.batches.append(batch[:, 0, 0, 0].tolist())
        self.threads.add(threading.get_ident())
        if self.fail_on is not None and self.fail_on in self.batches[-1]:
            raise RuntimeError(f"image {self.fail_on} broke the model")
        out = batch[:, 0, 0, 0].astype("float32") * 2
        if self.kind == "dict":
            return {"c1": out, "c2": out + 1}
        if self.kind == "list":
            return [out, out + 1]
        return out


def images(*values):
    """A uint8 batch whose images are known by their first pixel."""
    batch = np.zeros((len(values), 2, 3, 1), "uint8")
    batch[:, 0, 0, 0] = values
    return batch


def serve(forward, requests, **options):
    """Runs `requests` (lists of pixel values) at once on one Batcher; returns (outputs, batcher)."""

    async def main():
        with concurrent.futures.ThreadPoolExecutor(2) as executor:
            batcher = Batcher(forward, executor, **options)
            try:
                outputs = await asyncio.gather(*(batcher.run(images(*r)) for r in requests), return_exceptions=True)
            finally:
                await batcher.close()
            return outputs, batcher

    return asyncio.run(main())


def test_a_request_alone_runs_alone_and_off_the_event_loop():
    forward = Forward()
    (output,), batcher = serve(forward, [[1, 2, 3]])
    np.testing.assert_array_equal(output, [2, 4, 6])
    assert forward.batches == [[1, 2, 3]] and (batcher.batches, batcher.images, batcher.pending) == (1, 3, 0)
    assert threading.get_ident() not in forward.threads


@pytest.mark.parametrize("kind", ["array", "dict", "list"])
def test_requests_waiting_together_share_one_forward_pass_and_get_their_own_rows(kind):
    forward = Forward(kind)
    outputs, batcher = serve(forward, [[1], [2, 3], [4, 5, 6]])
    assert forward.batches == [[1, 2, 3, 4, 5, 6]] and (batcher.batches, batcher.images) == (1, 6)
    for values, output in zip([[1], [2, 3], [4, 5, 6]], outputs):
        expected = np.array(values, "float32") * 2
        if kind == "dict":
            assert sorted(output) == ["c1", "c2"]
            np.testing.assert_array_equal(output["c1"], expected)
            np.testing.assert_array_equal(output["c2"], expected + 1)
        elif kind == "list":
            np.testing.assert_array_equal(output[0], expected)
            np.testing.assert_array_equal(output[1], expected + 1)
        else:
            np.testing.assert_array_equal(output, expected)


@pytest.mark.parametrize("kind", ["array", "dict", "list"])
def test_a_batch_larger_than_max_batch_runs_in_slices(kind):
    # Requests are taken until max_batch is reached (3 + 3 >= 4); the six run as 4 + 2, the last three after.
    forward = Forward(kind)
    outputs, batcher = serve(forward, [[1, 2, 3], [4, 5, 6], [7, 8, 9]], max_batch=4)
    assert forward.batches == [[1, 2, 3, 4], [5, 6], [7, 8, 9]]
    assert (batcher.batches, batcher.images) == (2, 9)
    first = outputs[1]["c1"] if kind == "dict" else outputs[1][0] if kind == "list" else outputs[1]
    np.testing.assert_array_equal(first, [8, 10, 12])


def test_past_max_pending_a_request_is_a_503_and_the_others_are_served():
    forward = Forward()
    outputs, batcher = serve(forward, [[1, 2, 3], [4, 5]], max_pending=4)
    np.testing.assert_array_equal(outputs[0], [2, 4, 6])
    assert isinstance(outputs[1], ApiError) and outputs[1].status == 503
    assert "3 images waiting" in outputs[1].message
    assert forward.batches == [[1, 2, 3]] and batcher.pending == 0


def test_a_failed_forward_pass_fails_its_requests_only_and_the_batcher_goes_on():
    forward = Forward(fail_on=2)

    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as executor:
            batcher = Batcher(forward, executor)
            try:
                failed = await asyncio.gather(batcher.run(images(1)), batcher.run(images(2)), return_exceptions=True)
                after = await batcher.run(images(3))
            finally:
                await batcher.close()
            return failed, after, batcher

    failed, after, batcher = asyncio.run(main())
    # Both requests of the broken batch get its error; none waits forever.
    assert [str(error) for error in failed] == ["image 2 broke the model"] * 2
    np.testing.assert_array_equal(after, [6])
    assert forward.batches == [[1, 2], [3]] and batcher.pending == 0


def test_a_request_whose_client_went_away_does_not_disturb_the_others():
    forward = Forward()

    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as executor:
            batcher = Batcher(forward, executor)
            try:
                gone = asyncio.ensure_future(batcher.run(images(1)))
                kept = asyncio.ensure_future(batcher.run(images(2, 3)))
                await asyncio.sleep(0)  # both are queued now
                gone.cancel()
                output = await kept
            finally:
                await batcher.close()
            return gone, output, batcher

    gone, output, batcher = asyncio.run(main())
    assert gone.cancelled()
    np.testing.assert_array_equal(output, [4, 6])
    assert forward.batches == [[1, 2, 3]] and batcher.pending == 0


def test_close_stops_the_serving_task():
    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as executor:
            batcher = Batcher(Forward(), executor)
            await batcher.close()  # before any request: nothing to stop
            await batcher.run(images(1))
            task = batcher._task
            await batcher.close()
            return task

    assert asyncio.run(main()).cancelled()
