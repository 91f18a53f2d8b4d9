#!/bin/bash
# The Kafka forwarder end to end (SPEC §5, issue 4), against librdkafka's
# mock cluster in its own process (tests/peers/kafka_mock.c), checked by an
# independent consumer (tests/peers/kafka_check.py, kafka-python) and kcat:
#  1. every event arrives once, keyed by sensor, with headers, in
#     per-sensor order; the position reaches the newest event;
#  2. all brokers down for 30 s mid-stream, with message.timeout.ms short
#     enough that librdkafka times messages out, and the agent kill -9'ed
#     and restarted during the outage, then stopped with SIGTERM (bounded
#     flush) and started again: the backlog grows in the buffer,
#     one log line on loss and one on recovery, then every event is
#     delivered;
#  3. an injected retriable produce error is retried, an injected
#     permanent one (MSG_SIZE_TOO_LARGE) dead-letters exactly the events of
#     that request, with the reason, and the rest is delivered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
. "$(dirname "$0")/kafka_agent_lib.sh"
FG=${FIELDGATE_ASAN:-$FG}

start_kafka --brokers 3 --topic sensor-scored:8 || finish

# --- 1. end to end -------------------------------------------------------
write_kafka_config "$T/site.conf" 20
start_agent "$T/site.conf" "$T/agent.log"
sleep "$(slow 4)"
stop_agent; expect "agent stops cleanly on SIGTERM" $? 0
N=$(newest "$T/site.conf")
[ "${N:-0}" -gt 2000 ] || fail "too few events buffered: ${N:-none}"
expect "position reached the newest event after the SIGTERM flush" \
	"$(sink_field "$T/site.conf" kafka position)" "$N"
out=$(kafka_check --topic sensor-scored --expect "$N" --idle 5 --timeout 60 --seqs-out "$T/seqs1")
rc=$?
expect "kafka_check is satisfied (keys, headers, order)" $rc 0
[ $rc -eq 0 ] || echo "$out" >&2
expect "every event arrived (distinct event_ids)" "$(json_get "$out" unique)" "$N"
expect "no duplicates" "$(json_get "$out" duplicates)" 0
expect "key = sensor_id" "$(json_get "$out" keys_ok)" true
expect "headers event_id and gateway_id" "$(json_get "$out" headers_ok)" true
expect "per-sensor order kept" "$(json_get "$out" out_of_order)" 0
expect "seqs 1..N" "$(head -1 "$T/seqs1"),$(tail -1 "$T/seqs1")" "1,$N"
expect "kcat agrees on the count" "$(kcat_unique sensor-scored)" "$N"
grep -q "kafka: forwarding to Kafka brokers" "$T/agent.log" || fail "no start line for the kafka sink"

# --- 2. outage of 30 s with a kill -9 in the middle ------------------------
# Consume in the background from now on: the mock keeps ~5 MB per partition.
"$KAFKA_CHECK" --bootstrap "$KAFKA_BOOTSTRAP" --topic sensor-scored --idle 120 --timeout 300 --seqs-out "$T/seqs2" \
	--ready-file "$T/ready" >"$T/check2.json" &
check_pid=$!; pids+=($check_pid)
wait_for "the consumer to be ready" 20 test -f "$T/ready"
: >"$T/agent2.log"
write_kafka_config "$T/site.conf" 10 "property.message.timeout.ms = 4000"
start_agent "$T/site.conf" "$T/agent2.log"
sleep 3
kafka_cmd down all || fail "mock: down all"
down_at=$SECONDS
sleep 8
b1=$(sink_field "$T/site.conf" kafka backlog)
[ "${b1:-0}" -gt 2000 ] || fail "backlog should grow while the brokers are down (have ${b1:-none})"
kill -9 $agent_pid; wait $agent_pid 2>/dev/null
start_agent "$T/site.conf" "$T/agent2.log"     # restarted during the outage
sleep 3
t0=$(date +%s%N); stop_agent; rc=$?; ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect "SIGTERM during the outage exits 0" $rc 0
[ $ms -le 9000 ] && pass "SIGTERM during the outage: flush bounded ($ms ms)" \
	|| fail "SIGTERM during the outage took $ms ms (bound: 5 s flush + drain)"
start_agent "$T/site.conf" "$T/agent2.log"
sleep $((30 - (SECONDS - down_at)))
b2=$(sink_field "$T/site.conf" kafka backlog)
[ "${b2:-0}" -gt "${b1:-0}" ] || fail "backlog should keep growing after the restart (${b1:-?} then ${b2:-?})"
echo "backlog after 30 s down: $b2 events"
kafka_cmd up all || fail "mock: up all"
up_at=$SECONDS
wait_caught_up "the backlog to drain" 90 "$T/site.conf" kafka
echo "backlog of $b2 drained in $((SECONDS - up_at)) s (live events kept flowing)"
stop_agent; expect "agent stops cleanly after the outage" $? 0
N2=$(newest "$T/site.conf")
sleep "$(slow 3)"; kill -TERM $check_pid; wait $check_pid   # it prints what it saw
out=$(cat "$T/check2.json")
got=$(sort -n -u "$T/seqs1" "$T/seqs2" | awk -v n="$N2" '$1 >= 1 && $1 <= n' | wc -l)
expect "every event of the outage run arrived (1..$N2, both consumers)" "$got" "$N2"
expect "headers and keys still right" "$(json_get "$out" headers_ok),$(json_get "$out" keys_ok)" "true,true"
expect "one 'cannot deliver' line per agent run" "$(grep -c 'kafka: cannot deliver' "$T/agent2.log")" 3
expect "one 'delivering again' line" "$(grep -c 'kafka: delivering again' "$T/agent2.log")" 1
grep -q "kafka: delivering again" "$T/agent2.log" || tail -20 "$T/agent2.log" >&2
expect "no dead letters from an outage" "$(sql 'SELECT count(*) FROM dead_letter')" 0

# --- 3. injected errors ----------------------------------------------------
write_kafka_config "$T/site.conf" 10
: >"$T/agent3.log"
before=$(newest "$T/site.conf")
"$KAFKA_CHECK" --bootstrap "$KAFKA_BOOTSTRAP" --topic sensor-scored --idle 120 --timeout 300 --seqs-out "$T/seqs3" \
	--ready-file "$T/ready3" >"$T/check3.json" &
check_pid=$!; pids+=($check_pid)
wait_for "the consumer to be ready" 20 test -f "$T/ready3"
start_agent "$T/site.conf" "$T/agent3.log"
sleep 2
kafka_cmd error produce NOT_ENOUGH_REPLICAS,NOT_ENOUGH_REPLICAS || fail "mock: retriable error"
sleep 2
kafka_cmd error produce MSG_SIZE_TOO_LARGE || fail "mock: permanent error"
sleep 2
wait_caught_up "the sink to catch up" 30 "$T/site.conf" kafka
stop_agent; expect "agent stops cleanly" $? 0
N3=$(newest "$T/site.conf")
sleep "$(slow 3)"; kill -TERM $check_pid; wait $check_pid
dead=$(sql "SELECT count(*) FROM dead_letter WHERE sink = 'kafka'")
[ "$dead" -gt 0 ] || fail "the permanent error dead-lettered nothing"
reasons=$(sql "SELECT DISTINCT reason FROM dead_letter WHERE sink = 'kafka'")
case $reasons in *MSG_SIZE_TOO_LARGE*) pass "dead-letter reason names the error";;
	*) fail "dead-letter reason: '$reasons'";; esac
sql "SELECT seq FROM dead_letter WHERE sink = 'kafka'" | sort >"$T/dead"
delivered=$(sort -n -u "$T/seqs3" | awk -v a="$before" -v n="$N3" '$1 > a && $1 <= n' | wc -l)
expect "delivered + dead-lettered = accepted (run 3)" $((delivered + dead)) $((N3 - before))
expect "no dead-lettered event was also delivered" \
	"$(sort -u "$T/seqs3" | comm -12 - "$T/dead" | wc -l)" 0
echo "run 3: $((N3 - before)) events, $dead dead-lettered by the injected MSG_SIZE_TOO_LARGE"
grep -q "kafka: event .* rejected for its content" "$T/agent3.log" || fail "no log line for the rejection"

stop_kafka || fail "the mock did not stop cleanly"
finish
