#!/bin/bash
# Commit before ack (SPEC §5): a QoS 1 stream of 20,000 readings is published
# while the agent is kill -9'ed five times, staying down a while each time so
# that readings queue in the broker for its persistent session. Once the
# stream is over and the backlog drained, every published reading is in the
# buffer exactly once (redeliveries deduplicated), seqs are contiguous, and
# nothing was quarantined.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt_lib.sh"

start_broker || mqtt_finish
write_mqtt_config "$T/site.conf"
start_agent "$T/site.conf" "$T/agent.log"
wait_connected "$T/site.conf" 15 || { tail -5 "$T/agent.log"; mqtt_finish; }

# 50 sensors x 30 Hz = 1,500 readings/s: about 13 s of stream, which must
# outlast the five rounds; for a slow agent (FIELDGATE_SLOW > 2) it is
# FIELDGATE_SLOW / 2 times longer (the rate lower).
N=20000
rate=$((60 / SLOW)); [ $rate -le 30 ] || rate=30; [ $rate -ge 1 ] || rate=1
opts=(--sensors 50 --rate $rate --count $N --seed 21 --start 2026-03-01T00:00:00Z)
sim_file "$T/sim.jsonl" "${opts[@]}"
expect "simulate --out wrote $N readings" "$(wc -l <"$T/sim.jsonl")" $N
sim_publish_bg "$T/pub.log" --topic 'sensors/{sensor_id}/reading' --qos 1 "${opts[@]}"

# runs_connected N: the agent has logged its connection N times.
runs_connected() { [ "$(grep -c "mqtt: connected to tcp://127.0.0.1:$MQTT_PORT" "$T/agent.log")" -ge "$1" ]; }
prev=0
for round in 1 2 3 4 5; do
	# Killed after it connected (a slow, sanitized build takes a while).
	wait_for "run $round to connect" 10 runs_connected $round
	sleep 1.$((RANDOM % 6))
	kill -9 $agent_pid; wait $agent_pid 2>/dev/null
	n=$(count_events)
	[ "$n" -gt "$prev" ] || fail "round $round: no new events committed (have $n)"
	prev=$n
	sleep 0.$((RANDOM % 5 + 5))   # down: readings queue in the broker
	start_agent "$T/site.conf" "$T/agent.log"
done
wait $pub; rc=$?
expect "simulate --mqtt exits 0" $rc 0
[ $rc -eq 0 ] || cat "$T/pub.log" >&2
start=$SECONDS
wait_events $N 60
echo "backlog drained $((SECONDS - start)) s after the stream ended"
sleep 1   # anything extra (a duplicate) would show up now
kill -0 $agent_pid 2>/dev/null || fail "the agent is not running at the end: $(tail -3 "$T/agent.log")"
expect "exactly $N events" "$(count_events)" $N
compare_buffer "$T/sim.jsonl" || fail "the buffer differs from the published readings"
expect "seq contiguous from 1" "$(sql 'SELECT min(seq) = 1 AND max(seq) = count(*) FROM events')" 1
expect "each event's JSON carries its seq" "$(sql "SELECT count(*) FROM events WHERE json_extract(data, '\$.seq') != seq")" 0
expect "nothing quarantined" "$(sql 'SELECT count(*) FROM quarantine')" 0
expect "every event scored" "$(sql "SELECT count(*) FROM events WHERE json_extract(data, '\$.prediction.status') IS NULL")" 0
expect "database integrity" "$(sql 'PRAGMA integrity_check')" ok
expect "one 'connected' line per run" "$(grep -c "mqtt: connected to tcp://127.0.0.1:$MQTT_PORT" "$T/agent.log")" 6
kill -TERM $agent_pid; wait $agent_pid; expect "SIGTERM exits 0" $? 0
mqtt_finish
