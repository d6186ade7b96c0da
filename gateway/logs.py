"""Logging for the gateway: UIDs hashed, patient data never logged.

Log lines name a study or series by :func:`tag` (the first 12 hex digits of the UID's SHA-256), so
lines of one study can be followed without the UID itself; patient names, IDs and birth dates are
never passed to a logger, at any level.
"""

from __future__ import annotations

import hashlib
import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUIET = ("highdicom", "pynetdicom", "dicomweb_client", "urllib3", "httpx", "httpcore")


def tag(uid: str | None) -> str:
    """A short, stable, non-reversible name for a UID (``#`` + 12 hex digits)."""
    if not uid:
        return "#none"
    return "#" + hashlib.sha256(str(uid).encode()).hexdigest()[:12]


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, force=True)
    # libraries that log at INFO what must not reach the log (highdicom: SOP Instance UIDs; pynetdicom:
    # every association; httpx: every request to the service, the readiness probe's too) speak from WARNING up
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
