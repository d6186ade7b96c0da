"""Cross-request batching: grouping, per-caller answers equal to unbatched calls, queue bound, errors.

The unit tests drive :class:`Batcher` with plain functions from many threads; the others with the
tiny Keras models and, over HTTP, the real app on loopback.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from service.batching import Batcher, BatcherClosed, QueueFull
from service.inference import load_models
from service.main import create_app
from service.settings import Settings
from tests.servers import serve_app
from tests.service import samples
from tests.tiny_models import TINY_SIZE


class Recorder:
    """A per-row function (row sums) that records the size and the thread of every call and can be
    held (``gate``) once it is entered (``entered``)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.threads: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.entered.set()
        self.gate.wait(30)
        self.sizes.append(len(batch))
        self.threads.append(threading.get_ident())
        return batch.reshape(len(batch), -1).sum(axis=1)


def wait_until(condition, timeout: float = 30.0) -> None:
    """Return once ``condition()`` holds (the batcher's queue is observed, not timed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        time.sleep(0.002)


def _submit_all(batcher: Batcher, inputs: list[np.ndarray]) -> list[np.ndarray]:
    with ThreadPoolExecutor(len(inputs)) as pool:
        return list(pool.map(batcher.submit, inputs))


def test_concurrent_inputs_share_model_calls_and_get_their_own_rows():
    """The first input runs at once and is held; the 23 that arrive meanwhile queue and go in
    full batches of 8 once the model is free."""
    run = Recorder()
    run.gate.clear()
    batcher = Batcher(run, name="t", max_batch_size=8, max_wait_s=0.05, max_queue=64)
    inputs = [np.full((1, 2), i, np.float32) for i in range(24)]
    try:
        with ThreadPoolExecutor(len(inputs)) as pool:
            futures = [pool.submit(batcher.submit, inputs[0])]
            assert run.entered.wait(30)
            futures += [pool.submit(batcher.submit, x) for x in inputs[1:]]
            wait_until(lambda: batcher.waiting == 23)
            run.gate.set()
            outputs = [f.result(30) for f in futures]
    finally:
        run.gate.set()
        batcher.close()
    assert [o.tolist() for o in outputs] == [[2.0 * i] for i in range(24)]
    assert run.sizes == [1, 8, 8, 7]


def test_a_lone_caller_never_waits_for_company():
    """One input after the other: each runs at once in the caller's own thread, alone, never handed
    to the batcher thread (whose max_wait_s it would wait under load): no latency at low load."""
    run = Recorder()
    batcher = Batcher(run, name="t", max_batch_size=8, max_wait_s=60.0, max_queue=8)
    try:
        for i in range(5):
            assert batcher.submit(np.full((1, 1), i)).tolist() == [float(i)]
            assert batcher.waiting == 0
    finally:
        batcher.close()
    assert run.sizes == [1] * 5
    assert run.threads == [threading.get_ident()] * 5


def test_multi_slice_inputs_stay_together_and_oversized_ones_run_alone():
    run = Recorder()
    batcher = Batcher(run, name="t", max_batch_size=4, max_wait_s=0.0, max_queue=8)
    try:
        big = batcher.submit(np.ones((6, 3), np.float32))
        small = batcher.submit(np.ones((3, 3), np.float32))
    finally:
        batcher.close()
    assert big.tolist() == [3.0] * 6 and small.tolist() == [3.0] * 3
    assert run.sizes == [6, 3]


def test_full_queue_raises_queue_full_and_queued_inputs_still_complete():
    run = Recorder()
    run.gate.clear()  # hold the model call
    batcher = Batcher(run, name="t", max_batch_size=1, max_wait_s=0.0, max_queue=2)
    pool = ThreadPoolExecutor(3)
    try:
        running = pool.submit(batcher.submit, np.ones((1, 1)))
        assert run.entered.wait(10)
        queued = [pool.submit(batcher.submit, np.ones((1, 1))) for _ in range(2)]
        wait_until(lambda: batcher.waiting == 2)
        with pytest.raises(QueueFull):
            batcher.submit(np.ones((1, 1)))
        run.gate.set()
        assert [f.result(10).tolist() for f in [running, *queued]] == [[1.0]] * 3
    finally:
        run.gate.set()
        batcher.close()
        pool.shutdown()


def test_a_model_error_reaches_every_caller_of_the_call_and_close_refuses_new_inputs():
    def broken(batch: np.ndarray) -> np.ndarray:
        raise ValueError("model exploded")

    batcher = Batcher(broken, name="t", max_batch_size=4, max_wait_s=0.01, max_queue=8)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(batcher.submit, np.ones((1, 1))) for _ in range(3)]
        for future in futures:
            with pytest.raises(ValueError, match="model exploded"):
                future.result(10)
    batcher.close()
    with pytest.raises(BatcherClosed):
        batcher.submit(np.ones((1, 1)))


def test_inputs_of_another_shape_are_not_concatenated():
    run = Recorder()
    run.gate.clear()
    batcher = Batcher(run, name="t", max_batch_size=8, max_wait_s=0.0, max_queue=8)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(batcher.submit, np.ones((1, 2)))
        assert run.entered.wait(10)
        a = pool.submit(batcher.submit, np.ones((1, 2)))
        wait_until(lambda: batcher.waiting == 1)
        b = pool.submit(batcher.submit, np.ones((1, 5)))
        wait_until(lambda: batcher.waiting == 2)
        run.gate.set()
        assert (first.result(10).tolist(), a.result(10).tolist(), b.result(10).tolist()) == (
            [2.0],
            [2.0],
            [5.0],
        )
    batcher.close()
    assert run.sizes == [1, 1, 1]


def held_first_call(role) -> tuple[list[int], threading.Event, threading.Event]:
    """Make the observer of ``role``'s model file (called after each model call, still inside it)
    record the call sizes and hold the first call until ``release`` is set; ``entered`` is set once
    it is held."""
    runner = role.runner
    sizes: list[int] = []
    entered, release = threading.Event(), threading.Event()
    observe = runner.observer

    def held(role: str, n: int, seconds: float) -> None:
        if observe is not None:
            observe(role, n, seconds)
        sizes.append(n)
        if len(sizes) == 1:
            entered.set()
            release.wait(30)

    runner.observer = held
    return sizes, entered, release


def test_keras_answers_through_the_batcher_equal_unbatched_calls(models_dir):
    """Tiny Keras models: 16 threads, one slice each: the first call runs alone (held), the 15 that
    arrive meanwhile share one model call; every answer equals a model call on that slice alone."""
    models = load_models(Settings(models_dir=models_dir, max_batch_wait_ms=20))
    rng = np.random.default_rng(3)
    inputs = [rng.uniform(0, 255, (1, TINY_SIZE, TINY_SIZE, 3)).astype(np.float32) for _ in range(16)]
    try:
        for runner in models.runners():
            sizes, entered, release = held_first_call(runner)
            with ThreadPoolExecutor(len(inputs)) as pool:
                futures = [pool.submit(runner.predict, inputs[0])]
                assert entered.wait(30)
                futures += [pool.submit(runner.predict, x) for x in inputs[1:]]
                wait_until(lambda runner=runner: runner.batcher.waiting == 15)
                release.set()
                batched = [f.result(30) for f in futures]
            assert sizes == [1, 15], runner.role
            runner.runner.observer = None
            for x, y in zip(inputs, batched, strict=True):
                np.testing.assert_allclose(y, runner.call_model(x), rtol=1e-5, atol=1e-6)
    finally:
        models.close()


@pytest.mark.parametrize("batching", [True, False], ids=["batching-on", "batching-off"])
def test_concurrent_http_requests_get_the_answers_of_single_requests(models_dir, batching):
    """16 clients at once on /segment and /classify over HTTP: the same JSON as one at a time."""
    app = create_app(Settings(models_dir=models_dir, batching=batching, max_batch_wait_ms=10))
    rng = np.random.default_rng(5)
    slices = [samples.png_bytes(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(16)]
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=60) as client:

        def post(args: tuple[str, bytes]) -> dict:
            path, data = args
            response = client.post(path, files={"file": ("s.png", data, "image/png")})
            assert response.status_code == 200, response.text
            return response.json()

        jobs = [(path, data) for path in ("/segment", "/classify") for data in slices]
        alone = [post(job) for job in jobs]
        with ThreadPoolExecutor(16) as pool:
            together = list(pool.map(post, jobs))
        for a, t in zip(alone, together, strict=True):
            assert a.keys() == t.keys()
            if "tumour_probability" in a:
                assert t["tumour_probability"] == pytest.approx(a["tumour_probability"], abs=1e-6)
            else:
                assert abs(t["tumour_pixels"] - a["tumour_pixels"]) <= 1  # float rounding at the cut-off


def test_overload_is_503_with_retry_after(models_dir):
    """max_queue=1 and the model held: the third concurrent request is refused at once."""
    app = create_app(Settings(models_dir=models_dir, max_queue=1, max_batch_size=1, retry_after_s=7))
    data = samples.png_bytes(np.full((40, 40, 3), 200, np.uint8))
    with (
        serve_app(app) as url,
        httpx.Client(base_url=url, timeout=60) as client,
        ThreadPoolExecutor(2) as pool,
    ):
        _, entered, hold = held_first_call(app.state.models.classifier)

        def post() -> httpx.Response:
            return client.post("/classify", files={"file": ("s.png", data, "image/png")})

        try:
            first = pool.submit(post)
            assert entered.wait(30)
            second = pool.submit(post)
            wait_until(lambda: app.state.models.classifier.batcher.waiting == 1)
            refused = post()
            oip = client.post(
                "/v2/models/tiny-classifier/infer",
                json={
                    "inputs": [
                        {
                            "name": "input",
                            "shape": [1, TINY_SIZE, TINY_SIZE, 3],
                            "datatype": "FP32",
                            "data": [0.0] * (TINY_SIZE * TINY_SIZE * 3),
                        }
                    ]
                },
            )
        finally:
            hold.set()
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "7"
        assert "overloaded" in refused.json()["detail"]
        assert (
            oip.status_code == 503
            and oip.headers["Retry-After"] == "7"
            and "overloaded" in oip.json()["error"]
        )
        assert first.result(30).status_code == 200 and second.result(30).status_code == 200
