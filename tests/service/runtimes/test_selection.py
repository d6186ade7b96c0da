"""MRI_RUNTIME=auto: every candidate loaded, checked and timed at start-up; the fastest at parity serves."""

from __future__ import annotations

import json
import logging
import shutil
import sys

import pytest

from contract.exports import EXPORTS_KEY
from contract.layout import layout_files
from contract.spec import CARD_FILE, read_card
from service.cores import usable_cores
from service.inference import ExportMismatch, load_models
from service.runtimes import RUNTIMES, get_runtime
from service.runtimes.openvino import REDUCED_PRECISIONS
from service.runtimes.selection import NoRuntime, thread_counts
from service.settings import Settings
from tests.service import samples


def test_thread_counts_are_powers_of_two_up_to_the_cores_of_a_call():
    assert thread_counts(1) == [1]
    assert thread_counts(2) == [1, 2]
    assert thread_counts(6) == [1, 2, 4, 6]
    assert thread_counts(16) == [1, 2, 4, 8, 16]


@pytest.fixture(scope="module")
def auto(models_dir):
    return load_models(Settings(models_dir=models_dir, batching=False))


def test_auto_times_every_installed_runtime_and_serves_the_fastest(auto):
    selection = auto.selection
    per_call = max(1, usable_cores() // len(auto.files))
    timed = [t for t in selection.trials if t.ms is not None]

    assert selection.measured and selection.cores == usable_cores() and selection.cores_per_call == per_call
    assert {t.candidate.runtime for t in timed} == set(RUNTIMES)  # all three are installed here
    for name in ("onnxruntime", "openvino"):
        assert {t.candidate.threads for t in timed if t.candidate.runtime == name} == set(
            thread_counts(per_call)
        )
    assert selection.chosen == min(timed, key=lambda t: t.ms).candidate
    assert auto.runtime == selection.chosen.runtime and selection.runtime.threads == selection.chosen.threads
    # the calls' threads never exceed the cores: each file runs one call at a time
    assert selection.chosen.threads * len(auto.files) <= max(usable_cores(), len(auto.files))
    batch = auto.classifier.prepare([samples.positive_image(), samples.negative_image()])
    assert auto.classifier.predict(batch).shape[0] == 2


def test_the_start_up_log_names_the_choice_and_the_timings(models_dir, caplog):
    with caplog.at_level(logging.INFO, logger="service.runtimes.selection"):
        loaded = load_models(Settings(models_dir=models_dir, batching=False))
    line = next(r.getMessage() for r in caplog.records if r.name == "service.runtimes.selection")
    assert loaded.selection.measured and line.startswith(
        f"runtime {loaded.selection.chosen.label} (fastest measured"
    )
    for trial in loaded.selection.trials:
        assert f"{trial.candidate.label} {trial.ms:.1f} ms" in line


def test_settings_narrow_what_is_measured(models_dir):
    per_call = max(
        1, usable_cores() // len(layout_files(read_card(models_dir)))
    )  # each file: one call at a time
    threads_open = load_models(Settings(models_dir=models_dir, runtime="openvino", batching=False)).selection
    runtime_open = load_models(Settings(models_dir=models_dir, intra_op_threads=1, batching=False)).selection
    both_set = load_models(
        Settings(models_dir=models_dir, runtime="onnxruntime", intra_op_threads=1, batching=False)
    ).selection

    assert {t.candidate.runtime for t in threads_open.trials} == {"openvino"}
    assert sorted(
        t.candidate.threads for t in threads_open.trials if t.candidate.precision is None
    ) == thread_counts(per_call)
    assert {t.candidate.threads for t in runtime_open.trials} == {1}
    assert {t.candidate.runtime for t in runtime_open.trials} == set(RUNTIMES)
    assert not both_set.measured and [t.candidate.label for t in both_set.trials] == ["onnxruntime:1"]
    assert both_set.trials[0].ms is None


@pytest.fixture
def off_parity(tmp_path, models_dir):
    """The tiny folder whose card records other answers to the probe than its exports give: every
    ONNX candidate (any thread count, any precision) fails the probe, as a reduced precision that
    moves the answers would."""
    folder = tmp_path / "models"
    shutil.copytree(models_dir, folder)
    card = json.loads((folder / CARD_FILE).read_text())
    for entry in card[EXPORTS_KEY].values():
        for output in entry["probe"]["outputs"].values():
            output["values"] = [v + 0.01 for v in output["values"]]
    (folder / CARD_FILE).write_text(json.dumps(card))
    return folder


def test_a_candidate_off_parity_is_refused_and_never_serves(off_parity):
    loaded = load_models(Settings(models_dir=off_parity, batching=False))
    refused = {t.candidate.runtime: t.refused for t in loaded.selection.trials if t.refused}

    assert loaded.runtime == "keras"
    assert set(refused) == {"onnxruntime", "openvino"}
    assert all("ExportMismatch" in why and "differ from the Keras model's" in why for why in refused.values())
    with pytest.raises(
        ExportMismatch, match="differ from the Keras model's"
    ):  # a named runtime: its own error
        load_models(Settings(models_dir=off_parity, runtime="openvino", batching=False))


def test_no_candidate_that_can_serve_fails_the_load_naming_each_reason(off_parity, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # Keras not installed, as in the CPU image

    with pytest.raises(
        NoRuntime, match=r"keras:\d+: MRI_RUNTIME=keras needs keras.*onnxruntime:1: ExportMismatch"
    ):
        load_models(Settings(models_dir=off_parity, batching=False))


def test_require_gpu_refuses_every_runtime_without_one(models_dir):
    if any(d.type == "GPU" for name in ("onnxruntime", "openvino") for d in get_runtime(name).devices()):
        pytest.skip("this machine has a GPU")
    with pytest.raises(NoRuntime, match="MRI_REQUIRE_GPU"):
        load_models(Settings(models_dir=models_dir, runtime="auto", require_gpu=True, batching=False))


def test_reduced_precisions_are_candidates_only_where_offered(models_dir):
    runtime = get_runtime("openvino", 1)
    offered = runtime.reduced_precisions()
    assert set(offered) <= set(REDUCED_PRECISIONS.values())
    with pytest.raises(ValueError, match="offers no 'int4' precision"):
        get_runtime("openvino", 1, "int4")
    with pytest.raises(ValueError, match="offers no 'bf16' precision"):
        get_runtime("onnxruntime", 1, "bf16")
    trials = load_models(
        Settings(models_dir=models_dir, runtime="openvino", intra_op_threads=1, batching=False)
    ).selection.trials
    # each offered precision was tried: timed (its probe passed) or refused by the probe
    assert sorted(t.candidate.precision or "f32" for t in trials) == sorted(["f32", *offered])
