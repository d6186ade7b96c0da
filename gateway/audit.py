"""The audit trail: one record per DICOM association (accepted or refused) and per result sent.

Records are JSON lines appended to ``MRI_GATEWAY_STATE_DIR/audit.jsonl`` (flushed and synced to disk
one by one; never deleted by the gateway: rotate the file with the host's tools, e.g. logrotate) and
logged by the ``gateway.audit`` logger. Each says who, when and which study, with UIDs hashed as in
the logs (:func:`gateway.logs.tag`), never patient data:

- ``association``: ``calling_ae``, ``called_ae``, ``address``, ``tls``, ``outcome`` (``released``,
  ``aborted``, or ``refused`` with the ``reason``), ``instances`` stored, ``studies`` and ``series``;
- ``result``: ``job``, ``destination``, ``study``, ``series``, the ``instances`` sent (their tags).

``GET /audit?limit=`` shows the newest records.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

logger = logging.getLogger("gateway.audit")


class Audit:
    """Appends records to one file (one writer per process: a lock orders them)."""

    def __init__(self, path: Path, clock=time.time) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._clock = clock

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        entry = {"time": round(self._clock(), 3), "event": event, **fields}
        line = json.dumps(entry, sort_keys=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        logger.info("%s", line)
        return entry

    def tail(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` records, newest first."""
        if not self.path.is_file():
            return []
        with open(self.path, encoding="utf-8") as fh:
            lines = deque(fh, maxlen=limit)
        return [json.loads(line) for line in reversed(lines) if line.strip()]
