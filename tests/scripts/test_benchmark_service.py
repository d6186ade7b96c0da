"""scripts/benchmark_service.py end to end with tiny models and a tiny budget (figures are not asserted)."""

from __future__ import annotations

import pytest

from scripts import benchmark_service
from tests.tiny_models import build_tiny_models

pytestmark = pytest.mark.slow


def test_prints_one_row_per_runtime_with_every_endpoint(tmp_path, capsys):
    models = build_tiny_models(tmp_path / "models")
    script = benchmark_service
    argv = ["--models-dir", f"a={models}", f"b={models}", "--runtimes", "keras", "onnxruntime:2", "--n", "2",
            "--clients", "3", "--seconds", "1", "--rounds", "1"]

    assert script.main(argv) == 0

    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("| models | runtime"))
    for column in ("installed MB", "start-up s", "/classify p50", "/analyze p50", "/volume p50", "slices/s", "vs a"):
        assert column in header
    rows = {tuple(cell.strip() for cell in line.split("|")[1:3]): [c.strip() for c in line.split("|")[3:-1]]
            for line in lines if line.startswith(("| a |", "| b |"))}
    assert set(rows) == {("a", "keras"), ("a", "onnxruntime:2"), ("b", "keras"), ("b", "onnxruntime:2")}
    # the last three columns: /analyze vs the fastest Keras of the folder, answers = that Keras, /analyze vs folder a
    assert rows[("a", "keras")][-3].startswith("1.00x (") and rows[("a", "onnxruntime:2")][-2] == "yes"
    assert rows[("a", "keras")][-1].startswith("1.00x (") and rows[("b", "keras")][-1].endswith(")")
    assert float(rows[("a", "onnxruntime:2")][0]) < float(rows[("a", "keras")][0]), "the ONNX Runtime set-up installs less"
