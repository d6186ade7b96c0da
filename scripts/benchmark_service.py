"""Latency of the inference service: POST one real slice N times to /classify, /segment and /analyze.

Starts the app with uvicorn on 127.0.0.1 (a free port, in a background thread of this process),
sends the requests one after the other over HTTP and prints the median and 95th-percentile
latency in milliseconds per endpoint (client side: upload, decoding, inference, JSON answer).

    .venv/bin/python scripts/benchmark_service.py --models-dir models --n 50
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.main import create_app
from service.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = REPO / "tests/fixtures/lgg/kaggle_3m/TCGA_CS_4942_19970222/TCGA_CS_4942_19970222_11.tif"
logger = logging.getLogger("benchmark")


def start_server(models_dir: Path) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Serve the app for ``models_dir`` on 127.0.0.1 and return once it answers (models loaded)."""
    app = create_app(Settings(models_dir=models_dir, log_level="WARNING"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("the service did not start (see the log above)")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    while httpx.get(f"{url}/v2/health/ready", timeout=10).status_code != 200:  # models load in the background
        if app.state.load_error:
            raise SystemExit(f"the models did not load: {app.state.load_error}")
        time.sleep(0.1)
    return server, thread, url


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
    server, thread, url = start_server(args.models_dir)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
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
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
