#!/bin/bash
# The wall clock stepped back 1 h under a running agent (NTP on a gateway
# whose clock was ahead; issue 13's chaos fault, here alone and for the
# simulator source): the agent's clock only, through
# build/peers/clockshift.so (LD_PRELOAD; tests/chaos/README.md). The
# simulator paced itself by the wall clock and stopped for the hour; it
# must keep going at its rate, with seqs contiguous, and stop cleanly.
. "$(dirname "$0")/lib.sh"
SHIM=$top/build/peers/clockshift.so
[ -f "$SHIM" ] || { fail "$SHIM is missing: build it with 'make peers'"; finish; }

SIM_SENSORS=10 SIM_RATE=20 write_config "$T/site.conf"   # 200 readings/s
echo 0 >"$T/offset"
FG_CLOCK_OFFSET_FILE=$T/offset LD_PRELOAD=$SHIM "$FG" run -c "$T/site.conf" 2>"$T/agent.log" &
agent=$!; pids+=($agent)
count() { sql 'SELECT count(*) FROM events' 2>/dev/null || echo 0; }
above() { [ "$(count)" -gt "$1" ]; }
wait_for "the first 200 events" 20 above 200
echo -3600 >"$T/offset"
sleep 0.5   # the shim re-reads the offset every 100 ms
n0=$(count)
wait_for "400 more events after the clock stepped back 1 h (have $(count), had $n0)" 20 above $((n0 + 400))
kill -TERM $agent; wait $agent; expect "SIGTERM exits 0" $? 0
expect "seqs contiguous" "$(sql 'SELECT max(seq) - min(seq) + 1 - count(*) FROM events')" 0
last=$(sql 'SELECT json_extract(data, "$.received_at") FROM events ORDER BY seq DESC LIMIT 1')
now_h=$(date -u -d '-1 hour' +%Y-%m-%dT%H)
[[ $last == "$now_h"* ]] || [[ $last == "$(date -u -d '-61 min' +%Y-%m-%dT%H)"* ]] ||
	fail "the last event's received_at $last is not on the stepped clock (about $now_h)"
finish
