#!/bin/bash
# The peers of `make compare` (tests/peers/compare/) before anything is
# timed: each must predict what fieldgate predicts, and its service must do
# the same work end to end. One function per peer.
#
# Shared: tests/peers/compare/prep.sh (the scikit-learn models, fieldgate's
# import of them, 1,000 parity readings and fieldgate's events for them).
#
# check_python (tests/peers/compare/py_service.py):
#  1. score mode on the 1,000 parity readings = fieldgate's predictions
#     (tests/peers/compare/parity.py: status and anomaly equal,
#     probabilities and humidity within 1e-5);
#  2. service mode: 2,000 QoS 1 readings queued for its persistent session
#     in mosquitto; it prints "ready" and drains them into its store and
#     Kafka (the mock cluster); then 2,000 more published while it runs,
#     kill -9 in mid-stream, restart with the same options, SIGTERM once
#     Kafka has confirmed everything: exit 0, each reading stored once, all
#     4,000 in Kafka (duplicates of the re-sent tail allowed: at-least-once),
#     key = sensor_id, and the events of the first 2,000 (scored before the
#     kill, by one uninterrupted stream) carry what `fieldgate score`
#     predicts for the same readings.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt_lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
PY=/usr/bin/python3
CMP=$top/tests/peers/compare

# kafka_dump TOPIC EXPECT OUT: read TOPIC from the beginning of every
# partition until EXPECT distinct readings (sensor_id, timestamp) arrived or
# 5 s pass with nothing new; each distinct reading's value on a line of OUT
# (first copy); prints {"messages", "unique", "duplicates", "bad_keys"}.
kafka_dump() {
	timeout 60 $PY - "$KAFKA_BOOTSTRAP" "$@" <<'PY'
import json, sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
boot, topic, expect, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Consumer({"bootstrap.servers": boot, "group.id": "kafka_dump", "enable.auto.commit": False})
parts = c.list_topics(topic, timeout=10).topics[topic].partitions
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
seen, msgs, bad, last = set(), 0, 0, time.monotonic()
with open(out, "w") as f:
    while len(seen) < expect and time.monotonic() - last < 5:
        for m in c.consume(1000, 0.2):
            if m.error():
                continue
            msgs += 1
            last = time.monotonic()
            e = json.loads(m.value())
            if m.key() != e["sensor_id"].encode():
                bad += 1
            k = (e["sensor_id"], e["timestamp"])
            if k not in seen:
                seen.add(k)
                f.write(m.value().decode() + "\n")
c.close()
print(json.dumps({"messages": msgs, "unique": len(seen), "duplicates": msgs - len(seen), "bad_keys": bad}))
PY
}

# json_get JSON KEY: one top-level field of a JSON object.
json_get() { $PY -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$1" "$2"; }

# missing_readings READINGS.jsonl EVENTS.jsonl: readings with no event.
missing_readings() {
	$PY - "$1" "$2" <<'PY'
import json, sys
have = {(e["sensor_id"], e["timestamp"]) for e in map(json.loads, open(sys.argv[2]))}
print(sum((r["sensor_id"], r["timestamp"]) not in have for r in map(json.loads, open(sys.argv[1]))))
PY
}

# only_readings READINGS.jsonl EVENTS.jsonl: the events of those readings.
only_readings() {
	$PY - "$1" "$2" <<'PY'
import json, sys
want = {(r["sensor_id"], r["timestamp"]) for r in map(json.loads, open(sys.argv[1]))}
for line in open(sys.argv[2]):
    e = json.loads(line)
    if (e["sensor_id"], e["timestamp"]) in want:
        sys.stdout.write(line)
PY
}

# ---- shared inputs -------------------------------------------------------
P=$T/prep
if ! "$CMP/prep.sh" "$FG" "$P" >"$T/prep.log" 2>&1; then
	fail "tests/peers/compare/prep.sh: $(tail -3 "$T/prep.log")"
	finish
fi

# ---- the Python peer -----------------------------------------------------
py_peer_pid=
# start_py_peer LOG: start the service on the test broker and Kafka; wait
# for its "ready" line.
start_py_peer() {
	: >"$T/py.out"
	$PY "$CMP/py_service.py" --mqtt "127.0.0.1:$MQTT_PORT" --topic 'sensors/+/reading' \
		--client-id py-peer --models "$P" --store "$T/py-store" \
		--kafka "$KAFKA_BOOTSTRAP" --kafka-topic py-scored --gateway-id py-test \
		>"$T/py.out" 2>>"$1" &
	py_peer_pid=$!; pids+=($py_peer_pid)
	wait_for "the Python peer to print ready" 30 grep -qx ready "$T/py.out"
}
py_stored() { sqlite3 -batch -noheader "$T/py-store/store.db" "SELECT count(*) FROM events" 2>/dev/null; }
py_position() { sqlite3 -batch -noheader "$T/py-store/store.db" "SELECT seq FROM positions WHERE sink = 'kafka'" 2>/dev/null; }
# (for wait_for, which repeats its command with the same arguments)
py_stored_ge() { [ "$(py_stored)" -ge "$1" ] 2>/dev/null; }
py_position_ge() { [ "$(py_position)" -ge "$1" ] 2>/dev/null; }
# queue SEED START FILE: 2,000 readings (20 sensors x 100, from START on)
# published at QoS 1 to the broker for the peer's session, and the same
# readings in FILE. (A reading is its (sensor_id, timestamp): the same
# START twice would be the same readings again, which the store skips.)
queue() {
	"$FG" simulate --sensors 20 --rate 1000 --count 2000 --seed "$1" --start "$2" --out "$3"
	"$FG" simulate --mqtt "tcp://127.0.0.1:$MQTT_PORT" --qos 1 --sensors 20 --rate 1000 --count 2000 \
		--seed "$1" --start "$2" 2>>"$T/pub.log" || fail "simulate --mqtt (seed $1): $(tail -2 "$T/pub.log")"
}

check_python() {
	local out rc sum n pub
	if ! $PY -c 'import paho.mqtt, confluent_kafka, sklearn' 2>"$T/err"; then
		fail "/usr/bin/python3 lacks a module the Python peer needs (apt-get install python3-paho-mqtt python3-confluent-kafka python3-sklearn): $(tail -1 "$T/err")"
		return
	fi
	# 1. score mode = fieldgate's predictions.
	$PY "$CMP/py_service.py" score --models "$P" <"$P/parity.jsonl" >"$T/py-parity.jsonl" 2>"$T/py-score.err"
	expect "python peer: score mode exits 0" $? 0
	expect "python peer: one event per parity reading" "$(wc -l <"$T/py-parity.jsonl")" 1000
	out=$($PY "$CMP/parity.py" "$P/parity.fieldgate.jsonl" "$T/py-parity.jsonl"); rc=$?
	expect "python peer: predictions equal fieldgate's on 1,000 readings (parity.py)" $rc 0
	[ $rc -eq 0 ] && echo "  $out" || echo "$out" >&2

	# 2. service mode: a queued backlog, then live readings and a kill -9.
	mosquitto_sub -p "$MQTT_PORT" -c -i py-peer -q 1 -t 'sensors/+/reading' -E ||
		{ fail "mosquitto_sub: cannot create the peer's session"; return; }
	queue 31 2026-02-02T00:00:00Z "$T/batch1.jsonl"
	"$FG" score --models "$P/models" <"$T/batch1.jsonl" >"$T/batch1.fieldgate.jsonl" ||
		fail "fieldgate score of the queued readings"
	start_py_peer "$T/py.log" || return
	wait_for "the peer to store the 2,000 queued readings" 30 py_stored_ge 2000
	wait_for "Kafka to confirm the 2,000" 30 py_position_ge 2000
	queue 32 2026-02-03T00:00:00Z "$T/batch2.jsonl" &
	pub=$!
	wait_for "the peer to store some of the live readings" 30 py_stored_ge 2300
	kill -9 $py_peer_pid; wait $py_peer_pid 2>/dev/null
	wait $pub
	n=$(py_stored)
	[ "$n" -lt 4000 ] || fail "python peer: the kill -9 came too late to test anything ($n of 4000 stored)"
	echo "  killed with $n of 4000 stored, Kafka position $(py_position)"
	start_py_peer "$T/py.log" || return
	wait_for "Kafka to confirm all 4,000 after the restart" 30 py_position_ge 4000
	kill -TERM $py_peer_pid; wait $py_peer_pid
	expect "python peer: SIGTERM stops it with exit 0" $? 0
	expect "python peer: each reading stored once across the kill" "$(py_stored)" 4000
	expect "python peer: the Kafka position reached the newest event" "$(py_position)" 4000
	sum=$(kafka_dump py-scored 4000 "$T/kafka.jsonl")
	echo "  kafka: $sum"
	expect "python peer: all 4,000 distinct readings in Kafka" "$(json_get "$sum" unique)" 4000
	expect "python peer: none of the readings lost" \
		"$(cat "$T/batch1.jsonl" "$T/batch2.jsonl" >"$T/all.jsonl"; missing_readings "$T/all.jsonl" "$T/kafka.jsonl")" 0
	expect "python peer: message key = sensor_id" "$(json_get "$sum" bad_keys)" 0
	grep -q "re-sending [0-9]* stored events" "$T/py.log" ||
		echo "  (no unconfirmed events to re-send at the restart this time)"
	only_readings "$T/batch1.jsonl" "$T/kafka.jsonl" >"$T/kafka1.jsonl"
	out=$($PY "$CMP/parity.py" "$T/batch1.fieldgate.jsonl" "$T/kafka1.jsonl"); rc=$?
	expect "python peer: the events in Kafka carry fieldgate's predictions" $rc 0
	[ $rc -eq 0 ] || echo "$out" >&2
}

start_broker || finish
start_kafka --brokers 1 --topic py-scored:4 || finish
check_python
finish
