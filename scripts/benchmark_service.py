"""Latency of the inference service: POST one real slice N times to /classify, /segment and /analyze.

Starts the app with uvicorn on 127.0.0.1 (a free port, in a background thread of this process:
scripts/serving.py), sends the requests one after the other over HTTP and prints the median and
95th-percentile latency in milliseconds per endpoint (client side: upload, decoding, inference, JSON answer).

    .venv/bin/python scripts/benchmark_service.py --models-dir models --n 50
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import httpx
import numpy as np
from serving import REPO, serve_app, service_app  # scripts/ is this script's import path

DEFAULT_IMAGE = REPO / "tests/fixtures/lgg/kaggle_3m/TCGA_CS_4942_19970222/TCGA_CS_4942_19970222_11.tif"
logger = logging.getLogger("benchmark")


def measure(client: httpx.Client, path: str, name: str, data: bytes, n: int, warmup: int) -> list[float]:
    """Latencies in ms of ``n`` requests (after ``warmup`` unmeasured ones)."""
    latencies = []
    for i in range(warmup + n):
        start = time.perf_counter()
        response = client.post(path, files={"file": (name, data, "application/octet-stream")})
        elapsed = (time.perf_counter() - start) * 1000
        response.raise_for_status()
        if i >= warmup:
            latencies.append(elapsed)
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / "models", help="folder with the two models")
    parser.add_argument("--n", type=int, default=50, help="measured requests per endpoint")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured requests first")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="slice to send")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    data = args.image.read_bytes()
    with serve_app(service_app(args.models_dir)) as url, httpx.Client(base_url=url, timeout=60) as client:
        models = client.get("/v2/models").json()["models"]
        logger.info("models: %s", ", ".join(f"{m['role']}={m['name']}@{m['version']}" for m in models))
        logger.info("image: %s (%d bytes), n=%d", args.image.name, len(data), args.n)
        for path in ("/classify", "/segment", "/analyze"):
            ms = np.array(measure(client, path, args.image.name, data, args.n, args.warmup))
            logger.info(
                "%-10s median %7.1f ms   p95 %7.1f ms   (min %.1f, max %.1f)",
                path,
                np.median(ms),
                np.percentile(ms, 95),
                ms.min(),
                ms.max(),
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
