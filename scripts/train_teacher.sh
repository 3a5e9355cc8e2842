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
# Extra arguments go to every stage, e.g. `bash scripts/train_teacher.sh MODEL.DEVICE cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

PY=.venv/bin/python
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
export DLD_DATASETS=${DLD_DATASETS:-datasets}
UPRIGHT=${UPRIGHT:-output/pretrain_tiny_upright}
PRETRAIN=${PRETRAIN:-output/pretrain_tiny}
SCENES=${SCENES:-output/teacher_tiny_scenes}
RECOGNIZER=${RECOGNIZER:-output/teacher_tiny_recognizer}
TEACHER=${TEACHER:-output/teacher_tiny}
start=$(date +%s)

echo "== 1/5 synthetic validation set in $DLD_DATASETS/synth (training streams fresh scenes)"
$PY -m dld_spotter.data.synth --out "$DLD_DATASETS/synth" --num-train 2000 --num-val 100 --seed 0

# train CONFIG OUTPUT_DIR [OPTIONS...]: one stage, skipped once its model_final.pth exists
train() {
    local config=$1 out=$2
    shift 2
    [ -f "$out/model_final.pth" ] || $PY projects/DLD/train_net.py \
        --config-file "configs/synth/$config" --resume OUTPUT_DIR "$out" "$@"
}

echo "== 2/5 pre-train backbone + recognizer on word crops -> $UPRIGHT, $PRETRAIN"
train pretrain_tiny_upright.yaml "$UPRIGHT" "$@"
train pretrain_tiny.yaml "$PRETRAIN" MODEL.WEIGHTS "$UPRIGHT/model_final.pth" "$@"

echo "== 3/5 fine-tune the spotter from it -> $SCENES"
train teacher_tiny.yaml "$SCENES" MODEL.WEIGHTS "$PRETRAIN/model_final.pth" "$@"

echo "== 4/5 train its recognizer on jittered word crops -> $RECOGNIZER"
train teacher_tiny_recognizer.yaml "$RECOGNIZER" MODEL.WEIGHTS "$SCENES/model_final.pth" "$@"

echo "== 5/5 evaluate the teacher on synth_val -> $TEACHER, ship the weights"
$PY projects/DLD/train_net.py --config-file configs/synth/teacher_tiny.yaml --eval-only \
    OUTPUT_DIR "$TEACHER" MODEL.WEIGHTS "$RECOGNIZER/model_final.pth" "$@"
$PY tools/ship_weights.py "$RECOGNIZER/model_final.pth" --config synth/teacher_tiny.yaml \
    --command "bash scripts/train_teacher.sh $*" --wall-time $(( $(date +%s) - start )) \
    --metrics "$TEACHER"/inference/synth_val/{text_results,model_metrics}.json
