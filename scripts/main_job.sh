#!/usr/bin/env bash
# README command 1: set up .venv, generate the synthetic data set, train the tiny CPU teacher,
# evaluate it, and spot text in a few validation images. Re-running reuses what exists
# (data, the final checkpoint) and only re-evaluates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

PY=.venv/bin/python
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
export DLD_DATASETS=${DLD_DATASETS:-datasets}
CONFIG=${CONFIG:-configs/synth/teacher_tiny.yaml}
OUT=${OUT:-output/teacher_tiny}
NUM_TRAIN=${NUM_TRAIN:-2000}
NUM_VAL=${NUM_VAL:-100}
start=$(date +%s)

echo "== 1/3 synthetic data set ($NUM_TRAIN train / $NUM_VAL val images) in $DLD_DATASETS/synth"
$PY -m dld_spotter.data.synth --out "$DLD_DATASETS/synth" --num-train "$NUM_TRAIN" \
    --num-val "$NUM_VAL" --seed 0

echo "== 2/3 train and evaluate the tiny teacher ($CONFIG) -> $OUT"
$PY projects/DLD/train_net.py --config-file "$CONFIG" --resume OUTPUT_DIR "$OUT" "$@"

echo "== 3/3 demo on 4 validation images -> $OUT/demo"
mapfile -t images < <(ls "$DLD_DATASETS"/synth/val/* | head -n 4)
$PY projects/DLD/demo.py --config-file "$CONFIG" --input "${images[@]}" --output "$OUT/demo" \
    --opts MODEL.WEIGHTS "$OUT/model_final.pth" "$@"

echo
echo "Done in $(( $(date +%s) - start )) s."
echo "  metrics:     $OUT/inference/synth_val/text_results.json"
echo "  predictions: $OUT/inference/synth_val/text_predictions.json"
echo "  drawings:    $OUT/demo/"
echo "  checkpoint:  $OUT/model_final.pth   (training log: $OUT/log.txt)"
$PY - "$OUT/inference/synth_val" <<'PYEOF'
import json, os, sys
folder = sys.argv[1]
m = json.load(open(os.path.join(folder, "text_results.json")))["metrics"]
print(f"  synth_val: detection H-mean {m['det_hmean']:.1f} (P {m['det_precision']:.1f}, "
      f"R {m['det_recall']:.1f}); end-to-end H-mean {m['e2e_hmean']:.1f} "
      f"(P {m['e2e_precision']:.1f}, R {m['e2e_recall']:.1f})")
extra = os.path.join(folder, "model_metrics.json")
if os.path.isfile(extra):
    mm = json.load(open(extra))
    cost, rec = mm.get("cost", {}), mm.get("recognition", {})
    if cost:
        print(f"  cost: {cost.get('gflops', float('nan')):.2f} GFLOPs/image, "
              f"{cost.get('fps', float('nan')):.2f} images/s")
    if rec:
        print(f"  recognition on ground-truth boxes: {rec['rec_accuracy']:.1f}% word accuracy")
PYEOF
