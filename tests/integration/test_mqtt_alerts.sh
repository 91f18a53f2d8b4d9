#!/bin/bash
# Alerts at the edge: with [alerts] enabled, a reading predicted anomalous or
# with status >= 1 makes the agent publish a compact JSON alert at QoS 1 on
# alerts/SENSOR_ID of the same broker, at most one per sensor per
# min_interval. Checked against the agent's own predictions in the buffer:
# which sensors must alert, which reading the alert is about, its fields.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt_lib.sh"
# The sanitized build: the MQTT input, publisher and shutdown paths must be
# ASan/LSan-clean (tests/run.sh sets FIELDGATE_ASAN).
FG=${FIELDGATE_ASAN:-$FG}

start_broker || mqtt_finish
# Subscribe at QoS 2 so that %q shows the QoS the agent published with.
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 2 -t 'alerts/#' -F '%t	%q	%p' >"$T/alerts.txt" 2>"$T/sub.err" &
pids+=($!); sub=$!
wait_for "mosquitto_sub subscribed" 10 bash -c \
	"mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -t alerts/probe -m probe; sleep 0.1; grep -q probe $T/alerts.txt"
write_mqtt_config "$T/site.conf" "[alerts]" "enabled = true" "topic = alerts/{sensor_id}" "min_interval = 60s"
"$FG" check-config -c "$T/site.conf" >"$T/check.out" 2>&1; expect "check-config with [alerts] exits 0" $? 0
start_agent "$T/site.conf" "$T/agent.log"
wait_connected "$T/site.conf" 15 || { tail -5 "$T/agent.log"; mqtt_finish; }

# hot-1: 20 boiler-room readings at 45 °C (fault) 1 s apart; hot-2: 3 of
# them; warm-1: 35 °C (warning); cold-1: 5 °C in building-a, then a jump
# to 25 °C (normal status, anomalous: a spike; a value that only repeats,
# P 0.49, is below the shipped detector's threshold); calm-1: ordinary
# readings (no alert).
t0=1767268800000   # 2026-01-01T12:00:00Z: the boiler is hot at noon
$PY - "$t0" >"$T/readings.jsonl" <<'PY'
import json, sys
t0 = int(sys.argv[1])
def r(sid, i, t, h, loc):
    return json.dumps({"sensor_id": sid, "temperature": t, "humidity": h, "location": loc,
                       "timestamp": t0 + i * 1000})
out = [r("hot-1", i, 45.0, 20.0, "boiler-room") for i in range(20)]
out += [r("hot-2", i, 45.0, 20.0, "boiler-room") for i in range(3)]
out += [r("warm-1", i, 35.0, 20.0, "boiler-room") for i in range(2)]
cold = [5.0, 5.2, 4.9, 5.1, 5.3, 4.8, 5.0, 5.2, 25.0, 25.3]
out += [r("cold-1", i, t, 45.0, "building-a") for i, t in enumerate(cold)]
calm = [(21.8, 45.2), (22.1, 44.6), (22.4, 45.9), (21.9, 44.1), (22.2, 45.5)]
out += [r("calm-1", i, t, h, "building-a") for i, (t, h) in enumerate(calm)]
print("\n".join(out))
PY
n=$(wc -l <"$T/readings.jsonl")
mqtt_pub -t sensors/mixed/reading -l <"$T/readings.jsonl" || fail "mosquitto_pub -l"
wait_events $n 15
sleep 2   # alerts are published asynchronously
kill $sub 2>/dev/null; wait $sub 2>/dev/null

sql "SELECT data FROM events ORDER BY seq" >"$T/events.jsonl"
$PY - "$T/events.jsonl" "$T/alerts.txt" <<'PY' || fail "alerts: see above; agent log: $(grep -i alert "$T/agent.log" | tail -3)"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
alerts = []
for line in open(sys.argv[2], encoding="utf-8"):
    topic, qos, payload = line.rstrip("\n").split("\t", 2)
    if topic != "alerts/probe":
        alerts.append((topic, int(qos), payload))
bad = 0
def no(msg):
    global bad
    print(msg); bad += 1
def triggers(e):
    p = e["prediction"]
    return p["anomaly"] or p["status"] >= 1
first = {}
for e in events:
    if triggers(e) and e["sensor_id"] not in first:
        first[e["sensor_id"]] = e
# The fixture must trigger as designed, or the test proves nothing.
for sid in ("hot-1", "hot-2", "warm-1", "cold-1"):
    if sid not in first:
        no("fixture: no %s reading was predicted anomalous or status >= 1" % sid)
if "calm-1" in first:
    no("fixture: calm-1 was predicted anomalous or status >= 1")
if "hot-1" in first and sum(1 for e in events if e["sensor_id"] == "hot-1" and triggers(e)) < 20:
    no("fixture: not all 20 hot-1 readings trigger")
print("%d alerts: %s" % (len(alerts), ", ".join(t for t, _, _ in alerts)))
if alerts:
    print("first: %s %s" % (alerts[0][0], alerts[0][2]))
per = {}
for topic, qos, payload in alerts:
    try:
        a = json.loads(payload)
    except ValueError:
        no("alert on %s is not JSON: %r" % (topic, payload)); continue
    if not isinstance(a, dict):
        no("alert on %s is not an object: %r" % (topic, payload)); continue
    sid = a.get("sensor_id")
    per[sid] = per.get(sid, 0) + 1
    if topic != "alerts/%s" % sid:
        no("alert for %s on topic %s" % (sid, topic))
    if qos != 1:
        no("alert for %s published at QoS %d" % (sid, qos))
    want = ["alert", "sensor_id", "gateway_id", "site", "@timestamp", "temperature", "humidity",
            "status", "status_probability", "anomaly_probability"]
    missing = [k for k in want if k not in a]
    if missing:
        no("alert for %s lacks %s: %s" % (sid, missing, payload)); continue
    if " " in payload.strip() or "\n" in payload.strip():
        no("alert for %s is not compact JSON: %s" % (sid, payload))
    e = first.get(sid)
    if e is None:
        no("alert for %s, which has no triggering reading" % sid); continue
    p = e["prediction"]
    if a["alert"] not in ("anomaly", "warning", "fault"):
        no("alert for %s: alert = %r" % (sid, a["alert"]))
    expect_kind = {2: "fault", 1: "warning"}.get(p["status"], "anomaly")
    if a["alert"] != expect_kind:
        no("alert for %s: alert = %r, its reading has status %d anomaly %s" % (sid, a["alert"], p["status"], p["anomaly"]))
    checks = [("gateway_id", "gw-test"), ("site", "test"), ("@timestamp", e["@timestamp"]),
              ("status", p["status"])]
    for k, v in checks:
        if a[k] != v:
            no("alert for %s: %s = %r, expected %r (the first triggering reading)" % (sid, k, a[k], v))
    for k, v in (("temperature", e["temperature"]), ("humidity", e["humidity"]),
                 ("status_probability", p["status_probability"]),
                 ("anomaly_probability", p["anomaly_probability"])):
        if not isinstance(a[k], (int, float)) or abs(a[k] - v) > 1e-4:
            no("alert for %s: %s = %r, expected %r" % (sid, k, a[k], v))
for sid in first:
    if per.get(sid, 0) != 1:
        no("%s: %d alerts, expected exactly 1 (min_interval = 60s)" % (sid, per.get(sid, 0)))
for sid in per:
    if sid not in first:
        no("%s: %d alerts for a sensor with no triggering reading" % (sid, per[sid]))
sys.exit(1 if bad else 0)
PY
kill -0 $agent_pid 2>/dev/null || fail "the agent is not running: $(tail -3 "$T/agent.log")"
kill -TERM $agent_pid; wait $agent_pid; expect "SIGTERM exits 0" $? 0
mqtt_finish
