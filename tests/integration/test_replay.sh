#!/bin/bash
# fieldgate replay (SPEC §1, §5; issue 6): resend a time range of buffered
# events to the sinks without moving their positions.
#  - Elasticsearch: a replay makes no duplicate (409 = already stored), and
#    documents lost from the index come back;
#  - Kafka: the range arrives again (at-least-once), nothing outside it;
#  - positions are unchanged; --rate limits; a progress bar on a terminal;
#  - usage errors exit 2 with one line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
. "$(dirname "$0")/kafka_agent_lib.sh"
. "$(dirname "$0")/es_lib.sh"
FG=${FIELDGATE_ASAN:-$FG}
IDX=sensors-scored

start_kafka --brokers 1 --topic sensor-scored:4 || finish
start_es || finish
SIM_SENSORS=50 SIM_RATE=20 write_config "$T/site.conf" \
	"[kafka]" "enabled = true" "brokers = $KAFKA_BOOTSTRAP" "topic = sensor-scored" \
	"[elasticsearch]" "enabled = true" "url = $ES_URL" "index = $IDX"
start_agent "$T/site.conf" "$T/agent.log"
sleep 4
stop_agent; expect "agent stops cleanly" $? 0
N=$(newest "$T/site.conf")
expect "ES has every event" "$(es_count $IDX)" "$N"
pk=$(sink_field "$T/site.conf" kafka position); pe=$(sink_field "$T/site.conf" elasticsearch position)
expect "kafka position at newest" "$pk" "$N"

# A range in the middle, by arrival time.
a=$(sql "SELECT ts FROM events WHERE seq = 1001"); b=$(sql "SELECT ts FROM events WHERE seq = 2000")
want=$(sql "SELECT count(*) FROM events WHERE ts >= $a AND ts <= $b")
es_fault_reset
out=$("$FG" replay -c "$T/site.conf" --since "$a" --until "$b" 2>"$T/replay.err")
expect "replay exits 0" $? 0
echo "$out"
grep -q "^kafka: $want of $want events delivered" <<<"$out" || fail "kafka summary: $out"
grep -q "^elasticsearch: $want of $want events delivered" <<<"$out" || fail "es summary: $out"
expect "ES: still one document per event" "$(es_count $IDX)" "$N"
expect "ES: every replayed item was a 409" "$(es_counter items_by_status.409)" "$want"
expect "positions unchanged (kafka)" "$(sink_field "$T/site.conf" kafka position)" "$pk"
expect "positions unchanged (elasticsearch)" "$(sink_field "$T/site.conf" elasticsearch position)" "$pe"
out=$(kafka_check --topic sensor-scored --idle 3 --timeout 60 --seqs-out "$T/seqs")
expect "kafka: every event still there once or more" "$(json_get "$out" unique)" "$N"
expect "kafka: the range arrived again (duplicates = range)" "$(json_get "$out" duplicates)" "$want"

# Documents lost from the index come back; RFC 3339 times work too.
es_curl "/$IDX" -XDELETE -o /dev/null
expect "index deleted" "$(es_count $IDX)" 0
since=$(sql "SELECT ts FROM events WHERE seq = 1" | $PY -c 'import sys,datetime; print(datetime.datetime.fromtimestamp(int(sys.stdin.read())/1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]+"Z")')
"$FG" replay -c "$T/site.conf" --sink elasticsearch --since "$since" >"$T/out2" 2>&1
expect "replay --sink elasticsearch exits 0" $? 0
expect "the lost index is whole again" "$(es_count $IDX)" "$N"
expect "no duplicate _id" "$(es_ids $IDX | sort | uniq -d | wc -l)" 0

# --rate: 500 events at 1000/s take about half a second or more.
a=$(sql "SELECT ts FROM events WHERE seq = 1"); b=$(sql "SELECT ts FROM events WHERE seq = 500")
want=$(sql "SELECT count(*) FROM events WHERE ts >= $a AND ts <= $b")
t0=$(date +%s%N)
"$FG" replay -c "$T/site.conf" --sink kafka --since "$a" --until "$b" --rate 1000 >/dev/null 2>&1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $ms -ge $(( want * 1000 / 1000 * 8 / 10 )) ] && pass "--rate 1000 held back $want events ($ms ms)" \
	|| fail "--rate 1000 sent $want events in $ms ms"

# A progress bar on a terminal (script(1) gives it one).
script -qec "$FG replay -c $T/site.conf --sink elasticsearch" /dev/null >"$T/tty.out" 2>&1
grep -q '\[#\{10,\}\] 100%' "$T/tty.out" && pass "progress bar on a terminal" \
	|| { fail "no progress bar on a terminal"; tail -c 400 "$T/tty.out" >&2; }

# Usage errors: one line, exit 2.
"$FG" replay -c "$T/site.conf" --since yesterday >/dev/null 2>"$T/e1"; expect "bad --since exits 2" $? 2
grep -q "not a time" "$T/e1" || fail "bad --since message: $(cat "$T/e1")"
"$FG" replay -c "$T/site.conf" --since 2 --until 1 >/dev/null 2>&1; expect "since > until exits 2" $? 2
SIM_SENSORS=5 write_config "$T/none.conf"
"$FG" replay -c "$T/none.conf" >/dev/null 2>"$T/e2"; expect "no sink enabled exits 2" $? 2
"$FG" replay -c "$T/site.conf" --sink nosuch >/dev/null 2>"$T/e3"; expect "unknown --sink exits 2" $? 2
"$FG" replay -c "$T/site.conf" --rate 0 >/dev/null 2>&1; expect "--rate 0 exits 2" $? 2
"$FG" replay -c "$T/site.conf" --since 1 --until 2 >"$T/o4" 2>&1; expect "an empty range exits 0" $? 0
grep -q "nothing to send" "$T/o4" || fail "empty range message: $(cat "$T/o4")"
stop_kafka
stop_es
finish
