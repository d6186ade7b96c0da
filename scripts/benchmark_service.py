"""The service on each inference runtime (and models folder), from one run: start-up, latency per
endpoint, throughput.

For every models folder (``--models-dir``, several compared in one run) and runtime
(``MRI_RUNTIME``; ``NAME:THREADS`` also sets ``MRI_INTRA_OP_THREADS``) it starts the service with uvicorn in a subprocess on 127.0.0.1 and times it from the process start
to ``/v2/health/ready`` (imports, model load, parity probe, warm-up). Then, ``--rounds`` times with
the runtimes interleaved (so background load falls on all alike):

1. 1 client, one request after the other: ``--n`` requests to each of ``/classify``,
   ``/segment``, ``/analyze`` (one real LGG slice) and ``/volume`` (the 12 slices of
   tests/fixtures/lgg-volume as a FLAIR-only NIfTI);
2. ``--clients`` clients at once posting that slice to ``/analyze`` for ``--seconds``: slices/s.

It prints one row per folder and runtime: the installed size of what an image serving with it installs
(``[project].dependencies`` plus the runtime's extra of pyproject.toml, measured from the
distributions installed here), the start-up time, the p50 per endpoint (pooled over the rounds),
the slices/s, the server's CPU time per 1-client /analyze request (what a request costs, whatever
else the machine runs), the /analyze speed-up (p50) over the fastest Keras row with a 95%
bootstrap interval (requests resampled; load that drifts during the run is not in it), and
whether every runtime gave the same /analyze answers as that Keras (verdicts, probabilities
within 1e-4, masks); with several folders, the /analyze speed-up over the first folder on the same
runtime. Loopback only.

    python -m scripts.benchmark_service      # keras (service default threads, and TensorFlow's), onnxruntime, openvino
    python -m scripts.benchmark_service --runtimes keras onnxruntime onnxruntime:2 --rounds 5
    python -m scripts.benchmark_service --models-dir pair=old/models ensemble=models --runtimes onnxruntime
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import tomllib
from importlib import metadata
from pathlib import Path

import httpx
import numpy as np
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = REPO / "tests/fixtures/lgg/kaggle_3m/TCGA_CS_4942_19970222/TCGA_CS_4942_19970222_11.tif"
VOLUME_SLICES = REPO / "tests/fixtures/lgg-volume/TCGA_HT_7605_19950916"
ENDPOINTS = ("/classify", "/segment", "/analyze", "/volume")
logger = logging.getLogger("benchmark")


def installed_mb(extra: str) -> float:
    """MB on disk of the distributions ``[project].dependencies`` + the ``extra`` pull in (as installed here)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"][extra]]
    seen: set[str] = set()
    total = 0
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{req.name} is not installed: pip install -e '.[{extra}]'") from None
        name = dist.metadata["Name"].lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        total += sum((f.size or 0) for f in dist.files or [])
        for dep in dist.requires or []:
            dep_req = Requirement(dep)
            if dep_req.marker is None or any(dep_req.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append(dep_req)
    return total / 1e6


def volume_nifti() -> bytes:
    """The fixture patient's 12 slices, FLAIR only, as a gzipped NIfTI (1 x 1 x 3 mm voxels)."""
    import nibabel as nib
    from PIL import Image

    paths = sorted(VOLUME_SLICES.glob("*[0-9].jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    flair = np.stack([np.asarray(Image.open(p))[..., 1] for p in paths], axis=-1)  # (rows, cols, slices)
    image = nib.Nifti1Image(np.ascontiguousarray(flair.transpose(1, 0, 2)[:, ::-1]), np.diag([1.0, 1.0, 3.0, 1.0]))
    return gzip.compress(image.to_bytes())


def start_service(runtime: str, models_dir: Path) -> tuple[subprocess.Popen, str, float]:
    """uvicorn with ``runtime`` (``NAME`` or ``NAME:THREADS``) in a subprocess; returns once ready."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    name, _, threads = runtime.partition(":")
    env = {**os.environ, "MRI_MODELS_DIR": str(models_dir), "MRI_LOG_LEVEL": "WARNING", "MRI_RUNTIME": name}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if threads:
        env["MRI_INTRA_OP_THREADS"] = threads
    command = [sys.executable, "-m", "uvicorn", "service.main:app", "--host", "127.0.0.1",
               "--port", str(port), "--no-access-log", "--log-level", "warning"]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - start < 300:
        if process.poll() is not None:
            raise SystemExit(f"{runtime}: the service exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200:
                return process, url, time.perf_counter() - start
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.terminate()
    raise SystemExit(f"{runtime}: not ready within 300 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(client: httpx.Client, path: str, payload: tuple[str, bytes, str]) -> httpx.Response:
    response = client.post(path, files={"file": payload})
    response.raise_for_status()
    return response


def latencies(url: str, path: str, payload: tuple[str, bytes, str], n: int) -> list[float]:
    """ms of ``n`` requests one after the other (after one unmeasured)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        post(client, path, payload)
        out = []
        for _ in range(n):
            start = time.perf_counter()
            post(client, path, payload)
            out.append((time.perf_counter() - start) * 1000)
    return out


def throughput(url: str, payload: tuple[str, bytes, str], clients: int, seconds: float) -> tuple[int, float]:
    """(slices answered, seconds) of ``clients`` threads posting to /analyze for ``seconds``."""
    done = [0] * clients
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.monotonic() < deadline:
                post(http, "/analyze", payload)
                done[i] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), time.perf_counter() - start


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
    return (ref_c["has_tumour"] == got_c["has_tumour"]
            and abs(ref_c["tumour_probability"] - got_c["tumour_probability"]) <= 1e-4
            and ref_s.get("mask") == got_s.get("mask"))


def _folder(text: str) -> tuple[str, Path]:
    """``NAME=DIR`` (or ``DIR``, named by its folder) of ``--models-dir``."""
    name, sep, folder = text.partition("=")
    return (name, Path(folder)) if sep else (Path(text).name, Path(text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=_folder, nargs="+", default=[("models", REPO / "models")],
                        metavar="[NAME=]DIR",
                        help="the models folder(s); several are measured in the same run, each on every runtime")
    parser.add_argument("--runtimes", nargs="+", default=["keras", "keras:0", "onnxruntime", "openvino"],
                        help="MRI_RUNTIME values, NAME:THREADS to set MRI_INTRA_OP_THREADS too")
    parser.add_argument("--n", type=int, default=20, help="measured requests per endpoint and round")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients of the throughput run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="repeats, runtimes interleaved")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="slice to send")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    payloads = {path: (args.image.name, args.image.read_bytes(), "image/tiff") for path in ENDPOINTS[:3]}
    payloads["/volume"] = ("volume.nii.gz", volume_nifti(), "application/gzip")
    logger.info("cpu: %d cores, load average %s; image %s; rounds %d", os.cpu_count(),
                " ".join(f"{x:.2f}" for x in os.getloadavg()), args.image.name, args.rounds)

    configs = [(name, folder, runtime) for name, folder in args.models_dir for runtime in args.runtimes]
    servers: dict[tuple, tuple[subprocess.Popen, str, float]] = {}
    ms = {c: {p: [] for p in ENDPOINTS} for c in configs}
    cpu = {c: [0.0, 0] for c in configs}  # server CPU seconds and requests of the 1-client /analyze runs
    counts = {c: [0, 0.0] for c in configs}
    answers = {}
    try:
        for config in configs:
            servers[config] = start_service(config[2], config[1])
            answers[config] = httpx.post(f"{servers[config][1]}/analyze", files={"file": payloads["/analyze"]},
                                         timeout=120).json()
        for _ in range(args.rounds):
            for config, (process, url, _) in servers.items():
                for path in ENDPOINTS:
                    before = cpu_seconds(process.pid)
                    ms[config][path] += latencies(url, path, payloads[path], args.n)
                    if path == "/analyze":
                        cpu[config][0] += cpu_seconds(process.pid) - before
                        cpu[config][1] += args.n + 1
                slices, seconds = throughput(url, payloads["/analyze"], args.clients, args.seconds)
                counts[config][0] += slices
                counts[config][1] += seconds
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.wait(timeout=60)

    first = args.models_dir[0][0]
    header = ["models", "runtime", "installed MB", "start-up s", *(f"{p} p50 ms" for p in ENDPOINTS),
              f"/analyze slices/s, {args.clients} clients", "/analyze server CPU ms", "/analyze vs keras",
              "answers = keras", f"/analyze vs {first}"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for config in configs:
        name, _, runtime = config
        kerases = [c for c in configs if c[0] == name and c[2].partition(":")[0] == "keras"]
        keras = min(kerases, key=lambda c: np.median(ms[c]["/analyze"])) if kerases else None  # the fastest Keras
        p50 = {p: float(np.median(ms[config][p])) for p in ENDPOINTS}
        row = [name, runtime, f"{installed_mb(runtime.partition(':')[0]):.0f}", f"{servers[config][2]:.1f}",
               *(f"{p50[p]:.1f}" for p in ENDPOINTS), f"{counts[config][0] / counts[config][1]:.1f}",
               f"{1000 * cpu[config][0] / cpu[config][1]:.1f}",
               _speed_up(ms, keras, config), _same(answers, keras, config), _speed_up(ms, (first, None, runtime), config)]
        print("| " + " | ".join(row) + " |")
    return 0


def _speed_up(ms: dict, reference: tuple | None, config: tuple) -> str:
    """The /analyze p50 of ``reference`` over ``config``'s, with its interval ("" without a reference)."""
    reference = next((c for c in ms if reference and c[0] == reference[0] and c[2] == reference[2]), None)
    if reference is None:
        return ""
    speed_up = np.median(ms[reference]["/analyze"]) / np.median(ms[config]["/analyze"])
    low, high = ratio_interval(ms[reference]["/analyze"], ms[config]["/analyze"])
    return f"{speed_up:.2f}x ({low:.2f}-{high:.2f})"


def _same(answers: dict, keras: tuple | None, config: tuple) -> str:
    if keras is None:
        return "n/a"
    return "yes" if same_answers(answers[keras], answers[config]) else "no"


if __name__ == "__main__":
    raise SystemExit(main())
