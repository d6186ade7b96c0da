"""The disk watermark: free space under the state folder, and whether new associations may come."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20


@dataclass(frozen=True)
class Watermark:
    """``path``'s file system must keep ``min_free_bytes`` free for new associations to be accepted."""

    path: Path
    min_free_bytes: int

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path).free

    def low(self) -> bool:
        return self.free_bytes() < self.min_free_bytes

    def status(self) -> dict:
        free = self.free_bytes()
        return {"free_bytes": free, "min_free_bytes": self.min_free_bytes, "ok": free >= self.min_free_bytes}
