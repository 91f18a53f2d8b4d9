#!/bin/bash
# prep.sh FIELDGATE OUT - what every system in `make compare` shares:
#   OUT/sk/       the three scikit-learn models, fitted once on simulated
#                 readings (tests/integration/sklearn_fit.py): rf.pkl,
#                 lr.joblib, gbt.joblib and their *.features lists; the Python
#                 peer loads these
#   OUT/models/   the same three models imported into fieldgate's format
#                 (models/import_sklearn.py) and sealed: fieldgate and the
#                 Node-RED peer load these JSON files
#   OUT/parity.jsonl            1,000 labelled readings (another seed)
#   OUT/parity.fieldgate.jsonl  what `fieldgate score` makes of them: the
#                 predictions every peer must reproduce before it is timed
# Needs /usr/bin/python3 with python3-sklearn. Exits non-zero on any error.
set -euo pipefail
FG=$(realpath "$1"); OUT=$2
top=$(cd "$(dirname "$0")/../../.." && pwd)
PY=/usr/bin/python3
mkdir -p "$OUT/sk" "$OUT/models"
"$FG" simulate --sensors 100 --rate 0.002 --count 20000 --seed 11 --start 2026-01-05T00:00:00Z --out "$OUT/train.jsonl"
"$FG" models features --data "$OUT/train.jsonl" --out "$OUT/train.csv"
$PY "$top/tests/integration/sklearn_fit.py" "$OUT/train.csv" "$OUT/sk" >/dev/null
imp() { $PY "$top/models/import_sklearn.py" --fieldgate "$FG" "$@" >/dev/null; }
imp "$OUT/sk/rf.pkl" --features "$(cat "$OUT/sk/rf.features")" --out "$OUT/models" \
	--data-source "simulate --seed 11 --count 20000"
imp "$OUT/sk/lr.joblib" --features "$(cat "$OUT/sk/lr.features")" --out "$OUT/models"
imp "$OUT/sk/gbt.joblib" --out "$OUT/models/humidity_regressor.json"
"$FG" models seal "$OUT/models" >/dev/null
"$FG" models check "$OUT/models" >/dev/null
"$FG" simulate --sensors 100 --count 1000 --seed 21 --start 2026-02-02T00:00:00Z --out "$OUT/parity.jsonl"
"$FG" score --models "$OUT/models" <"$OUT/parity.jsonl" >"$OUT/parity.fieldgate.jsonl"
[ "$(wc -l <"$OUT/parity.fieldgate.jsonl")" -eq 1000 ]
