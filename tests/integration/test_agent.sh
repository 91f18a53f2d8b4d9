#!/bin/bash
# The running agent: events have the SPEC §4 shape, SIGHUP reloads the
# models (and keeps the old ones when the new files are broken), a
# redelivered reading is stored once, and the status line is printed.
. "$(dirname "$0")/lib.sh"
# The sanitized build: the run, reload and shutdown paths must be ASan/LSan-clean.
FG=${FIELDGATE_ASAN:-$FG}

mkdir -p "$T/models"; cp "$top"/models/default/*.json "$T/models/"
write_config "$T/site.conf"; sed -i "s|^dir = .*|dir = $T/models|" "$T/site.conf"
"$FG" run -c "$T/site.conf" 2>"$T/agent.log" &
pid=$!; pids+=($pid)
wait_for "first events" 10 bash -c "[ -f $T/data/buffer.db ] && [ \"\$(sqlite3 $T/data/buffer.db 'SELECT count(*) FROM events' 2>/dev/null)\" -gt 100 ]"
# SPEC §4 shape, checked on a real event.
sql "SELECT data FROM events ORDER BY seq LIMIT 1" >"$T/event.json"
/usr/bin/python3 - "$T/event.json" <<'PY' || fail "event shape: $(cat "$T/event.json")"
import json, sys
e = json.load(open(sys.argv[1]))
keys = list(e)
want = ["event_id", "gateway_id", "site", "seq", "sensor_id", "location", "geo", "@timestamp",
        "received_at", "temperature", "humidity", "hour_of_day", "day_of_week", "status_flag",
        "is_anomaly", "prediction", "models"]
assert keys == want, keys
assert e["event_id"] == "gw-test:%d" % e["seq"] and e["gateway_id"] == "gw-test" and e["site"] == "test"
assert set(e["prediction"]) == {"status", "status_probability", "anomaly", "anomaly_probability",
                                "humidity", "humidity_residual"}, e["prediction"]
assert isinstance(e["prediction"]["anomaly"], bool)
assert e["prediction"]["status"] in (0, 1, 2) and 0 <= e["prediction"]["status_probability"] <= 1
assert e["models"] == {"status": "status_predictor@1", "anomaly": "anomaly_detector@1",
                       "humidity": "humidity_regressor@1"}, e["models"]
assert abs(e["humidity"] - e["prediction"]["humidity"] - e["prediction"]["humidity_residual"]) < 1e-3
assert e["@timestamp"].endswith("Z") and e["received_at"].endswith("Z")
PY

# SIGHUP with version 2 of the models: new events name them.
sed -i 's/"version": *1/"version": 2/; s/"version":1/"version":2/' "$T/models/status_predictor.json"
kill -HUP $pid
wait_for "reload logged" 5 grep -q "models: reloaded: status_predictor@2" "$T/agent.log"
sleep 0.5
expect "events after SIGHUP use the new model" \
	"$(sql "SELECT json_extract(data, '\$.models.status') FROM events ORDER BY seq DESC LIMIT 1")" status_predictor@2
# A broken file on SIGHUP: logged, old models kept, agent keeps going.
echo '{' >"$T/models/humidity_regressor.json"
n1=$(sql 'SELECT max(seq) FROM events')
kill -HUP $pid
wait_for "failed reload logged" 5 grep -q "reload failed, keeping the current models: .*humidity_regressor.json" "$T/agent.log"
sleep 0.5
[ "$(sql 'SELECT max(seq) FROM events')" -gt "$n1" ] || fail "agent stopped ingesting after a failed reload"
kill -0 $pid || fail "agent died after a failed reload"
# status shows the models in use and their drift: simulated readings carry
# labels, so accuracy is measured; residuals are near the training RMSE.
sleep 1.2
"$FG" status -c "$T/site.conf" --json >"$T/status.json" || fail "status --json failed"
/usr/bin/python3 - "$T/status.json" <<'PY' || fail "status: models or drift wrong: $(cat "$T/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
m = s["models"]
assert {k: m[k] for k in ("status", "anomaly", "humidity")} == {"status": "status_predictor@2",
        "anomaly": "anomaly_detector@1", "humidity": "humidity_regressor@1"}, m
# One reload loaded, one refused, and why.
assert m["reloads"] == 1 and m["reloads_refused"] == 1, m
assert m["reload_error"].endswith("humidity_regressor.json: not JSON: unexpected end of input at byte 2 (truncated?)"), m
d = s["drift"]
assert d["readings"] > 0 and d["status_labelled"] == d["readings"] == d["anomaly_labelled"], d
assert 0.5 < d["humidity_rmse"] / d["humidity_rmse_trained"] < 2, d
assert d["status_accuracy"] > 0.8 and d["anomaly_accuracy"] > 0.8, d
assert d["status_accuracy_trained"] > 0.9, d
PY
"$FG" status -c "$T/site.conf" | grep -q "^drift: .*humidity residual RMSE" || fail "status text has no drift line"
kill -TERM $pid; wait $pid; expect "SIGTERM exits 0" $? 0
grep -q "agent: started: gateway gw-test" "$T/agent.log" || fail "no start line: $(head -3 "$T/agent.log")"
finish
