"""scripts/benchmark_service.py end to end with tiny models and a tiny budget (figures are not asserted)."""

from __future__ import annotations

import pytest

from scripts import benchmark_service
from tests.tiny_models import build_tiny_models

pytestmark = pytest.mark.slow


def test_prints_one_row_per_configuration_with_in_process_and_http_figures(tmp_path, capsys):
    models = build_tiny_models(tmp_path / "models")
    argv = [
        "--models-dir",
        f"a={models}",
        "--runtimes",
        "auto",
        "keras:1",
        "--endpoints",
        "/analyze",
        "/volume",
        "--n",
        "2",
        "--clients",
        "3",
        "--seconds",
        "1",
        "--rounds",
        "1",
    ]

    assert benchmark_service.main(argv) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("processor: ") and "load average before" in lines[0]
    assert any(line.startswith("a auto chose ") for line in lines)
    header = [
        c.strip()
        for c in next(line for line in lines if line.startswith("| models | runtime")).split("|")[1:-1]
    ]
    for column in (
        "serves",
        "model ms (in-process)",
        "/analyze p50 ms",
        "overhead ms",
        "/volume p50 ms",
        "/analyze slices/s, 3 clients",
        "flip pass ms",
        "/analyze vs keras",
        "answers = keras",
        "/analyze vs a",
    ):
        assert column in header
    rows = {
        tuple(line.split("|")[1:3]): dict(
            zip(header, (c.strip() for c in line.split("|")[1:-1]), strict=True)
        )
        for line in lines
        if line.startswith("| a |")
    }
    rows = {(k[0].strip(), k[1].strip()): v for k, v in rows.items()}
    assert set(rows) == {("a", "auto"), ("a", "keras:1")}
    assert rows[("a", "keras:1")]["serves"] == "keras:1"
    assert rows[("a", "auto")]["serves"].split(":")[0] in ("keras", "onnxruntime", "openvino")
    for row in rows.values():  # the overhead is the median of paired differences, /analyze minus the model
        assert (
            float(row["overhead ms"]) < float(row["/analyze p50 ms"])
            and float(row["model ms (in-process)"]) > 0
        )
        # the same within each request, from the answer's Server-Timing
        assert 0 < float(row["model ms (in the server)"]) < float(row["/analyze p50 ms"])
        assert float(row["overhead ms (Server-Timing)"]) < float(row["/analyze p50 ms"])
        assert row["answers = keras"] == "yes" and row["tta"] == "none"
    assert rows[("a", "keras:1")]["/analyze vs keras"].startswith("1.00x (")
    assert rows[("a", "auto")]["/analyze vs a"].startswith("1.00x (")
