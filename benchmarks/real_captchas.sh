#!/usr/bin/env bash
# The folder-recipe panel (docs/real-captchas.md#the-panel): the default command plus --data.
#
#   bash benchmarks/real_captchas.sh [SET...]     # default: amazon_full amazon_200 amazon_1000 rsc_200 rsc_1000
#                                                 #          dark_full faint_full
#   bash benchmarks/real_captchas.sh zero_shot    # saved_models/base_alnum with no labels
#
# A SET is DATA_SIZE[_START]:
#   DATA   amazon, rsc: seeded splits of ../shared/datasets (80/20, seed 0; 50, 200 and 1,000 training
#          images of the 80%, seed 1), scored on the untouched 20%; dark, faint: the synthetic hard sets of
#          benchmarks/hard_sets.py (2,000 to train on, 1,000 held out from another stream); colourful:
#          the colourful hard set (full only, 20 minutes).
#   SIZE   full, 10, 50, 200, 1000 (the hard sets: full, 200).
#   START  none: the default command (a CTC folder run starts from the shipped saved_models/base_alnum);
#          scratch: --init-from none; single: --init-from saved_models/ctc_default; base100: from the base
#          with the epochs of before (--steps 100 --min-epochs 5, which --init-from runs had until
#          2026-12-01); single pins those too, as it was measured with them; semi: --unlabelled with the
#          rest of the 80% (its labels unused: the names are read only to score the pseudo-labels here),
#          20 minutes for all the rounds (docs/real-captchas.md#unlabelled-captchas); rgb: --rgb;
#          patient: --patience 30 (the phases end on the time budget); rgbpatient: both; resnet:
#          --arch crnn_resnet (from scratch: the shipped base is the default recognizer's).
# `zero_shot` scores the base model with no labels, restricted to each real set's characters
# (evaluate.py --restrict-charset, then also --restrict-length).
#
# Every run is `scripts/train_ctc.py --data TRAIN [--val-split 0.2] --test-data TEST --max-minutes M` with
# every other flag at its default, and is scored once, at the end, on the held-out images. A set whose run
# folder holds a metrics.json is skipped (delete saved_models/panel/<set> to redo it). The table goes to
# benchmarks/results/real_captchas.json: held-out accuracy, training minutes, wall-clock minutes of the
# whole command (start-up and scoring included), epochs, and how each phase ended.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SHARED=${SHARED:-../shared/datasets}
RUNS=saved_models/panel
mkdir -p "$RUNS" benchmarks/results logs/panel

split_once() {  # split_once SOURCE OUT: the seeded 80/20 split
    [ -d "$2/test" ] || $PY scripts/dataset.py split "$1" --out "$2" --fractions 0.8 0.2 --names train test --seed 0
}
subset_once() {  # subset_once TRAIN OUT N: N training images of the 80%, seed 1
    local total fraction
    total=$(ls "$1" | wc -l)
    fraction=$($PY -c "print($3 / $total)")
    [ -d "$2/low" ] || $PY scripts/dataset.py split "$1" --out "$2" --fractions "$($PY -c "print(1 - $3 / $total)")" \
        "$fraction" --names rest low --seed 1
}

split_once "$SHARED/amazon-captcha/images" data/amazon
split_once "$SHARED/really-simple-captcha/images" data/rsc
for n in 10 50 200 1000; do
    subset_once data/amazon/train "data/amazon_low$n" "$n"
    subset_once data/rsc/train "data/rsc_low$n" "$n"
done

run_set() {  # run_set NAME TRAIN TEST MINUTES [flags...]
    local name=$1 train=$2 test=$3 minutes=$4 started
    shift 4
    [ -f "$RUNS/$name/metrics.json" ] && return 0
    started=$($PY -c "import time; print(time.time())")
    $PY scripts/train_ctc.py --data "$train" --test-data "$test" --max-minutes "$minutes" "$@" \
        --output-dir "$RUNS" --logs-dir logs/panel --run-name "$name" --overwrite --verbose 2 | tee "logs/panel/$name.out"
    $PY -c "import sys, time; print(round((time.time() - float(sys.argv[1])) / 60, 3))" "$started" \
        > "logs/panel/$name.wall"
}

SETS=("$@")
[ ${#SETS[@]} -gt 0 ] || SETS=(amazon_full amazon_200 amazon_1000 rsc_200 rsc_1000 dark_full faint_full)
for set in "${SETS[@]}"; do
    if [ "$set" = zero_shot ]; then
        $PY benchmarks/hard_sets.py --out data/hard
        for data in rsc amazon hard/dark hard/faint; do
            name=${data#hard/}
            characters=$($PY -c "from captcha_keras.data.folder import scan_folder; import sys
print(''.join(sorted(set(''.join(scan_folder(sys.argv[1]).labels)))))" "data/$data/train")
            length=$($PY -c "from captcha_keras.data.folder import scan_folder; import sys
n = sorted({len(t) for t in scan_folder(sys.argv[1]).labels}); print(n[0] if n[0] == n[-1] else f'{n[0]}-{n[-1]}')" \
                "data/$data/train")
            $PY scripts/evaluate.py --model saved_models/base_alnum --data "data/$data/test" \
                --restrict-charset "$characters" --json "logs/panel/zero_shot_$name.json"
            $PY scripts/evaluate.py --model saved_models/base_alnum --data "data/$data/test" \
                --restrict-charset "$characters" --restrict-length "$length" \
                --json "logs/panel/zero_shot_${name}_length.json"
        done
        continue
    fi
    IFS=_ read -r data size start <<< "$set"
    flags=()
    case $start in
        "") ;;
        scratch) flags=(--init-from none) ;;
        single) flags=(--init-from saved_models/ctc_default --steps 100 --min-epochs 5) ;;
        base100) flags=(--init-from saved_models/base_alnum --steps 100 --min-epochs 5) ;;
        semi) ;;  # --unlabelled: the rest of the 80%, below
        rgb) flags=(--rgb) ;;
        patient) flags=(--patience 30) ;;  # a phase ends on the budget, not on 200 noisy validation images
        rgbpatient) flags=(--rgb --patience 30) ;;
        resnet) flags=(--arch crnn_resnet) ;;  # the residual recognizer (issue 29), from scratch: no base of its own
        *) echo "unknown start in $set: $start" >&2; exit 2 ;;
    esac
    case $data/$size in
        amazon/full | rsc/full) run_set "$set" "data/$data/train" "data/$data/test" 20 ${flags[@]+"${flags[@]}"} ;;
        amazon/10 | amazon/50 | amazon/200 | amazon/1000 | rsc/10 | rsc/50 | rsc/200 | rsc/1000)
            if [ "$start" = semi ]; then  # the rest of the 80% unlabelled, 20 minutes for all the rounds
                run_set "$set" "data/${data}_low$size/low" "data/$data/test" 20 --val-split 0.2 \
                    --unlabelled "data/${data}_low$size/rest"
            else
                run_set "$set" "data/${data}_low$size/low" "data/$data/test" 10 --val-split 0.2 ${flags[@]+"${flags[@]}"}
            fi ;;
        dark/full | faint/full)
            $PY benchmarks/hard_sets.py --out data/hard
            run_set "$set" "data/hard/$data/train" "data/hard/$data/test" 10 ${flags[@]+"${flags[@]}"} ;;
        colourful/full)  # 20 minutes: the budget of the target (issue 29)
            $PY benchmarks/hard_sets.py --out data/hard
            run_set "$set" "data/hard/$data/train" "data/hard/$data/test" 20 ${flags[@]+"${flags[@]}"} ;;
        dark/200 | faint/200)  # 200 of the 2,000 labelled; with semi, the other 1,800 unlabelled
            $PY benchmarks/hard_sets.py --out data/hard
            subset_once "data/hard/$data/train" "data/hard/${data}_low200" 200
            if [ "$start" = semi ]; then
                run_set "$set" "data/hard/${data}_low200/low" "data/hard/$data/test" 20 --val-split 0.2 \
                    --unlabelled "data/hard/${data}_low200/rest"
            else
                run_set "$set" "data/hard/${data}_low200/low" "data/hard/$data/test" 10 --val-split 0.2 \
                    ${flags[@]+"${flags[@]}"}
            fi ;;
        *) echo "unknown set: $set" >&2; exit 2 ;;
    esac
done

$PY - <<'PY'
import csv, json, os, re
# Rows of runs no longer on disk stay; a run here replaces its row.
path = "benchmarks/results/real_captchas.json"
table = json.load(open(path)) if os.path.isfile(path) else {}
for name in sorted(os.listdir("saved_models/panel")):
    run = os.path.join("saved_models/panel", name)
    if not os.path.isfile(os.path.join(run, "metrics.json")):
        continue
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(run, "training.csv")) as f:
        rows = list(csv.DictReader(f))
    out = os.path.join("logs/panel", f"{name}.out")
    stops = re.findall(r"stopping: (.*)\.|time budget: (.*); ending", open(out).read()) if os.path.isfile(out) else []
    table[name] = {
        "heldout_accuracy": metrics["sequence_accuracy"],
        "heldout_samples": metrics["samples"],
        "minutes": float(rows[-1]["minutes"]),
        "wall_minutes": float(open(wall).read()) if os.path.isfile(wall := out[:-4] + ".wall") else None,
        "epochs": len(rows),
        "best_val_seq_acc": max(float(r["val_seq_acc"]) for r in rows),
        "phase_ends": [a or f"time budget: {b}" for a, b in stops],
    }
    for key in ("ece", "precision_at_coverage", "coverage_at_precision", "calibration", "pseudo_labels"):
        if key in metrics:
            table[name][key] = metrics[key]
    pseudo_csv = os.path.join(run, "pseudo_labels.csv")
    if os.path.isfile(pseudo_csv):
        # The unlabelled images' names hold their labels, unused by the run: the true precision of its pseudo-labels.
        from captcha_keras.data.labels import label_from_name
        rounds = {}
        for row in csv.DictReader(open(pseudo_csv, encoding="utf-8")):
            kept, right = rounds.get(row["round"], (0, 0))
            rounds[row["round"]] = (kept + 1, right + (label_from_name(os.path.basename(row["file"])) == row["text"]))
        table[name]["pseudo_label_precision"] = {r: {"kept": k, "right": g, "precision": g / k} for r, (k, g) in rounds.items()}
    print(f"{name:12s} {metrics['sequence_accuracy']:.2%} of {metrics['samples']} held out, "
          f"{table[name]['minutes']:.1f} min, {len(rows)} epochs; " + "; ".join(table[name]["phase_ends"]))
for name in sorted(os.listdir("logs/panel")):
    if name.startswith("zero_shot_") and name.endswith(".json"):
        with open(os.path.join("logs/panel", name)) as f:
            scores = json.load(f)
        table[name[:-5]] = {key: scores[key] for key in ("sequence_accuracy", "samples", "cer", "restrict_charset",
                                                         "restrict_length")}
        print(f"{name[:-5]:24s} {scores['sequence_accuracy']:.2%} of {scores['samples']} held out, no labels")
with open(path, "w") as f:
    json.dump(table, f, indent=2)
PY
