"""Where the milliseconds of one /analyze request go: each stage timed alone, the app in-process,
and the request over HTTP, on the same slice and models, in one run.

Stages, in the order a request meets them (``--n`` rounds of every stage, the app call and the
request in turn, so that all see the same load; medians, and medians of the per-round differences):

- ``form``: reading the multipart body into an upload (Starlette's parser, as FastAPI runs it);
- ``decode``: the upload to a ``(H, W, 3)`` uint8 slice (``pipeline.decode_uploads``);
- ``prepare``: the slice to the model's float32 input batch (resize when the sizes differ);
- ``model``: the model call, as served (the file's lock, test-time augmentation);
- ``mask``: the probability map to the upload's size, thresholded (``contract.spec``);
- ``postprocess``: the card's 2-D mask post-processing (``contract.postprocess``);
- ``encode``: the rest of ``pipeline.analyze`` (reading the outputs, RLE, box, the answer's objects):
  its whole time minus the stages above it;
- ``serialize``: the answer's JSON bytes, as FastAPI makes them (validation against the response model, dump);
- ``app (ASGI, in-process)``: the whole app called directly with the request (middleware, routing,
  dependencies, the worker-thread hand-off, all of the above): minus the stages, what the framework costs;
- ``Server-Timing``: the request's own account in its answer (:mod:`service.timing`): its model
  calls, and the app's time beyond them, in the server that answered it;
- ``HTTP /analyze``: the request over loopback to uvicorn in a child process started as the image
  starts it (service.protocol), from a kept-alive ``http.client`` connection: minus the app, what the server,
  the socket and the client cost.

    python -m scripts.profile_request                       # the runtime auto picks
    python -m scripts.profile_request --runtime onnxruntime:1 --n 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from scripts.benchmark_service import BOUNDARY, SERVED_AS_THE_IMAGE, Client, multipart, processor
from scripts.model_call_timing import DEFAULT_IMAGE, parse_candidate
from scripts.serving import REPO, serve_process


def timed_ms(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


class AsgiDriver:
    """Posts ``body`` to ``/analyze`` of ``app`` by calling it directly (ASGI) as uvicorn would: from
    one long-lived task of an event loop in its own thread (so that the app's worker threads live
    on between requests, as in the server), the body in ``chunk``-byte messages."""

    def __init__(self, app, body: bytes, chunk: int = 65536) -> None:
        self.app, self.chunk, self.body = app, chunk, body
        self.requests: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.thread.start()

    async def _call(self) -> None:
        body, chunk = self.body, self.chunk
        parts = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        messages = [
            {"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/analyze",
            "raw_path": b"/analyze",
            "query_string": b"",
            "root_path": "",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "state": {},
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"content-length", str(len(body)).encode()),
                (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            ],
        }

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"/analyze answered {message['status']}")

        await self.app(scope, receive, send)

    async def _serve(self) -> None:
        while await asyncio.to_thread(self.requests.get):
            start = time.perf_counter()
            await self._call()
            self.results.put((time.perf_counter() - start) * 1000)

    def post(self) -> float:
        """ms of one request."""
        self.requests.put(True)
        return self.results.get()

    def close(self) -> None:
        self.requests.put(False)
        self.thread.join(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--runtime", default=None, help="NAME:THREADS[:PRECISION] (default: what auto picks)")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args(argv)

    from pydantic import TypeAdapter
    from starlette.requests import Request

    from contract.postprocess import postprocess_mask
    from contract.spec import mask_from_probabilities
    from service import pipeline
    from service.images import ImageLimits
    from service.inference import load_models
    from service.logs import configure_logging
    from service.main import create_app
    from service.schemas import Analysis, AnalysisBatch
    from service.settings import Settings

    settings = Settings(models_dir=args.models_dir, log_level="WARNING")
    candidate = parse_candidate(args.runtime) if args.runtime else None
    models = load_models(settings, candidate=candidate)
    serves = models.selection.chosen.label
    data = args.image.read_bytes()
    body = multipart(args.image.name, data, "image/tiff")
    limits = ImageLimits()
    upload = pipeline.Upload("file", data, "image/tiff")
    decoded = pipeline.decode_uploads([upload], limits)[0]
    classifier, segmenter = models.classifier, models.segmenter
    batch = classifier.prepare([decoded.pixels])
    probability_map = segmenter.read(segmenter.runner.call_model(batch))[0]
    files = list(models.files.values())
    mask = mask_from_probabilities(probability_map, decoded.shape, segmenter.threshold)
    answer_type = TypeAdapter(Analysis | AnalysisBatch)

    def form() -> None:
        async def read():
            messages = [{"type": "http.request", "body": body, "more_body": False}]
            scope = {
                "type": "http",
                "method": "POST",
                "path": "/",
                "query_string": b"",
                "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
            }
            form = await Request(scope, lambda: asyncio.sleep(0, messages.pop(0))).form()
            await form["file"].read()
            await form.close()

        asyncio.run(read())

    result = pipeline.analyze(models, [decoded], "rle")[0]

    stages = {
        "form": form,
        "decode": lambda: pipeline.decode_uploads([upload], limits),
        "prepare": lambda: classifier.prepare([decoded.pixels]),
        "model": lambda: [f.call_model(batch) for f in files],  # one file: one call for both answers
        "mask": lambda: mask_from_probabilities(probability_map, decoded.shape, segmenter.threshold),
        "postprocess": lambda: postprocess_mask(mask, **segmenter.postprocess),
        "analyze": lambda: pipeline.analyze(models, [decoded], "rle"),
        "serialize": lambda: answer_type.dump_json(answer_type.validate_python(result)),
    }
    app = create_app(settings)
    configure_logging("WARNING")
    app.state.models = models
    env = {**os.environ, "MRI_MODELS_DIR": str(args.models_dir), "MRI_LOG_LEVEL": "INFO"}
    chosen = models.selection.chosen
    env.update(MRI_RUNTIME=chosen.runtime, MRI_INTRA_OP_THREADS=str(chosen.threads))
    samples: dict[str, list[float]] = {}
    with ExitStack() as stack:
        _, url = stack.enter_context(serve_process(env, SERVED_AS_THE_IMAGE, timeout=600))
        client = Client(url)
        stack.callback(client.close)
        driver = AsgiDriver(app, body)
        stack.callback(driver.close)
        calls = {**stages, "app": driver.post, "http": lambda: client.post("/analyze", body)}
        for i in range(args.n + 1):  # every stage, the app and the request in turn: each sees the same load
            for name, call in calls.items():
                ms = driver.post() if name == "app" else timed_ms(call)
                if i:  # the first round warms up
                    samples.setdefault(name, []).append(ms)
                    if name == "http":  # the answer's own account (service.timing)
                        samples.setdefault("server model", []).append(client.server_timing["model"])
                        samples.setdefault("server app", []).append(client.server_timing["app"])
    per_round = {k: np.asarray(v) for k, v in samples.items()}
    staged = per_round["form"] + per_round["decode"] + per_round["analyze"] + per_round["serialize"]
    derived = {
        "encode": per_round["analyze"]
        - sum(per_round[k] for k in ("prepare", "model", "mask", "postprocess")),
        "framework: app minus the stages": per_round["app"] - staged,
        "server, socket, client: HTTP minus the app": per_round["http"] - per_round["app"],
        "app (ASGI, in-process)": per_round["app"],
        "HTTP /analyze": per_round["http"],
        "HTTP minus the model call": per_round["http"] - per_round["model"],
        "Server-Timing: the server's model calls": per_round["server model"],
        "Server-Timing: app minus model (the service's own path)": per_round["server app"]
        - per_round["server model"],
        "Server-Timing: HTTP minus app (server, socket, client)": per_round["http"] - per_round["server app"],
        "HTTP minus the server's model calls": per_round["http"] - per_round["server model"],
    }
    figures = {k: float(np.median(v)) for k, v in {**per_round, **derived}.items()}

    print(
        f"processor: {processor()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"{serves}, test-time augmentation {models.tta}; {args.image.name}; medians of {args.n} rounds"
    )
    print("| stage | ms | share of the HTTP request |")
    print("|---|---|---|")
    total = figures["HTTP /analyze"]
    order = (
        "form",
        "decode",
        "prepare",
        "model",
        "mask",
        "postprocess",
        "encode",
        "serialize",
        *list(derived)[1:],
    )
    for name in order:
        print(f"| {name} | {figures[name]:.2f} | {100 * figures[name] / total:.0f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
