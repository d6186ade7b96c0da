"""scripts/profile_request.py end to end with tiny models (figures are not asserted)."""

from __future__ import annotations

import pytest

from scripts import profile_request
from tests.tiny_models import build_tiny_models

pytestmark = pytest.mark.slow


def test_prints_each_stage_the_app_and_the_http_request(tmp_path, capsys):
    models = build_tiny_models(tmp_path / "models")

    assert profile_request.main(["--models-dir", str(models), "--runtime", "onnxruntime:1", "--n", "3"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("processor: ") and "onnxruntime:1, test-time augmentation none" in lines[0]
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in lines[3:]}
    for stage in (
        "form",
        "decode",
        "prepare",
        "model",
        "mask",
        "postprocess",
        "encode",
        "serialize",
        "framework: app minus the stages",
        "app (ASGI, in-process)",
        "HTTP /analyze",
    ):
        assert stage in rows
    assert rows["HTTP minus the model call"] < rows["HTTP /analyze"]  # the median of per-round differences
    assert rows["app (ASGI, in-process)"] > 0 and rows["HTTP /analyze"] > 0
    assert 0 < rows["Server-Timing: the server's model calls"] < rows["HTTP /analyze"]
