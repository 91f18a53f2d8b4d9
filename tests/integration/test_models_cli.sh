#!/bin/bash
# simulate, train, eval and score through the real binary: determinism,
# byte-for-byte reproducible models (models/default is what `make models`
# makes), accuracy of the shipped models on held-out data, and score's
# handling of bad lines.
. "$(dirname "$0")/lib.sh"

# simulate: deterministic per seed and start, one reading per line.
sim() { "$FG" simulate --sensors 20 --rate 0.01 --count 2000 --start 2026-03-02T00:00:00Z "$@"; }
sim --seed 1 --out "$T/a.jsonl"; expect "simulate exits 0" $? 0
sim --seed 1 --out - >"$T/b.jsonl"
sim --seed 2 --out "$T/c.jsonl"
expect "simulate writes --count lines" "$(wc -l <"$T/a.jsonl")" 2000
cmp -s "$T/a.jsonl" "$T/b.jsonl" && pass "same seed, same readings" || fail "same seed gave different readings"
cmp -s "$T/a.jsonl" "$T/c.jsonl" && fail "different seeds gave the same readings" || pass "different seed, different readings"
"$FG" simulate --rate 0 --out - 2>"$T/err"; expect "simulate --rate 0 exits 2" $? 2
grep -q "bad value '0' for --rate" "$T/err" || fail "bad rate message: $(cat "$T/err")"

# The shipped models are reproducible byte for byte (the Makefile's recipe).
data=$(sed -n 's/^MODEL_DATA := //p' "$top/Makefile")
"$FG" simulate $data --out "$T/train.jsonl" || fail "simulate training data"
"$FG" train --data "$T/train.jsonl" --out "$T/m1" --seed 7 --source "fieldgate simulate $data" >/dev/null \
	|| fail "train exits 0"
for f in status_predictor.json anomaly_detector.json humidity_regressor.json SHA256SUMS; do
	cmp -s "$T/m1/$f" "$top/models/default/$f" && pass "models/default/$f reproduced byte for byte" \
		|| fail "models/default/$f differs from a fresh 'make models' (run make models and commit)"
done
(cd "$top/models/default" && sha256sum --quiet -c SHA256SUMS) && pass "sha256sum -c accepts the seal" \
	|| fail "sha256sum -c rejects models/default/SHA256SUMS"

# Held-out evaluation of the shipped models (another seed, another week).
"$FG" simulate --sensors 100 --rate 0.01 --count 50000 --seed 99 --start 2026-02-02T00:00:00Z --out "$T/test.jsonl"
"$FG" eval --models "$top/models/default" --data "$T/test.jsonl" --json --by-sensor "$T/by.csv" >"$T/eval.json"
expect "eval exits 0" $? 0
/usr/bin/python3 - "$T/eval.json" <<'PY' || fail "eval figures: $(cat "$T/eval.json")"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["rows"] == 50000, e
# Good, and below 100%: the simulator's labels are noisy by design.
assert 0.85 <= e["status"]["accuracy"] < 0.999, e
assert 0.90 <= e["anomaly"]["accuracy"] < 0.999, e
assert 0.5 < e["humidity"]["rmse"] < 6, e
PY
expect "per-sensor CSV: header + 100 sensors" "$(wc -l <"$T/by.csv")" 101
head -1 "$T/by.csv" | grep -q '^sensor_id,rows,status_errors,anomaly_errors,humidity_rmse$' || fail "CSV header"
"$FG" eval --models "$top/models/default" --data "$T/test.jsonl" | grep -q '^status: accuracy 0\.' \
	|| fail "eval text output"

# Progress: bars on a terminal (script(1) gives it one), nothing off one.
"$FG" train --data "$T/a.jsonl" --out "$T/m2" >/dev/null 2>"$T/err"; expect "train exits 0" $? 0
expect "train off a terminal: nothing on stderr" "$(cat "$T/err")" ""
script -qec "$FG train --data $T/a.jsonl --out $T/m3" /dev/null >"$T/tty.out" 2>&1
for bar in 'reading .*\] 100% .*B/s in ' 'status_predictor .*\] 100% 20/20 trees' \
	'anomaly_detector .*\] 100% \([0-9]*\)/\1 iterations' 'humidity_regressor .*\] 100% 10/10 trees'; do
	tr '\r' '\n' <"$T/tty.out" | grep -q "^$bar" && pass "train on a terminal: $bar" \
		|| fail "train on a terminal: no '$bar' in: $(tail -c 600 "$T/tty.out")"
done
for f in status_predictor anomaly_detector humidity_regressor; do
	cmp -s "$T/m2/$f.json" "$T/m3/$f.json" || fail "$f.json: not the same with progress bars"
done
script -qec "$FG eval --models $T/m2 --data $T/a.jsonl" /dev/null >"$T/tty.out" 2>&1
tr '\r' '\n' <"$T/tty.out" | grep -q '^scoring .*\] 100% ' && pass "eval on a terminal: a bar" \
	|| fail "eval on a terminal: no bar in: $(tail -c 400 "$T/tty.out")"
grep -q '^status: accuracy 0\.' "$T/tty.out" || fail "eval on a terminal: no report"

# score: events for valid lines, one stderr line per bad line, exit 1.
head -100 "$T/test.jsonl" >"$T/in.jsonl"
printf '%s\n' 'not json' '{"sensor_id":"s","temperature":500,"humidity":1}' '{"temperature":1,"humidity":1}' >>"$T/in.jsonl"
"$FG" score --models "$top/models/default" <"$T/in.jsonl" >"$T/events.jsonl" 2>"$T/err"
expect "score exits 1 when lines were rejected" $? 1
expect "score writes one event per valid line" "$(wc -l <"$T/events.jsonl")" 100
expect "score reports each bad line" "$(wc -l <"$T/err")" 3
grep -q '^stdin:102: rejected (out_of_range): temperature' "$T/err" || fail "score message: $(cat "$T/err")"
/usr/bin/python3 - "$T/events.jsonl" <<'PY' || fail "score output is not seq 1..100 events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert [e["seq"] for e in ev] == list(range(1, 101))
assert all("prediction" in e and "models" in e for e in ev)
PY
head -100 "$T/test.jsonl" | "$FG" score --models "$top/models/default" >/dev/null; expect "score exits 0 on clean input" $? 0
"$FG" train --data "$T/nope" --out "$T/x" 2>/dev/null; expect "train on a missing file exits 1" $? 1

# models features: the catalogue, and the features of each reading as CSV,
# computed as the agent does (each sensor's window holds its previous readings).
expect "models features lists the catalogue" "$("$FG" models features | wc -l)" 18
"$FG" models features | grep -qx temp_ewma_abs_dev || fail "catalogue lacks temp_ewma_abs_dev"
head -300 "$T/test.jsonl" >"$T/f.jsonl"; echo 'not json' >>"$T/f.jsonl"
"$FG" models features --data "$T/f.jsonl" --out "$T/f.csv" 2>"$T/err"; expect "models features --data exits 0" $? 0
grep -q "f.jsonl:301: skipped" "$T/err" || fail "features: bad line not reported: $(cat "$T/err")"
/usr/bin/python3 - "$T/f.jsonl" "$T/f.csv" "$($FG models features | paste -sd,)" <<'PY' || fail "models features CSV"
import csv, json, sys, statistics
readings = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rows = list(csv.DictReader(open(sys.argv[2])))
assert list(rows[0].keys()) == ["sensor_id", "timestamp"] + sys.argv[3].split(",") + ["status_flag", "is_anomaly"]
assert len(rows) == len(readings) == 300
hist = {}
for r, row in zip(readings, rows):
    assert row["sensor_id"] == r["sensor_id"] and float(row["temperature"]) == r["temperature"]
    assert row["status_flag"] == str(r["status_flag"]) and row["is_anomaly"] == str(r["is_anomaly"])
    prev = hist.setdefault(r["sensor_id"], [])
    want = statistics.fmean(prev[-10:]) if prev else r["temperature"]
    assert abs(float(row["temp_mean_10"]) - want) < 1e-9, (row, want)
    prev.append(r["temperature"])
PY
# models check: the loader's and the agent's checks, one line per file.
"$FG" models check "$top/models/default" >"$T/out" 2>"$T/err"; expect "models check models/default exits 0" $? 0
expect "models check: one OK line per file" "$(grep -c ': OK ' "$T/out")" 3
grep -q "status_predictor.json: OK random_forest_classifier status_predictor@1, 4 features (temperature,humidity,hour_of_day,day_of_week), 20 trees, [0-9]* nodes$" "$T/out" \
	|| fail "models check status line: $(cat "$T/out")"
grep -q "anomaly_detector.json: OK logistic_regression anomaly_detector@1, 5 features" "$T/out" || fail "models check anomaly line"
mkdir -p "$T/wrong"
cp "$top/models/default/humidity_regressor.json" "$T/wrong/status_predictor.json"
cp "$top/models/default/anomaly_detector.json" "$T/wrong/anomaly_detector.json"
sed 's/"temperature"/"pressure"/' "$top/models/default/humidity_regressor.json" >"$T/wrong/humidity_regressor.json"
"$FG" models check "$T/wrong" >"$T/out" 2>"$T/err"; expect "models check of a bad directory exits 2" $? 2
grep -qx "$T/wrong/status_predictor.json: kind gbt_regressor, expected random_forest_classifier" "$T/err" \
	|| fail "models check: kind per slot: $(cat "$T/err")"
grep -q "^$T/wrong/humidity_regressor.json: feature \"pressure\" is not in the catalogue (known: temperature, " "$T/err" \
	|| fail "models check: catalogue: $(cat "$T/err")"
grep -q "^$T/wrong/anomaly_detector.json: OK" "$T/out" || fail "models check: the good file of a bad directory"
"$FG" models check "$top/tests/data/models/cycle.json" "$top/tests/data/models/classes_1e9.json" "$T/nope.json" 2>"$T/err"
expect "models check of broken files exits 2" $? 2
expect "models check: one line per broken file" "$(wc -l <"$T/err")" 3
grep -q 'cycle.json: \$.trees\[0\].nodes\[1\].left: index 0 does not come after its parent 1' "$T/err" || fail "models check: cycle"
grep -q 'classes_1e9.json: \$.classes: 1000000000 out of range (expected 2..8)' "$T/err" || fail "models check: classes"
grep -q "nope.json: cannot open: No such file or directory" "$T/err" || fail "models check: missing file"
# a 2-class forest under any name is for the status slot, which needs 3
/usr/bin/python3 - "$top/models/default/status_predictor.json" "$T/two.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["classes"] = 2
for t in m["trees"]:
    for n in t["nodes"]:
        if "leaf" in n:
            n["leaf"] = [n["leaf"][0], 1 - n["leaf"][0]]
json.dump(m, open(sys.argv[2], "w"))
PY
"$FG" models check "$T/two.json" 2>"$T/err"; expect "models check of a 2-class forest exits 2" $? 2
grep -qx "$T/two.json: 2 classes, expected 3 (normal, warning, fault)" "$T/err" || fail "models check: classes: $(cat "$T/err")"
"$FG" models check 2>/dev/null; expect "models check without files exits 2" $? 2

# models predict: the raw outputs at full precision, row by row, agree with
# the events score writes (rounded to 6 digits there).
"$FG" models predict --models "$top/models/default" --features "$T/f.csv" >"$T/pred.csv" 2>"$T/err"
expect "models predict exits 0" $? 0
head -300 "$T/test.jsonl" | "$FG" score --models "$top/models/default" >"$T/ev.jsonl"
/usr/bin/python3 - "$T/pred.csv" "$T/ev.jsonl" <<'PY' || fail "models predict disagrees with score"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ev = [json.loads(l)["prediction"] for l in open(sys.argv[2])]
assert list(rows[0].keys()) == ["status", "p_normal", "p_warning", "p_fault", "anomaly_probability", "anomaly", "humidity"]
assert len(rows) == len(ev) == 300
close = lambda a, b: abs(a - b) <= 5e-6 * abs(b) + 1e-12  # events have 6 significant digits
for r, e in zip(rows, ev):
    p = [float(r["p_normal"]), float(r["p_warning"]), float(r["p_fault"])]
    assert int(r["status"]) == e["status"] and close(p[e["status"]], e["status_probability"]), (r, e)
    assert abs(sum(p) - 1) < 1e-12, r
    assert int(r["anomaly"]) == int(e["anomaly"]) and close(float(r["anomaly_probability"]), e["anomaly_probability"]), (r, e)
    assert close(float(r["humidity"]), e["humidity"]), (r, e)
    assert repr(float(r["humidity"])) == repr(float(repr(float(r["humidity"])))), r
PY
"$FG" models predict --models "$top/models/default" --features - --slot humidity <"$T/f.csv" >"$T/h.csv"
expect "models predict --slot humidity exits 0" $? 0
cut -d, -f7 "$T/pred.csv" | cmp -s - "$T/h.csv" && pass "--slot humidity gives the humidity column" || fail "--slot humidity output"
mkdir -p "$T/only"; cp "$top/models/default/anomaly_detector.json" "$T/only/"
"$FG" models predict --models "$T/only" --features "$T/f.csv" --slot anomaly >"$T/a.csv"; expect "--slot loads only its file" $? 0
cut -d, -f5,6 "$T/pred.csv" | cmp -s - "$T/a.csv" && pass "--slot anomaly gives the anomaly columns" || fail "--slot anomaly output"
cut -d, -f1-5 "$T/f.csv" >"$T/short.csv"
"$FG" models predict --models "$top/models/default" --features "$T/short.csv" >/dev/null 2>"$T/err"
expect "models predict without a needed column exits 1" $? 1
grep -qx "$T/short.csv:1: no column \"day_of_week\" (status_predictor@1 needs it)" "$T/err" || fail "missing column: $(cat "$T/err")"
{ head -3 "$T/f.csv"; head -4 "$T/f.csv" | tail -1 | sed 's/,[^,]*,[^,]*,[^,]*$/,x,0,0/'; } >"$T/bad.csv"
"$FG" models predict --models "$top/models/default" --features "$T/bad.csv" >/dev/null 2>"$T/err"
expect "models predict of a bad cell exits 1" $? 1
grep -qx "$T/bad.csv:4: column \"humidity_mean_10\": not a finite number: \"x\"" "$T/err" || fail "bad cell: $(cat "$T/err")"
"$FG" models predict --models "$top/models/default" --features "$T/f.csv" --slot temp 2>/dev/null
expect "models predict --slot temp exits 2" $? 2

"$FG" models nope 2>/dev/null; expect "models with an unknown subcommand exits 2" $? 2
finish
