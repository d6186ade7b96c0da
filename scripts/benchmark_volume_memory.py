"""Peak memory of the service per volume: the figures behind the memory model of ``POST /volume``.

For every case (``WIDTHxHEIGHTxSLICES:DTYPE[:FORMAT]``, FORMAT ``nifti`` (gzipped, the default) or
``zip`` (a zip of a DICOM series)) it starts the service with uvicorn in a subprocess on 127.0.0.1
(default settings, the models of ``--models-dir``), warms it up with a 48-slice volume of the same
slice size (so the models' own working memory for every batch size is in the idle figure), resets the process's peak resident memory (``/proc/PID/clear_refs``), sends the volume
(asking for the JSON answer with RLE masks, or with ``--output dicom-seg`` a DICOM SEG) and reads the
peak (``VmHWM``). It prints, per case: voxels, the answer, seconds, the peak over idle in
MiB and in bytes per voxel, and the service's own estimate (:func:`service.volumes.budget.volume_memory`),
which must not be below the peak. ``--concurrent N`` then sends N copies of the last case at once to a
fresh service and prints each answer's status and the peak over idle, with the budget
(``MRI_VOLUME_MEMORY_BUDGET_BYTES``) it must stay under. Linux only (``/proc``).

``--model-calls N...`` measures instead the model term of the memory model
(:data:`service.volumes.budget.MODEL_BYTES_PER_INPUT_PIXEL`): for each N, a fresh process loads the
models as the service does (default settings: the served runtime, warmed up with batches of 1 and 2
slices), resets its peak and makes one call of N zero slices at the input side S of each model file;
it prints the peak over what was resident before the call (the input batch already allocated), in
MiB and in bytes per input pixel (N x S x S). ``MRI_RUNTIME`` picks the runtime as for the
service. The constant is the largest of these over the runtimes, rounded up.

    python -m scripts.benchmark_volume_memory --cases 256x256x128:int16 512x512x176:int16 512x512x352:int16 --concurrent 4
    python -m scripts.benchmark_volume_memory --model-calls 8 16 32
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import nibabel as nib
import numpy as np

from service.protocol import UVICORN_HTTP
from service.settings import Settings
from service.volumes import open_volume
from service.volumes.budget import volume_memory
from service.volumes.request import volume_limits

REPO = Path(__file__).resolve().parents[1]

MIB = 1 << 20


def make_volume(case: str) -> tuple[bytes, str, int]:
    """The upload of a case, its file name and its voxels: a bright block (tumour-like) in a head-like box."""
    size, dtype, *rest = case.split(":")
    fmt = rest[0] if rest else "nifti"
    width, height, slices = (int(n) for n in size.split("x"))
    volume = np.zeros((width, height, slices), dtype)
    volume[width // 8 : -width // 8, height // 8 : -height // 8] = 400
    volume[width // 3 : width // 2, height // 3 : height // 2, slices // 3 : slices // 2] = 1600
    if fmt == "zip":
        return dicom_zip(np.moveaxis(volume, 2, 0)), "series.zip", volume.size
    image = nib.Nifti1Image(volume, np.diag([0.5, 0.5, 0.6, 1.0]))
    image.header.set_xyzt_units("mm")
    return gzip.compress(image.to_bytes(), compresslevel=1), "volume.nii.gz", volume.size


def dicom_zip(slices: np.ndarray) -> bytes:
    """A zip of an axial MR series of ``slices`` (N, rows, columns)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for k, image in enumerate(slices):
            ds = pydicom.Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = MRImageStorage
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
            ds.Modality, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = "MR", series, frame
            ds.StudyInstanceUID, ds.StudyID, ds.StudyDate, ds.StudyTime = study, "1", "20260101", "120000"
            ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "BENCH", "Bench^Mark", "", "O"
            ds.AccessionNumber, ds.ReferringPhysicianName, ds.SeriesNumber, ds.InstanceNumber = (
                "",
                "",
                1,
                k + 1,
            )
            ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0, 0, 0.6 * k]
            ds.PixelSpacing, ds.Rows, ds.Columns = [0.5, 0.5], *image.shape
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated = ds.BitsStored = 16
            ds.HighBit, ds.PixelRepresentation = 15, 1
            ds.PixelData = np.ascontiguousarray(image, np.int16).tobytes()
            data = io.BytesIO()
            ds.save_as(data, enforce_file_format=True)
            archive.writestr(f"series/IM{k:04d}", data.getvalue())
    return buffer.getvalue()


def model_side(url: str) -> int:
    """The largest input side S of the served models (``GET /v2/models``), as the service counts it."""
    models = httpx.get(f"{url}/v2/models", timeout=30).json()["models"]
    return max(int(model["input"]["shape"][1]) for model in models)


def estimate(data: bytes, name: str, side: int) -> int:
    """What the service's memory model says the volume needs (for the answer asked), with models of
    input side ``side``."""
    settings = Settings()
    pending = open_volume([(f"file ({name})", data)], volume_limits(settings))
    try:
        return volume_memory(pending, OUTPUT["output"], settings.volume_batch_size, side)
    finally:
        pending.close()


def start_service(models_dir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "MRI_MODELS_DIR": str(models_dir),
        "MRI_LOG_LEVEL": "WARNING",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "service.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--http",
        UVICORN_HTTP,
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("the service was not ready within 240 s")


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


OUTPUT = {"output": "json", "mask_format": "rle"}


def post(url: str, data: bytes, name: str) -> tuple[int, float]:
    start = time.perf_counter()
    params = {"output": "dicom-seg"} if OUTPUT["output"] == "dicom-seg" else {"mask_format": "rle"}
    response = httpx.post(f"{url}/volume", params=params, files={"file": (name, data)}, timeout=900)
    if response.status_code != 200:
        print(f"  {response.status_code}: {response.text[:300]}", flush=True)
    return response.status_code, time.perf_counter() - start


def measure(
    url: str, pid: int, uploads: list[tuple[bytes, str]]
) -> tuple[list[tuple[int, float]], float, float]:
    """Send the uploads at once; (status, seconds) of each, idle and peak resident MiB of the service."""
    idle = status_kib(pid, "VmRSS") / 1024
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    with concurrent.futures.ThreadPoolExecutor(len(uploads)) as pool:
        answers = list(pool.map(lambda u: post(url, *u), uploads))
    return answers, idle, status_kib(pid, "VmHWM") / 1024


def warm_up(url: str, case: str) -> None:
    """A volume of the same slice size and 48 slices: the models have run batches of every size the
    case uses (their working memory is the process's, paid once, not the volume's)."""
    size, dtype, *rest = case.split(":")
    width, height, _ = size.split("x")
    post(url, *make_volume(f"{width}x{height}x48:{dtype}:{rest[0] if rest else 'nifti'}")[:2])


def one_model_call(models_dir: Path, slices: int) -> None:
    """In this process: load the models as the service does, then per model file one call of
    ``slices`` zero slices; print ``file side slices bytes`` (the peak over the resident memory
    before the call) per file."""
    from service.inference import load_models

    models = load_models(Settings(models_dir=models_dir, batching=False))
    try:
        for runner in models.files.values():
            batch = np.zeros((slices, runner.input_size, runner.input_size, 3), np.float32)
            before = status_kib(os.getpid(), "VmRSS")
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            runner.call_model(batch)
            grown = (status_kib(os.getpid(), "VmHWM") - before) * 1024
            print(
                f"{MODEL_CALL} {models.runtime} {runner.file} {runner.input_size} {slices} {grown}",
                flush=True,
            )
    finally:
        models.close()


MODEL_CALL = "model-call:"


def model_calls(models_dir: Path, sizes: list[int]) -> None:
    """The model term: one fresh process per call size (``one_model_call``), a row per model file."""
    print(
        f"{'runtime':>12} {'file':>16} {'S':>4} {'slices':>6} {'peak over before MiB':>21} {'bytes/input pixel':>18}"
    )
    for slices in sizes:
        command = [
            sys.executable,
            "-m",
            "scripts.benchmark_volume_memory",
            "--models-dir",
            str(models_dir),
            "--one-model-call",
            str(slices),
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MRI_LOG_LEVEL": "WARNING"}
        out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith(MODEL_CALL):
                runtime, name, side, n, grown = line.split()[1:]
                per_pixel = int(grown) / (int(n) * int(side) ** 2)
                print(
                    f"{runtime:>12} {name:>16} {side:>4} {n:>6} {int(grown) / MIB:>21.0f} {per_pixel:>18.0f}",
                    flush=True,
                )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument(
        "--cases", nargs="+", default=["256x256x128:int16", "512x512x176:int16", "512x512x352:int16"]
    )
    parser.add_argument(
        "--concurrent", type=int, default=4, help="copies of the last case sent at once (0: none)"
    )
    parser.add_argument(
        "--output", choices=["json", "dicom-seg"], default="json", help="dicom-seg: zip cases only"
    )
    parser.add_argument(
        "--model-calls",
        type=int,
        nargs="+",
        metavar="N",
        help="measure the model term instead: one call of N slices per fresh process",
    )
    parser.add_argument("--one-model-call", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_model_call:
        return one_model_call(args.models_dir, args.one_model_call)
    if args.model_calls:
        return model_calls(args.models_dir, args.model_calls)
    OUTPUT["output"] = args.output
    budget = Settings().volume_memory_budget_bytes / MIB
    print(
        f"{'case':>24} {'voxels':>12} {'status':>6} {'s':>6} {'idle MiB':>9} {'peak-idle MiB':>14} "
        f"{'B/voxel':>8} {'estimate MiB':>13}"
    )
    for case in args.cases:
        data, name, voxels = make_volume(case)
        process, url = start_service(args.models_dir)
        try:
            warm_up(url, case)
            [(status, seconds)], idle, peak = measure(url, process.pid, [(data, name)])
            side = model_side(url)
        finally:
            process.terminate()
            process.wait()
        growth = peak - idle
        print(
            f"{case:>24} {voxels:>12} {status:>6} {seconds:>6.1f} {idle:>9.0f} {growth:>14.0f} "
            f"{growth * MIB / voxels:>8.2f} {estimate(data, name, side) / MIB:>13.0f}",
            flush=True,
        )
    if args.concurrent:
        case = args.cases[-1]
        data, name, voxels = make_volume(case)
        process, url = start_service(args.models_dir)
        try:
            warm_up(url, case)
            answers, idle, peak = measure(url, process.pid, [(data, name)] * args.concurrent)
        finally:
            process.terminate()
            process.wait()
        statuses = ", ".join(f"{s} in {t:.0f} s" for s, t in answers)
        print(
            f"{args.concurrent} x {case} at once: {statuses}; peak over idle {peak - idle:.0f} MiB "
            f"(idle {idle:.0f} MiB; volume memory budget {budget:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
