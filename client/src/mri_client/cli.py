"""``mri-client``: send files or folders of slices to the API and write one result row per file.

Before any file, one check of ``/v2/health/ready`` (and of the API key through ``/v2/models``):
a service that is unreachable, not ready within ``--wait`` seconds or refuses the key ends the
run at once. Exit status: 0 when every file succeeded, 1 when any failed, 2 on a usage error or
a service that cannot be used, 141 (128 + SIGPIPE, as other command-line tools) when the output
was closed early (``mri-client ... | head``). A summary line always goes to standard error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any, TextIO

from . import __version__
from .batch import check_service, mask_paths, process
from .client import DEFAULT_TIMEOUT_S, MRIClient, MRIError
from .files import MASK_GLOB, find_inputs
from .output import RowWriter, columns
from .progress import MODES, Progress
from .retry import DEFAULT_BACKOFF_S, DEFAULT_RETRIES
from .volumes import COLUMNS as VOLUME_COLUMNS
from .volumes import find_volumes, process_volume

logger = logging.getLogger("mri_client")

DESCRIPTION = (
    "Send slices (PNG, JPEG, TIFF, DICOM; files or folders) to the brain-MRI tumour API and write "
    "one result row per file (CSV or JSON lines); 'volume' sends whole volumes (NIfTI files, zips "
    "of a DICOM series, DICOM series found in folders), writes each mask beside the output and one row "
    "per volume. Exit status 0 when every file succeeded, 1 when any failed, 2 on a usage error or a "
    "service that is unreachable, not ready or refuses the API key (checked once, before any file), "
    "141 when the output is closed early."
)
#: Exit status when standard output is closed before all rows are written (128 + SIGPIPE).
EXIT_PIPE_CLOSED = 141


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default, except empty ones (None, False, [])."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, []):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``mri-client {classify,segment,analyze} PATH... [options]``."""
    parser = argparse.ArgumentParser(
        prog="mri-client", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    parser.add_argument("command", choices=["classify", "segment", "analyze", "volume"])
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="image files or folders; volume: NIfTI files, zips of a DICOM series, DICOM folders",
    )
    parser.add_argument("-r", "--recursive", action="store_true", help="descend into subfolders")
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files in folders whose name or relative path matches (repeatable), e.g. 'case1/*'",
    )
    parser.add_argument(
        "--include-masks",
        action="store_true",
        help=f"also send the dataset's mask files ({MASK_GLOB}) found in folders; they are skipped otherwise",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("MRI_URL", "http://localhost:8000"),
        help="service URL (env MRI_URL)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="sent as X-API-Key (default: env MRI_API_KEY)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for the service to be ready before giving up (exit 2)",
    )
    parser.add_argument("-c", "--concurrency", type=_positive, default=4, help="parallel requests")
    parser.add_argument(
        "--retries",
        type=_non_negative,
        default=DEFAULT_RETRIES,
        help="retries after no answer or 503/502/504/429 (exponential backoff, at least Retry-After)",
    )
    parser.add_argument(
        "--backoff", type=float, default=DEFAULT_BACKOFF_S, help="first retry delay in seconds"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="per-request timeout in seconds"
    )
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="output format")
    parser.add_argument("-o", "--output", help="output file (default: standard output)")
    parser.add_argument(
        "--masks-dir",
        type=Path,
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
        help="volume: mask of a DICOM series as a DICOM SEG or a NIfTI file",
    )
    parser.add_argument(
        "--postprocess",
        choices=["none", "largest", "drop_small"],
        help="volume: 3-D post-processing (default: the service's)",
    )
    parser.add_argument(
        "--progress",
        choices=MODES,
        default="auto",
        help="progress on standard error: auto = a bar on a terminal, else a line every --progress-every s",
    )
    parser.add_argument(
        "--progress-every", type=float, default=10.0, metavar="SECONDS", help="see --progress"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress (same as --progress none)")
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


def _open_output(path: str | None) -> IO[str] | nullcontext[TextIO]:
    """The output stream as a context manager: the file (opened now, so a bad path is reported
    before any request) or standard output, which is left open."""
    if not path:
        return nullcontext(sys.stdout)
    return open(path, "w", newline="", encoding="utf-8")


def _silence_stdout() -> None:
    """Point the standard output descriptor at /dev/null after the reader went away, so that the
    interpreter's final flush does not report a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass


def run(args: argparse.Namespace) -> int:
    """Check the service, then process all inputs with ``args.concurrency`` threads, writing rows
    in input order; the summary line goes to standard error whatever happens."""
    started = time.monotonic()
    items = find_inputs(
        args.paths, recursive=args.recursive, exclude=args.exclude, include_masks=args.include_masks
    )
    if not items:
        _summary(f"no input files found in {' '.join(args.paths)}")
        return 2
    masks = mask_paths(items, args.masks_dir) if args.masks_dir else [None] * len(items)
    client = _client(args)
    with client:
        try:
            served = check_service(client, args.command, args.wait)
        except MRIError as exc:
            _summary(f"{exc}; no file sent")
            return 2
        try:
            sink = _open_output(args.output)
        except OSError as exc:
            _summary(f"cannot write {args.output}: {exc.strerror or exc}; no file sent")
            return 2
        progress = Progress(
            len(items), args.command, "none" if args.quiet else args.progress, every=args.progress_every
        )
        failed = written = 0
        closed = False
        with sink as out, ThreadPoolExecutor(args.concurrency) as pool:
            try:
                writer = RowWriter(out, args.format, columns(args.command))
                futures = {
                    pool.submit(process, client, args.command, item, args.mask_format, mask): index
                    for index, (item, mask) in enumerate(zip(items, masks, strict=True))
                }
                done: dict[int, dict[str, Any]] = {}
                for future in as_completed(futures):
                    row = future.result()
                    if row["status"] != "ok":
                        failed += 1
                        row = {**served, **row}
                    done[futures[future]] = row
                    progress.update(row["status"] == "ok")
                    while written in done:  # rows in input order, each as soon as it can go
                        writer.write(done.pop(written))
                        written += 1
            except BrokenPipeError:  # the reader went away (`| head`): stop sending, exit quietly
                closed = True
                pool.shutdown(wait=False, cancel_futures=True)
                if out is sys.stdout:
                    _silence_stdout()
            finally:
                progress.close()
    seconds = time.monotonic() - started
    if closed:
        _summary(f"{args.command}: output closed after {written} of {len(items)} rows ({seconds:.1f} s)")
        return EXIT_PIPE_CLOSED
    _summary(
        f"{args.command}: {len(items)} files, {len(items) - failed} ok, {failed} failed ({seconds:.1f} s)"
    )
    return 1 if failed else 0


def _client(args: argparse.Namespace) -> MRIClient:
    """The service's client as the command line sets it (``MRI_API_KEY`` when no ``--api-key``)."""
    return MRIClient(
        args.url,
        api_key=args.api_key or os.environ.get("MRI_API_KEY"),
        retries=args.retries,
        backoff=args.backoff,
        timeout=args.timeout,
        max_connections=args.concurrency,
    )


def _summary(line: str) -> None:
    """The run's last word, on standard error whatever the verbosity."""
    sys.stderr.write(f"mri-client: {line}\n")
    sys.stderr.flush()


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
    """``mri-client volume``: the service check, then one request per volume, rows in input order
    (module volumes); exit statuses and the summary line as for slices."""
    started = time.monotonic()
    items = find_volumes(args.paths)
    if not items:
        _summary(f"no volume found in {' '.join(args.paths)}")
        return 2
    masks_dir = args.masks_dir or (Path(args.output).resolve().parent if args.output else Path.cwd())
    client = _client(args)
    with client:
        try:
            check_service(client, args.command, args.wait)
            sink = _open_output(args.output)
        except MRIError as exc:
            _summary(f"{exc}; no file sent")
            return 2
        except OSError as exc:
            _summary(f"cannot write {args.output}: {exc.strerror or exc}; no file sent")
            return 2
        progress = Progress(
            len(items), "volume", "none" if args.quiet else args.progress, every=args.progress_every
        )
        failed = 0
        with sink as out, ThreadPoolExecutor(args.concurrency) as pool:
            try:
                writer = RowWriter(out, args.format, VOLUME_COLUMNS)
                rows = pool.map(
                    lambda item: process_volume(client, item, masks_dir, args.dicom_output, args.postprocess),
                    items,
                )
                for row in rows:
                    failed += row["status"] != "ok"
                    writer.write(row)
                    progress.update(row["status"] == "ok")
            except BrokenPipeError:
                pool.shutdown(wait=False, cancel_futures=True)
                if out is sys.stdout:
                    _silence_stdout()
                _summary("volume: output closed early")
                return EXIT_PIPE_CLOSED
            finally:
                progress.close()
    _summary(
        f"volume: {len(items)} volumes, {len(items) - failed} ok, {failed} failed "
        f"({time.monotonic() - started:.1f} s)"
    )
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
