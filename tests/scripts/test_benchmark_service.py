"""scripts/benchmark_service.py end to end with tiny models and a tiny budget (figures are not asserted)."""

from __future__ import annotations

import pytest

from tests.project import load_script
from tests.tiny_models import build_tiny_models

pytestmark = pytest.mark.slow


def test_prints_one_row_per_runtime_with_every_endpoint(tmp_path, capsys):
    models = build_tiny_models(tmp_path / "models")
    script = load_script("benchmark_service")
    argv = ["--models-dir", str(models), "--runtimes", "keras", "onnxruntime:2", "--n", "2",
            "--clients", "3", "--seconds", "1", "--rounds", "1"]

    assert script.main(argv) == 0

    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("| runtime"))
    for column in ("installed MB", "start-up s", "/classify p50", "/analyze p50", "/volume p50", "slices/s"):
        assert column in header
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in lines if line.startswith(("| keras", "| onnx"))}
    assert set(rows) == {"keras", "onnxruntime:2"}
    assert rows["keras"][-2].strip().startswith("1.00x (") and rows["onnxruntime:2"][-1].strip() == "yes"
    assert float(rows["onnxruntime:2"][0]) < float(rows["keras"][0]), "the ONNX Runtime set-up installs less"
