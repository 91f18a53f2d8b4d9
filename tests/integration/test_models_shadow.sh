#!/bin/bash
# Shadow models (issue 12 point 4): a candidate set scores every reading
# beside the live set; status, /metrics and (with shadow_in_events) each
# event show how it compares; `fieldgate models promote` makes it the live
# set with one atomic swap and the running agent takes it; `rollback` puts
# the old one back. A shadow set that does not load leaves the agent running
# on its live set.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# new_events_by SEQ MODEL [DB]: true when an event after SEQ was scored by MODEL.
new_events_by() {
	[ "$(sqlite3 -batch -noheader "${3:-$T/data/buffer.db}" "SELECT count(*) FROM events WHERE seq > $1 AND \
		json_extract(data, '\$.models.status') = '$2'" 2>/dev/null || echo 0)" -gt 0 ]
}
# status_says CONF REGEX: the text of `status` has a line matching REGEX.
status_says() { "$FG" status -c "$1" 2>/dev/null | grep -q "$2"; }

# The live set: the shipped models, in a directory of the site's. The
# candidate: trained on other data with other settings, version 2, so that
# it disagrees now and then.
mkdir -p "$T/live" && cp "$top"/models/default/* "$T/live/"
"$FG" simulate --sensors 50 --rate 0.01 --count 30000 --seed 77 --start 2026-05-04T00:00:00Z \
	--out "$T/cand.jsonl"
"$FG" train --data "$T/cand.jsonl" --out "$T/cand" --trees 5 --depth 3 --iterations 3 --version 2 \
	--seed 3 >/dev/null || fail "training the candidate set"
port=$(free_port)
write_config "$T/site.conf"
sed -i "s|^dir = .*|dir = $T/live\nshadow_dir = $T/cand\nshadow_in_events = true|; s|^listen =\$|listen = 127.0.0.1:$port|" "$T/site.conf"
grep -q "^shadow_dir = $T/cand" "$T/site.conf" || fail "config: $(cat "$T/site.conf")"
"$FG" check-config -c "$T/site.conf" | grep -q "^shadow_dir = $T/cand$" || fail "check-config shows shadow_dir"

"$FG" run -c "$T/site.conf" 2>"$T/agent.log" &
agent=$!; pids+=($agent)
wait_for "the agent scores with both sets" 10 grep -qs "shadow set status_predictor@2, .* every reading is scored by it too" "$T/agent.log"
sleep 3
"$FG" status -c "$T/site.conf" --json >"$T/s.json"
"$FG" status -c "$T/site.conf" >"$T/s.txt"
grep -q '^shadow:     status_predictor@2, anomaly_detector@2, humidity_regressor@2 from ' "$T/s.txt" ||
	fail "status text shows the shadow set: $(cat "$T/s.txt")"
curl -s "http://127.0.0.1:$port/metrics" >"$T/metrics"
$PY - "$T/s.json" "$T/data/buffer.db" "$T/metrics" <<'PY' || fail "shadow figures"
import json, sqlite3, sys
s = json.load(open(sys.argv[1]))["shadow"]
assert s["status"] == "status_predictor@2" and s["humidity"] == "humidity_regressor@2", s
assert s["readings"] > 1000 and 0 < s["status_agreement"] <= 1 and 0 < s["anomaly_agreement"] <= 1, s
assert s["status_labelled"] > 0 and 0 < s["status_accuracy"] <= 1 and s["humidity_rmse"] > 0, s
assert s["humidity_rms_diff"] > 0, s          # a different regressor: it differs
# The events carry the shadow's predictions; its agreement with the live
# set, counted from the events, is the figure status shows (within the few
# readings the two counts lag each other).
con = sqlite3.connect(sys.argv[2])
rows = [json.loads(d) for (d,) in con.execute("SELECT data FROM events ORDER BY seq")]
assert all(e["shadow"]["models"]["status"] == "status_predictor@2" for e in rows), rows[0]
assert all(e["models"]["status"] == "status_predictor@1" for e in rows), rows[0]
agree = sum(e["shadow"]["prediction"]["status"] == e["prediction"]["status"] for e in rows) / len(rows)
assert abs(agree - s["status_agreement"]) < 0.02, (agree, s["status_agreement"])
m = open(sys.argv[3]).read()
assert 'fieldgate_shadow_model_info{model="status",name="status_predictor@2"} 1' in m
line = [l for l in m.splitlines() if l.startswith('fieldgate_shadow_agreement_ratio{model="status"}')]
assert line and abs(float(line[0].split()[1]) - s["status_agreement"]) < 0.02, line
assert 'fieldgate_shadow_drift{model="humidity",measure="rmse"}' in m
print("shadow agreement: status %.4f (events %.4f), anomaly %.4f; humidity RMSE %.3f, differs by %.3f RMS"
      % (s["status_agreement"], agree, s["anomaly_agreement"], s["humidity_rmse"], s["humidity_rms_diff"]))
PY

# promote: the evidence, the swap, the agent reloads, the old set is kept.
"$FG" models promote -c "$T/site.conf" --dry-run >"$T/dry" 2>&1; expect "promote --dry-run exits 0" $? 0
grep -q '^would promote status_predictor@2' "$T/dry" || fail "dry run: $(cat "$T/dry")"
grep -q 'agrees with the live set on status' "$T/dry" || fail "dry run shows the evidence: $(cat "$T/dry")"
grep -q '"version": 1,' "$T/live/status_predictor.json" || fail "dry run changed the live set"
"$FG" models promote -c "$T/site.conf" >"$T/promote" 2>&1; expect "promote exits 0" $? 0
grep -q 'the running agent (pid [0-9]*) now serves the new set' "$T/promote" || fail "promote: $(cat "$T/promote")"
grep -q '"version": 2,' "$T/live/status_predictor.json" || fail "the live directory holds the promoted set"
(cd "$T/live" && sha256sum --quiet -c SHA256SUMS) || fail "the promoted set is sealed"
grep -q '"version": 1,' "$T/live.previous/status_predictor.json" || fail "the replaced set is kept as live.previous"
grep -q 'models: reloaded: status_predictor@2, anomaly_detector@2, humidity_regressor@2' "$T/agent.log" ||
	fail "the agent logged the reload: $(grep models: "$T/agent.log" | tail -3)"
n=$(sql 'SELECT max(seq) FROM events')
wait_for "events scored by the promoted set" 10 new_events_by "$n" status_predictor@2

# rollback: the old set again.
"$FG" models rollback -c "$T/site.conf" >"$T/rollback" 2>&1; expect "rollback exits 0" $? 0
grep -q "rolled back: $T/live holds status_predictor@1" "$T/rollback" || fail "rollback: $(cat "$T/rollback")"
grep -q 'now serves the new set' "$T/rollback" || fail "rollback: the agent did not reload: $(cat "$T/rollback")"
n=$(sql 'SELECT max(seq) FROM events')
wait_for "events scored by the rolled-back set" 10 new_events_by "$n" status_predictor@1
kill -TERM $agent; wait $agent; expect "SIGTERM exits 0" $? 0

# What promote refuses, naming the problem.
write_config "$T/noshadow.conf"
"$FG" models promote -c "$T/noshadow.conf" 2>"$T/err"; expect "promote without shadow_dir exits 2" $? 2
grep -q 'has no \[models\] shadow_dir: nothing to promote' "$T/err" || fail "promote message: $(cat "$T/err")"
sed "s|^dir = .*|dir = /usr/share/fieldgate/models\nshadow_dir = $T/cand|" "$T/noshadow.conf" >"$T/pkg.conf"
"$FG" models promote -c "$T/pkg.conf" 2>"$T/err"; expect "promote into the packaged set exits 2" $? 2
grep -q 'is the packaged set, which package upgrades replace' "$T/err" || fail "promote message: $(cat "$T/err")"

# A shadow set that does not load: the agent runs on its live set, says so.
mkdir -p "$T/broken" && cp "$top"/models/default/*.json "$T/broken/" && echo '{' >"$T/broken/anomaly_detector.json"
DATA_DIR=$T/data2 write_config "$T/b.conf"
sed -i "s|^dir = .*|dir = $top/models/default\nshadow_dir = $T/broken|" "$T/b.conf"
"$FG" check-config -c "$T/b.conf" >/dev/null 2>"$T/err"; expect "check-config with a broken shadow set exits 2" $? 2
grep -q "b.conf: \[models\] shadow_dir: $T/broken/anomaly_detector.json: " "$T/err" || fail "check-config: $(cat "$T/err")"
"$FG" run -c "$T/b.conf" 2>"$T/agent2.log" &
agent=$!; pids+=($agent)
wait_for "the agent runs without the broken shadow" 10 grep -qs 'shadow set not loaded, the live set serves alone: .*broken/anomaly_detector.json' "$T/agent2.log"
wait_for "status shows the shadow set not loaded" 10 status_says "$T/b.conf" "^shadow:     not loaded from $T/broken: .*anomaly_detector.json"
expect "its events carry no shadow object" "$(sqlite3 "$T/data2/buffer.db" "SELECT count(*) FROM events WHERE json_extract(data, '\$.shadow') IS NOT NULL")" 0
kill -TERM $agent; wait $agent; expect "SIGTERM exits 0" $? 0
finish
