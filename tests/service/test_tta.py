"""MRI_TTA and the model card's "tta": every model call of the service runs the chosen test-time augmentation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from contract.spec import CARD_FILE, JOINT_FILE
from contract.tta import TTA_KEY
from service.inference import load_models
from service.main import create_app
from service.settings import Settings
from tests.service import samples
from tests.service.apps import started
from tests.tiny_models import build_random_joint


@pytest.fixture(scope="module")
def asymmetric(tmp_path_factory):
    """A joint model with random weights (not mirror-symmetric), served by the Keras runtime."""
    return build_random_joint(tmp_path_factory.mktemp("asymmetric"))


def _load(folder, **settings):
    return load_models(
        Settings(models_dir=folder, runtime="keras", intra_op_threads=1, batching=False, **settings)
    )


def test_flip_serves_the_mean_of_the_answers_to_the_slice_and_its_mirror(asymmetric):
    plain, flip = _load(asymmetric), _load(asymmetric, tta="flip")
    batch = plain.classifier.prepare(
        [samples.positive_image(), samples.flair_image(samples.square_mask(32, 2, 3, 9))]
    )
    once, mirror = (
        plain.files[JOINT_FILE].call_model(batch),
        plain.files[JOINT_FILE].call_model(batch[:, :, ::-1]),
    )

    got = flip.files[JOINT_FILE].call_model(batch)

    np.testing.assert_allclose(
        got["tumour_probability"], (once["tumour_probability"] + mirror["tumour_probability"]) / 2, atol=1e-6
    )
    np.testing.assert_allclose(got["mask"], (once["mask"] + mirror["mask"][:, :, ::-1]) / 2, atol=1e-6)
    assert np.abs(got["mask"] - once["mask"]).max() > 1e-5, "a model that is not symmetric: the answer moves"
    assert (plain.tta, plain.tta_source, flip.tta, flip.tta_source) == ("none", "card", "flip", "setting")


def test_the_card_decides_unless_the_setting_does(asymmetric, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(asymmetric, folder)
    card = json.loads((folder / CARD_FILE).read_text())
    (folder / CARD_FILE).write_text(json.dumps({**card, TTA_KEY: "flip"}))

    assert _load(folder).tta == "flip" and _load(folder, tta="none").tta == "none"
    with started(create_app(Settings(models_dir=folder, runtime="keras", intra_op_threads=1))) as client:
        listed = client.get("/v2/models").json()
    assert (listed["tta"], listed["tta_source"]) == ("flip", "card")

    (folder / CARD_FILE).write_text(json.dumps({**card, TTA_KEY: "rotate"}))
    with pytest.raises(ValueError, match="tta"):
        _load(folder)
