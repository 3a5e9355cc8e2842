# Sourced by scripts/main_job.sh and the teacher recipes: run a stage with its whole output in a
# log file and one line on the terminal.
#   stage LABEL LOG RESULT COMMAND...
# runs COMMAND with stdout and stderr in LOG. On a terminal the line shows the stage's progress
# and ETA while it runs (detectron2's training and inference logs, tqdm bars); it ends with the
# wall time and the output of the shell command RESULT ('' for none). A failing stage prints the
# last 40 lines of LOG and exits with its status. VERBOSE=1 shows the whole output as well.

# A duration in seconds as "42 s", "3 min 12 s" or "1 h 57 min".
_stage_duration() {
    local s=$1
    if [ "$s" -ge 3600 ]; then printf '%d h %d min' $((s / 3600)) $((s % 3600 / 60))
    elif [ "$s" -ge 60 ]; then printf '%d min %d s' $((s / 60)) $((s % 60))
    else printf '%d s' "$s"; fi
}

# The latest progress that LOG reports: a training iteration (of the MAX_ITER of the config.yaml
# next to LOG, when there is one), an evaluation's image count (then its scoring) or a tqdm
# bar, with its ETA.
_stage_progress() {
    local log=$1 last total
    last=$(tail -c 65536 "$log" 2>/dev/null | tr '\r' '\n' | grep -aoE \
        'eta: [0-9:]+ +iter: [0-9]+|Inference done [0-9]+/[0-9]+\..*ETA=[0-9:]+|Total inference time|[0-9]+/[0-9]+ \[[0-9:]+<[0-9:?]+' \
        | tail -n 1)
    case $last in
        eta:*)
            total=$(sed -n 's/^  MAX_ITER: \([0-9]*\)$/\/\1/p' "$(dirname "$log")/config.yaml" 2>/dev/null)
            echo "$last" | awk -v total="$total" '{print "iteration " $4 + 1 total ", ETA " $2}' ;;
        Inference*) echo "$last" | sed -E 's#Inference done ([0-9/]+)\..*ETA=([0-9:]+)#image \1, ETA \2#' ;;
        Total*) echo "inference done, scoring" ;;
        ?*) echo "$last" | sed -E 's#([0-9]+/[0-9]+) \[[0-9:]+<([0-9:?]+)#\1, ETA \2#' ;;
    esac
}

stage() {
    local label=$1 log=$2 result=$3 start=$SECONDS rc=0 monitor="" took
    shift 3
    mkdir -p "$(dirname "$log")"
    if [ "${VERBOSE:-0}" = "1" ]; then
        echo "$label -> $log"
        { "$@" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}; } || true
    elif [ -t 1 ]; then  # redraw the line every 2 s until the stage or this shell ends
        (while sleep 2 && kill -0 $$ 2>/dev/null; do
            progress=$(_stage_progress "$log")
            tail=": ${progress:-running} ($(_stage_duration $((SECONDS - start))))"
            width=$(tput cols 2>/dev/null || echo 80)
            line="${label:0:$((width - 1 - ${#tail} > 8 ? width - 1 - ${#tail} : 8))}$tail"
            printf '\r\033[K%s' "${line:0:width - 1}"  # one row, or \r cannot redraw it
        done) &
        monitor=$!
        trap 'kill '"$monitor"' 2>/dev/null' EXIT
        "$@" >"$log" 2>&1 || rc=$?
        kill "$monitor" 2>/dev/null
        wait "$monitor" 2>/dev/null || true
        trap - EXIT
        printf '\r\033[K'
    else
        "$@" >"$log" 2>&1 || rc=$?
    fi
    took=$(_stage_duration $((SECONDS - start)))
    if [ "$rc" -ne 0 ]; then
        printf '%s: FAILED (exit status %d) after %s; the last lines of %s:\n' \
            "$label" "$rc" "$took" "$log"
        tail -n 40 "$log" | sed 's/^/    /'
        exit "$rc"
    fi
    printf '%s: done in %s%s\n' "$label" "$took" \
        "$( [ -z "$result" ] || printf '; %s' "$(eval "$result")")"
}

# synth_val_scores DIR: Det and E2E H-mean of the evaluation in DIR/inference/synth_val.
synth_val_scores() {
    .venv/bin/python -c 'import json, sys; m = json.load(open(sys.argv[1]))["metrics"]
print("Det H-mean %.1f, E2E H-mean %.1f" % (m["det_hmean"], m["e2e_hmean"]))' \
        "$1/inference/synth_val/text_results.json"
}

# heldout LOG: the last held-out word-crop accuracies (synthetic, and real where there are real
# crops) that the training log LOG reports.
heldout() {
    grep -aoE 'Held-out (real )?word crops: [0-9.]+ %' "$1" |
        awk -F': ' '{last[$1] = $0} END {n = 0; for (k in last) printf "%s%s", (n++ ? "; " : ""), last[k]}'
}

# train_stage LABEL CONFIG OUTPUT_DIR RESULT [OPTIONS...]: a training stage of train_net.py
# (log OUTPUT_DIR/train.log; resumed when interrupted), skipped once its model_final.pth exists.
train_stage() {
    local label=$1 config=$2 out=$3 result=$4
    shift 4
    if [ -f "$out/model_final.pth" ]; then
        echo "$label: finished earlier ($out/model_final.pth)"
        return
    fi
    stage "$label" "$out/train.log" "$result" .venv/bin/python projects/DLD/train_net.py \
        --config-file "$config" --resume OUTPUT_DIR "$out" "$@"
}
