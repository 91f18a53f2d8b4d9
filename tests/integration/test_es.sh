#!/bin/bash
# The Elasticsearch forwarder end to end (SPEC §5, issue 5), against the
# ES stand-in (tests/peers/es_standin.py) on a loopback port:
#  1. every event becomes exactly one document, _id = event_id, the source
#     byte for byte the buffered event; the index template is installed;
#  2. mixed failures: 20 % of items 429, a 400 mapping error for one
#     sensor, two whole-request 503s, two responses dropped after storing
#     (the retry meets 409s) and a small request size limit (413, split):
#     _count = accepted - dead letters, no duplicate _id, every 400 in the
#     dead_letter table with ES's error type; then three empty 200s to
#     bulks (a proxy): those events are retried, not taken as delivered;
#  3. ES down 30 s with an agent kill -9 and restart inside: nothing lost;
#  4. Kafka and ES together: ES down does not slow Kafka;
#  5. basic auth from password_file (the password never logged), a wrong
#     password (one clear line, nothing dropped), an API key, TLS with ca_file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
. "$(dirname "$0")/kafka_agent_lib.sh"
. "$(dirname "$0")/es_lib.sh"
FG=${FIELDGATE_ASAN:-$FG}
IDX=sensors-scored

# write_es_config FILE RATE [extra lines...]: 50 sensors at RATE Hz -> $ES_URL.
write_es_config() {
	local f=$1 rate=$2; shift 2
	SIM_SENSORS=50 SIM_RATE=$rate write_config "$f" "[elasticsearch]" "enabled = true" \
		"url = $ES_URL" "index = $IDX" "$@"
}

# no_duplicate_ids: every stored _id once (the stand-in keys by _id, so
# also check the count of create results that stored something).
dup_ids() { es_ids $IDX | sort | uniq -d | wc -l; }

start_es || finish

# --- 1. end to end ----------------------------------------------------------
write_es_config "$T/site.conf" 20
start_agent "$T/site.conf" "$T/agent.log"
sleep "$(slow 4)"
stop_agent; expect "agent stops cleanly" $? 0
N=$(newest "$T/site.conf")
[ "${N:-0}" -gt 2000 ] || fail "too few events: ${N:-none}"
expect "position = newest after the SIGTERM flush" "$(sink_field "$T/site.conf" elasticsearch position)" "$N"
expect "_count = events accepted" "$(es_count $IDX)" "$N"
expect "_ids are gw-test:1..N" "$(es_ids $IDX | sort -t: -k2 -n | sed -n '1p;$p' | tr '\n' ' ')" "gw-test:1 gw-test:$N "
expect "template installed" "$(es_curl /_index_template/fieldgate-$IDX -o /dev/null -w '%{http_code}')" 200
es_curl /_index_template/fieldgate-$IDX | grep -q '"geo_point"' || fail "template lacks geo_point"
sql "SELECT data FROM events WHERE seq = 17" >"$T/ev17"
es_curl "/$IDX/_doc/gw-test:17" | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["_source"], separators=(",", ":"), ensure_ascii=False))' >"$T/doc17"
$PY -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), separators=(",", ":"), ensure_ascii=False))' "$T/ev17" >"$T/ev17n"
cmp -s "$T/ev17n" "$T/doc17" && pass "document 17 is the buffered event" || fail "document 17 differs from the buffer's event"
expect "no unmapped fields" "$(es_stats | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["counters"]["unmapped_fields"]))')" 0
expect "bulk requests carried application/x-ndjson" \
	"$(es_stats | $PY -c 'import json,sys; print(json.load(sys.stdin)["counters"]["last_bulk_headers"]["content-type"])')" application/x-ndjson

# --- 2. mixed failures --------------------------------------------------------
es_fault_reset
es_fault '{"item_429_fraction": 0.2, "mapping_error": {"field": "sensor_id", "value": "sensor-007"},
           "request_status": 503, "request_status_count": 2, "retry_after": 1,
           "drop_after_store": 2, "max_body_bytes": 200000}'
before=$N
start_agent "$T/site.conf" "$T/agent2.log"
sleep 5
stop_agent; expect "agent stops cleanly (faults)" $? 0
start_agent "$T/site.conf" "$T/agent2.log"   # deliver what the 5 s flush left
wait_caught_up "the elasticsearch sink to catch up" 60 "$T/site.conf" elasticsearch
stop_agent
N2=$(newest "$T/site.conf")
dead=$(sql "SELECT count(*) FROM dead_letter WHERE sink = 'elasticsearch'")
want_dead=$(sql "SELECT count(*) FROM events WHERE seq > $before AND instr(data, '\"sensor_id\":\"sensor-007\"') > 0")
[ "$want_dead" -gt 0 ] || fail "no sensor-007 events in run 2"
expect "every sensor-007 event (400) is a dead letter" "$dead" "$want_dead"
case $(sql "SELECT DISTINCT reason FROM dead_letter WHERE sink = 'elasticsearch'") in
	*_parsing_exception*) pass "dead-letter reason carries ES's error type";;
	*) fail "dead-letter reason: $(sql "SELECT reason FROM dead_letter LIMIT 1")";; esac
expect "_count = accepted - dead letters" "$(es_count $IDX)" $((N2 - dead))
expect "no duplicate _id" "$(dup_ids)" 0
c=$(es_stats)
for k in dropped_connections duplicate_creates; do
	v=$(echo "$c" | $PY -c 'import json,sys; print(json.load(sys.stdin)["counters"][sys.argv[1]])' $k)
	[ "${v:-0}" -gt 0 ] && pass "fault exercised: $k = $v" || fail "fault not exercised: $k"
done
for s in 429 503 413; do
	v=$(echo "$c" | $PY -c 'import json,sys; c=json.load(sys.stdin)["counters"]; print(c["items_by_status"].get(sys.argv[1],0)+c["rejected_requests"].get(sys.argv[1],0))' $s)
	[ "${v:-0}" -gt 0 ] && pass "fault exercised: $s x $v" || fail "fault not exercised: $s"
done
es_fault_reset

# --- 2b. empty 200s to bulks (a proxy): retried, not read as the last answer
start_agent "$T/site.conf" "$T/agent2b.log"
sleep 2
es_fault '{"request_status": 200, "request_body": "", "request_status_count": 3}'
sleep 2
stop_agent; expect "agent stops cleanly (empty 200s)" $? 0
start_agent "$T/site.conf" "$T/agent2b.log"
wait_caught_up "the elasticsearch sink to catch up after empty 200s" 60 "$T/site.conf" elasticsearch
stop_agent
expect "three bulks got an empty 200" "$(es_counter rejected_requests.200)" 3
dead=$(sql "SELECT count(*) FROM dead_letter WHERE sink = 'elasticsearch'")
expect "after empty 200s: _count = accepted - dead letters" "$(es_count $IDX)" \
	$(( $(newest "$T/site.conf") - dead ))
es_fault_reset

# --- 3. ES down 30 s, agent kill -9 and restart inside ----------------------
write_es_config "$T/site.conf" 10
start_agent "$T/site.conf" "$T/agent3.log"
sleep 2
stop_es; down_at=$SECONDS
sleep 8
b1=$(sink_field "$T/site.conf" elasticsearch backlog)
[ "${b1:-0}" -gt 2000 ] || fail "backlog should grow while ES is down (have ${b1:-none})"
kill -9 $agent_pid; wait $agent_pid 2>/dev/null
start_agent "$T/site.conf" "$T/agent3.log"
sleep $((30 - (SECONDS - down_at)))
restart_es || finish
up_at=$SECONDS
wait_caught_up "the backlog to drain" 60 "$T/site.conf" elasticsearch
echo "ES backlog drained in $((SECONDS - up_at)) s"
stop_agent; expect "agent stops cleanly after the outage" $? 0
N3=$(newest "$T/site.conf")
dead=$(sql "SELECT count(*) FROM dead_letter WHERE sink = 'elasticsearch'")
expect "after the outage: _count = accepted - dead letters" "$(es_count $IDX)" $((N3 - dead))
expect "no duplicate _id after the outage" "$(dup_ids)" 0
expect "one 'cannot deliver' line per agent run" "$(grep -c 'elasticsearch: cannot deliver' "$T/agent3.log")" 2
expect "one 'delivering again' line" "$(grep -c 'elasticsearch: delivering again' "$T/agent3.log")" 1

# --- 4. Kafka and ES together: ES down does not slow Kafka -----------------
start_kafka --brokers 1 --topic sensor-scored:4 || finish
write_es_config "$T/site.conf" 20 "[kafka]" "enabled = true" "brokers = $KAFKA_BOOTSTRAP" "topic = sensor-scored"
stop_es
start_agent "$T/site.conf" "$T/agent4.log"
# Kafka starts at seq 1 (the runs above are its backlog): within 6 s (times
# FIELDGATE_SLOW) it is less than 1,500 events behind, ES down or not.
kafka_near() {
	n=$(newest "$1"); k=$(sink_field "$1" kafka position)
	[ -n "$n" ] && [ -n "$k" ] && [ $((n - k)) -lt 1500 ]
}
wait_for "kafka to keep up while ES is down" 6 kafka_near "$T/site.conf" &&
	pass "kafka keeps up while ES is down (newest $n, kafka at $k)" ||
	fail "kafka fell behind while ES is down (newest $n, kafka at $k)"
e=$(sink_field "$T/site.conf" elasticsearch position)
[ "$e" -lt "$N3" ] || [ "$e" -eq "$N3" ] && pass "elasticsearch did not move while down" || fail "es position moved: $e"
restart_es || finish
wait_caught_up "both sinks to catch up" 60 "$T/site.conf" elasticsearch
stop_agent
stop_kafka

# --- 5. auth and TLS --------------------------------------------------------
stop_es
printf 's3cret-pw\n' >"$T/es.pw"
start_es --user elastic:s3cret-pw || finish
: >"$T/agent5.log"
write_es_config "$T/site.conf" 10 "username = elastic" "password_file = $T/es.pw"
start_agent "$T/site.conf" "$T/agent5.log"
wait_caught_up "delivery with basic auth" 20 "$T/site.conf" elasticsearch
stop_agent
grep -q 's3cret-pw' "$T/agent5.log" && fail "the password appears in the log"
"$FG" check-config -c "$T/site.conf" 2>&1 | grep -q 's3cret-pw' && fail "the password appears in check-config"
printf 'wrong\n' >"$T/es.pw"
: >"$T/agent6.log"
start_agent "$T/site.conf" "$T/agent6.log"
sleep "$(slow 4)"
stop_agent
grep -q "elasticsearch: cannot deliver: .*refused the credentials" "$T/agent6.log" \
	&& pass "wrong password: one clear line" || { fail "no clear line for a wrong password"; tail -5 "$T/agent6.log" >&2; }
expect "...only one" "$(grep -c 'refused the credentials' "$T/agent6.log")" 1
expect "nothing dead-lettered for a wrong password" \
	"$(sql "SELECT count(*) FROM dead_letter WHERE reason LIKE '401 %'")" 0
stop_es
printf 'a2V5OnNlY3JldA==\n' >"$T/es.key"
start_es --api-key a2V5OnNlY3JldA== || finish
write_es_config "$T/site.conf" 10 "api_key_file = $T/es.key"
start_agent "$T/site.conf" "$T/agent7.log"
wait_caught_up "delivery with an API key" 20 "$T/site.conf" elasticsearch
stop_agent
stop_es
es_make_tls
start_es --tls-cert "$T/es-tls/server.crt" --tls-key "$T/es-tls/server.key" || finish
ES_CURL_OPTS="--cacert $T/es-tls/ca.crt"
write_es_config "$T/site.conf" 10 "ca_file = $T/es-tls/ca.crt"
start_agent "$T/site.conf" "$T/agent8.log"
wait_caught_up "delivery over TLS" 20 "$T/site.conf" elasticsearch
stop_agent
expect "over TLS: _count = accepted - dead letters" "$(es_count $IDX)" \
	$(( $(newest "$T/site.conf") - $(sql "SELECT count(*) FROM dead_letter WHERE sink = 'elasticsearch'") ))
stop_es
finish
