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
#      evaluation again.
# Usage: bash scripts/train_cpu.sh [DATA_DIR]   (default ../shared/data/lgg/kaggle_3m)
# On a GPU, drop the budgets and train longer at 256x256 (README: Training on a GPU with JAX).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/lgg/kaggle_3m}
PY=${PYTHON:-python}
SIZE=128
$PY -m training train classifier --data "$DATA" --image-size $SIZE --epochs 30 --batch-size 32 \
  --patience 6 --max-minutes 15 --quiet
for loss in focal_tversky dice_bce; do
  mkdir -p runs/compare/$loss && cp models/split.json runs/compare/$loss/
  $PY -m training train segmenter --data "$DATA" --image-size $SIZE --loss $loss --epochs 100 \
    --max-minutes 10 --out runs/compare/$loss --runs runs/compare/$loss --quiet
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
  --init-weights runs/compare/$best/segmenter.keras --max-minutes 35 --quiet
cp models/classifier.keras runs/classifier/first.keras && cp models/model_card.json runs/classifier/
$PY -m training train classifier --data "$DATA" --image-size $SIZE --epochs 30 --batch-size 32 \
  --patience 6 --warmup-epochs 0 --learning-rate 0.0005 --init-weights runs/classifier/first.keras \
  --max-minutes 20 --quiet
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
