"""Cross-validation end to end on the committed real slices: folds, fold training (resumed), packing,
out-of-fold choices and the served ensemble."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from contract import FLAIR_FILE, JOINT_FILE, MASK_OUTPUT, PROBABILITY_OUTPUT, SPLIT_FILE, read_card
from contract.tta import TTA_KEY
from training import lgg
from training.choose import choose
from training.cv import fold_dir, fold_finished, pack_folds, train_folds, unpack_folds
from training.ensemble import write_served
from training.folds import make_folds, write_folds

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lgg" / "kaggle_3m"
TINY = 'model = "joint"\nimage_size = 32\nepochs = 2\nbatch_size = 4\nvalidate_every = 2\n'
TINY_FLAIR = (
    'model = "joint"\nimage_size = 32\nepochs = 1\nbatch_size = 4\n'
    'init_weights = "{runs}/base/fold{fold}/joint.keras"\n[augment]\nflair_only = 1.0\n'
    '[choose]\nflair_members_of = "base"\n'
)


@pytest.fixture(scope="module")
def cv(tmp_path_factory):
    root = tmp_path_factory.mktemp("cv")
    models, runs = root / "models", root / "runs"
    folds = make_folds(lgg.build_index(FIXTURES), test=["TCGA_HT_7605"], k=2)
    write_folds(folds, models)
    (root / "base.toml").write_text(TINY)
    (root / "flair.toml").write_text(TINY_FLAIR)
    # a recipe that would replace base, never trained: weighed only once its folds exist
    (root / "large.toml").write_text(TINY + '[choose]\nreplaces = "base"\nquestion = "input_size"\n')
    first = train_folds(root / "base.toml", str(FIXTURES), models / "folds.json", runs, [0], max_minutes=1e-4)
    rest = train_folds(root / "base.toml", str(FIXTURES), models / "folds.json", runs)
    train_folds(root / "flair.toml", str(FIXTURES), models / "folds.json", runs)
    return {"root": root, "models": models, "runs": runs, "folds": folds, "first": first, "rest": rest}


@pytest.mark.slow
def test_each_fold_trains_without_its_patients_and_resumes_after_a_budget(cv):
    assert cv["first"] == {0: False} and cv["rest"] == {0: True, 1: True}  # stopped after epoch 1, resumed
    for i, held_out in enumerate(cv["folds"]["folds"]):
        path = fold_dir(cv["runs"], "base", i)
        split = json.loads((path / SPLIT_FILE).read_text())["patients"]
        assert split["validation"] == held_out and not set(split["train"]) & set(held_out)
        assert "TCGA_HT_7605" not in split["train"] and fold_finished(path)
        state = json.loads((path / "joint" / "state.json").read_text())
        assert (
            state["epochs_done"] == 2 and len(state["history"]["val_loss"]) == 1
        )  # validated every 2 epochs
        assert read_card(path)["models"]["segmenter"]["training"]["monitor"] == "last epoch"


@pytest.mark.slow
def test_packed_folds_come_back_with_float16_kernels(cv, tmp_path):
    packed = pack_folds(cv["runs"] / "base", tmp_path / "base.npz")
    assert packed == ["fold1", "fold2"]
    assert unpack_folds(tmp_path / "base.npz", tmp_path / "base") == packed
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for name in packed:
        original = keras.saving.load_model(cv["runs"] / "base" / name / JOINT_FILE, compile=False)
        copy = keras.saving.load_model(tmp_path / "base" / name / JOINT_FILE, compile=False)
        a, b = original.predict(x, verbose=0), copy.predict(x, verbose=0)
        np.testing.assert_allclose(a[PROBABILITY_OUTPUT], b[PROBABILITY_OUTPUT], atol=2e-2)
        assert fold_finished(tmp_path / "base" / name)


@pytest.fixture(scope="module")
def served(cv):
    entry = choose(str(FIXTURES), cv["runs"], cv["models"], base="base", recipes_dir=cv["root"])
    return entry, write_served(cv["runs"], cv["models"], members=2, out_dir=cv["models"])


@pytest.mark.slow
def test_choices_on_out_of_fold_predictions_and_the_served_ensemble(cv, served):
    entry, card = served
    assert entry["tta"] in ("none", "flip") and entry["gate"] in ("classifier", "mask", "both")
    assert (
        entry["decisions"]["input_size"]["taken"] is False
        and "no large folds" in entry["decisions"]["input_size"]["note"]
    )
    assert entry["recipes"] == {"three": "base", "flair": entry["recipes"]["flair"]} and entry["recipes"][
        "flair"
    ] in ("base", "flair")
    for path in ("three", "flair"):
        table = entry["paths"][path]["out_of_fold"]
        assert table["patients"] == 2 and table["slices"] == 5  # every development slice, once
        assert (
            table["patient_dice_mean"]["low"]
            <= table["patient_dice_mean"]["value"]
            <= table["patient_dice_mean"]["high"]
        )
    assert (cv["runs"] / "base" / "oof-three-none.npz").exists()

    model = keras.saving.load_model(cv["models"] / JOINT_FILE, compile=False)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    out = model.predict(x, verbose=0)
    members = [
        keras.saving.load_model(cv["runs"] / "base" / f / JOINT_FILE, compile=False).predict(x, verbose=0)
        for f in ("fold1", "fold2")
    ]
    # the file is the mean of the members whatever the tta: the card names the tta, the reader applies it
    np.testing.assert_allclose(
        out[PROBABILITY_OUTPUT],
        (members[0][PROBABILITY_OUTPUT] + members[1][PROBABILITY_OUTPUT]) / 2,
        atol=2e-2,
    )  # weights rounded to float16 precision
    assert out[MASK_OUTPUT].shape == (2, 32, 32, 1)
    entries = card["models"]
    assert (
        entries["classifier"]["output_name"] == PROBABILITY_OUTPUT
        and entries["segmenter"]["output_name"] == MASK_OUTPUT
    )
    assert entries["classifier"]["threshold"] == entry["paths"]["three"]["classifier"]["threshold"]
    assert (entries["segmenter"]["flair"]["file"] == FLAIR_FILE) == (entry["recipes"]["flair"] == "flair")
    assert (
        card["ensemble"]["members"] == 2 and card[TTA_KEY] == entry["tta"] and card["gate"] == entry["gate"]
    )


@pytest.mark.slow
def test_evaluate_scores_the_served_ensemble_on_the_test_patients_once(cv, served, tmp_path):
    from contract import CARD_TEXT_FILE
    from training.evaluate import evaluate, members
    from training.model_tables import figures_markdown

    card = evaluate(str(FIXTURES), cv["models"], tmp_path)
    assert card["evaluation"]["test_patients"] == 1  # TCGA_HT_7605: in no fold
    for role in ("classifier", "segmenter"):
        assert set(card["models"][role]["metrics"]) == {"test", "test_flair_only", "test_windowed"}
    assert card["pipeline"]["gate"] == card["gate"] and set(card["pipeline"]["metrics"]) == {
        "test",
        "test_flair_only",
        "test_windowed",
    }
    assert {k.split("/")[0] for k in card["volume"]["results"]} == {"flair", "three"}
    assert (tmp_path / "roc_test.png").stat().st_size > 1000
    rows = members(str(FIXTURES), cv["runs"], cv["models"], [1, 2])
    assert set(rows) == {"1", "2"} and set(rows["1"]) == {"test", "test_flair_only"}
    text = (cv["models"] / CARD_TEXT_FILE).read_text()
    assert "Intended use" in text and "out of fold" in text
    assert "| 2 (served) |" in figures_markdown(read_card(cv["models"]))
