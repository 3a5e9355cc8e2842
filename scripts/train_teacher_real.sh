#!/usr/bin/env bash
# The recipe of the tiny teacher for real photographs (MODEL_ZOO.md, teacher_tiny_real.pth),
# one command, resumable (a finished stage is skipped, an interrupted one resumes):
#   1. the synthetic sets: synth_val (scored) and synth_photo (trained on: many fonts,
#      photograph backgrounds, degradations; fonts and backgrounds only where given),
#   2. the shipped synthetic teacher fine-tuned on the ICDAR 2015 training photographs (all but
#      the last 100) mixed with synth_photo (configs/real/teacher_tiny_real.yaml),
#   3. its recognizer alone on word crops, half real (IC15 training words), half synthetic
#      (configs/real/teacher_tiny_real_recognizer.yaml);
#      stages 2 and 3 run PASSES times (default 3), each pass after the first from the previous
#      one's result, stage 2 shorter (configs/real/teacher_tiny_real_repeat.yaml); pass p > 1
#      writes to $SCENES$p and $RECOGNIZER$p; then stage 3 alone EXTRA_RECOGNIZER more times
#      (default 1: $RECOGNIZER$((PASSES + 1))); FROM=WEIGHTS starts pass 1 from WEIGHTS with the
#      later passes' config instead (FROM=dld_spotter://teacher_tiny_real.pth PASSES=2
#      EXTRA_RECOGNIZER=0 trains the shipped teacher two passes more),
#   4. evaluation on the 100 held-out IC15 training photographs (ic15_train_heldout), synth_val
#      and, when converted, the IC15 test set (reported only: nothing is chosen on it),
#   5. its fp16 weights shipped into the package as teacher_tiny_real.pth.
# Data under $DLD_DATASETS (datasets/README.md, "Real photographs"): icdar2015/train.json +
# train_images/ (required), icdar2015/train_words/ (IC15 word images; without them the
# recognizer trains on synthetic crops only), fonts/ and backgrounds/ (optional).
# Extra arguments go to every stage, e.g. `bash scripts/train_teacher_real.sh MODEL.DEVICE cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/_stage.sh

PY=.venv/bin/python
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
export DLD_DATASETS=${DLD_DATASETS:-datasets}
R=$DLD_DATASETS
SCENES=${SCENES:-output/teacher_tiny_real_scenes}
RECOGNIZER=${RECOGNIZER:-output/teacher_tiny_real_recognizer}
TEACHER=${TEACHER:-output/teacher_tiny_real}
PASSES=${PASSES:-3}
EXTRA_RECOGNIZER=${EXTRA_RECOGNIZER:-1}
FROM=${FROM:-}
[[ $PASSES =~ ^[1-9][0-9]*$ ]] || { echo "error: PASSES=$PASSES: give the number of passes (1, 2, ...)" >&2; exit 2; }
[[ $EXTRA_RECOGNIZER =~ ^[0-9]+$ ]] || { echo "error: EXTRA_RECOGNIZER=$EXTRA_RECOGNIZER: give a number of stages (0, 1, ...)" >&2; exit 2; }
start=$SECONDS

for need in "$R/icdar2015/train.json" "$R/icdar2015/train_images"; do
    [ -e "$need" ] || { echo "error: $need does not exist: download and convert the ICDAR 2015" \
        "training set as datasets/README.md says (python -m dld_spotter.data.convert ic15" \
        "--images $R/icdar2015/train_images --gt $R/icdar2015/train_gt" \
        "--out $R/icdar2015/train.json)" >&2; exit 2; }
done
synth_extra=() stream_opts=() crop_opts=() sources=("ICDAR 2015 training photographs img_1-900 ($R/icdar2015)")
for kind in fonts backgrounds; do
    if [ -d "$R/$kind" ]; then
        synth_extra+=("--$kind" "$R/$kind")
        key=$([ $kind = fonts ] && echo FONT_DIRS || echo BACKGROUND_DIRS)
        stream_opts+=("DATASETS.STREAM_SYNTH.$key" "('$kind',)")
        sources+=("$kind of $R/$kind")
        echo "synthetic data: $kind from $R/$kind"
    else
        stream_opts+=("DATASETS.STREAM_SYNTH.$([ $kind = fonts ] && echo FONT_DIRS || echo BACKGROUND_DIRS)" "()")
        echo "synthetic data: no $R/$kind, the generator's own $kind only"
    fi
done
if [ -f "$R/icdar2015/train_words/gt.txt" ]; then
    sources+=("ICDAR 2015 training word images without the held-out photographs' ($R/icdar2015/train_words)")
    echo "recognizer: real word crops from $R/icdar2015/train_words"
else
    crop_opts=(INPUT.WORD_CROPS.REAL_FOLDERS "()")
    echo "recognizer: no $R/icdar2015/train_words/gt.txt, synthetic word crops only"
fi

stage "[1/5] synthetic sets -> $R/synth (synth_val), $R/synth_photo" "$R/synth_photo/generate.log" "" \
    bash -c "$PY -m dld_spotter.data.synth --out $R/synth --num-train 2000 --num-val 100 --seed 0 &&
             $PY -m dld_spotter.data.synth --out $R/synth_photo --num-train 2000 --num-val 100 \
                 --seed 1 --degrade ${synth_extra[*]}"

# Pass 1 fine-tunes the synthetic teacher (or FROM, as a later pass); pass p > 1 the result of
# pass p - 1, shorter.
config=configs/real/teacher_tiny_real.yaml from=() suffix=""
if [ -n "$FROM" ]; then
    config=configs/real/teacher_tiny_real_repeat.yaml from=(MODEL.WEIGHTS "$FROM")
    sources+=("the weights it started from: $FROM")
fi
for ((pass = 1; pass <= PASSES; pass++)); do
    train_stage "[2/5] pass $pass of $PASSES: fine-tune on IC15 photographs + synth_photo -> $SCENES$suffix" \
        "$config" "$SCENES$suffix" "" "${from[@]}" DATASETS.TEST "()" "$@"
    train_stage "[3/5] pass $pass of $PASSES: its recognizer on real + synthetic word crops -> $RECOGNIZER$suffix" \
        configs/real/teacher_tiny_real_recognizer.yaml "$RECOGNIZER$suffix" "heldout $RECOGNIZER$suffix/train.log" \
        MODEL.WEIGHTS "$SCENES$suffix/model_final.pth" "${stream_opts[@]}" "${crop_opts[@]}" "$@"
    config=configs/real/teacher_tiny_real_repeat.yaml from=(MODEL.WEIGHTS "$RECOGNIZER$suffix/model_final.pth")
    suffix=$((pass + 1))
done
FINAL=$RECOGNIZER$([ "$PASSES" = 1 ] || echo "$PASSES")
# Then the recognizer alone EXTRA_RECOGNIZER more times, each from the previous result.
for ((extra = 1; extra <= EXTRA_RECOGNIZER; extra++, suffix++)); do
    train_stage "[3/5] recognizer once more ($extra of $EXTRA_RECOGNIZER) -> $RECOGNIZER$suffix" \
        configs/real/teacher_tiny_real_recognizer.yaml "$RECOGNIZER$suffix" "heldout $RECOGNIZER$suffix/train.log" \
        MODEL.WEIGHTS "$FINAL/model_final.pth" "${stream_opts[@]}" "${crop_opts[@]}" "$@"
    FINAL=$RECOGNIZER$suffix
done

tests=("ic15_train_heldout" "synth_val") sizes=(720 480)
if [ -f "$R/icdar2015/test.json" ]; then tests+=("ic15_test"); sizes+=(720); fi
stage "[4/5] evaluate on ${tests[*]} -> $TEACHER" "$TEACHER/eval.log" "" \
    $PY projects/DLD/train_net.py --config-file configs/real/teacher_tiny_real.yaml --eval-only \
    OUTPUT_DIR "$TEACHER" MODEL.WEIGHTS "$FINAL/model_final.pth" \
    DATASETS.TEST "($(printf '"%s",' "${tests[@]}"))" \
    DATASETS.TEST_BASE_SIZES "($(printf '%s,' "${sizes[@]}"))" "$@"
runs=()
for t in "${tests[@]}"; do runs+=("$t=$TEACHER/inference/$t"); done
$PY -m dld_spotter.evaluation.compare "${runs[@]}"
metrics=()
for t in "${tests[@]}"; do metrics+=("$TEACHER/inference/$t/text_results.json"); done
stage "[5/5] ship its fp16 weights into the package" "$TEACHER/ship.log" "grep -m 1 ' MiB\$' $TEACHER/ship.log" \
    $PY tools/ship_weights.py "$FINAL/model_final.pth" --config real/teacher_tiny_real.yaml \
    --command "$([ -z "$FROM" ] || echo "FROM=$FROM ")PASSES=$PASSES EXTRA_RECOGNIZER=$EXTRA_RECOGNIZER bash scripts/train_teacher_real.sh $*" --wall-time $((SECONDS - start)) \
    --data "${sources[@]}" "synthetic scenes and word crops of dld_spotter.data.synth" \
    --metrics "${metrics[@]}"
echo "Done in $(_stage_duration $((SECONDS - start))): dld_spotter/model_zoo/weights/teacher_tiny_real.pth"
