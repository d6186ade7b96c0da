"""Load benchmark of the service: throughput and latency with cross-request batching on and off.

For every configuration (``off``, or ``on:WAIT_MS`` with batching on and that maximum wait) it
starts the service with uvicorn in a subprocess on 127.0.0.1, waits for ready and warms it up;
then it runs three scenarios against ``POST /segment`` (one real 256x256 LGG slice), each on
every configuration in turn, ``--rounds`` times (so background load falls on all alike):

1. 1 client, one slice per request, one request after the other;
2. ``--clients`` clients at once (threads, one keep-alive connection each), one slice per request;
3. 1 client, ``--batch`` slices per request (field ``files``): one model batch per request.

Each run of a scenario stops after ``--slices`` slices or ``--seconds`` seconds, whichever comes
first; the rounds are added up (slices / seconds, latencies pooled).
It prints slices/s, the p50 and p95 request latency (client side: upload, decoding, inference,
JSON answer), errors, the server's resident memory, and the two targets: the share of the
multi-slice throughput that concurrent single-slice clients get, and the 1-client median with
batching on against off. Loopback only.

    python -m scripts.benchmark_load --configs off on:0 on:2 --rounds 3 --seconds 10 --slices 400
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from scripts.serving import REPO, serve_process

DEFAULT_IMAGE = REPO / "tests/fixtures/lgg/kaggle_3m/TCGA_CS_4942_19970222/TCGA_CS_4942_19970222_11.tif"
logger = logging.getLogger("benchmark_load")


@dataclass
class Result:
    scenario: str
    slices: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        return self.slices / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def service_env(config: str, models_dir: Path, max_batch: int) -> dict[str, str]:
    """The service's environment for ``config`` (``off`` or ``on:WAIT_MS``)."""
    env = {
        **os.environ,
        "MRI_MODELS_DIR": str(models_dir),
        "MRI_LOG_LEVEL": "WARNING",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if config == "off":
        env["MRI_BATCHING"] = "false"
    else:
        env.update(
            MRI_BATCHING="true", MRI_MAX_BATCH_WAIT_MS=config.split(":")[1], MRI_MAX_BATCH_SIZE=str(max_batch)
        )
    return env


def resident_mib(pid: int) -> float:
    """VmRSS of a process in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_clients(url: str, data: bytes, clients: int, per_request: int, slices: int, seconds: float) -> Result:
    """``clients`` threads posting ``per_request`` slices per request until the slice or time budget is spent."""
    field = "file" if per_request == 1 else "files"
    files = [(field, (f"s{i}.tif", data, "image/tiff")) for i in range(per_request)]
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"sent": 0, "done": 0, "errors": 0}
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while time.monotonic() < deadline:
                with lock:
                    if counts["sent"] + per_request > slices:
                        return
                    counts["sent"] += per_request
                start = time.perf_counter()
                response = http.post("/segment", files=files)
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                        counts["done"] += per_request
                    else:
                        counts["errors"] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    name = f"{clients} client{'s' if clients > 1 else ''}, {per_request} slice{'s' if per_request > 1 else ''}/request"
    return Result(name, counts["done"], time.perf_counter() - start, latencies, counts["errors"])


def _merge(parts: list[Result]) -> Result:
    """Rounds of one scenario as one: slices and seconds added, latencies pooled."""
    return Result(
        parts[0].scenario,
        sum(p.slices for p in parts),
        sum(p.seconds for p in parts),
        [x for p in parts for x in p.latencies_ms],
        sum(p.errors for p in parts),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="slice to send")
    parser.add_argument(
        "--configs", nargs="+", default=["off", "on:0", "on:2"], help="off | on:MAX_WAIT_MS ..."
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--batch", type=int, default=16, help="slices per request in scenario 3 (and max batch size)"
    )
    parser.add_argument("--slices", type=int, default=640, help="most slices per scenario")
    parser.add_argument("--seconds", type=float, default=15.0, help="most seconds per scenario")
    parser.add_argument("--warmup", type=int, default=40, help="unmeasured single-slice requests first")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the scenarios, configurations interleaved"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    data = args.image.read_bytes()
    logger.info(
        "cpu: %d cores, load average %s", os.cpu_count(), " ".join(f"{x:.2f}" for x in os.getloadavg())
    )

    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    scenarios = ((1, 1), (args.clients, 1), (1, args.batch))
    results: dict[tuple[str, int, int], list[Result]] = {}
    memory: dict[str, float] = {}
    with ExitStack() as stack:  # one service process per configuration, stopped at the end
        for config in args.configs:
            env = service_env(config, args.models_dir, args.batch)
            servers[config] = stack.enter_context(serve_process(env))
        for _, url in servers.values():
            run_clients(url, data, 4, 1, args.warmup, 10)  # warm-up: concurrent single slices ...
            run_clients(url, data, 1, args.batch, 2 * args.batch, 10)  # ... and full batches
        for round_ in range(args.rounds):  # configurations interleaved: background load hits all alike
            for clients, per_request in scenarios:
                for config, (_, url) in servers.items():
                    result = run_clients(url, data, clients, per_request, args.slices, args.seconds)
                    results.setdefault((config, clients, per_request), []).append(result)
                    logger.info(
                        "round %d %-6s %-30s %7.1f slices/s  p50 %6.1f ms  p95 %6.1f ms  errors %d",
                        round_ + 1,
                        config,
                        result.scenario,
                        result.throughput,
                        result.percentile(50),
                        result.percentile(95),
                        result.errors,
                    )
        memory = {config: resident_mib(process.pid) for config, (process, _) in servers.items()}
    rows = [(config, _merge(results[(config, c, n)])) for config in args.configs for c, n in scenarios]

    print("\n| batching | scenario | slices/s | p50 ms | p95 ms | errors |")
    print("| --- | --- | --- | --- | --- | --- |")
    for config, r in rows:
        label = "off" if config == "off" else f"on, max wait {config.split(':')[1]} ms"
        print(
            f"| {label} | {r.scenario} | {r.throughput:.1f} | {r.percentile(50):.1f} | "
            f"{r.percentile(95):.1f} | {r.errors} |"
        )
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    by = {(c, r.scenario.split(",")[0], r.scenario.split(",")[1].strip()): r for c, r in rows}
    single, batched = "1 slice/request", f"{args.batch} slices/request"
    # A request of --batch slices takes the same path in every configuration (one model call of
    # its own), so its runs are pooled over the configurations as the reference throughput.
    full = _merge([by[(config, "1 client", batched)] for config in args.configs])
    print(f"{args.batch}-slice requests, all configurations pooled: {full.throughput:.1f} slices/s")
    for config in args.configs:
        many = by[(config, f"{args.clients} clients", single)]
        print(
            f"{config}: {args.clients} clients get {many.throughput / full.throughput:.0%} of it "
            f"({many.errors} errors); server resident memory {memory[config]:.0f} MiB"
        )
    if "off" in args.configs:
        off = by[("off", "1 client", single)].percentile(50)
        for config in args.configs:
            if config != "off":
                on = by[(config, "1 client", single)].percentile(50)
                print(f"{config}: 1-client median {on:.1f} ms vs {off:.1f} ms off ({on / off - 1:+.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
