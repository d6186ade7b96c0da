"""``python -m gateway``: run the gateway with the ``MRI_GATEWAY_*`` settings (``--help`` lists them);
``python -m gateway retry``: queue failed jobs again (a bulk re-drive) in the job store of
``MRI_GATEWAY_STATE_DIR``, while the gateway runs or not."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
import time

from pydantic import ValidationError

from gateway.settings import GatewaySettings, settings_table

logger = logging.getLogger("gateway")


def _epilog() -> str:
    lines = ["settings (environment variables; default in brackets):"]
    for name, default, description in settings_table():
        lines.append(f"  {name} [{default}]")
        lines.extend(textwrap.wrap(description, 96, initial_indent="      ", subsequent_indent="      "))
    lines.append("")
    lines.append("See docs/integration.md for routing from Orthanc or a PACS and for the job API.")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        description="The DICOM node and DICOMweb client between a PACS and the brain MRI service: receives "
        "series (C-STORE) or pulls them (WADO-RS), sends FLAIR series to POST /volume and stores a DICOM SEG "
        "and SR back. Configured by environment variables only.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="{serve,retry}")
    commands.add_parser("serve", help="run the gateway (the default)")
    retry = commands.add_parser("retry", help="queue failed jobs again (bulk re-drive); prints their ids")
    retry.add_argument("--job", type=int, action="append", help="only this job (repeatable)")
    retry.add_argument("--reason", help="only jobs whose reason contains this text (case-insensitive)")
    retry.add_argument("--since-hours", type=float, help="only jobs that failed in the last HOURS hours")
    return parser


def _retry(settings: GatewaySettings, args: argparse.Namespace) -> int:
    from gateway.jobs import SqliteJobStore

    if not settings.database.is_file():
        sys.stderr.write(f"no job store at {settings.database} (MRI_GATEWAY_STATE_DIR)\n")
        return 1
    store = SqliteJobStore(settings.database)
    try:
        since = time.time() - args.since_hours * 3600 if args.since_hours is not None else None
        ids = store.redrive(ids=args.job, reason_contains=args.reason, since=since)
    finally:
        store.close()
    sys.stdout.write(f"queued again: {len(ids)} job(s) {ids}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = GatewaySettings()
    except ValidationError as exc:
        sys.stderr.write(f"invalid MRI_GATEWAY_* settings:\n{exc}\n")
        return 2
    if args.command == "retry":
        return _retry(settings, args)
    from gateway.app import Gateway
    from gateway.logs import configure

    configure(settings.log_level)
    logger.info(
        "gateway %s: DICOM port %d%s, HTTP %s:%d, service %s, destination %s, state %s",
        settings.ae_title, settings.dicom_port, " (TLS)" if settings.tls_cert else "", settings.http_host,
        settings.http_port, settings.service_url, settings.destination or "back to the sender", settings.state_dir,
    )  # fmt: skip
    Gateway(settings).serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
