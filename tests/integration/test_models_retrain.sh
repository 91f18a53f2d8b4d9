#!/bin/bash
# Retrain from the buffer (issue 12 point 6): `fieldgate train -c SITE.conf
# --since T` trains a new, versioned set on the labelled events the agent
# has buffered, compares it with the live set on a held-out slice, and with
# --promote-if-better installs it only when it is better; the running agent
# then serves it. `fieldgate eval -c` compares two sets on the buffer.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# The live set is a poor one (one tree of depth 1, one GBT iteration, a
# logistic regression held near zero by regParam 1000, on little data), so
# that a set trained on the buffer beats it.
"$FG" simulate --sensors 20 --rate 0.01 --count 3000 --seed 4 --start 2026-05-04T00:00:00Z --out "$T/small.jsonl"
"$FG" train --data "$T/small.jsonl" --out "$T/live" --trees 1 --depth 1 --iterations 1 --reg 1000 >/dev/null ||
	fail "training the poor live set"
write_config "$T/site.conf"
sed -i "s|^rate = .*|rate = 0.01\ntime_scale = 7200|; s|^dir = .*|dir = $T/live|" "$T/site.conf"
"$FG" run -c "$T/site.conf" 2>"$T/agent.log" &
agent=$!; pids+=($agent)
# Two simulated days (24 s): the held-out slice is the end of the second.
enough() { [ "$(sql 'SELECT count(*) FROM events' 2>/dev/null || echo 0)" -ge 172800 ]; }
wait_for "172,800 events buffered" 60 enough

# Usage errors, and an empty range.
"$FG" train -c "$T/site.conf" 2>/dev/null; expect "train -c without --since exits 2" $? 2
"$FG" train -c "$T/site.conf" --since 2020-01-01T00:00:00Z --until 2020-01-02T00:00:00Z 2>"$T/err"
expect "train -c on an empty range exits 1" $? 1
grep -q 'no buffered event arrived in that time range' "$T/err" || fail "empty range: $(cat "$T/err")"

# Without --promote-if-better: a new set beside the live one, compared.
"$FG" train -c "$T/site.conf" --since 0 >"$T/train.out" 2>&1; expect "train -c exits 0" $? 0
cat "$T/train.out"
grep -q '^training on [0-9]* events, [0-9]* held out' "$T/train.out" || fail "train -c output"
grep -q '^the new set is better: ' "$T/train.out" || fail "the buffer-trained set beats the poor one"
# The anomaly model is judged on accuracy (false alarms plus misses); F1 is shown.
grep -q '^the new set is better: status accuracy .*, anomaly accuracy .*, humidity RMSE ' "$T/train.out" ||
	fail "the judgement does not name anomaly accuracy"
grep -q '^anomaly F1 .*(for information)$' "$T/train.out" || fail "anomaly F1 is not shown for information"
(cd "$T/data/models/set-2" && sha256sum --quiet -c SHA256SUMS) || fail "set-2 is written and sealed"
grep -q '"version": 2,' "$T/data/models/set-2/status_predictor.json" || fail "the new set is version 2"
grep -q '"data_source": "the buffer of site test: events seq 1\.\.' "$T/data/models/set-2/status_predictor.json" ||
	fail "provenance: $(grep data_source "$T/data/models/set-2/status_predictor.json")"
grep -q '"version": 1,' "$T/live/status_predictor.json" || fail "without --promote-if-better the live set stays"
"$FG" train -c "$T/site.conf" --since 0 2>"$T/err" >/dev/null; expect "a second run without --out exits 1" $? 1
grep -q 'set-2 exists already' "$T/err" || fail "existing set: $(cat "$T/err")"

# eval -c: the two sets on the buffer, as JSON.
"$FG" eval -c "$T/site.conf" --models "$T/data/models/set-2" --json >"$T/eval.json"; expect "eval -c exits 0" $? 0
$PY - "$T/eval.json" <<'PY' || fail "eval -c --json: $(cat "$T/eval.json")"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["rows"] >= 172800 and e["better"] is True, e
assert e["candidate"]["status"]["accuracy"] > e["live"]["status"]["accuracy"], e
assert e["candidate"]["humidity"]["rmse"] < e["live"]["humidity"]["rmse"], e
PY

# --promote-if-better with a set that is better: installed, the agent takes it.
"$FG" train -c "$T/site.conf" --since 0 --out "$T/cand" --version 3 --promote-if-better >"$T/p.out" 2>&1
expect "train -c --promote-if-better exits 0" $? 0
grep -q "installed into $T/live" "$T/p.out" || fail "promote: $(cat "$T/p.out")"
grep -q 'the running agent (pid [0-9]*) now serves the new set' "$T/p.out" || fail "reload: $(cat "$T/p.out")"
grep -q '"version": 3,' "$T/live/status_predictor.json" || fail "the live directory holds set 3"
grep -q '"version": 1,' "$T/live.previous/status_predictor.json" || fail "the poor set is kept as live.previous"
wait_for "events scored by set 3" 10 grep -qs 'models: reloaded: status_predictor@3' "$T/agent.log"

# --promote-if-better with a set that is worse: nothing installed.
"$FG" train -c "$T/site.conf" --since 0 --out "$T/worse" --version 4 --trees 1 --depth 1 --iterations 1 --reg 1000 \
	--promote-if-better >"$T/w.out" 2>&1; expect "a worse set: exit 0" $? 0
grep -q '^the new set is not better: .*(worse).*; the live set stays (nothing installed)$' "$T/w.out" ||
	fail "not better: $(cat "$T/w.out")"
grep -q '"version": 3,' "$T/live/status_predictor.json" || fail "the worse set was not installed"
kill -TERM $agent; wait $agent; expect "SIGTERM exits 0" $? 0

finish
