"""The served ensemble: members averaged in one model (flip test-time augmentation is the card's, not the file's)."""

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


def test_bad_arguments_are_refused_early(members):
    with pytest.raises(ValueError, match="at least one member"):
        build_ensemble([])
    with pytest.raises(ValueError, match="different inputs"):
        build_ensemble([members[0], build_joint(image_size=16, base_filters=4)])


def test_an_ensemble_exports_to_onnx_with_the_same_answers(members, tmp_path):
    from training.ensemble import save_compact
    from training.export import export_model

    save_compact(build_ensemble(members), tmp_path / "joint.keras")
    entry = export_model(tmp_path / "joint.keras", weights="float16")  # refuses an export that differs
    assert (tmp_path / entry["file"]).stat().st_size > 0
