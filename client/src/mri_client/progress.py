"""Progress of a run on standard error: a tqdm bar on a terminal, plain periodic lines otherwise.

A bar redraws itself with carriage returns, which floods a log file or a CI console; when
standard error is not a terminal, one line ``<command>: <done>/<total> files, <failed> failed,
<rate> files/s`` is written every ``every`` seconds instead (and none for runs shorter than that).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

MODES = ("auto", "bar", "lines", "none")


class Progress:
    """Counts finished files; ``mode`` is ``bar``, ``lines``, ``none`` or ``auto`` (bar on a tty)."""

    def __init__(
        self, total: int, desc: str, mode: str = "auto", every: float = 10.0, stream: TextIO | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if _isatty(self.stream) else "lines"
        if mode not in MODES:
            raise ValueError(f"unknown progress mode {mode!r}")
        self.mode, self.total, self.desc, self.every = mode, total, desc, every
        self.done = self.failed = 0
        self.started = self._last = time.monotonic()
        self._bar = tqdm(total=total, unit="file", desc=desc, file=self.stream) if mode == "bar" else None

    def update(self, ok: bool) -> None:
        """One more file finished (``ok`` False: it failed)."""
        self.done += 1
        self.failed += not ok
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(failed=self.failed)
        elif self.mode == "lines" and time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            self.stream.write(f"{self.line()}\n")
            self.stream.flush()

    def line(self) -> str:
        """``<command>: <done>/<total> files, <failed> failed, <rate> files/s``."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (
            f"{self.desc}: {self.done}/{self.total} files, {self.failed} failed, "
            f"{self.done / elapsed:.1f} files/s"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
