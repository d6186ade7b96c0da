#!/usr/bin/env bash
# The CPU training run that produced the bundled models (2 cores, no GPU), step by step:
#   1. the classifier at 128x128 (15-minute budget);
#   2. the segmenter's two losses, focal Tversky and Dice + BCE, each for the same 10-minute budget;
#   3. the loss with the better validation Dice trained on from its weights (45-minute budget);
#   4. evaluation on the test patients (thresholds chosen on validation).
# Usage: bash scripts/train_cpu.sh [DATA_DIR]   (default ../shared/data/lgg/kaggle_3m)
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
scores = {loss: json.load(open(f"runs/compare/{loss}/model_card.json"))["models"]["segmenter"]["training"]["best_monitor_value"]
          for loss in ("focal_tversky", "dice_bce")}
print(max(scores, key=scores.get))
PY
)
echo "loss comparison (best validation soft Dice after 10 minutes each): winner $best" | tee runs/compare/winner.txt
$PY -m training train segmenter --data "$DATA" --image-size $SIZE --loss "$best" --epochs 100 --patience 8 \
  --init-weights runs/compare/$best/segmenter.keras --max-minutes 45 --quiet
$PY -m training evaluate --data "$DATA"
