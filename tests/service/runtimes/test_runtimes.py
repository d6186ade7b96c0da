"""Each runtime behind the one interface: named outputs, joint models, GPU never faked, missing packages."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from pydantic import ValidationError

from contract.spec import JOINT_FILE, read_card
from service.devices import NoGPUError
from service.inference import load_models, model_file
from service.main import create_app
from service.runtimes import RUNTIMES, RuntimeUnavailable, get_runtime
from service.settings import Settings
from tests.service import samples
from tests.service.apps import started
from tests.service.runtimes.conftest import max_difference
from training.export import export_folder
from training.models import build_joint

BATCH = np.stack(
    [
        samples.positive_image(32),
        samples.negative_image(32),
        samples.flair_image(samples.square_mask(32, 3, 5, 12)),
    ]
).astype(np.float32)


def _load(models_dir, filename: str, name: str):
    runtime = get_runtime(name, threads=1)
    return runtime.load(model_file(models_dir, filename, read_card(models_dir), runtime.model_format)[0])


@pytest.mark.parametrize("name", RUNTIMES)
def test_every_runtime_answers_named_outputs_equal_to_keras(models_dir, name):
    reference, model = _load(models_dir, JOINT_FILE, "keras"), _load(models_dir, JOINT_FILE, name)
    expected, actual = reference.run(BATCH), model.run(BATCH)

    assert model.output_names == reference.output_names and set(actual) == set(expected)
    assert model.input_size == reference.input_size == 32
    for output, value in expected.items():
        assert actual[output].shape == value.shape and actual[output].dtype == np.float32
        assert max_difference(value, actual[output]) <= 1e-4


@pytest.fixture(scope="module")
def joint_dir(tmp_path_factory):
    """One joint network (outputs mask and tumour_probability) serving as both classifier and segmenter."""
    folder = tmp_path_factory.mktemp("joint")
    build_joint(32, base_filters=4).save(folder / JOINT_FILE)
    export_folder(folder)
    return folder


@pytest.mark.parametrize("name", RUNTIMES)
def test_a_joint_model_serves_each_role_its_named_output(joint_dir, name):
    model = _load(joint_dir, JOINT_FILE, name)
    assert set(model.output_names) == {"mask", "tumour_probability"}

    loaded = load_models(Settings(models_dir=joint_dir, runtime=name, batching=False))
    batch = loaded.classifier.prepare([samples.positive_image(32)] * 2)

    assert loaded.classifier.output == "tumour_probability" and loaded.segmenter.output == "mask"
    assert loaded.classifier.predict(batch).shape == (2, 1)
    assert loaded.segmenter.predict(batch).shape == (2, 32, 32, 1)
    np.testing.assert_allclose(
        loaded.classifier.predict(batch), model.run(batch)["tumour_probability"], atol=1e-6
    )


@pytest.mark.parametrize("name", RUNTIMES)
def test_require_gpu_never_falls_back_to_the_cpu(models_dir, name):
    runtime = get_runtime(name)
    if any(d.type == "GPU" for d in runtime.devices()):
        pytest.skip("this machine has a GPU")
    path = model_file(models_dir, JOINT_FILE, read_card(models_dir), runtime.model_format)[0]
    with pytest.raises(NoGPUError, match="MRI_REQUIRE_GPU"):
        runtime.load(path, require_gpu=True)


@pytest.mark.parametrize(
    ("name", "package", "needs"),
    [
        ("keras", "keras", "keras and TensorFlow"),
        ("onnxruntime", "onnxruntime", "onnxruntime package"),
        ("openvino", "openvino", "openvino package"),
    ],
)
def test_a_runtime_whose_package_is_missing_fails_the_load_saying_so(
    monkeypatch, models_dir, name, package, needs
):
    monkeypatch.setitem(sys.modules, package, None)  # import of the package now fails: not installed
    with pytest.raises(RuntimeUnavailable, match=needs):
        get_runtime(name)
    app = create_app(Settings(models_dir=models_dir, runtime=name))
    with pytest.raises(AssertionError, match="RuntimeUnavailable"), started(app):
        pass


def test_runtime_and_threads_are_settings(monkeypatch):
    monkeypatch.setenv("MRI_RUNTIME", "openvino")
    monkeypatch.setenv("MRI_INTRA_OP_THREADS", "1")
    settings = Settings()
    assert settings.runtime == "openvino" and settings.intra_op_threads == 1
    assert get_runtime(settings.runtime, settings.intra_op_threads).threads == 1
    for bad in ({"runtime": "torch"}, {"intra_op_threads": -1}):
        with pytest.raises(ValidationError):
            Settings(**bad)
    with pytest.raises(ValueError, match="unknown runtime"):
        get_runtime("torch")
