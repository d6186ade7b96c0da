"""``mri-client``: send files or folders of slices to the API and write one result row per file.

Exit status: 0 when at least one file succeeded, 1 when all failed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any, TextIO

from tqdm import tqdm

from . import __version__
from .client import MRIClient
from .files import InputFile, find_inputs
from .masks import write_mask
from .output import RowWriter, columns, summarize
from .volumes import COLUMNS as VOLUME_COLUMNS
from .volumes import find_volumes, process_volume

logger = logging.getLogger("mri_client")

DESCRIPTION = (
    "Send slices (PNG, JPEG, TIFF, DICOM; files or folders) to the brain-MRI tumour API and write "
    "one result row per file (CSV or JSON lines); 'volume' sends whole volumes (NIfTI files, DICOM "
    "series found in folders), writes each mask beside the output and one row per volume. Exit status 0 if any file succeeded, 1 if all "
    "failed, 2 on a usage error."
)


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``mri-client {classify,segment,analyze} PATH... [options]``."""
    parser = argparse.ArgumentParser(prog="mri-client", description=DESCRIPTION)
    parser.add_argument("command", choices=["classify", "segment", "analyze", "volume"])
    parser.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="image files or folders; volume: NIfTI files, zips of a DICOM series, DICOM folders",
    )
    parser.add_argument("-r", "--recursive", action="store_true", help="descend into subfolders")
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files in folders whose name or relative path matches (repeatable), e.g. '*_mask.*'",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("MRI_URL", "http://localhost:8000"),
        help="service URL (env MRI_URL; default %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("MRI_API_KEY"),
        help="sent as X-API-Key (default: env MRI_API_KEY)",
    )
    parser.add_argument("-c", "--concurrency", type=_positive, default=4, help="parallel requests")
    parser.add_argument(
        "--retries",
        type=_non_negative,
        default=3,
        help="retries after 503/connection errors (exponential backoff)",
    )
    parser.add_argument("--backoff", type=float, default=0.5, help="first retry delay in seconds")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="output format")
    parser.add_argument("-o", "--output", help="output file (default: standard output)")
    parser.add_argument(
        "--masks-dir", type=Path,
        help="write mask PNGs here (segment, analyze); volume: masks go here, else beside --output, else into .",
    )
    parser.add_argument(
        "--mask-format",
        choices=["rle", "png"],
        default="rle",
        help="mask encoding requested from the service",
    )
    parser.add_argument(
        "--dicom-output",
        choices=["seg", "nifti"],
        default="seg",
        help="volume: mask of a DICOM series as a DICOM SEG (default) or a NIfTI file",
    )
    parser.add_argument(
        "--postprocess", choices=["none", "largest", "drop_small"], help="volume: 3-D post-processing (default: the service's)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: HTTP)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def mask_paths(items: list[InputFile], masks_dir: Path) -> list[Path]:
    """One PNG path per input (``<relative path without suffix>.mask.png``), made unique."""
    used: set[Path] = set()
    paths = []
    for item in items:
        target = masks_dir / item.relative.parent / f"{item.relative.stem}.mask.png"
        number = 1
        while target in used:
            number += 1
            target = masks_dir / item.relative.parent / f"{item.relative.stem}.{number}.mask.png"
        used.add(target)
        paths.append(target)
    return paths


def process(
    client: MRIClient, command: str, item: InputFile, mask_format: str, mask_path: Path | None
) -> dict[str, Any]:
    """Send one file and turn the answer (or the failure) into a result row."""
    row: dict[str, Any] = {"path": str(item.path)}
    try:
        if command == "classify":
            result = client.classify(item.path)
        else:
            result = getattr(client, command)(item.path, mask_format=mask_format)
        row.update(summarize(command, result), status="ok")
        segmentation = result if command == "segment" else result.get("segmentation")
        if mask_path is not None and segmentation is not None:
            row["mask_path"] = str(write_mask(segmentation["mask"], mask_path))
    except Exception as exc:  # one bad file must not stop the batch: report it in its row
        logger.debug("%s failed", item.path, exc_info=True)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.strerror:
            message = exc.strerror
        row.update(status="error", error=message)
    return row


def _open_output(path: str | None) -> IO[str] | nullcontext[TextIO]:
    """The output stream as a context manager: the file (opened now, so a bad path is reported
    before any request) or standard output, which is left open."""
    if not path:
        return nullcontext(sys.stdout)
    return open(path, "w", newline="", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    """Process all inputs with ``args.concurrency`` threads, writing rows in input order."""
    items = find_inputs(args.paths, recursive=args.recursive, exclude=args.exclude)
    if not items:
        logger.error("no input files found in %s", " ".join(args.paths))
        return 2
    masks = mask_paths(items, args.masks_dir) if args.masks_dir else [None] * len(items)
    try:
        sink = _open_output(args.output)
    except OSError as exc:
        logger.error("cannot write %s: %s", args.output, exc.strerror or exc)
        return 2
    client = MRIClient(
        args.url,
        api_key=args.api_key,
        retries=args.retries,
        backoff=args.backoff,
        timeout=args.timeout,
        max_connections=args.concurrency,
    )
    progress = tqdm(total=len(items), unit="file", desc=args.command, disable=args.quiet, file=sys.stderr)
    failed = 0
    with sink as out, client, ThreadPoolExecutor(args.concurrency) as pool, progress as bar:
        writer = RowWriter(out, args.format, columns(args.command))
        futures = {
            pool.submit(process, client, args.command, item, args.mask_format, mask): index
            for index, (item, mask) in enumerate(zip(items, masks))
        }
        done: dict[int, dict[str, Any]] = {}
        next_index = 0
        for future in as_completed(futures):
            row = future.result()
            failed += row["status"] != "ok"
            done[futures[future]] = row
            bar.update(1)
            bar.set_postfix(failed=failed)
            while next_index in done:  # rows in input order, each as soon as it can go
                writer.write(done.pop(next_index))
                next_index += 1
    logger.info("%d files, %d failed", len(items), failed)
    return 1 if failed == len(items) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``mri-client``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.masks_dir is not None and args.command == "classify":
        parser.error("--masks-dir needs segment or analyze")
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose > 1 else logging.WARNING)
    return run_volumes(args) if args.command == "volume" else run(args)


def run_volumes(args: argparse.Namespace) -> int:
    """``mri-client volume``: one request per volume, rows in input order (module volumes)."""
    items = find_volumes(args.paths)
    if not items:
        logger.error("no volume found in %s", " ".join(args.paths))
        return 2
    masks_dir = args.masks_dir or (Path(args.output).resolve().parent if args.output else Path.cwd())
    try:
        sink = _open_output(args.output)
    except OSError as exc:
        logger.error("cannot write %s: %s", args.output, exc.strerror or exc)
        return 2
    client = MRIClient(args.url, api_key=args.api_key, retries=args.retries, backoff=args.backoff,
                       timeout=args.timeout, max_connections=args.concurrency)
    progress = tqdm(total=len(items), unit="volume", desc="volume", disable=args.quiet, file=sys.stderr)
    failed = 0
    with sink as out, client, ThreadPoolExecutor(args.concurrency) as pool, progress as bar:
        writer = RowWriter(out, args.format, VOLUME_COLUMNS)
        rows = pool.map(lambda item: process_volume(client, item, masks_dir, args.dicom_output, args.postprocess), items)
        for row in rows:
            failed += row["status"] != "ok"
            writer.write(row)
            bar.update(1)
    logger.info("%d volumes, %d failed", len(items), failed)
    return 1 if failed == len(items) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
