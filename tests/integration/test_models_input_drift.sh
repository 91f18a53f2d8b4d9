#!/bin/bash
# Input drift (issue 12 point 5): the agent compares each watched feature's
# distribution over a sliding window with the training histogram in the
# model files (PSI). The simulator runs a day in 12 s ([simulator]
# time_scale = 7200, the shipped models' training rate and seed) with a
# 12 s window, so a window holds one whole daily cycle, as the default 24 h
# window does in the field. For 28 s the readings are like the training
# data: nothing may be flagged. Then every other sensor reads 10 °C warmer
# (drift_after): temperature must be flagged, with one log line, in status
# and in /metrics.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

port=$(free_port)
write_config "$T/site.conf"
# 100 sensors x 0.01 Hz x 7200 = 7,200 readings/s; drift from 28 s on.
sed -i "s|^rate = .*|rate = 0.01\ntime_scale = 7200\ndrift_after = 201600|; s|^seed = .*|seed = 7|; \
	s|^dir = \(.*\)|dir = \1\ninput_drift_window = 12s|; s|^listen =\$|listen = 127.0.0.1:$port|" "$T/site.conf"
grep -q '^input_drift_window = 12s$' "$T/site.conf" || fail "config: $(cat "$T/site.conf")"
"$FG" run -c "$T/site.conf" 2>"$T/agent.log" &
agent=$!; pids+=($agent)

# status_json KEY...: a value from status --json's input_drift object.
status_json() {
	"$FG" status -c "$T/site.conf" --json 2>/dev/null | $PY -c '
import json, sys
try:
    v = json.load(sys.stdin)["input_drift"]
    for k in sys.argv[1:]:
        v = v[k]
except Exception:
    v = None  # not running yet
print(json.dumps(v))' "$@"
}
window_full() { [ "$(status_json full)" == true ]; }
drift_logged() { grep -q 'input drift: temperature has moved away from the training data' "$T/agent.log"; }

wait_for "the first window is full" 20 window_full
"$FG" status -c "$T/site.conf" | grep -q '^input drift: PSI over the last 12 s, [0-9]* readings (0.25 and above: drifting): temperature [0-9.]* ' ||
	fail "status text: $("$FG" status -c "$T/site.conf" | grep 'input drift')"
# Stable: until the drift starts (28 s), nothing is flagged.
while [ "$(status_json readings)" != null ] && ! drift_logged; do
	seq=$(sql 'SELECT max(seq) FROM events')
	[ "${seq:-0}" -gt 190000 ] && break
	sleep 1
done
expect "a stable run flags no drift" "$(grep -c 'input drift:' "$T/agent.log")" 0
$PY - "$(status_json)" <<'PY' || fail "stable PSI: $(status_json)"
import json, sys
d = json.loads(sys.argv[1])
assert d["full"] and d["readings"] > 50000 and d["drifting"] == [], d
assert {"temperature", "humidity", "lat", "temp_mean_10"} <= set(d["psi"]), d
assert not {"hour_of_day", "day_of_week", "hour_sin", "hour_cos"} & set(d["psi"]), d  # calendar
assert max(d["psi"].values()) < 0.1, d
print("stable: PSI at most %.4f over %d readings" % (max(d["psi"].values()), d["readings"]))
PY
# Drift: flagged within a window, once.
wait_for "the temperature drift is logged" 20 drift_logged
sleep 3
expect "one line for it" "$(grep -c 'input drift: temperature has moved away' "$T/agent.log")" 1
grep -q 'input drift: temperature has moved away from the training data of status_predictor@1: PSI [0-9.]* over the last 12 s ([0-9]* readings), where 0.25 counts as drifting' "$T/agent.log" ||
	fail "drift line: $(grep 'input drift' "$T/agent.log" | head -2)"
$PY - "$(status_json)" <<'PY' || fail "drift in status: $(status_json)"
import json, sys
d = json.loads(sys.argv[1])
assert "temperature" in d["drifting"] and d["psi"]["temperature"] >= 0.25, d
PY
"$FG" status -c "$T/site.conf" | grep -q 'temperature [0-9.]* DRIFTING' || fail "status text marks temperature"
curl -s "http://127.0.0.1:$port/metrics" >"$T/metrics"
grep -q '^fieldgate_input_drift_drifting{feature="temperature"} 1$' "$T/metrics" || fail "metrics: $(grep input_drift "$T/metrics")"
grep -q '^fieldgate_input_drift_drifting{feature="temp_abs_diff_prev"} 0$' "$T/metrics" || fail "metrics: a steady feature"
grep -q '^fieldgate_input_drift_psi{feature="temperature"} ' "$T/metrics" || fail "metrics: psi"
kill -TERM $agent; wait $agent; expect "SIGTERM exits 0" $? 0
finish
