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

    python -m scripts.benchmark_volume_memory --cases 256x256x128:int16 512x512x176:int16 512x512x352:int16 --concurrent 4
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

from contract.spec import read_card
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
            ds.AccessionNumber, ds.ReferringPhysicianName, ds.SeriesNumber, ds.InstanceNumber = "", "", 1, k + 1
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


def estimate(data: bytes, name: str, models_dir: Path) -> int:
    """What the service's memory model says the volume needs (for the answer asked)."""
    settings = Settings()
    card = read_card(models_dir).get("models", {})
    side = max(int((card.get(role, {}).get("input") or {}).get("shape", [256])[0]) for role in ("classifier", "segmenter"))
    pending = open_volume([(f"file ({name})", data)], volume_limits(settings))
    try:
        return volume_memory(pending, OUTPUT["output"], settings.volume_batch_size, side)
    finally:
        pending.close()


def start_service(models_dir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MRI_MODELS_DIR": str(models_dir), "MRI_LOG_LEVEL": "WARNING", "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "uvicorn", "service.main:app", "--host", "127.0.0.1", "--port", str(port),
               "--no-access-log", "--http", "h11", "--log-level", "warning"]
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


def measure(url: str, pid: int, uploads: list[tuple[bytes, str]]) -> tuple[list[tuple[int, float]], float, float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--cases", nargs="+", default=["256x256x128:int16", "512x512x176:int16", "512x512x352:int16"])
    parser.add_argument("--concurrent", type=int, default=4, help="copies of the last case sent at once (0: none)")
    parser.add_argument("--output", choices=["json", "dicom-seg"], default="json", help="dicom-seg: zip cases only")
    args = parser.parse_args()
    OUTPUT["output"] = args.output
    budget = Settings().volume_memory_budget_bytes / MIB
    print(f"{'case':>24} {'voxels':>12} {'status':>6} {'s':>6} {'idle MiB':>9} {'peak-idle MiB':>14} "
          f"{'B/voxel':>8} {'estimate MiB':>13}")
    for case in args.cases:
        data, name, voxels = make_volume(case)
        process, url = start_service(args.models_dir)
        try:
            warm_up(url, case)
            [(status, seconds)], idle, peak = measure(url, process.pid, [(data, name)])
        finally:
            process.terminate()
            process.wait()
        growth = peak - idle
        print(f"{case:>24} {voxels:>12} {status:>6} {seconds:>6.1f} {idle:>9.0f} {growth:>14.0f} "
              f"{growth * MIB / voxels:>8.2f} {estimate(data, name, args.models_dir) / MIB:>13.0f}", flush=True)
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
        print(f"{args.concurrent} x {case} at once: {statuses}; peak over idle {peak - idle:.0f} MiB "
              f"(idle {idle:.0f} MiB; volume memory budget {budget:.0f} MiB)")


if __name__ == "__main__":
    main()
