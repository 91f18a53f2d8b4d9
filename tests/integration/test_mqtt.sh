#!/bin/bash
# The MQTT input end to end against a real mosquitto (SPEC §2 [mqtt], §3,
# §5): readings published at QoS 1, 2 and 0 by `fieldgate simulate --mqtt`
# all become scored events, each once; the bad-payload corpus
# (tests/data/payloads/REASON-description.*) lands in quarantine with its
# topic, reason and raw bytes and never stalls the stream; a message at the
# size limit is accepted; sensor_id_topic_level supplies a missing
# sensor_id; a persistent session keeps what is published while the agent
# is stopped; a redelivered reading is stored once; a topic list is
# subscribed, nothing else; bad [mqtt] settings exit 2; `status --json`
# shows the source; username + password_file authenticate (a wrong password
# is refused, reported, survived) and the password is never printed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt_lib.sh"
# The sanitized build: the MQTT input, publisher and shutdown paths must be
# ASan/LSan-clean (tests/run.sh sets FIELDGATE_ASAN).
FG=${FIELDGATE_ASAN:-$FG}

# The broker checks fgtest's password (anonymous clients are still allowed).
password='s3cr3t-Pa55w0rd'
mosquitto_passwd -b -c "$T/passwd" fgtest "$password" >/dev/null 2>&1 || fail "mosquitto_passwd"
start_broker "password_file $T/passwd" || mqtt_finish
uri="tcp://127.0.0.1:$MQTT_PORT"
write_mqtt_config "$T/site.conf"
start_agent "$T/site.conf" "$T/agent.log"
wait_connected "$T/site.conf" 15 || { tail -5 "$T/agent.log"; mqtt_finish; }

# status --json: the source object.
"$FG" status -c "$T/site.conf" --json >"$T/status.json"; expect "status exits 0 while running" $? 0
$PY - "$T/status.json" "$uri" <<'PY' || fail "status --json source: $(cat "$T/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))["source"]
assert s["type"] == "mqtt" and s["state"] == "connected", s
assert s["uri"] == sys.argv[2], s
assert isinstance(s["since_ms"], int) and s["since_ms"] >= 0, s
assert s["last_error"] is None, s
PY
expect "one 'connected' log line" "$(grep -c "mqtt: connected to $uri" "$T/agent.log")" 1

# QoS 1: every reading becomes exactly one scored event.
N=2000
q1=(--sensors 20 --rate 1000 --count $N --seed 11 --start 2026-01-01T00:00:00Z)
sim_file "$T/q1.jsonl" "${q1[@]}"
expect "simulate --out wrote $N readings" "$(wc -l <"$T/q1.jsonl")" $N
sim_publish "$T/pub1.log" --topic 'sensors/{sensor_id}/reading' --qos 1 "${q1[@]}"
expect "simulate --mqtt --qos 1 exits 0" $? 0
grep -q "$N" "$T/pub1.log" || fail "simulate prints no summary with the count: $(cat "$T/pub1.log")"
wait_events $N 30
sleep 0.5
expect "QoS 1: exactly $N events" "$(count_events)" $N
compare_buffer "$T/q1.jsonl" || fail "QoS 1: buffer differs from the published readings"
expect "QoS 1: every event scored" \
	"$(sql "SELECT count(*) FROM events WHERE json_extract(data, '\$.prediction.status') IS NULL OR json_extract(data, '\$.prediction.anomaly_probability') IS NULL")" 0
expect "seq contiguous" "$(sql 'SELECT min(seq) = 1 AND max(seq) = count(*) FROM events')" 1

# QoS 2 publishing (the subscription is QoS 1), fast: the publisher must
# keep its window of unfinished QoS 2 messages within what the broker
# accepts (mosquitto's max_inflight_messages, 20 by default, is also its
# receive maximum for incoming QoS 2; past it an MQTT 3.1.1 client is
# disconnected and the message is dropped). Then QoS 0.
base=$(count_events)
q2=(--sensors 10 --rate 1000 --count 2000 --seed 12 --start 2026-01-02T00:00:00Z)
sim_file "$T/q2.jsonl" "${q2[@]}"
SIM_TIMEOUT=30 sim_publish "$T/pub2.log" --topic 'sensors/{sensor_id}/reading' --qos 2 "${q2[@]}"
expect "simulate --mqtt --qos 2 exits 0" $? 0
grep -q "lost" "$T/pub2.log" && fail "simulate --qos 2 lost its connection: $(grep -c lost "$T/pub2.log") times"
wait_events $((base + 2000)) 20
compare_buffer "$T/q2.jsonl" "" "seq > $base" || fail "QoS 2: buffer differs from the published readings"
base=$(count_events)
q0=(--sensors 10 --rate 500 --count 500 --seed 13 --start 2026-01-03T00:00:00Z)
sim_file "$T/q0.jsonl" "${q0[@]}"
sim_publish "$T/pub0.log" --topic 'sensors/{sensor_id}/reading' --qos 0 "${q0[@]}"
expect "simulate --mqtt --qos 0 exits 0" $? 0
wait_events $((base + 500)) 20
sleep 0.3
compare_buffer "$T/q0.jsonl" "" "seq > $base" || fail "QoS 0: buffer differs from the published readings"

# The bad-payload corpus: each file on its own topic, each followed by a
# valid reading that must still arrive.
base=$(count_events)
reasons=" too_large not_utf8 not_json not_object missing_field wrong_type not_finite out_of_range nul_in_string duplicate_key "
i=0; : >"$T/corpus"
ts=1767225600000
for f in "${PAYLOADS:-$top/tests/data/payloads}"/*; do
	name=$(basename "$f"); reason=${name%%-*}
	[[ $reasons == *" $reason "* ]] || { fail "corpus file $name: '$reason' is not a reason name"; continue; }
	topic="sensors/bad-$i/reading"
	mqtt_pub -t "$topic" -f "$f" || fail "mosquitto_pub -f $name"
	mqtt_pub -t "sensors/after-$i/reading" \
		-m "{\"sensor_id\": \"after-$i\", \"temperature\": 21.5, \"humidity\": 45.0, \"timestamp\": $((ts + i))}" || fail "mosquitto_pub after-$i"
	printf '%s\t%s\n' "$topic" "$f" >>"$T/corpus"
	i=$((i + 1))
done
nbad=$i
[ $nbad -ge 8 ] || fail "corpus has only $nbad files"
wait_events $((base + nbad)) 20
sleep 0.3
expect "a valid reading after each bad one arrived" \
	"$(sql "SELECT count(DISTINCT json_extract(data, '\$.sensor_id')) FROM events WHERE json_extract(data, '\$.sensor_id') LIKE 'after-%'")" $nbad
$PY - "$T/data/buffer.db" "$T/corpus" <<'PY' || fail "quarantine does not match the corpus"
import sqlite3, sys, time, os
con = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=30)
con.text_factory = bytes
rows = con.execute("SELECT id, ts, origin, reason, raw FROM quarantine ORDER BY id").fetchall()
corpus = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
bad = 0
if len(rows) != len(corpus):
    print("quarantine has %d rows, %d payloads were bad" % (len(rows), len(corpus))); bad += 1
by_topic = {}
for r in rows:
    by_topic.setdefault(r[2].decode(), []).append(r)
now = time.time() * 1000
for topic, path in corpus:
    name = os.path.basename(path)
    reason = name.split("-")[0]
    got = by_topic.get(topic, [])
    if len(got) != 1:
        print("%s (%s): %d quarantine rows" % (name, topic, len(got))); bad += 1; continue
    _, ts, _, why, raw = got[0]
    why = why.decode("utf-8", "replace") if isinstance(why, bytes) else why
    if not why.startswith(reason + ": ") or len(why) <= len(reason) + 2:
        print("%s: reason %r, expected '%s: <detail>'" % (name, why, reason)); bad += 1
    field = name.split("-")[1] if name.count("-") >= 1 else ""
    if field in ("sensor_id", "temperature", "humidity") and field not in why:
        print("%s: reason %r does not name the field %s" % (name, why, field)); bad += 1
    data = open(path, "rb").read()
    if not isinstance(raw, bytes) or raw != data[:65536]:
        print("%s: raw is %d bytes (%s), expected the payload's first %d" % (
            name, len(raw or b""), type(raw).__name__, len(data[:65536]))); bad += 1
    if not isinstance(ts, int) or abs(ts - now) > 3600e3:
        print("%s: ts %r is not epoch ms near now" % (name, ts)); bad += 1
sys.exit(1 if bad else 0)
PY
"$FG" status -c "$T/site.conf" --json >"$T/status.json"
$PY - "$T/status.json" "$nbad" "$(count_events)" <<'PY' || fail "status counts after the corpus: $(cat "$T/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["rejected"] == int(sys.argv[2]) and s["accepted"] == int(sys.argv[3]), s
assert s["source"]["state"] == "connected", s
PY

# A reading of exactly 16384 bytes is accepted (the limit is inclusive).
$PY - "$T/max.json" <<'PY'
import sys
head = '{"sensor_id": "max-size", "temperature": 21.5, "humidity": 45.0, "timestamp": 1767225600000, "pad": "'
tail = '"}'
open(sys.argv[1], "w").write(head + "x" * (16384 - len(head) - len(tail)) + tail)
PY
expect "16384-byte fixture" "$(wc -c <"$T/max.json")" 16384
mqtt_pub -t sensors/max-size/reading -f "$T/max.json"
wait_for "the 16384-byte reading" 10 has_events 1 "$(sid max-size)"

# A redelivered reading (same sensor_id and timestamp) is stored once.
dup='{"sensor_id": "dup-1", "temperature": 21.5, "humidity": 45.0, "timestamp": 1767225600000}'
mqtt_pub -t sensors/dup-1/reading -m "$dup"
mqtt_pub -t sensors/dup-1/reading -m "$dup"
mqtt_pub -t sensors/dup-1/reading -m "${dup/21.5/21.6}"   # same key, other values: still a duplicate
mqtt_pub -t sensors/dup-1/reading -m "${dup/1767225600000/1767225600001}"
wait_for "the second dup-1 timestamp" 10 has_events 2 "$(sid dup-1)"
sleep 0.3
expect "the same sensor_id + timestamp is stored once" "$(events_where "$(sid dup-1)")" 2

# A graceful stop; a reading published meanwhile waits in the persistent
# session. Restart with sensor_id_topic_level = 1 and fgtest's password.
kill -TERM $agent_pid; wait $agent_pid; expect "SIGTERM exits 0" $? 0
mqtt_pub -t sensors/while-down/reading -m '{"sensor_id": "while-down", "temperature": 22, "humidity": 40, "timestamp": 1767225600000}'
printf '%s\n' "$password" >"$T/pw"
write_mqtt_config "$T/site.conf" "sensor_id_topic_level = 1" "username = fgtest" "password_file = $T/pw"
sed -i 's|^topic = .*|topic = sensors/+/reading, plant/+/+/reading|' "$T/site.conf"   # a list
# Bad [mqtt] settings are configuration errors (exit 2) naming the key.
sed 's/^qos = 1$/qos = 3/' "$T/site.conf" >"$T/bad-qos.conf"
"$FG" check-config -c "$T/bad-qos.conf" >/dev/null 2>"$T/err"; expect "check-config with qos = 3 exits 2" $? 2
grep -q "bad-qos.conf:.*qos" "$T/err" || fail "qos = 3 message: $(cat "$T/err")"
sed 's/^keepalive = 10$/keepalive = 10\nsubscribe_to = x/' "$T/site.conf" >"$T/bad-key.conf"
"$FG" check-config -c "$T/bad-key.conf" >/dev/null 2>"$T/err"; expect "check-config with an unknown [mqtt] key exits 2" $? 2
grep -q "bad-key.conf:.*subscribe_to" "$T/err" || fail "unknown key message: $(cat "$T/err")"
"$FG" check-config -c "$T/site.conf" >"$T/check.out" 2>&1; expect "check-config with a password_file exits 0" $? 0
grep -q "$password" "$T/check.out" && fail "check-config prints the password: $(grep "$password" "$T/check.out")"
grep -q "fgtest" "$T/check.out" || fail "check-config does not show the username: $(grep -A12 '^\[mqtt\]' "$T/check.out")"
start_agent "$T/site.conf" "$T/agent.log"
wait_connected "$T/site.conf" 15 || tail -5 "$T/agent.log"
wait_for "the reading published while the agent was down" 10 has_events 1 "$(sid while-down)"
mqtt_pub -t sensors/from-topic-7/reading -m '{"temperature": 21.5, "humidity": 45.0, "timestamp": 1767225601000}'
mqtt_pub -t sensors/other-id/reading -m '{"sensor_id": "from-payload", "temperature": 21.5, "humidity": 45.0, "timestamp": 1767225602000}'
wait_for "the topic-level readings" 10 has_events 2 "json_extract(data, '\$.\"@timestamp\"') IN ('2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z')"
expect "sensor_id from topic level 1" \
	"$(sql "SELECT json_extract(data, '\$.sensor_id') FROM events WHERE json_extract(data, '\$.\"@timestamp\"') = '2026-01-01T00:00:01.000Z'")" from-topic-7
expect "the payload's sensor_id wins over the topic" \
	"$(sql "SELECT json_extract(data, '\$.sensor_id') FROM events WHERE json_extract(data, '\$.\"@timestamp\"') = '2026-01-01T00:00:02.000Z'")" from-payload
mqtt_pub -t plant/line-1/press/reading -m '{"sensor_id": "press-1", "temperature": 30.5, "humidity": 35.0}'
mqtt_pub -t other/press-2/reading -m '{"sensor_id": "press-2", "temperature": 30.5, "humidity": 35.0}'
wait_for "a reading on the second topic filter" 10 has_events 1 "$(sid press-1)"
sleep 0.3
expect "a topic outside the filters is not received" "$(events_where "$(sid press-2)")" 0
expect "rejected payloads were acknowledged (not redelivered after a restart)" "$(sql 'SELECT count(*) FROM quarantine')" $nbad
kill -TERM $agent_pid; wait $agent_pid; expect "SIGTERM exits 0 (second run)" $? 0

# A wrong password: refused, not connected, said so, the agent keeps running.
printf 'wrong-%s\n' "$password" >"$T/pw-wrong"
DATA_DIR=$T/data-wrong MQTT_CLIENT_ID=fieldgate-test-wrong-$$ \
	write_mqtt_config "$T/wrong.conf" "username = fgtest" "password_file = $T/pw-wrong"
start_agent "$T/wrong.conf" "$T/wrong.log"
sleep "$(slow 3)"
kill -0 $agent_pid 2>/dev/null || fail "the agent exited on a refused password: $(tail -3 "$T/wrong.log")"
state=$(source_field "$T/wrong.conf" state)
[ -n "$state" ] && [ "$state" != connected ] || fail "wrong password: source state '$state'"
[ "$(source_field "$T/wrong.conf" last_error)" != null ] || fail "wrong password: last_error is null"
grep -q "mqtt:.*$uri" "$T/wrong.log" || fail "wrong password: nothing logged about $uri: $(cat "$T/wrong.log")"
grep -q "$password" "$T/agent.log" "$T/wrong.log" && fail "the password appears in a log"
kill -TERM $agent_pid; wait $agent_pid
mqtt_finish
