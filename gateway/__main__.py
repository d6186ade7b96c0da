"""``python -m gateway``: run the gateway with the ``MRI_GATEWAY_*`` settings (``--help`` lists them)."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        description="The DICOM node and DICOMweb client between a PACS and the brain MRI service: receives "
        "series (C-STORE) or pulls them (WADO-RS), sends FLAIR series to POST /volume and stores a DICOM SEG "
        "and SR back. Configured by environment variables only.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    try:
        settings = GatewaySettings()
    except ValidationError as exc:
        sys.stderr.write(f"invalid MRI_GATEWAY_* settings:\n{exc}\n")
        return 2
    from gateway.app import Gateway
    from gateway.logs import configure

    configure(settings.log_level)
    logger.info(
        "gateway %s: DICOM port %d, HTTP port %d, service %s, destination %s, state %s",
        settings.ae_title, settings.dicom_port, settings.http_port, settings.service_url,
        settings.destination or "back to the sender", settings.state_dir,
    )  # fmt: skip
    Gateway(settings).serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
