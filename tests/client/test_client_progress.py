"""mri_client.progress: a bar on a terminal, plain periodic lines elsewhere."""

from __future__ import annotations

import io
import os
import pty

from mri_client.progress import Progress


def test_auto_is_a_bar_on_a_terminal_and_lines_elsewhere():
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal:
            bar = Progress(3, "classify", stream=terminal)
            assert bar.mode == "bar"
            bar.update(True)
            bar.close()
            assert b"classify" in os.read(leader, 4096)
    finally:
        os.close(leader)
        os.close(follower)
    assert Progress(3, "classify", stream=io.StringIO()).mode == "lines"


def test_lines_count_done_and_failed_files():
    out = io.StringIO()
    progress = Progress(3, "segment", mode="lines", every=0, stream=out)
    for ok in (True, False, True):
        progress.update(ok)
    lines = [line.split(", ")[:2] for line in out.getvalue().splitlines()]
    assert lines == [
        ["segment: 1/3 files", "0 failed"],
        ["segment: 2/3 files", "1 failed"],
        ["segment: 3/3 files", "1 failed"],
    ]
    quiet = io.StringIO()
    Progress(3, "segment", mode="none", stream=quiet).update(False)
    assert quiet.getvalue() == ""
