"""scripts/benchmark_load.py end to end with tiny models and a tiny budget (figures are not asserted)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.client.conftest import REPO

pytestmark = pytest.mark.slow


def _load(name: str, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_prints_the_three_scenarios_for_batching_off_and_on(tmp_path, capsys):
    tiny = _load("_bench_tiny_models", REPO / "tests" / "deploy" / "tiny_models.py")
    models = tiny.build_tiny_models(tmp_path / "models")
    script = _load("benchmark_load", REPO / "scripts" / "benchmark_load.py")
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
