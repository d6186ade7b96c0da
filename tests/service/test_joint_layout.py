"""The models folder's layout: one file answers both roles in one pass, a FLAIR-only file answers grey
uploads, and the card's gates decide which slices get a mask (contract/layout.py)."""

from __future__ import annotations

import numpy as np
import pytest

from service.main import create_app
from service.settings import Settings
from tests.service.apps import started
from tests.service.samples import negative_image, png_bytes, positive_image
from tests.tiny_models import build_tiny_joint


def _files(*images: np.ndarray) -> list:
    return [("files", (f"s{i}.png", png_bytes(im), "image/png")) for i, im in enumerate(images)]


@pytest.fixture(scope="module")
def joint_dir(tmp_path_factory):
    return build_tiny_joint(tmp_path_factory.mktemp("joint"), flair_rule=None)


@pytest.mark.parametrize("runtime", ["keras", "onnxruntime"])
def test_one_pass_per_request_answers_both_roles(joint_dir, runtime):
    calls = []
    images = [positive_image(), negative_image(), positive_image(48)]
    with started(create_app(Settings(models_dir=joint_dir, runtime=runtime, batching=False))) as joint:
        models = joint.app.state.models
        assert list(models.files) == ["joint.keras"]
        models.files["joint.keras"].observer = lambda label, n, s: calls.append((label, n))
        got = joint.post("/analyze", files=_files(*images)).json()["results"]
        assert calls == [("joint", 3)]  # one model call for the three slices, both answers
        listed = joint.get("/v2/models").json()
        assert {m["file"] for m in listed["models"]} == {"joint.keras"} and listed["gate"] == "classifier"
        assert {m["output"] for m in listed["models"]} == {"mask", "tumour_probability"}
    assert [g["classification"]["has_tumour"] for g in got] == [True, False, True]
    assert [g["segmentation"] is not None for g in got] == [True, False, True]


def test_a_folder_of_two_files_is_refused_with_the_way_to_wrap_them(joint_dir, tmp_path):
    import json

    from service.inference import load_models

    card = json.loads((joint_dir / "model_card.json").read_text())
    card["models"]["classifier"]["file"] = "classifier.keras"
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="python -m training wrap"):
        load_models(Settings(models_dir=tmp_path, runtime="keras"))


def test_grey_uploads_take_the_flair_path(tmp_path):
    folder = build_tiny_joint(tmp_path / "joint", flair_rule=None, thresholds=(0.5, 0.5))
    with started(create_app(Settings(models_dir=folder, runtime="keras"))) as client:
        grey = png_bytes(positive_image()[..., 1])  # one channel: read as FLAIR only
        answer = client.post("/classify", files={"file": ("g.png", grey, "image/png")}).json()
        assert answer["sequences"] == "FLAIR only" and answer["threshold"] == pytest.approx(0.4)
        colour = client.post(
            "/classify", files={"file": ("c.png", png_bytes(positive_image()), "image/png")}
        ).json()
        assert colour["threshold"] == pytest.approx(0.5)
        listed = client.get("/v2/models").json()["models"]
        assert all(m["flair_only"]["threshold"] == pytest.approx(0.4) for m in listed)


def test_a_flair_file_answers_flair_only_input(tmp_path):
    from tests.tiny_models import BRAIN

    # the FLAIR file pools by the maximum: a small bright square is tumour there, not on the joint file
    folder = build_tiny_joint(tmp_path / "joint", flair_rule=BRAIN)
    small = negative_image()
    with started(create_app(Settings(models_dir=folder, runtime="onnxruntime"))) as client:
        assert set(client.app.state.models.files) == {"joint.keras", "flair.keras"}
        colour = client.post("/classify", files={"file": ("c.png", png_bytes(small), "image/png")}).json()
        grey = client.post(
            "/classify", files={"file": ("g.png", png_bytes(small[..., 1]), "image/png")}
        ).json()
        assert colour["has_tumour"] is False and grey["has_tumour"] is True
        mixed = client.post("/analyze", files=_files(small, small[..., 1])).json()["results"]
        assert [r["classification"]["has_tumour"] for r in mixed] == [False, True]


@pytest.mark.parametrize(("gate", "masked"), [("classifier", False), ("mask", True), ("both", False)])
def test_the_gate_decides_which_slices_get_a_mask(tmp_path, gate, masked):
    folder = build_tiny_joint(tmp_path / gate, flair_rule=None, gate=gate)
    with started(create_app(Settings(models_dir=folder, runtime="keras"))) as client:
        # the classifier calls the small bright square negative, but the segmenter draws it
        answer = client.post(
            "/analyze", files={"file": ("n.png", png_bytes(negative_image()), "image/png")}
        ).json()
        assert answer["classification"]["has_tumour"] is False
        assert (answer["segmentation"] is not None) is masked
        if masked:
            assert answer["segmentation"]["tumour_pixels"] > 0
