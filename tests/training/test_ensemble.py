"""The served ensemble: members averaged in one model, flip test-time augmentation inside it."""

import keras
import numpy as np
import pytest

from contract import MASK_OUTPUT, PROBABILITY_OUTPUT
from training.ensemble import build_ensemble
from training.models import build_joint


@pytest.fixture(scope="module")
def members():
    keras.utils.set_random_seed(0)
    return [build_joint(image_size=32, base_filters=4) for _ in range(2)]


def _x():
    return np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")


def test_the_ensemble_answers_the_mean_of_its_members(members):
    out = build_ensemble(members).predict(_x(), verbose=0)
    each = [m.predict(_x(), verbose=0) for m in members]
    for key in (MASK_OUTPUT, PROBABILITY_OUTPUT):
        np.testing.assert_allclose(out[key], (each[0][key] + each[1][key]) / 2, atol=1e-5)


def test_flip_tta_averages_each_member_with_its_mirrored_prediction_mirrored_back(members):
    x = _x()
    out = build_ensemble(members, tta="flip").predict(x, verbose=0)
    passes = [m.predict(x, verbose=0) for m in members]
    mirrored = [m.predict(x[:, :, ::-1], verbose=0) for m in members]
    mask = np.mean([p[MASK_OUTPUT] for p in passes] + [p[MASK_OUTPUT][:, :, ::-1] for p in mirrored], axis=0)
    prob = np.mean([p[PROBABILITY_OUTPUT] for p in passes + mirrored], axis=0)
    np.testing.assert_allclose(out[MASK_OUTPUT], mask, atol=1e-5)
    np.testing.assert_allclose(out[PROBABILITY_OUTPUT], prob, atol=1e-5)


def test_bad_arguments_are_refused_early(members):
    with pytest.raises(ValueError, match="at least one member"):
        build_ensemble([])
    with pytest.raises(ValueError, match="tta"):
        build_ensemble(members, tta="rotate")


def test_a_flip_ensemble_exports_to_onnx_with_the_same_answers(members, tmp_path):
    from training.ensemble import save_compact
    from training.export import export_model

    save_compact(build_ensemble(members[:1], tta="flip"), tmp_path / "joint.keras")
    entry = export_model(tmp_path / "joint.keras", weights="float16")  # refuses an export that differs
    assert (tmp_path / entry["file"]).stat().st_size > 0
