#!/usr/bin/env bash
# README command 1: set up .venv, generate the synthetic data set, evaluate the tiny teacher
# shipped with the package (MODEL_ZOO.md), distil it into a tiny DLD student, evaluate that,
# spot text in a few validation images with both, and print them side by side.
#   RETRAIN_TEACHER=1 bash scripts/main_job.sh   re-trains the teacher first with the full
#                                                recipe (scripts/train_teacher.sh, ~2 h on CPU)
# Re-running reuses what exists (data, final checkpoints) and only re-evaluates; an interrupted
# training resumes from its last checkpoint. Extra arguments are config options of every stage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

PY=.venv/bin/python
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
export DLD_DATASETS=${DLD_DATASETS:-datasets}
TEACHER_CONFIG=configs/synth/teacher_tiny.yaml
# dld_tiny.yaml with a selector pre-trained on text size (docs/benchmarks/selector_pretraining.md)
STUDENT_CONFIG=configs/synth/dld_tiny_sized.yaml
TEACHER=${TEACHER:-output/teacher_tiny}
STUDENT=${STUDENT:-output/dld_tiny_sized}
NUM_TRAIN=${NUM_TRAIN:-2000}
NUM_VAL=${NUM_VAL:-100}
start=$(date +%s)

echo "== 1/5 synthetic data set ($NUM_TRAIN train / $NUM_VAL val images) in $DLD_DATASETS/synth"
$PY -m dld_spotter.data.synth --out "$DLD_DATASETS/synth" --num-train "$NUM_TRAIN" \
    --num-val "$NUM_VAL" --seed 0

if [ "${RETRAIN_TEACHER:-0}" = "1" ]; then
    echo "== 2/5 re-train the tiny teacher from scratch (scripts/train_teacher.sh) -> $TEACHER"
    TEACHER="$TEACHER" bash scripts/train_teacher.sh "$@"
else
    echo "== 2/5 evaluate the shipped tiny teacher ($TEACHER_CONFIG) -> $TEACHER"
    $PY projects/DLD/train_net.py --config-file "$TEACHER_CONFIG" --eval-only \
        OUTPUT_DIR "$TEACHER" MODEL.WEIGHTS dld_spotter://teacher_tiny.pth "$@"
fi
WEIGHTS=dld_spotter://teacher_tiny.pth  # what step 2 shipped, or the package's own

echo "== 3/5 distil it into the tiny DLD student ($STUDENT_CONFIG) -> $STUDENT, evaluate it"
$PY projects/DLD/train_net.py --config-file "$STUDENT_CONFIG" --resume OUTPUT_DIR "$STUDENT" \
    MODEL.WEIGHTS "$WEIGHTS" MODEL.DLD.TEACHER.WEIGHTS "$WEIGHTS" DATASETS.TEST "()" "$@"
# evaluated in a process of its own, as the teacher: evaluated in its training process, after
# training, the student ran 20-30 % slower on the CPU (projects/DLD/README.md)
$PY projects/DLD/train_net.py --config-file "$STUDENT_CONFIG" --eval-only OUTPUT_DIR "$STUDENT" \
    MODEL.WEIGHTS "$STUDENT/model_final.pth" "$@"

echo "== 4/5 demo on 4 validation images -> $TEACHER/demo, $STUDENT/demo"
mapfile -t images < <(ls "$DLD_DATASETS"/synth/val/* | head -n 4)
$PY projects/DLD/demo.py --config-file "$TEACHER_CONFIG" --input "${images[@]}" \
    --output "$TEACHER/demo" --opts MODEL.WEIGHTS "$WEIGHTS" "$@"
$PY projects/DLD/demo.py --config-file "$STUDENT_CONFIG" --input "${images[@]}" \
    --output "$STUDENT/demo" --opts MODEL.WEIGHTS "$STUDENT/model_final.pth" "$@"

echo "== 5/5 teacher and student on synth_val (100 images)"
$PY -m dld_spotter.evaluation.compare "teacher=$TEACHER/inference/synth_val" \
    "DLD student=$STUDENT/inference/synth_val"
echo
echo "Done in $(( $(date +%s) - start )) s."
for run in "$TEACHER" "$STUDENT"; do
    echo "  $run: metrics inference/synth_val/text_results.json, predictions" \
         "inference/synth_val/text_predictions.json, drawings demo/"
done
echo "  the student's checkpoint: $STUDENT/model_final.pth; the teacher's: $WEIGHTS"
