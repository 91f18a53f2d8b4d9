#!/bin/bash
# The broker goes away mid-stream (SIGTERM, down about 2 s) and comes back
# on the same port with the same persistence directory. Both the agent and
# the publisher (`fieldgate simulate --mqtt`) reconnect; the agent logs the
# loss and the reconnection once each, `status` says connected again, and
# every published reading is in the buffer exactly once. Also: the agent
# started before its broker keeps retrying and connects; a publisher whose
# broker never answers exits 1 after 10 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt_lib.sh"

# Meanwhile: a publisher whose broker never answers gives up after 10 s, exit 1.
dead=$(free_port)
( s=$SECONDS; timeout 40 "$FG" simulate --mqtt "tcp://127.0.0.1:$dead" --qos 1 --count 10 2>"$T/dead.err"
  echo "$? $((SECONDS - s))" >"$T/dead.rc" ) &
dead_job=$!

# The agent starts before its broker: it keeps trying, then connects.
MQTT_PORT=$(free_port)
uri="tcp://127.0.0.1:$MQTT_PORT"
write_mqtt_config "$T/site.conf"
start_agent "$T/site.conf" "$T/agent.log"
sleep 1.5
kill -0 $agent_pid 2>/dev/null || { fail "the agent exits when the broker is down: $(tail -3 "$T/agent.log")"; mqtt_finish; }
state=$(source_field "$T/site.conf" state)
[ "$state" == connecting ] || [ "$state" == disconnected ] || fail "state before the broker is up: '$state'"
start_broker || mqtt_finish
wait_connected "$T/site.conf" 40 || { tail -5 "$T/agent.log"; mqtt_finish; }

# 20 sensors x 100 Hz = 2,000 readings/s: about 6 s of stream.
N=12000
opts=(--sensors 20 --rate 100 --count $N --seed 31 --start 2026-04-01T00:00:00Z)
sim_file "$T/sim.jsonl" "${opts[@]}"
# This publisher meets Paho's bug #1621 (below), which a sanitized build
# reports as a use-after-free inside Paho: for it alone, that is suppressed
# (tests/paho1621.*.supp). The agent keeps the suite's suppressions.
paho1621() {
	TSAN_OPTIONS="${TSAN_OPTIONS:-}:suppressions=$top/tests/paho1621.tsan.supp" \
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:suppressions=$top/tests/paho1621.asan.supp" "$@"
}
paho1621 sim_publish_bg "$T/pub.log" --topic 'sensors/{sensor_id}/reading' --qos 1 "${opts[@]}"
sleep 1.5
before=$(count_events)
[ "$before" -gt 0 ] || fail "no events before the broker restart"
[ "$before" -lt $N ] || fail "the stream was over before the broker restart: make it longer"
stop_broker
sleep 1
state=$(source_field "$T/site.conf" state)
[ "$state" == disconnected ] || [ "$state" == connecting ] || fail "state while the broker is down: '$state'"
[ "$(source_field "$T/site.conf" last_error)" != null ] || fail "last_error is null while the broker is down"
sleep 1
start_broker || mqtt_finish
wait_connected "$T/site.conf" 40
wait $pub; rc=$?
# The publisher's own Paho (1.3.12) has a known bug, eclipse-paho/paho.mqtt.c
# #1621: a QoS 1 PUBLISH whose write fails as the broker goes away is
# reported failed and freed, yet resent from the freed memory after the
# reconnect. simulate then says "N failed" and exits 1, and those readings
# reach the agent garbled (it quarantines them) or not at all. That is the
# publisher losing them before any acknowledgement; everything the broker
# acknowledged must still be exactly one event.
failed=$(sed -n 's/.*, \([0-9][0-9]*\) failed$/\1/p' "$T/pub.log" | tail -n 1)
failed=${failed:-0}
# At its worst (seen with the TSan build, whose allocator reuses the freed
# memory at once) what Paho resends is not even a packet: the broker drops
# the publisher for a malformed packet at every reconnect, until simulate
# gives up (exit 1, no summary). Then only the agent's side can be checked:
# what reached it is in the buffer once each, with its values.
garbled=$(grep -c "Client fieldgate-simulate-.* disconnected due to malformed packet" "$T/mosquitto.log")
broken=0
[ "$failed" -eq 0 ] && [ "$garbled" -gt 0 ] && [ $rc -ne 0 ] && broken=1
if [ $broken -eq 1 ]; then
	echo "note: the broker dropped the publisher $garbled times for a malformed packet: Paho resent freed memory (paho.mqtt.c#1621)"
	grep -q "gave up" "$T/pub.log" && pass "simulate --mqtt gives up and says so" || fail "simulate exits $rc: $(tail -3 "$T/pub.log")"
elif [ "$failed" -gt 0 ]; then
	echo "note: the publisher's Paho failed $failed publish(es) at the broker restart (paho.mqtt.c#1621)"
	expect "simulate --mqtt reports them and exits 1" $rc 1
else
	expect "the publisher survives the broker restart (exit status)" $rc 0
	[ $rc -eq 0 ] || cat "$T/pub.log" >&2
fi
[ $broken -eq 1 ] || wait_events $((N - failed)) 60
sleep 1
summary=$(compare_buffer "$T/sim.jsonl"); crc=$?
echo "$summary"
if [ $broken -eq 1 ]; then
	[[ ${summary%%$'\n'*} == *"(+0 duplicates)"*", extra 0, value mismatches 0" ]] ||
		fail "what reached the agent is not the published readings once each: $summary"
	expect "only undecodable bytes quarantined" "$(sql "SELECT count(*) FROM quarantine WHERE reason NOT LIKE 'not_utf8%' AND reason NOT LIKE 'not_json%'")" 0
elif [ "$failed" -eq 0 ]; then
	expect "exactly $N events" "$(count_events)" $N
	[ $crc -eq 0 ] || fail "the buffer differs from the published readings"
	expect "nothing quarantined" "$(sql 'SELECT count(*) FROM quarantine')" 0
else
	missing=$(echo "$summary" | sed -n 's/.* missing \([0-9]*\), extra \([0-9]*\), value mismatches \([0-9]*\)$/\1 \2 \3/p')
	read -r m x v <<<"$missing"
	[ "${m:-99}" -le "$failed" ] && [ "${x:-1}" -eq 0 ] && [ "${v:-1}" -eq 0 ] ||
		fail "beyond the $failed failed publishes, the buffer differs: $summary"
	q=$(sql "SELECT count(*) FROM quarantine")
	[ "$q" -le "$failed" ] || fail "$q readings quarantined, more than the $failed failed publishes"
	expect "only undecodable bytes quarantined" "$(sql "SELECT count(*) FROM quarantine WHERE reason NOT LIKE 'not_utf8%' AND reason NOT LIKE 'not_json%'")" 0
fi
expect "seq contiguous from 1" "$(sql 'SELECT min(seq) = 1 AND max(seq) = count(*) FROM events')" 1
expect "one 'lost' line" "$(grep -c "mqtt: connection to $uri lost: .*; reconnecting with backoff" "$T/agent.log")" 1
expect "two 'connected' lines (start, reconnect)" "$(grep -c "mqtt: connected to $uri" "$T/agent.log")" 2
kill -0 $agent_pid 2>/dev/null || fail "the agent is not running"
wait $dead_job
read -r rc secs <"$T/dead.rc"
expect "simulate with an unreachable broker exits 1" "$rc" 1
[ "$secs" -ge 9 ] && [ "$secs" -le 20 ] || fail "simulate gave up on an unreachable broker after $secs s (10 s expected)"
[ -s "$T/dead.err" ] || fail "simulate with an unreachable broker says nothing"
kill -TERM $agent_pid; wait $agent_pid; expect "SIGTERM exits 0" $? 0
mqtt_finish
