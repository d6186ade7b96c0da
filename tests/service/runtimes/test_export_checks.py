"""An ONNX export is served only when it is the card's file, from the .keras beside it, and at parity."""

from __future__ import annotations

import json
import shutil

import pytest

from contract.exports import EXPORTS_KEY, exported_file, sha256
from contract.spec import CARD_FILE, JOINT_FILE, file_version
from service.inference import ExportMismatch, load_models
from service.main import create_app
from service.settings import Settings
from tests.service.apps import started
from tests.tiny_models import BRAIN, build_tiny_models

ONNX_RUNTIMES = ("onnxruntime", "openvino")


@pytest.fixture
def folder(tmp_path, models_dir):
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    return copy


def _other_model(folder):
    """A model with the tiny one's input and output names and shapes but another rule (weights)."""
    return build_tiny_models(folder, rule=BRAIN)


def _card(folder) -> dict:
    return json.loads((folder / CARD_FILE).read_text())


@pytest.mark.parametrize("runtime", ONNX_RUNTIMES)
def test_an_export_of_another_model_is_refused_by_the_probe(folder, tmp_path, runtime):
    other = _other_model(tmp_path / "other")  # same input and output, other weights
    onnx_name = exported_file(JOINT_FILE)
    shutil.copy(other / onnx_name, folder / onnx_name)
    card = _card(folder)
    entry = card[EXPORTS_KEY][JOINT_FILE]
    entry.update(sha256=sha256(folder / onnx_name))  # the card names the file: only the answers differ
    (folder / CARD_FILE).write_text(json.dumps(card))

    with pytest.raises(ExportMismatch, match=r"joint.onnx refused .*differ from the Keras model's"):
        load_models(Settings(models_dir=folder, runtime=runtime))
    app = create_app(Settings(models_dir=folder, runtime=runtime))
    with pytest.raises(AssertionError, match="ExportMismatch"), started(app):
        pass


def test_a_changed_onnx_file_is_refused(folder):
    with open(folder / exported_file(JOINT_FILE), "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ExportMismatch, match="SHA-256"):
        load_models(Settings(models_dir=folder, runtime="onnxruntime"))


def test_an_export_of_an_older_keras_file_is_refused(folder, tmp_path):
    newer = build_tiny_models(tmp_path / "newer", size=48, card={})
    shutil.copy(newer / JOINT_FILE, folder / JOINT_FILE)
    with pytest.raises(
        ExportMismatch, match=f"exported from another {JOINT_FILE}.*python -m training export"
    ):
        load_models(Settings(models_dir=folder, runtime="onnxruntime"))
    assert file_version(folder / JOINT_FILE) != _card(folder)[EXPORTS_KEY][JOINT_FILE]["source_version"]


def test_keras_files_without_an_export_say_how_to_make_one(folder):
    card = _card(folder)
    del card[EXPORTS_KEY]
    (folder / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ExportMismatch, match=r"names no onnx export.*python -m training export"):
        load_models(Settings(models_dir=folder, runtime="onnxruntime"))
    assert load_models(Settings(models_dir=folder, runtime="keras")).segmenter.output == "mask"


def test_the_onnx_files_serve_without_the_keras_files(folder):
    version = file_version(folder / JOINT_FILE)
    (folder / JOINT_FILE).unlink()
    loaded = load_models(Settings(models_dir=folder, runtime="onnxruntime"))
    assert loaded.segmenter.version == version, "the version stays the .keras file's"
    assert loaded.segmenter.path.name == exported_file(JOINT_FILE)
