"""scripts/benchmark_load.py end to end with tiny models and a tiny budget (figures are not asserted)."""

from __future__ import annotations

import pytest

from scripts import benchmark_load
from tests.tiny_models import BRAIN, build_tiny_models

pytestmark = pytest.mark.slow


def test_prints_the_three_scenarios_for_batching_off_and_on(tmp_path, capsys):
    models = build_tiny_models(tmp_path / "models", rule=BRAIN)
    script = benchmark_load
    argv = [
        "--models-dir",
        str(models),
        "--configs",
        "off",
        "on:1",
        "--clients",
        "4",
        "--batch",
        "4",
        "--slices",
        "12",
        "--seconds",
        "2",
        "--warmup",
        "4",
    ]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    for scenario in ("1 client, 1 slice/request", "4 clients, 1 slice/request", "1 client, 4 slices/request"):
        assert f"| off | {scenario} |" in out and f"| on, max wait 1 ms | {scenario} |" in out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| o")]
    assert len(rows) == 6 and all(row[-2].strip() == "0" for row in rows), "no request may fail"
    assert "on:1: 1-client median" in out and "4-slice requests, all configurations pooled" in out
    assert "off: 4 clients get" in out and "on:1: 4 clients get" in out
