#!/usr/bin/env bash
# The folder-recipe panel (docs/real-captchas.md#the-panel): the default command plus --data, on real sets.
#
#   bash benchmarks/real_captchas.sh [SET...]      # SET: amazon_full amazon_200 amazon_1000 rsc_200 rsc_1000
#   bash benchmarks/real_captchas.sh zero_shot {rsc,amazon}_{200,50}_base {rsc,amazon}_200_single {rsc,amazon}_50
#
# The second line is the pretraining table (docs/styles.md#the-base-model): `zero_shot` scores
# saved_models/base_alnum with no labels, restricted to each set's characters (evaluate.py
# --restrict-charset); `*_base` runs start from it (--init-from saved_models/base_alnum), `*_single` from
# the single-style ctc_default, the others from scratch; 50-image sets are 50 of the 80%, seed 1.
#
# Seeded splits of ../shared/datasets (80/20, seed 0; then 200 and 1,000 training images, seed 1). Every
# run is `scripts/train_ctc.py --data TRAIN [--val-split 0.2] --test-data TEST --max-minutes M` with every
# other flag at its default, and is scored once, at the end, on the untouched 20%. A set whose run folder
# holds a metrics.json is skipped (delete saved_models/panel/<set> to redo it). The table goes to
# benchmarks/results/real_captchas.json: held-out accuracy, minutes, epochs, and how each phase ended.
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
for n in 50 200 1000; do
    subset_once data/amazon/train "data/amazon_low$n" "$n"
    subset_once data/rsc/train "data/rsc_low$n" "$n"
done

run_set() {  # run_set NAME TRAIN TEST MINUTES [flags...]
    local name=$1 train=$2 test=$3 minutes=$4
    shift 4
    [ -f "$RUNS/$name/metrics.json" ] && return 0
    $PY scripts/train_ctc.py --data "$train" --test-data "$test" --max-minutes "$minutes" "$@" \
        --output-dir "$RUNS" --logs-dir logs/panel --run-name "$name" --overwrite --verbose 2 | tee "logs/panel/$name.out"
}

SETS=("$@")
[ ${#SETS[@]} -gt 0 ] || SETS=(amazon_full amazon_200 amazon_1000 rsc_200 rsc_1000)
for set in "${SETS[@]}"; do
    case $set in
        amazon_full) run_set amazon_full data/amazon/train data/amazon/test 20 ;;
        amazon_200) run_set amazon_200 data/amazon_low200/low data/amazon/test 10 --val-split 0.2 ;;
        amazon_1000) run_set amazon_1000 data/amazon_low1000/low data/amazon/test 10 --val-split 0.2 ;;
        rsc_200) run_set rsc_200 data/rsc_low200/low data/rsc/test 10 --val-split 0.2 ;;
        rsc_1000) run_set rsc_1000 data/rsc_low1000/low data/rsc/test 10 --val-split 0.2 ;;
        rsc_50 | amazon_50 | *_base | *_single)
            IFS=_ read -r data n start <<< "$set"
            from=()
            [ "$start" = base ] && from=(--init-from saved_models/base_alnum)
            [ "$start" = single ] && from=(--init-from saved_models/ctc_default)
            run_set "$set" "data/${data}_low$n/low" "data/$data/test" 10 --val-split 0.2 "${from[@]}" ;;
        zero_shot)
            for data in rsc amazon; do
                characters=$($PY -c "from captcha_keras.data.folder import scan_folder; import sys
print(''.join(sorted(set(''.join(scan_folder(sys.argv[1]).labels)))))" "data/$data/train")
                length=$($PY -c "from captcha_keras.data.folder import scan_folder; import sys
n = sorted({len(t) for t in scan_folder(sys.argv[1]).labels}); print(n[0] if n[0] == n[-1] else f'{n[0]}-{n[-1]}')"                     "data/$data/train")
                $PY scripts/evaluate.py --model saved_models/base_alnum --data "data/$data/test" \
                    --restrict-charset "$characters" --json "logs/panel/zero_shot_$data.json"
                $PY scripts/evaluate.py --model saved_models/base_alnum --data "data/$data/test" \
                    --restrict-charset "$characters" --restrict-length "$length" \
                    --json "logs/panel/zero_shot_${data}_length.json"
            done ;;
        *) echo "unknown set: $set" >&2; exit 2 ;;
    esac
done

$PY - <<'PY'
import csv, json, os, re
table = {}
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
        "epochs": len(rows),
        "best_val_seq_acc": max(float(r["val_seq_acc"]) for r in rows),
        "phase_ends": [a or f"time budget: {b}" for a, b in stops],
    }
    print(f"{name:12s} {metrics['sequence_accuracy']:.2%} of {metrics['samples']} held out, "
          f"{table[name]['minutes']:.1f} min, {len(rows)} epochs; " + "; ".join(table[name]["phase_ends"]))
for name in sorted(os.listdir("logs/panel")):
    if name.startswith("zero_shot_") and name.endswith(".json"):
        with open(os.path.join("logs/panel", name)) as f:
            scores = json.load(f)
        table[name[:-5]] = {key: scores[key] for key in ("sequence_accuracy", "samples", "cer", "restrict_charset",
                                                         "restrict_length")}
        print(f"{name[:-5]:24s} {scores['sequence_accuracy']:.2%} of {scores['samples']} held out, no labels")
with open("benchmarks/results/real_captchas.json", "w") as f:
    json.dump(table, f, indent=2)
PY
