#!/usr/bin/env bash
# The recipe of the shipped tiny teacher (MODEL_ZOO.md), one command, resumable (re-running
# continues each stage from its last checkpoint; a finished stage is skipped):
#   1. pre-train the backbone + recognizer on word crops of streamed synthetic scenes: upright
#      words first (configs/synth/pretrain_tiny_upright.yaml -> output/pretrain_tiny_upright),
#      then the scene's geometry (configs/synth/pretrain_tiny.yaml -> output/pretrain_tiny),
#   2. fine-tune the whole spotter from it on streamed scenes
#      (configs/synth/teacher_tiny.yaml -> output/teacher_tiny_scenes),
#   3. train its recognizer alone on jittered word crops, backbone frozen
#      (configs/synth/teacher_tiny_recognizer.yaml -> output/teacher_tiny_recognizer),
#   4. evaluate the result on synth_val with configs/synth/teacher_tiny.yaml (-> output/teacher_tiny)
#      and ship its fp16 weights into the package (dld_spotter/model_zoo/weights/teacher_tiny.pth).
# Each stage prints one line; its whole output is in train.log (or eval.log) in its output folder;
# VERBOSE=1 shows it all. Extra arguments go to every stage, e.g.
# `bash scripts/train_teacher.sh MODEL.DEVICE cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/_stage.sh

PY=.venv/bin/python
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
export DLD_DATASETS=${DLD_DATASETS:-datasets}
UPRIGHT=${UPRIGHT:-output/pretrain_tiny_upright}
PRETRAIN=${PRETRAIN:-output/pretrain_tiny}
SCENES=${SCENES:-output/teacher_tiny_scenes}
RECOGNIZER=${RECOGNIZER:-output/teacher_tiny_recognizer}
TEACHER=${TEACHER:-output/teacher_tiny}
start=$SECONDS

stage "[1/7] synthetic validation set -> $DLD_DATASETS/synth (training streams fresh scenes)" \
    "$DLD_DATASETS/synth/generate.log" "" \
    $PY -m dld_spotter.data.synth --out "$DLD_DATASETS/synth" --num-train 2000 --num-val 100 --seed 0

train_stage "[2/7] pre-train backbone + recognizer on rendered word crops -> $UPRIGHT" \
    configs/synth/pretrain_tiny_upright.yaml "$UPRIGHT" "heldout $UPRIGHT/train.log" "$@"
train_stage "[3/7] pre-train them on word crops of scenes -> $PRETRAIN" \
    configs/synth/pretrain_tiny.yaml "$PRETRAIN" "heldout $PRETRAIN/train.log" \
    MODEL.WEIGHTS "$UPRIGHT/model_final.pth" "$@"
train_stage "[4/7] fine-tune the spotter from it -> $SCENES" \
    configs/synth/teacher_tiny.yaml "$SCENES" "synth_val_scores $SCENES" \
    MODEL.WEIGHTS "$PRETRAIN/model_final.pth" "$@"
train_stage "[5/7] train its recognizer on jittered word crops -> $RECOGNIZER" \
    configs/synth/teacher_tiny_recognizer.yaml "$RECOGNIZER" "heldout $RECOGNIZER/train.log" \
    MODEL.WEIGHTS "$SCENES/model_final.pth" "$@"

stage "[6/7] evaluate the teacher on synth_val -> $TEACHER" "$TEACHER/eval.log" \
    "synth_val_scores $TEACHER" \
    $PY projects/DLD/train_net.py --config-file configs/synth/teacher_tiny.yaml --eval-only \
    OUTPUT_DIR "$TEACHER" MODEL.WEIGHTS "$RECOGNIZER/model_final.pth" "$@"
stage "[7/7] ship its fp16 weights into the package" "$TEACHER/ship.log" \
    "grep -m 1 ' MiB$' $TEACHER/ship.log" \
    $PY tools/ship_weights.py "$RECOGNIZER/model_final.pth" --config synth/teacher_tiny.yaml \
    --command "bash scripts/train_teacher.sh $*" --wall-time $((SECONDS - start)) \
    --metrics "$TEACHER"/inference/synth_val/{text_results,model_metrics}.json
echo "The tiny teacher trained and shipped in $(_stage_duration $((SECONDS - start)))."
