#!/usr/bin/env bash
# The CPU training run that produced the bundled models (2 cores, no GPU), step by step:
#   1. the classifier at 128x128 (15-minute budget);
#   2. the segmenter's two losses, focal Tversky and Dice + BCE, each for the same 10-minute budget;
#   3. the loss with the better validation Dice trained on from its weights (35-minute budget);
#   4. the classifier trained on from its weights (20-minute budget);
#   5. evaluation on the test patients (thresholds chosen on validation);
#   6. a second session: both trained on from the stage-1 weights with the FLAIR-only augmentation
#      added (a fifth of the slices shown as FLAIR repeated, as the service reads grey and DICOM
#      uploads): the segmenter for 55 minutes with half of the healthy slices drawn each epoch
#      instead of 0.3 (fewer masks on healthy slices), then the classifier for 25 minutes, then
#      evaluation again;
#   7. the classifier architecture comparison: the ResUNet-encoder classifier (encoder weights from
#      the stage-2 segmenter, 20-minute budget) against the compact one, evaluated alike; the one
#      with the better validation accuracy (then ROC AUC) stays the default, and the comparison
#      goes into the model card (models/classifier_comparison.json);
#   8. the segmenter trained on once more from its weights (learning rate 0.0003, 30-minute budget)
#      into runs/stage4; it replaces the bundled one only if its validation mean per-patient Dice is
#      higher (it was: 0.828 against 0.824), then evaluation again.
# Usage: bash scripts/train_cpu.sh [DATA_DIR]   (default ../shared/data/lgg/kaggle_3m)
# Stage 1 (steps 1-5) ran before the FLAIR-only augmentation existed: it is switched off there.
# On a GPU, drop the budgets and train longer at 256x256 (README: Training on a GPU with JAX).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/lgg/kaggle_3m}
PY=${PYTHON:-python}
SIZE=128
$PY -m training train classifier --data "$DATA" --image-size $SIZE --epochs 30 --batch-size 32 \
  --patience 6 --max-minutes 15 --augment flair_only=0 --quiet
for loss in focal_tversky dice_bce; do
  mkdir -p runs/compare/$loss && cp models/split.json runs/compare/$loss/
  $PY -m training train segmenter --data "$DATA" --image-size $SIZE --loss $loss --epochs 100 \
    --max-minutes 10 --out runs/compare/$loss --runs runs/compare/$loss --augment flair_only=0 --quiet
done
best=$($PY - <<'PY'
import json
runs = {loss: json.load(open(f"runs/compare/{loss}/model_card.json"))["models"]["segmenter"]["training"]
        for loss in ("focal_tversky", "dice_bce")}
summary = {loss: {"budget_minutes": 10, "epochs_run": t["epochs_run"],
                  "best_validation_soft_dice": t["best_monitor_value"]} for loss, t in runs.items()}
winner = max(summary, key=lambda loss: summary[loss]["best_validation_soft_dice"])
json.dump({"runs": summary, "winner": winner}, open("models/loss_comparison.json", "w"), indent=2)
print(winner)
PY
)
echo "loss comparison (best validation soft Dice after 10 minutes each): winner $best"
$PY -m training train segmenter --data "$DATA" --image-size $SIZE --loss "$best" --epochs 100 --patience 8 \
  --init-weights runs/compare/$best/segmenter.keras --max-minutes 35 --augment flair_only=0 --quiet
cp models/classifier.keras runs/classifier/first.keras && cp models/model_card.json runs/classifier/
$PY -m training train classifier --data "$DATA" --image-size $SIZE --epochs 30 --batch-size 32 \
  --patience 6 --warmup-epochs 0 --learning-rate 0.0005 --init-weights runs/classifier/first.keras \
  --max-minutes 20 --augment flair_only=0 --quiet
$PY -m training evaluate --data "$DATA"
# Stage 2 (a later session): train both on from the weights of stage 1, kept in runs/stage1/.
mkdir -p runs/stage1 && cp models/*.keras models/model_card.json runs/stage1/
$PY -m training train segmenter --data "$DATA" --image-size $SIZE --loss "$best" --epochs 100 --patience 8 \
  --warmup-epochs 0 --learning-rate 0.0005 --healthy-fraction 0.5 \
  --init-weights runs/stage1/segmenter.keras --max-minutes 55 --quiet
$PY -m training train classifier --data "$DATA" --image-size $SIZE --epochs 30 --batch-size 32 \
  --patience 6 --warmup-epochs 0 --learning-rate 0.0002 --init-weights runs/stage1/classifier.keras \
  --max-minutes 25 --quiet
$PY -m training evaluate --data "$DATA"
# Stage 3: the classifier architecture comparison, decided on the validation patients.
mkdir -p runs/encoder_clf && cp models/split.json models/segmenter.keras runs/encoder_clf/
$PY -m training train classifier --data "$DATA" --image-size $SIZE --architecture resunet_encoder \
  --weights runs/encoder_clf/segmenter.keras --epochs 40 --batch-size 32 --learning-rate 0.0005 --patience 8 \
  --max-minutes 20 --out runs/encoder_clf --runs runs/encoder_clf --quiet
$PY -m training evaluate --data "$DATA" --models runs/encoder_clf --reports runs/encoder_clf/reports
$PY - <<'PY'
import json
import shutil
cards = {"compact": "models/model_card.json", "resunet_encoder": "runs/encoder_clf/model_card.json"}
runs = {}
for name, path in cards.items():
    entry = json.load(open(path))["models"]["classifier"]
    runs[name] = {"parameters": entry["parameters"], "epochs_run": entry["training"]["epochs_run"],
                  **{part: {k: entry["metrics"][part][k] for k in ("threshold", "accuracy", "roc_auc")}
                     for part in ("validation", "test")}}
winner = max(runs, key=lambda n: (runs[n]["validation"]["accuracy"], runs[n]["validation"]["roc_auc"]))
json.dump({"rule": "better validation accuracy, then validation ROC AUC", "runs": runs, "winner": winner},
          open("models/classifier_comparison.json", "w"), indent=2)
print("classifier comparison: winner", winner)
if winner != "compact":  # the default becomes the winner: its file and its card entry
    shutil.copy("runs/encoder_clf/classifier.keras", "models/classifier.keras")
    card = json.load(open(cards["compact"]))
    card["models"]["classifier"] = json.load(open(cards[winner]))["models"]["classifier"]
    json.dump(card, open(cards["compact"], "w"), indent=2, sort_keys=True)
PY
$PY -m training evaluate --data "$DATA"
# Stage 4: one more segmenter run from the bundled weights, kept only if validation says so.
mkdir -p runs/stage4_init runs/stage4 && cp models/segmenter.keras models/model_card.json runs/stage4_init/
cp models/split.json models/classifier.keras runs/stage4/
$PY -m training train segmenter --data "$DATA" --image-size $SIZE --loss "$best" --epochs 100 --patience 8 \
  --warmup-epochs 0 --learning-rate 0.0003 --healthy-fraction 0.5 --init-weights runs/stage4_init/segmenter.keras \
  --max-minutes 30 --out runs/stage4 --runs runs/stage4 --quiet
$PY -m training evaluate --data "$DATA" --models runs/stage4 --reports runs/stage4/reports
$PY - <<'PY'
import json
import shutil
new, old = (json.load(open(f"{d}/model_card.json"))["models"]["segmenter"] for d in ("runs/stage4", "models"))
dice = {name: e["metrics"]["validation"]["patient_dice_mean"] for name, e in (("new", new), ("bundled", old))}
print("validation mean per-patient Dice:", dice)
if dice["new"] > dice["bundled"]:
    shutil.copy("runs/stage4/segmenter.keras", "models/segmenter.keras")
    card = json.load(open("models/model_card.json"))
    card["models"]["segmenter"] = new
    json.dump(card, open("models/model_card.json", "w"), indent=2, sort_keys=True)
PY
$PY -m training evaluate --data "$DATA"

