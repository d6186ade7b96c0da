"""Latency of the hospital path: seconds from the last instance received to the SEG and SR stored.

Starts everything itself on loopback: the service (bundled models, uvicorn in this process), a real
Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``, its own config and storage in a temporary
folder, routing MR series to the gateway with gateway/orthanc/route_to_gateway.lua) and the
gateway (``python -m gateway``, a separate process). pynetdicom, as the scanner, pushes real LGG
patients turned into DICOM (scripts/lgg_to_dicom.py) to Orthanc. Scenarios, each repeated with new
UIDs:

- ``flair``: one FLAIR series (FLAIR-only input);
- ``study``: one study of three series (pre-contrast, FLAIR, post-contrast: three-sequence input);
- ``three``: three FLAIR series of three patients pushed at once (three associations).

A first run of the ``study`` scenario, not counted, warms the service up. Two figures per run: **end to end**, from the last instance stored in Orthanc (the scanner's last
C-STORE answered) to the SEG and SR of every study stored in Orthanc (Orthanc's REST API polled
every 50 ms); and **at the gateway**, from the last instance the gateway received for a study to its
results stored (the job store's timestamps). Both include the waits for a complete series: Orthanc's
``StableAge`` and ``MRI_GATEWAY_STABLE_S`` (both ``--stable-s``), printed beside them with the processor.

    python -m scripts.benchmark_gateway                       # 3 repeats, stability waits of 2 s
    python -m scripts.benchmark_gateway --repeats 5 --stable-s 1
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from scripts import lgg_to_dicom
from scripts.serving import REPO, serve_app, service_app
from tests.gateway.orthanc import AE_TITLE, free_port, push, run_orthanc  # the tests' PACS and modality
from training.bench import processor

logger = logging.getLogger("benchmark_gateway")
DATA = REPO.parent / "shared" / "data" / "lgg" / "kaggle_3m"
FALLBACK = REPO / "tests" / "fixtures" / "lgg-volume" / "TCGA_HT_7605_19950916"
CASES = ("TCGA_HT_7605_19950916", "TCGA_CS_4942_19970222", "TCGA_FG_7634_20000128")
GATEWAY_AE = "MRI-AI"


def start_gateway(
    folder: Path, dicom_port: int, service_url: str, orthanc_peer: str, stable_s: float
) -> tuple[subprocess.Popen, str]:
    http_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRI_GATEWAY_")} | {
        "MRI_GATEWAY_STATE_DIR": str(folder / "state"),
        "MRI_GATEWAY_DICOM_HOST": "127.0.0.1",
        "MRI_GATEWAY_HTTP_HOST": "127.0.0.1",
        "MRI_GATEWAY_DICOM_PORT": str(dicom_port),
        "MRI_GATEWAY_HTTP_PORT": str(http_port),
        "MRI_GATEWAY_SERVICE_URL": service_url,
        "MRI_GATEWAY_PEERS": orthanc_peer,
        "MRI_GATEWAY_STABLE_S": str(stable_s),
        "MRI_GATEWAY_POLL_S": "0.05",
        "MRI_GATEWAY_WORKERS": "2",
        "PYTHONPATH": str(REPO),
    }
    log = open(folder / "gateway.log", "wb")  # noqa: SIM115 - the process keeps it
    process = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=REPO, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited; see {folder / 'gateway.log'}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the gateway did not start")
        time.sleep(0.1)


def results_stored(orthanc, study_uid: str) -> bool:
    found = httpx.post(orthanc.url + "/tools/lookup", content=study_uid, timeout=10).json()
    study = next((item["ID"] for item in found if item["Type"] == "Study"), None)
    if study is None:
        return False
    modalities = {s["MainDicomTags"].get("Modality") for s in orthanc.get(f"/studies/{study}/series")}
    return {"SEG", "SR"} <= modalities


def run_once(orthanc, gateway_url: str, studies: list[dict]) -> tuple[float, list[float]]:
    """Push ``studies`` (one association each, at once); seconds to all results, and per study at the gateway."""
    threads = [
        threading.Thread(target=push, args=([ds for series in s.values() for ds in series], orthanc.dicom_port),
                         kwargs={"called": AE_TITLE})
        for s in studies
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    last_received = time.time()
    uids = [str(next(iter(s.values()))[0].StudyInstanceUID) for s in studies]
    pending = set(uids)
    while pending:
        pending = {uid for uid in pending if not results_stored(orthanc, uid)}
        if time.time() - last_received > 600:
            raise SystemExit("no results after 600 s; see the gateway's log")
        time.sleep(0.05)
    end_to_end = time.time() - last_received
    jobs = httpx.get(gateway_url + "/jobs", params={"limit": 1000}, timeout=10).json()
    at_gateway = []
    for uid in uids:
        mine = [j for j in jobs if j["study_instance_uid"] == uid]
        sent = max(j["updated_at"] for j in mine if j["state"] == "sent")
        at_gateway.append(sent - max(j["last_received_at"] for j in mine))
    return end_to_end, at_gateway


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DATA, help="LGG kaggle_3m folder (default: ../shared/data)"
    )
    parser.add_argument("--cases", nargs=3, default=CASES, help="three case folders of --data")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--stable-s", type=float, default=2.0, help="Orthanc StableAge and MRI_GATEWAY_STABLE_S"
    )
    parser.add_argument(
        "--scenarios", nargs="+", default=["flair", "study", "three"], choices=["flair", "study", "three"]
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("httpx", "pynetdicom"):
        logging.getLogger(name).setLevel(logging.WARNING)
    folders = [args.data / c for c in args.cases]
    if not all(f.is_dir() for f in folders):
        logger.info("%s not found: using the 12-slice fixture case for every patient", args.data)
        folders = [FALLBACK] * 3
    cases = [lgg_to_dicom.read_case(f) for f in folders]
    rows = []
    with (
        serve_app(service_app(args.models_dir)) as service_url,
        tempfile.TemporaryDirectory(prefix="benchmark-gateway-") as tmp,
    ):
        gateway_port = free_port()
        with run_orthanc(
            Path(tmp) / "orthanc", (GATEWAY_AE, gateway_port), stable_age=round(args.stable_s)
        ) as orthanc:
            process, gateway_url = start_gateway(
                Path(tmp), gateway_port, service_url, orthanc.peer, args.stable_s
            )
            try:
                warm = [lgg_to_dicom.case_study(cases[0], seed=f"warm-up-{time.time()}")]
                logger.info("warm-up (not counted): %.2f s", run_once(orthanc, gateway_url, warm)[0])
                for scenario in args.scenarios:
                    timings, gateway_timings = [], []
                    for repeat in range(args.repeats):
                        seed = f"{scenario}-{repeat}-{time.time()}"
                        if scenario == "three":
                            studies = [lgg_to_dicom.case_study(c, ("flair",), seed=seed) for c in cases]
                        elif scenario == "study":
                            studies = [lgg_to_dicom.case_study(cases[0], seed=seed)]
                        else:
                            studies = [lgg_to_dicom.case_study(cases[0], ("flair",), seed=seed)]
                        total, at_gateway = run_once(orthanc, gateway_url, studies)
                        slices = sum(len(series) for s in studies for series in s.values())
                        logger.info(
                            "%s #%d: %d instances, %.2f s end to end, at the gateway %s s",
                            scenario,
                            repeat + 1,
                            slices,
                            total,
                            ", ".join(f"{t:.2f}" for t in at_gateway),
                        )
                        timings.append(total)
                        gateway_timings.append(max(at_gateway))
                    rows.append((scenario, slices, timings, gateway_timings))
            finally:
                process.terminate()
                process.wait(15)
    print(f"\nprocessor: {processor()}, {os.cpu_count()} logical CPUs")
    print(
        f"stability waits: Orthanc StableAge {round(args.stable_s)} s, MRI_GATEWAY_STABLE_S {args.stable_s:g} s"
    )
    print("| scenario | instances | end to end: median (min-max) | at the gateway: median |")
    print("| --- | --- | --- | --- |")
    for scenario, slices, timings, gateway_timings in rows:
        print(
            f"| {scenario} | {slices} | {statistics.median(timings):.1f} s ({min(timings):.1f}-{max(timings):.1f}) "
            f"| {statistics.median(gateway_timings):.1f} s |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
