"""The promotion gate on real slices: a worse candidate is refused and changes nothing served; one that
is not worse replaces the served folder, its record in the card."""

import json
from pathlib import Path

import pytest

from contract import CARD_FILE, JOINT_FILE, file_version, read_card
from tests.tiny_models import BRAIN, Rule, build_tiny_models
from training.__main__ import main
from training.promote import RULES, decide

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lgg" / "kaggle_3m"
PATIENTS = ["TCGA_CS_4942", "TCGA_FG_7634", "TCGA_HT_7605"]


def _folder(path: Path, rule: Rule) -> Path:
    build_tiny_models(path, size=64, rule=rule)
    card = json.loads((path / CARD_FILE).read_text())
    card["split"] = {"patients": {"train": [], "validation": [], "test": PATIENTS}}
    card["models"]["classifier"]["threshold"] = (
        1.0  # the tiny rule calls every brain slice tumour: none passes
    )
    (path / CARD_FILE).write_text(json.dumps(card))
    return path


@pytest.fixture
def served(tmp_path):
    return _folder(tmp_path / "served", BRAIN)


def _promote(candidate: Path, served: Path) -> int:
    return main(["promote", str(candidate), "--served", str(served), "--data", str(FIXTURES)])


def test_a_worse_candidate_is_refused_and_nothing_served_changes(served, tmp_path):
    worse = _folder(tmp_path / "worse", Rule(cutoff=0.9, pooling="max"))  # masks only the brightest pixels
    before = file_version(served / JOINT_FILE)

    assert _promote(worse, served) == 4

    record = read_card(worse)["promotion"]
    assert not record["promoted"] and any("Dice" in rule for rule in record["broken_rules"])
    three = record["comparison"]["three"]["patient_dice_mean"]
    assert three["difference"]["value"] < 0 and three["patients"] == 3
    assert three["difference"]["low"] <= three["difference"]["value"] <= three["difference"]["high"]
    assert set(record["comparison"]) == {"three", "flair"}
    assert file_version(served / JOINT_FILE) == before and "promotion" not in read_card(served)


def test_a_candidate_that_is_not_worse_replaces_the_served_folder(served, tmp_path):
    same = _folder(tmp_path / "same", BRAIN)
    card = json.loads((same / CARD_FILE).read_text())
    card["models"]["classifier"]["name"] = "candidate-classifier"
    (same / CARD_FILE).write_text(json.dumps(card))

    assert _promote(same, served) == 0

    record = read_card(served)["promotion"]
    assert record["promoted"] and record["broken_rules"] == []
    assert record["comparison"]["three"]["patient_dice_mean"]["difference"]["value"] == 0.0
    assert read_card(served)["models"]["classifier"]["name"] == "candidate-classifier"
    assert (served / "joint.onnx").exists()


def test_a_candidate_split_with_other_test_patients_cannot_be_compared(served, tmp_path):
    other = _folder(tmp_path / "other", BRAIN)
    card = json.loads((other / CARD_FILE).read_text())
    card["split"]["patients"]["test"] = PATIENTS[:2]
    (other / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ValueError, match="other test patients"):
        _promote(other, served)


def test_each_rule_refuses_on_its_own():
    def comparison(three=0.0, flair=0.0, auc=(0.98, 0.98), masked=0.01):
        part = {
            "patient_dice_mean": {"difference": {"value": three}},
            "roc_auc": {"candidate": auc[0], "served": auc[1]},
            "healthy_masked": {"candidate": masked},
        }
        return {"three": part, "flair": {"patient_dice_mean": {"difference": {"value": flair}}}}

    assert decide(comparison()) == []
    assert len(decide(comparison(three=-0.001))) == 1 and len(decide(comparison(flair=-0.001))) == 1
    assert decide(comparison(auc=(0.974, 0.98))) and not decide(comparison(auc=(0.9751, 0.98)))
    assert decide(comparison(masked=RULES["healthy_masked_max"] + 0.001))


def test_a_candidate_worse_on_any_headline_figure_is_refused():
    """Mean Dice not lower, but the worst patient, /volume or accuracy worse: each alone refuses."""

    def worst(candidate, served):
        return {"candidate": {"dice": candidate, "patient": "A"}, "served": {"dice": served, "patient": "A"}}

    def comparison(worst_three=(0.5, 0.5), volume=(0.8, 0.8), accuracy=(0.94, 0.94)):
        three = {
            "patient_dice_mean": {"difference": {"value": 0.01}},
            "worst_patient": worst(*worst_three),
            "roc_auc": {"candidate": 0.98, "served": 0.98},
            "accuracy": {"candidate": accuracy[0], "served": accuracy[1]},
            "healthy_masked": {"candidate": 0.01},
        }
        flair = {"patient_dice_mean": {"difference": {"value": 0.01}}, "worst_patient": worst(0.3, 0.3)}
        return {
            "three": three,
            "flair": flair,
            "volume": {"candidate": {"three": volume[0]}, "served": {"three": volume[1]}},
        }

    assert decide(comparison()) == []
    assert "worst patient" in decide(comparison(worst_three=(0.42, 0.47)))[0]
    assert "/volume three" in decide(comparison(volume=(0.811, 0.816)))[0]
    assert "accuracy" in decide(comparison(accuracy=(0.93, 0.94)))[0]
    assert decide(comparison(accuracy=(0.936, 0.94))) == []  # within the 0.005 it may drop
