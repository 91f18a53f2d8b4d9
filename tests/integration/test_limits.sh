#!/bin/bash
# [buffer] max_mb and retention enforced by the running agent (SPEC §2): the
# buffer stays near its cap, the oldest events go first, every drop is
# counted, and seq stays contiguous and never reused.
. "$(dirname "$0")/lib.sh"

status() { "$FG" status -c "$T/site.conf" --json; }
field() { /usr/bin/python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"; }

# Size cap: 10,000 readings/s into a 2 MB buffer for 4 s (~25 MB of events).
SIM_SENSORS=100 SIM_RATE=100 write_config "$T/site.conf"
sed -i 's/^commit_ms = 10/commit_ms = 10\nmax_mb = 2/' "$T/site.conf"
"$FG" run -c "$T/site.conf" 2>"$T/agent.log" &
pid=$!; pids+=($pid)
sleep 4
kill -TERM $pid; wait $pid; expect "agent exits 0" $? 0
status >"$T/s.json" || fail "status"
bytes=$(field 's["bytes"]' <"$T/s.json")
[ "$bytes" -le $((3 * 1024 * 1024)) ] && pass "buffer stays near max_mb ($bytes bytes)" || fail "buffer grew to $bytes bytes with max_mb = 2"
dropped=$(field 's["dropped"]["delivered"] + s["dropped"]["undelivered"]' <"$T/s.json")
[ "$dropped" -gt 0 ] && pass "drops counted ($dropped)" || fail "no drops counted: $(cat "$T/s.json")"
expect "every accepted event is buffered or counted as dropped" \
	"$(field 's["accepted"] == s["buffered"] + s["dropped"]["delivered"] + s["dropped"]["undelivered"] + s["dropped"]["expired"]' <"$T/s.json")" True
expect "the oldest went first: buffer is the newest, contiguous" \
	"$(sql 'SELECT max(seq) - min(seq) + 1 = count(*) AND min(seq) > 1 FROM events')" 1
newest=$(field 's["newest_seq"]' <"$T/s.json")

# Restart after drops: seq continues, never reused.
"$FG" run -c "$T/site.conf" 2>>"$T/agent.log" &
pid=$!; pids+=($pid)
sleep 1
kill -TERM $pid; wait $pid
expect "seq continues after a restart" "$(sql "SELECT min(seq) > 0 AND max(seq) > $newest FROM events")" 1
expect "no seq used twice" "$(sql 'SELECT count(*) = count(DISTINCT json_extract(data, "$.event_id")) FROM events')" 1

# Retention: with no sinks every event counts as delivered; 1 s retention
# leaves only the last second or two.
rm -rf "$T/data"
SIM_SENSORS=10 SIM_RATE=100 write_config "$T/site.conf"
sed -i 's/^commit_ms = 10/commit_ms = 10\nretention = 1s/' "$T/site.conf"
"$FG" run -c "$T/site.conf" 2>"$T/agent.log" &
pid=$!; pids+=($pid)
sleep 4
kill -TERM $pid; wait $pid
status >"$T/s.json"
expired=$(field 's["dropped"]["expired"]' <"$T/s.json")
[ "$expired" -gt 0 ] && pass "retention expired $expired events" || fail "retention expired nothing: $(cat "$T/s.json")"
age=$(sql "SELECT (max(ts) - min(ts)) / 1000 FROM events")
[ "$age" -le 3 ] && pass "buffer spans ${age}s with 1s retention" || fail "buffer spans ${age}s with 1s retention"
finish
