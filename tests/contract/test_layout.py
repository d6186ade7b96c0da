"""The models folder's layout: which file and output answers each role, per input path."""

import pytest

from contract.layout import gate_of, is_joint, layout_files, role_spec

JOINT = {"gate": "mask", "models": {
    "classifier": {"name": "lgg-classifier", "file": "joint.keras", "output_name": "tumour_probability", "threshold": 0.6,
                   "flair": {"file": "flair.keras", "threshold": 0.4}},
    "segmenter": {"name": "lgg-segmenter", "file": "joint.keras", "output_name": "mask", "threshold": 0.5,
                  "postprocess": {"min_component_pixels": 50, "fill_holes": True},
                  "flair": {"file": "flair.keras", "threshold": 0.3, "postprocess": {"min_component_pixels": 10}}}}}


def test_a_joint_folder_answers_both_roles_from_one_file_per_path():
    assert is_joint(JOINT) and layout_files(JOINT) == ["joint.keras", "flair.keras"]
    three, flair = role_spec(JOINT, "segmenter"), role_spec(JOINT, "segmenter", "flair")
    assert (three.file, three.output, three.threshold) == ("joint.keras", "mask", 0.5)
    assert three.postprocess == {"min_component_pixels": 50, "fill_holes": True}
    assert (flair.file, flair.output, flair.threshold) == ("flair.keras", "mask", 0.3)
    assert flair.postprocess == {"min_component_pixels": 10, "fill_holes": False}
    assert role_spec(JOINT, "classifier", "flair").threshold == 0.4
    assert gate_of(JOINT) == "mask"


def test_a_two_model_folder_or_no_card_reads_the_two_files_on_every_path():
    for card in ({}, {"models": {"classifier": {"threshold": 0.7}, "segmenter": {"file": "segmenter.keras"}}}):
        assert not is_joint(card) and layout_files(card) == ["classifier.keras", "segmenter.keras"]
        assert role_spec(card, "classifier", "flair").file == "classifier.keras"
        assert role_spec(card, "classifier").output is None and gate_of(card) == "classifier"
    assert role_spec({"models": {"classifier": {"threshold": 0.7}}}, "classifier", "flair").threshold == 0.7


def test_unknown_roles_paths_and_gates_are_refused():
    with pytest.raises(ValueError):
        role_spec(JOINT, "detector")
    with pytest.raises(ValueError):
        role_spec(JOINT, "segmenter", "t2")
    with pytest.raises(ValueError):
        gate_of({"gate": "always"})
