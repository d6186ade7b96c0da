"""python -m training export: ONNX beside each .keras file, names kept, checked, named in the card."""

from __future__ import annotations

import json

import keras
import numpy as np
import onnx
import onnxruntime
import pytest

from contract.exports import (
    EXPORTS_KEY,
    FLOAT16_TOLERANCE,
    PARITY_TOLERANCE,
    probe_difference,
    probe_input,
    sha256,
)
from contract.spec import CARD_FILE, PREPROCESS_LAYER, file_version, read_card
from training import export
from training.__main__ import main
from training.models import build_joint


def _tiny(size: int = 32, outputs: str = "one") -> keras.Model:
    """A contract-following model: Rescaling first; one sigmoid output, or the joint model's two."""
    if outputs == "joint":
        return build_joint(size, base_filters=4)
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name=PREPROCESS_LAYER)(inputs)
    x = keras.layers.Conv2D(48, 3, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inputs, x, name="tiny_segmenter")


def _run(path, batch: np.ndarray) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: batch}), strict=True))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A folder with a one-output model and a joint (two named outputs) model, exported by the CLI."""
    folder = tmp_path_factory.mktemp("export")
    _tiny().save(folder / "segmenter.keras")
    _tiny(outputs="joint").save(folder / "joint.keras")
    (folder / CARD_FILE).write_text(json.dumps({"models": {"segmenter": {"name": "kept"}}}))
    assert main(["export", str(folder)]) == 0
    return folder


def test_each_keras_file_gets_an_onnx_file_named_in_the_card_with_its_hash(exported):
    card = read_card(exported)
    assert card["models"]["segmenter"]["name"] == "kept", "the rest of the card is kept"
    assert set(card[EXPORTS_KEY]) == {"segmenter.keras", "joint.keras"}
    for source, entry in card[EXPORTS_KEY].items():
        path = exported / entry["file"]
        assert path.name == source.replace(".keras", ".onnx") and entry["format"] == "onnx"
        assert entry["sha256"] == sha256(path) and entry["version"] == file_version(path)
        assert entry["source_version"] == file_version(exported / source)
        assert entry["weights"] == "float32" and entry["probe"]["tolerance"] == PARITY_TOLERANCE
        onnx.checker.check_model(str(path))
        assert not list(exported.glob(".*")), "no temporary file is left"


@pytest.mark.parametrize("source", ["segmenter.keras", "joint.keras"])
def test_outputs_keep_their_keras_names_and_values(exported, source):
    model = keras.saving.load_model(exported / source, compile=False)
    batch = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    expected = model.predict_on_batch(batch)
    expected = expected if isinstance(expected, dict) else {model.output_names[0]: expected}

    actual = _run(exported / source.replace(".keras", ".onnx"), batch)

    assert set(actual) == set(expected) == set(read_card(exported)[EXPORTS_KEY][source]["outputs"])
    for name, value in expected.items():
        np.testing.assert_allclose(actual[name], value, atol=PARITY_TOLERANCE, rtol=0)


def test_the_card_keeps_the_keras_answers_to_the_probe(exported):
    entry = read_card(exported)[EXPORTS_KEY]["joint.keras"]
    model = keras.saving.load_model(exported / "joint.keras", compile=False)
    answers = model.predict_on_batch(probe_input(32))

    assert probe_difference(entry["probe"]["outputs"], answers) <= 1e-6
    shifted = {k: v + 0.01 for k, v in answers.items()}
    assert probe_difference(entry["probe"]["outputs"], shifted) == pytest.approx(0.01, abs=1e-6)


def test_float16_weights_halve_the_file_and_compute_in_float32(tmp_path, exported):
    (tmp_path / "segmenter.keras").write_bytes((exported / "segmenter.keras").read_bytes())

    entry = export.export_folder(tmp_path, weights="float16")["segmenter.keras"]

    graph = onnx.load(str(tmp_path / "segmenter.onnx")).graph
    halves = [i for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert halves and all(np.prod(i.dims) >= export.FLOAT16_MIN_ELEMENTS for i in halves)
    assert any(n.op_type == "Cast" for n in graph.node)
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    float32 = read_card(exported)[EXPORTS_KEY]["segmenter.keras"]
    assert entry["bytes"] < 0.7 * float32["bytes"]
    assert entry["weights"] == "float16" and entry["probe"]["tolerance"] == FLOAT16_TOLERANCE
    assert entry["probe"]["max_abs_diff"] <= FLOAT16_TOLERANCE


def test_an_export_that_misses_the_tolerance_is_refused_and_nothing_is_written(
    tmp_path, exported, monkeypatch
):
    (tmp_path / "segmenter.keras").write_bytes((exported / "segmenter.keras").read_bytes())
    monkeypatch.setattr(export, "tolerance_for", lambda weights: 0.0)  # any rounding now fails
    monkeypatch.setattr(
        export, "_run_onnx", lambda path, batch: {"mask": np.full((4, 32, 32, 1), 0.5, np.float32)}
    )

    with pytest.raises(export.ExportParityError, match="differs from the Keras model"):
        export.export_folder(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["segmenter.keras"]


def test_a_model_without_the_preprocessing_layer_is_refused(tmp_path):
    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, keras.layers.Conv2D(1, 1)(inputs)).save(tmp_path / "segmenter.keras")
    with pytest.raises(ValueError, match=PREPROCESS_LAYER):
        export.export_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no \.keras model"):
        export.export_folder(tmp_path / "empty")


def test_a_promoted_model_takes_its_export_along(exported, tmp_path):
    source_card = read_card(exported)
    target_card = {
        EXPORTS_KEY: {"segmenter.keras": {"file": "stale.onnx"}, "other.keras": {"file": "o.onnx"}}
    }

    export.copy_export("segmenter.keras", exported, source_card, tmp_path, target_card)
    assert target_card[EXPORTS_KEY]["segmenter.keras"] == source_card[EXPORTS_KEY]["segmenter.keras"]
    assert sha256(tmp_path / "segmenter.onnx") == source_card[EXPORTS_KEY]["segmenter.keras"]["sha256"]

    export.copy_export("segmenter.keras", tmp_path / "nothing", {}, tmp_path, target_card)
    assert set(target_card[EXPORTS_KEY]) == {"other.keras"}, "no export: the stale entry goes"
