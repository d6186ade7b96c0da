#!/usr/bin/env bash
# The latest training stretch behind the bundled models, on the CPU: the joint model (the ResUNet
# with a classification head on its bottleneck) trained on from the served segmenter's weights,
# evaluated, and promoted model by model by the declared rule of `python -m training select`.
# The runs before it are recorded in the model card (`continued_from` of each model).
#
# Usage: bash scripts/train_cpu.sh [DATA_DIR] [MAX_MINUTES] [STAGE]
#   DATA_DIR     default ../shared/data/lgg/kaggle_3m
#   MAX_MINUTES  budget of this stretch (default 95); run it again to continue the same run
#                (--resume) until its epochs are done, then it evaluates and selects.
#   STAGE        128 (default: 128 px, 14 epochs at 5e-4 from the served segmenter);
#                256 (256 px, 12 epochs at 3e-4 from the best weights of the 128 run; the run behind
#                the model card was stopped by a 55-minute budget after 11 epochs);
#                256b (256 px, a second cosine cycle: 16 epochs at 2e-4 from the best weights of
#                the 256 run);
#                128b (128 px, a second cosine cycle: 12 epochs at 2.5e-4 from the best weights
#                of the 128 run);
#                128-no-upload-aug (an ablation, promotes nothing: the 128 recipe from the same
#                starting weights, the segmenter committed at c20ee6f, without the upload
#                augmentation, i.e. --augment windowed=0 --augment flair_only=0; recorded against
#                the 128 run with `python -m training compare`).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/lgg/kaggle_3m}
MINUTES=${2:-95}
STAGE=${3:-128}
PY=${PYTHON:-python}
RUN=runs/joint$STAGE
case "$STAGE" in
  128) RECIPE=(--image-size 128 --epochs 14 --learning-rate 0.0005 --init-weights models/segmenter.keras) ;;
  256) RECIPE=(--image-size 256 --epochs 12 --learning-rate 0.0003
               --init-weights runs/joint128/joint/best_segmenter.weights.h5) ;;
  256b) RECIPE=(--image-size 256 --epochs 16 --learning-rate 0.0002
                --init-weights runs/joint256/joint/best_segmenter.weights.h5) ;;
  128b) RECIPE=(--image-size 128 --epochs 12 --learning-rate 0.00025
                --init-weights runs/joint128/joint/best_segmenter.weights.h5) ;;
  128-no-upload-aug)
    mkdir -p runs/init && git show c20ee6f:models/segmenter.keras > runs/init/segmenter-c20ee6f.keras
    RECIPE=(--image-size 128 --epochs 14 --learning-rate 0.0005 --init-weights runs/init/segmenter-c20ee6f.keras
            --augment windowed=0 --augment flair_only=0) ;;
  *) echo "unknown stage $STAGE (128, 128b, 256, 256b or 128-no-upload-aug)"; exit 2 ;;
esac
if [ -f "$RUN/joint/state.json" ]; then
  $PY -m training train --resume "$RUN/joint" --max-minutes "$MINUTES" --quiet
else
  mkdir -p "$RUN/models" && cp models/split.json "$RUN/models/"
  $PY -m training train joint --data "$DATA" "${RECIPE[@]}" \
    --warmup-epochs 1 --batch-size 16 --healthy-fraction 0.5 \
    --out "$RUN/models" --runs "$RUN" --max-minutes "$MINUTES" --quiet
fi
$PY - "$RUN/joint/state.json" <<'PY' || { echo "the run has epochs left: run this script again"; exit 0; }
import json, sys
state = json.load(open(sys.argv[1]))
config = json.load(open(sys.argv[1].replace("state.json", "config.json")))
sys.exit(0 if state["epochs_done"] >= config["epochs"] else 1)
PY
$PY -m training evaluate --data "$DATA" --models "$RUN/models" --reports "$RUN/reports"
if [ "$STAGE" = 128-no-upload-aug ]; then
  $PY -m training compare --baseline runs/joint128/models --variant "$RUN/models" \
    --change "upload augmentation off (windowed 0, flair_only 0; default 0.2 each)"
  exit 0
fi
$PY -m training evaluate --data "$DATA"
$PY -m training select --candidate "$RUN/models"
$PY -m training evaluate --data "$DATA"
