"""The service per runtime and thread count, over HTTP and in-process, in one run: what a request
costs beyond its model call, and what ``MRI_RUNTIME=auto`` gains over Keras.

For every models folder (``--models-dir``, several compared in one run) and runtime configuration
(``--runtimes``: ``auto``, the default ``MRI_RUNTIME``, or ``NAME:THREADS[:PRECISION]``; the
default list is ``auto`` and every installed runtime at each thread count auto would time) it
starts the service (uvicorn, a child process on 127.0.0.1) and times it from the process start to
``/v2/health/ready`` (imports, loading, the parity probe, auto's measurements, warm-up). Beside
each server runs an in-process timer (scripts/model_call_timing.py) with the runtime, threads and
precision that server serves (for ``auto``: the ones it chose, read from ``GET /v2/models``). Then,
``--rounds`` times with the configurations interleaved (so background load falls on all alike):

1. ``--n`` pairs of one in-process model call on the slice (as /analyze makes it) and one /analyze
   request with that slice (1 client, one after the other), so that both see the same load: the
   request's overhead is the difference within each pair;
2. in-process: ``--n`` model calls with and without flip test-time augmentation, and the whole
   in-process /analyze work;
3. 1 client: ``--n`` requests to each other endpoint of ``--endpoints`` (``/volume``: the 12 slices
   of tests/fixtures/lgg-volume as a FLAIR-only NIfTI);
4. ``--clients`` clients at once posting the slice to ``/analyze`` for ``--seconds``: slices/s.

It prints the processor, its cores and load average, then one row per folder and configuration:
what serves, start-up, the in-process model time (p50), the /analyze p50 at one client, the
overhead between them (the median of the paired differences: what the HTTP path costs; the
service's target is at most 3 ms on an idle machine), the model calls' time inside the server
(``Server-Timing``) and the request minus it (the overhead measured within each request), slices/s, the server's CPU time per 1-client /analyze request, what the flip pass costs
in-process (flip minus none), the /analyze speed-up over the fastest ``MRI_RUNTIME=keras`` row (95% bootstrap
interval, requests resampled) and whether the answers equal that Keras' (verdicts, probabilities
within 1e-4, masks); with several folders, the /analyze speed-up over the first folder.

The requests are sent with the standard library's ``http.client`` over one kept-alive connection
per client and a multipart body encoded once, so that the client adds little to what is measured.

    python -m scripts.benchmark_service                                  # auto, and each runtime x threads
    python -m scripts.benchmark_service --runtimes auto keras --rounds 5
    python -m scripts.benchmark_service --models-dir a=old/models b=models --runtimes onnxruntime:1 \\
        --endpoints /classify /segment /analyze /volume
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

from scripts.model_call_timing import DEFAULT_IMAGE
from scripts.serving import REPO, UVICORN, serve_process
from service.protocol import UVICORN_HTTP

VOLUME_SLICES = REPO / "tests/fixtures/lgg-volume/TCGA_HT_7605_19950916"
ENDPOINTS = ("/classify", "/segment", "/analyze", "/volume")
BOUNDARY = "benchmark-boundary-7e1f"
#: uvicorn as the image and scripts/serve.sh run it (service.protocol: httptools, its header block bounded).
SERVED_AS_THE_IMAGE = (*UVICORN, "--http", UVICORN_HTTP)
logger = logging.getLogger("benchmark")


def processor() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def default_runtimes() -> list[str]:
    """``auto`` and every installed runtime at each thread count auto would time (one model file)."""
    from service.cores import usable_cores
    from service.runtimes import RUNTIMES, RuntimeUnavailable, get_runtime
    from service.runtimes.selection import thread_counts

    found = ["auto"]
    for name in RUNTIMES:
        try:
            get_runtime(name) if name != "keras" else __import__("keras")
        except (RuntimeUnavailable, ImportError):
            continue
        counts = [usable_cores()] if name == "keras" else thread_counts(usable_cores())
        found += [f"{name}:{t}" for t in counts]
    return found


def multipart(name: str, data: bytes, content_type: str) -> bytes:
    """A ``multipart/form-data`` body with one file in field ``file``."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def volume_nifti() -> bytes:
    """The fixture patient's 12 slices, FLAIR only, as a gzipped NIfTI (1 x 1 x 3 mm voxels)."""
    import nibabel as nib
    from PIL import Image

    paths = sorted(VOLUME_SLICES.glob("*[0-9].jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    flair = np.stack([np.asarray(Image.open(p))[..., 1] for p in paths], axis=-1)  # (rows, cols, slices)
    image = nib.Nifti1Image(
        np.ascontiguousarray(flair.transpose(1, 0, 2)[:, ::-1]), np.diag([1.0, 1.0, 3.0, 1.0])
    )
    return gzip.compress(image.to_bytes())


class Client:
    """One kept-alive HTTP/1.1 connection posting a pre-encoded multipart body."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=300)
        self.server_timing: dict[str, float] = {}  # the last answer's Server-Timing (service.timing), ms

    def post(self, path: str, body: bytes) -> bytes:
        self.connection.request(
            "POST", path, body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        )
        response = self.connection.getresponse()
        data = response.read()
        self.server_timing = {
            name: float(duration.removeprefix("dur="))
            for name, duration in (
                m.strip().split(";", 1)
                for m in response.getheader("server-timing", "").split(",")
                if ";" in m
            )
        }
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {data[:300]!r}")
        return data

    def close(self) -> None:
        self.connection.close()


def latencies(url: str, path: str, body: bytes, n: int) -> list[float]:
    """ms of ``n`` requests one after the other (after one unmeasured)."""
    client = Client(url)
    client.post(path, body)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        client.post(path, body)
        out.append((time.perf_counter() - start) * 1000)
    client.close()
    return out


def paired(server: dict, body: bytes, n: int, ms: dict[str, list[float]], cpu: list) -> None:
    """``n`` times: one in-process model call, then one /analyze request, so that both see the same
    load; their difference per pair is the request's overhead. The answer's Server-Timing gives the
    model calls' time inside the server, and the request minus it the overhead without the noise of
    two processes' model calls. Adds to ``ms`` ("model", "/analyze", "overhead", "server model",
    "server overhead") and to ``cpu`` (the server's CPU seconds and requests)."""
    client = Client(server["url"])
    client.post("/analyze", body)
    before = cpu_seconds(server["process"].pid)
    for _ in range(n):
        model = float(np.median(server["timer"].measure(1, "served")["served"]))
        start = time.perf_counter()
        client.post("/analyze", body)
        request = (time.perf_counter() - start) * 1000
        ms["model"].append(model)
        ms["/analyze"].append(request)
        ms["overhead"].append(request - model)
        ms["server model"].append(client.server_timing["model"])
        ms["server overhead"].append(request - client.server_timing["model"])
    cpu[0] += cpu_seconds(server["process"].pid) - before
    cpu[1] += n
    client.close()


def throughput(url: str, body: bytes, clients: int, seconds: float) -> tuple[int, float]:
    """(slices answered, seconds) of ``clients`` threads posting to /analyze for ``seconds``."""
    done = [0] * clients
    deadline = time.monotonic() + seconds

    def run(i: int) -> None:
        client = Client(url)
        while time.monotonic() < deadline:
            client.post("/analyze", body)
            done[i] += 1
        client.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio_interval(reference: list[float], other: list[float], draws: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of median(reference) / median(other) (requests resampled independently)."""
    rng = np.random.default_rng(0)
    a, b = np.asarray(reference), np.asarray(other)
    ratios = [np.median(rng.choice(a, a.size)) / np.median(rng.choice(b, b.size)) for _ in range(draws)]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def same_answers(reference: dict, answer: dict) -> bool:
    """Same verdicts and masks, probabilities within 1e-4 (two /analyze answers)."""
    ref_c, got_c = reference["classification"], answer["classification"]
    ref_s, got_s = reference["segmentation"] or {}, answer["segmentation"] or {}
    return (
        ref_c["has_tumour"] == got_c["has_tumour"]
        and abs(ref_c["tumour_probability"] - got_c["tumour_probability"]) <= 1e-4
        and ref_s.get("mask") == got_s.get("mask")
    )


class InProcess:
    """scripts/model_call_timing.py --serve in a child process: in-process timings on demand."""

    def __init__(self, models_dir: Path, candidate: str, image: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "scripts.model_call_timing",
            "--serve",
            "--models-dir",
            str(models_dir),
            "--runtime",
            candidate,
            "--image",
            str(image),
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._read()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the in-process timer exited with status {self.process.wait()}")
        return json.loads(line)

    def measure(self, n: int, *kinds: str) -> dict[str, list[float]]:
        self.process.stdin.write(" ".join([str(n), *kinds]) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def _folder(text: str) -> tuple[str, Path]:
    """``NAME=DIR`` (or ``DIR``, named by its folder) of ``--models-dir``."""
    name, sep, folder = text.partition("=")
    return (name, Path(folder)) if sep else (Path(text).name, Path(text))


def start(stack: ExitStack, config: tuple[str, Path, str], image: Path) -> dict:
    """Start the server of ``config`` and its in-process timer; what serves and the start-up time."""
    _, folder, runtime = config
    name, _, rest = runtime.partition(":")
    threads, _, precision = rest.partition(":")
    env = {
        **os.environ,
        "MRI_MODELS_DIR": str(folder),
        "MRI_LOG_LEVEL": "WARNING",
        "MRI_RUNTIME": name,
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if threads:
        env["MRI_INTRA_OP_THREADS"] = threads
    began = time.perf_counter()
    process, url = stack.enter_context(serve_process(env, SERVED_AS_THE_IMAGE, timeout=600))
    startup = time.perf_counter() - began
    listed = httpx.get(f"{url}/v2/models", timeout=30).json()
    serves = f"{listed['runtime']}:{listed['intra_op_threads']}"
    if listed["precision"] != "f32":
        serves += f":{listed['precision']}"
    if precision and listed["precision"] != precision:
        raise SystemExit(f"{runtime}: served at precision {listed['precision']}")
    timer = InProcess(folder, serves, image)
    stack.callback(timer.close)
    return {
        "process": process,
        "url": url,
        "startup": startup,
        "serves": serves,
        "timer": timer,
        "tta": listed["tta"],
        "choice": listed["runtime_choice"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models-dir",
        type=_folder,
        nargs="+",
        default=[("models", REPO / "models")],
        metavar="[NAME=]DIR",
        help="the models folder(s), each measured on every configuration",
    )
    parser.add_argument(
        "--runtimes",
        nargs="+",
        default=None,
        help="auto, or NAME:THREADS[:PRECISION] (default: auto and each installed runtime at the "
        "thread counts auto times)",
    )
    parser.add_argument(
        "--endpoints",
        nargs="+",
        default=["/analyze"],
        choices=ENDPOINTS,
        help="endpoints timed at one client (/analyze always)",
    )
    parser.add_argument(
        "--n", type=int, default=30, help="measured requests (and in-process calls) per round"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients of the throughput run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="repeats, configurations interleaved")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="slice to send")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    endpoints = list(dict.fromkeys(["/analyze", *args.endpoints]))
    bodies = {
        p: multipart(args.image.name, args.image.read_bytes(), "image/tiff")
        for p in endpoints
        if p != "/volume"
    }
    if "/volume" in endpoints:
        bodies["/volume"] = multipart("volume.nii.gz", volume_nifti(), "application/gzip")
    runtimes = args.runtimes or default_runtimes()
    print(
        f"processor: {processor()}; {os.cpu_count()} cores, {len(os.sched_getaffinity(0))} usable; "
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; image {args.image.name}; "
        f"rounds {args.rounds}",
        flush=True,
    )

    configs = [(name, folder, runtime) for name, folder in args.models_dir for runtime in runtimes]
    ms = {
        c: {
            p: []
            for p in [
                *endpoints,
                "model",
                "overhead",
                "server model",
                "server overhead",
                "none",
                "flip",
                "pipeline",
            ]
        }
        for c in configs
    }
    cpu = {c: [0.0, 0] for c in configs}
    counts = {c: [0, 0.0] for c in configs}
    with ExitStack() as stack:
        servers = {c: start(stack, c, args.image) for c in configs}
        answers = {
            c: json.loads(Client(s["url"]).post("/analyze", bodies["/analyze"])) for c, s in servers.items()
        }
        for _ in range(args.rounds):
            for config, server in servers.items():
                paired(server, bodies["/analyze"], args.n, ms[config], cpu[config])
                timed = server["timer"].measure(args.n, "none", "flip", "pipeline")
                for kind, values in timed.items():
                    ms[config][kind] += values
                for path in endpoints[1:]:
                    ms[config][path] += latencies(server["url"], path, bodies[path], args.n)
                slices, seconds = throughput(server["url"], bodies["/analyze"], args.clients, args.seconds)
                counts[config][0] += slices
                counts[config][1] += seconds
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        for config, server in servers.items():
            if config[2] == "auto":
                choice = ", ".join(
                    f"{c['runtime']}:{c['threads']} {c['ms']} ms"
                    if c["ms"] is not None
                    else f"{c['runtime']}:{c['threads']} refused"
                    for c in server["choice"]["candidates"]
                )
                print(
                    f"{config[0]} auto chose {server['serves']} in {server['choice']['seconds']} s: {choice}"
                )
    _table(args, configs, endpoints, servers, ms, cpu, counts, answers)
    return 0


def _table(args, configs, endpoints, servers, ms, cpu, counts, answers) -> None:
    first = args.models_dir[0][0]
    p50 = {c: {k: float(np.median(v)) for k, v in ms[c].items() if v} for c in configs}
    header = [
        "models",
        "runtime",
        "serves",
        "tta",
        "start-up s",
        "model ms (in-process)",
        "/analyze p50 ms",
        "overhead ms",
        "model ms (in the server)",
        "overhead ms (Server-Timing)",
        *(f"{p} p50 ms" for p in endpoints if p != "/analyze"),
        f"/analyze slices/s, {args.clients} clients",
        "/analyze server CPU ms",
        "flip pass ms",
        "/analyze vs keras",
        "answers = keras",
        f"/analyze vs {first}",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for config in configs:
        name, _, runtime = config
        kerases = [c for c in configs if c[0] == name and c[2].startswith("keras")]  # MRI_RUNTIME=keras rows
        keras = min(kerases, key=lambda c: p50[c]["/analyze"]) if kerases else None
        figures = p50[config]
        row = [
            name,
            runtime,
            servers[config]["serves"],
            servers[config]["tta"],
            f"{servers[config]['startup']:.1f}",
            f"{figures['model']:.1f}",
            f"{figures['/analyze']:.1f}",
            f"{figures['overhead']:.1f}",
            f"{figures['server model']:.1f}",
            f"{figures['server overhead']:.1f}",
            *(f"{figures[p]:.1f}" for p in endpoints if p != "/analyze"),
            f"{counts[config][0] / counts[config][1]:.1f}",
            f"{1000 * cpu[config][0] / cpu[config][1]:.1f}",
            f"{figures['flip'] - figures['none']:.1f}",
            _speed_up(ms, keras, config),
            "n/a" if keras is None else ("yes" if same_answers(answers[keras], answers[config]) else "no"),
            _speed_up(ms, next((c for c in configs if c[0] == first and c[2] == runtime), None), config),
        ]
        print("| " + " | ".join(row) + " |", flush=True)


def _speed_up(ms: dict, reference: tuple | None, config: tuple) -> str:
    """The /analyze p50 of ``reference`` over ``config``'s, with its interval ("" without a reference)."""
    if reference is None:
        return ""
    speed_up = np.median(ms[reference]["/analyze"]) / np.median(ms[config]["/analyze"])
    low, high = ratio_interval(ms[reference]["/analyze"], ms[config]["/analyze"])
    return f"{speed_up:.2f}x ({low:.2f}-{high:.2f})"


if __name__ == "__main__":
    raise SystemExit(main())
