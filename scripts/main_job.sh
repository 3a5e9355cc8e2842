#!/usr/bin/env bash
# README command 1: set up .venv, generate the synthetic data set, evaluate the tiny teacher
# shipped with the package (MODEL_ZOO.md), distil it into a tiny DLD student, evaluate that,
# spot text in a few validation images with both, and print them side by side.
#   RETRAIN_TEACHER=1 bash scripts/main_job.sh   re-trains the teacher first with the full
#                                                recipe (scripts/train_teacher.sh, ~2 h on CPU)
#   VERBOSE=1 bash scripts/main_job.sh           shows every stage's whole output
# Each stage prints one line; its whole output is in the log named below, in its output folder.
# Re-running reuses what exists (data, final checkpoints) and only re-evaluates; an interrupted
# training resumes from its last checkpoint. Extra arguments are config options of every stage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/_stage.sh

PY=.venv/bin/python
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
export DLD_DATASETS=${DLD_DATASETS:-datasets}
TEACHER_CONFIG=configs/synth/teacher_tiny.yaml
STUDENT_CONFIG=configs/synth/dld_tiny_sized.yaml  # dld_tiny.yaml with a size-rule selector start
TEACHER=${TEACHER:-output/teacher_tiny}
STUDENT=${STUDENT:-output/dld_tiny_sized}
NUM_TRAIN=${NUM_TRAIN:-2000}
NUM_VAL=${NUM_VAL:-100}
start=$SECONDS
# The student's pass at every scale runs in bf16 (configs/synth/dld_tiny.yaml); a CPU without
# bf16 instructions (AVX512-BF16 or AMX) emulates it, many times slower: float32 there.
STUDENT_OPTS=() NOTE=""
if ! grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then
    STUDENT_OPTS=(MODEL.DLD.DRS.ACC_DTYPE float32) NOTE="echo in float32: no bf16 on this CPU"
fi

stage "[1/6] synthetic data set ($NUM_TRAIN train / $NUM_VAL val images) -> $DLD_DATASETS/synth" \
    "$DLD_DATASETS/synth/generate.log" "" \
    $PY -m dld_spotter.data.synth --out "$DLD_DATASETS/synth" --num-train "$NUM_TRAIN" \
    --num-val "$NUM_VAL" --seed 0

if [ "${RETRAIN_TEACHER:-0}" = "1" ]; then
    echo "[2/6] re-train the tiny teacher from scratch (scripts/train_teacher.sh) -> $TEACHER"
    TEACHER="$TEACHER" bash scripts/train_teacher.sh "$@"
else
    stage "[2/6] evaluate the shipped tiny teacher -> $TEACHER" "$TEACHER/eval.log" \
        "synth_val_scores $TEACHER" \
        $PY projects/DLD/train_net.py --config-file "$TEACHER_CONFIG" --eval-only \
        OUTPUT_DIR "$TEACHER" MODEL.WEIGHTS dld_spotter://teacher_tiny.pth "$@"
fi
WEIGHTS=dld_spotter://teacher_tiny.pth  # what step 2 shipped, or the package's own

stage "[3/6] distil it into the tiny DLD student -> $STUDENT" "$STUDENT/train.log" "$NOTE" \
    $PY projects/DLD/train_net.py --config-file "$STUDENT_CONFIG" --resume OUTPUT_DIR "$STUDENT" \
    MODEL.WEIGHTS "$WEIGHTS" MODEL.DLD.TEACHER.WEIGHTS "$WEIGHTS" DATASETS.TEST "()" \
    "${STUDENT_OPTS[@]}" "$@"
# evaluated in a process of its own, as the teacher is: in its training process the student's
# images/s are not comparable with the teacher's
stage "[4/6] evaluate the student" "$STUDENT/eval.log" "synth_val_scores $STUDENT" \
    $PY projects/DLD/train_net.py --config-file "$STUDENT_CONFIG" --eval-only \
    OUTPUT_DIR "$STUDENT" MODEL.WEIGHTS "$STUDENT/model_final.pth" "$@"

mapfile -t images < <(ls "$DLD_DATASETS"/synth/val/* | head -n 4)
stage "[5/6] the teacher on 4 validation images -> $TEACHER/demo" "$TEACHER/demo/log.txt" "" \
    $PY projects/DLD/demo.py --config-file "$TEACHER_CONFIG" --input "${images[@]}" \
    --output "$TEACHER/demo" --opts MODEL.WEIGHTS "$WEIGHTS" "$@"
stage "[6/6] the student on the same images -> $STUDENT/demo" "$STUDENT/demo/log.txt" "" \
    $PY projects/DLD/demo.py --config-file "$STUDENT_CONFIG" --input "${images[@]}" \
    --output "$STUDENT/demo" --opts MODEL.WEIGHTS "$STUDENT/model_final.pth" "$@"

echo
echo "Teacher and DLD student on synth_val ($NUM_VAL images):"
$PY -m dld_spotter.evaluation.compare "teacher=$TEACHER/inference/synth_val" \
    "DLD student=$STUDENT/inference/synth_val"
echo
echo "Done in $(_stage_duration $((SECONDS - start))). In $TEACHER and $STUDENT:"
echo "  inference/synth_val/  metrics (text_results.json, model_metrics.json) and predictions"
echo "  demo/                 drawings and predictions.json of the 4 images, demo/log.txt"
echo "  *.log, log.txt        the whole output of each stage"
echo "The student's checkpoint: $STUDENT/model_final.pth; the teacher's: $WEIGHTS"
