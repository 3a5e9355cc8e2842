#!/usr/bin/env bash
# The recipe of the tiny segmentation-based spotter (configs/synth/seg_teacher_tiny.yaml), one
# command, resumable (re-running continues the training from its last checkpoint; a finished
# training is skipped):
#   1. fine-tune SegTextSpotter from the shipped tiny teacher on streamed scenes: its backbone
#      and recognizer initialise from dld_spotter://teacher_tiny.pth, the DB-style segmentation
#      head starts from scratch (-> output/seg_teacher_tiny_scenes),
#   2. train its recognizer alone on jittered word crops, backbone and segmentation head frozen
#      (configs/synth/seg_teacher_tiny_recognizer.yaml -> output/seg_teacher_tiny_recognizer),
#   3. evaluate the result on synth_val (-> output/seg_teacher_tiny),
#   4. ship its fp16 weights into the package (dld_spotter/model_zoo/weights/seg_teacher_tiny.pth),
#      once model_zoo.TRAINED names them ("synth/seg_teacher_tiny.yaml": "seg_teacher_tiny.pth").
# Each stage prints one line; its whole output is in train.log (or eval.log) in its output folder;
# VERBOSE=1 shows it all. Extra arguments go to every stage, e.g.
# `bash scripts/train_seg_teacher.sh MODEL.DEVICE cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/_stage.sh

PY=.venv/bin/python
CONFIG=configs/synth/seg_teacher_tiny.yaml
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
export DLD_DATASETS=${DLD_DATASETS:-datasets}
SCENES=${SCENES:-output/seg_teacher_tiny_scenes}
RECOGNIZER=${RECOGNIZER:-output/seg_teacher_tiny_recognizer}
SPOTTER=${SPOTTER:-output/seg_teacher_tiny}
start=$SECONDS

stage "[1/5] synthetic validation set -> $DLD_DATASETS/synth (training streams fresh scenes)" \
    "$DLD_DATASETS/synth/generate.log" "" \
    $PY -m dld_spotter.data.synth --out "$DLD_DATASETS/synth" --num-train 2000 --num-val 100 --seed 0

# The teacher's checkpoint holds an RPN and box/mask heads that this spotter has not:
# --allow-partial (which train_stage cannot pass before the config options) loads the rest.
if [ -f "$SCENES/model_final.pth" ]; then
    echo "[2/5] fine-tune the seg spotter from teacher_tiny.pth -> $SCENES: finished earlier"
else
    stage "[2/5] fine-tune the seg spotter from teacher_tiny.pth -> $SCENES" "$SCENES/train.log" \
        "synth_val_scores $SCENES" \
        $PY projects/DLD/train_net.py --config-file "$CONFIG" --resume --allow-partial \
        OUTPUT_DIR "$SCENES" "$@"
fi

train_stage "[3/5] train its recognizer on jittered word crops -> $RECOGNIZER" \
    configs/synth/seg_teacher_tiny_recognizer.yaml "$RECOGNIZER" "heldout $RECOGNIZER/train.log" \
    MODEL.WEIGHTS "$SCENES/model_final.pth" "$@"

stage "[4/5] evaluate it on synth_val -> $SPOTTER" "$SPOTTER/eval.log" \
    "synth_val_scores $SPOTTER" \
    $PY projects/DLD/train_net.py --config-file "$CONFIG" --eval-only \
    OUTPUT_DIR "$SPOTTER" MODEL.WEIGHTS "$RECOGNIZER/model_final.pth" "$@"

if ! $PY -c 'import sys; from dld_spotter import model_zoo
sys.exit("synth/seg_teacher_tiny.yaml" not in model_zoo.TRAINED)' 2>/dev/null; then
    echo "[5/5] not shipped: add \"synth/seg_teacher_tiny.yaml\": \"seg_teacher_tiny.pth\" to" \
        "TRAINED in dld_spotter/model_zoo/__init__.py, then run this script again" \
        "(the training is skipped)"
    exit 1
fi
stage "[5/5] ship its fp16 weights into the package" "$SPOTTER/ship.log" \
    "grep -m 1 ' MiB$' $SPOTTER/ship.log" \
    $PY tools/ship_weights.py "$RECOGNIZER/model_final.pth" --config synth/seg_teacher_tiny.yaml \
    --command "bash scripts/train_seg_teacher.sh $*" --wall-time $((SECONDS - start)) \
    --metrics "$SPOTTER"/inference/synth_val/{text_results,model_metrics}.json
echo "The tiny seg spotter trained and shipped in $(_stage_duration $((SECONDS - start)))."
