#!/bin/bash
# The Node-RED peer of `make compare` (tests/peers/compare/nodered); run by
# `make test-compare` (not by `make test`: its npm packages take minutes to
# build, and CI has 15):
#  1. score mode (score_cli.js, the score.js the flow runs) reproduces
#     fieldgate's predictions on prep.sh's 1,000 parity readings: status and
#     anomaly equal, probabilities and humidity within 1e-5 (and the check
#     itself catches one flipped status);
#  2. service mode (run.sh: Node-RED, the flow) drains the same 1,000
#     readings queued in mosquitto for a persistent QoS 1 session into
#     Kafka: "ready" on stdout, one message per reading, key = sensor_id,
#     the reading's timestamp, the same predictions as fieldgate; the
#     SQLite store in WAL mode holds all 1,000, all confirmed; SIGTERM
#     stops it with status 0;
#  3. restart: events in the store that Kafka never confirmed (100 rows
#     marked so by hand) are re-sent at the next start, and only those.
# Needs `make compare-deps` (Node-RED and its packages in
# build/compare/nodered); without them it fails, saying so.
. "$(dirname "$0")/../../integration/lib.sh"
. "$top/tests/integration/mqtt_lib.sh"
. "$top/tests/integration/kafka_lib.sh"
NR=$top/tests/peers/compare/nodered
if [ ! -f "$top/build/compare/nodered/.installed" ]; then
	fail "Node-RED is not installed in build/compare/nodered: run 'make compare-deps' (or make test-compare)"
	finish
fi
command -v node >/dev/null || { fail "node is not installed (make deps)"; finish; }

# compare PREDICTIONS FIELDGATE: PREDICTIONS (lines with sensor_id,
# timestamp, prediction; any order) against fieldgate's events, matched by
# (sensor_id, timestamp). Prints "N matched" or the first differences.
compare() {
	"$PY" - "$1" "$2" <<'PY'
import json, sys
from datetime import datetime, timezone
def ms(ev):
    t = ev.get("timestamp")
    if t is None:
        t = int(datetime.strptime(ev["@timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
                .replace(tzinfo=timezone.utc).timestamp() * 1000 + 0.5)
    return t
want = {}
for line in open(sys.argv[2]):
    ev = json.loads(line)
    want[(ev["sensor_id"], ms(ev))] = ev["prediction"]
def close(a, b):
    d = abs(a - b)
    return d <= 1e-5 or d <= 1e-5 * abs(b)
got, bad = 0, []
for line in open(sys.argv[1]):
    ev = json.loads(line)
    k = (ev["sensor_id"], ev["timestamp"])
    q, p = want.get(k), ev["prediction"]
    got += 1
    if q is None:
        bad.append("%s: not among fieldgate's readings" % (k,))
    elif p["status"] != q["status"] or p["anomaly"] != q["anomaly"] or not all(
            close(p[f], q[f]) for f in ("status_probability", "anomaly_probability", "humidity")):
        bad.append("%s: %s, fieldgate %s" % (k, p, q))
if bad or got != len(want):
    print("%d predictions for %d readings, %d differ: %s" % (got, len(want), len(bad), "; ".join(bad[:3])))
    sys.exit(1)
print("%d matched" % got)
PY
}

# --- 1. score mode ----------------------------------------------------------
"$top/tests/peers/compare/prep.sh" "$FG" "$T/prep" >"$T/prep.log" 2>&1 || { fail "prep.sh: $(tail -n 3 "$T/prep.log")"; finish; }
node "$NR/score_cli.js" --models "$T/prep" <"$T/prep/parity.jsonl" >"$T/score.jsonl" 2>"$T/score.err"
expect "score mode exits 0" $? 0
expect "one prediction per reading" "$(wc -l <"$T/score.jsonl")" 1000
out=$(compare "$T/score.jsonl" "$T/prep/parity.fieldgate.jsonl")
expect "score mode matches fieldgate on the 1,000 parity readings ($out)" $? 0
expect "the same through run.sh score" \
	"$("$NR/run.sh" score --models "$T/prep/models" <"$T/prep/parity.jsonl" | cmp - "$T/score.jsonl" && echo same)" same
sed '1s/"status":[0-9],/"status":9,/' "$T/score.jsonl" >"$T/flipped.jsonl"
out=$(compare "$T/flipped.jsonl" "$T/prep/parity.fieldgate.jsonl")
expect "the comparison catches one flipped status" $? 1
echo '{"sensor_id":"s","humidity":50}' | node "$NR/score_cli.js" --models "$T/prep" >/dev/null 2>"$T/bad.err"
expect "a reading without a temperature: exit 1" $? 1
grep -q "line 1: temperature: missing" "$T/bad.err" || fail "no reason for the bad reading: $(cat "$T/bad.err")"

# --- 2. service mode ----------------------------------------------------------
start_broker || finish
start_kafka --brokers 3 --topic nr-events:4 || finish
ID=nr-test-$$
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -c -i "$ID" -q 1 -t 'sensors/+/reading' -E || fail "cannot create the session"
"$FG" simulate --mqtt "tcp://127.0.0.1:$MQTT_PORT" --qos 1 --sensors 100 --count 1000 --seed 21 \
	--start 2026-02-02T00:00:00Z >"$T/pub.log" 2>&1 || fail "simulate --mqtt: $(cat "$T/pub.log")"
peer() {
	"$NR/run.sh" --mqtt "127.0.0.1:$MQTT_PORT" --topic 'sensors/+/reading' --client-id "$ID" \
		--models "$T/prep" --store "$T/store" --kafka "$KAFKA_BOOTSTRAP" --kafka-topic nr-events \
		>"$T/peer.out" 2>"$T/peer.err" &
	peer_pid=$!
	pids+=("$peer_pid")
}
kafka_lines() { _kcat_read nr-events '%k\t%s\n' >"$T/kafka.tsv"; wc -l <"$T/kafka.tsv"; }
has_lines() { [ "$(kafka_lines)" -ge "$1" ]; }
peer
wait_for "the peer to say ready" 30 grep -qx ready "$T/peer.out"
wait_for "1,000 messages in Kafka" 60 has_lines 1000
sleep 1
expect "one message per reading" "$(kafka_lines)" 1000
awk -F '\t' '{print $2}' "$T/kafka.tsv" >"$T/kafka.jsonl"
out=$(compare "$T/kafka.jsonl" "$T/prep/parity.fieldgate.jsonl")
expect "the flow's predictions in Kafka match fieldgate's ($out)" $? 0
expect "key = sensor_id" "$("$PY" -c '
import json, sys
print(all(json.loads(v)["sensor_id"] == k for k, v in (l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1]))))' "$T/kafka.tsv")" True
db=$T/store/events.db
wait_for "every stored event confirmed by Kafka" 10 \
	test "$(sqlite3 "$db" 'SELECT count(*) FROM events WHERE forwarded = 1')" == 1000
expect "the store holds each reading once" "$(sqlite3 "$db" 'SELECT count(*) FROM events')" 1000
expect "the store is in WAL mode" "$(sqlite3 "$db" 'PRAGMA journal_mode')" wal
kill -TERM "$peer_pid"; wait "$peer_pid"
expect "SIGTERM stops the peer with status 0" $? 0
[ -s "$T/peer.err" ] && fail "stderr not empty: $(head -c 300 "$T/peer.err")"

# --- 3. restart re-sends what Kafka never confirmed -------------------------
sqlite3 "$db" 'UPDATE events SET forwarded = 0 WHERE id BETWEEN 401 AND 500'
peer
wait_for "the restarted peer to say ready" 30 grep -qx ready "$T/peer.out"
wait_for "the 100 unconfirmed events again in Kafka" 30 has_lines 1100
sleep 2
expect "only those 100 were re-sent" "$(kafka_lines)" 1100
grep -q "re-sending 100 stored events to Kafka" "$T/store/nodered.log" || fail "no log line for the re-send"
wait_for "the re-sent events confirmed" 10 \
	test "$(sqlite3 "$db" 'SELECT count(*) FROM events WHERE forwarded = 0')" == 0
kill -TERM "$peer_pid"; wait "$peer_pid"
expect "SIGTERM after the restart: status 0" $? 0
stop_kafka
finish
