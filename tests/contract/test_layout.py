"""The models folder's layout: which file and output answers each role, per input path."""

import pytest

from contract.layout import gate_of, layout_files, role_spec, volume_gate_of

JOINT = {
    "gate": "mask",
    "models": {
        "classifier": {
            "name": "lgg-classifier",
            "file": "joint.keras",
            "output_name": "tumour_probability",
            "threshold": 0.6,
            "flair": {"file": "flair.keras", "threshold": 0.4},
        },
        "segmenter": {
            "name": "lgg-segmenter",
            "file": "joint.keras",
            "output_name": "mask",
            "threshold": 0.5,
            "postprocess": {"min_component_pixels": 50, "fill_holes": True},
            "flair": {"file": "flair.keras", "threshold": 0.3, "postprocess": {"min_component_pixels": 10}},
        },
    },
}


def test_a_joint_folder_answers_both_roles_from_one_file_per_path():
    assert layout_files(JOINT) == ["joint.keras", "flair.keras"]
    three, flair = role_spec(JOINT, "segmenter"), role_spec(JOINT, "segmenter", "flair")
    assert (three.file, three.output, three.threshold) == ("joint.keras", "mask", 0.5)
    assert three.postprocess == {"min_component_pixels": 50, "fill_holes": True}
    assert (flair.file, flair.output, flair.threshold) == ("flair.keras", "mask", 0.3)
    assert flair.postprocess == {"min_component_pixels": 10, "fill_holes": False}
    assert role_spec(JOINT, "classifier", "flair").threshold == 0.4
    assert gate_of(JOINT) == volume_gate_of(JOINT) == "mask"
    assert volume_gate_of({**JOINT, "volume_gate": "classifier"}) == "classifier" and gate_of(JOINT) == "mask"
    assert volume_gate_of(JOINT, "both") == gate_of(JOINT, "both") == "both"


def test_no_card_reads_the_joint_file_and_two_files_are_refused():
    for card in ({}, {"models": {"classifier": {"threshold": 0.7}}}):
        assert layout_files(card) == ["joint.keras"]
        assert (role_spec(card, "classifier", "flair").file, role_spec(card, "segmenter").output) == (
            "joint.keras",
            "mask",
        )
        assert gate_of(card) == volume_gate_of(card) == "classifier"
    assert role_spec({"models": {"classifier": {"threshold": 0.7}}}, "classifier", "flair").threshold == 0.7
    two = {"models": {"classifier": {"file": "classifier.keras"}, "segmenter": {"file": "segmenter.keras"}}}
    with pytest.raises(ValueError, match="python -m training wrap"):
        layout_files(two)


def test_unknown_roles_paths_and_gates_are_refused():
    with pytest.raises(ValueError):
        role_spec(JOINT, "detector")
    with pytest.raises(ValueError):
        role_spec(JOINT, "segmenter", "t2")
    with pytest.raises(ValueError):
        gate_of({"gate": "always"})
