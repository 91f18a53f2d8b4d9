#!/bin/bash
# Bounded memory for ever-new sensors (issue 13): 1,000,000 distinct
# sensor_ids through the real agent (`fieldgate run`, simulator source with
# 1,000,000 sensors: every reading of the first round is a sensor never seen
# before) with [models] max_sensors = 10,000. While it runs, every scrape of
# /metrics shows at most 10,000 sensors tracked, and sensors tracked +
# evicted = readings accepted (each reading was a new sensor); its peak RSS
# (VmHWM) stays under a bound derived from the cap. The same run with a cap
# the sensors never reach must grow well above that bound, or the test
# proves nothing.
#
# The bound: what the simulator's own 1,000,000 sensors cost (measured here
# with `fieldgate simulate`: they live in the agent's process too), plus
# AGENT_KB for the agent without per-sensor state (the `rss` benchmark: 15 MiB
# at 10,000 events/s; flat out the queue and SQLite's cache hold more), plus
# twice the cap's own cost (the table's pool and index, ~360 bytes a sensor).
. "$(dirname "$0")/lib.sh"

N=1000000 CAP=10000 AGENT_KB=40960 SENSOR_BYTES=360 DEADLINE=120
port=$(free_port)

# metrics: the agent's /metrics now, into $T/m (false when it does not answer).
metrics() { curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" >"$T/m"; }
# metric NAME: its value in $T/m (labels included in NAME), or empty.
metric() { awk -v n="$1" '$1 == n {print $2}' "$T/m"; }
# vm PID FIELD: VmHWM or VmRSS of PID in kB.
vm() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null; }

# The simulator's own memory for N sensors: simulate N sensors, minus 100.
sim_kb=$(( $(/usr/bin/time -f %M "$FG" simulate --sensors $N --count 1 --out /dev/null 2>&1 >/dev/null) -
	$(/usr/bin/time -f %M "$FG" simulate --sensors 100 --count 1 --out /dev/null 2>&1 >/dev/null) ))
bound=$((sim_kb + AGENT_KB + 2 * CAP * SENSOR_BYTES / 1024))
echo "simulator's $N sensors: $sim_kb kB; bound for cap $CAP: $bound kB"

# start_agent MAX_SENSORS: the agent on N simulated sensors, flat out.
start_agent() {
	SIM_SENSORS=$N SIM_RATE=1 write_config "$T/site.conf"
	sed -i -e "s|^dir = \(.*\)|dir = \1\nmax_sensors = $1|" -e "s|^listen =\$|listen = 127.0.0.1:$port|" \
		-e 's|^commit_ms = 10|commit_ms = 10\nmax_mb = 64|' "$T/site.conf"
	grep -q "^max_sensors = $1\$" "$T/site.conf" || fail "config: $(cat "$T/site.conf")"
	rm -rf "$T/data"
	"$FG" run -c "$T/site.conf" 2>"$T/agent.log" &
	pid=$!; pids+=($pid)
	wait_for "/metrics" 20 metrics
}

stop_agent() {
	kill -TERM "$pid"; wait "$pid"; expect "agent exits 0 on SIGTERM" $? 0
}

# 1. The cap: all N through, the table never above CAP, RSS under the bound.
start_agent $CAP
accepted=0 over=0 scrapes=0 max_tracked=0 bad_sum=0
end=$((SECONDS + DEADLINE))
while [ "$accepted" -lt $N ] && [ $SECONDS -lt $end ]; do
	sleep 0.2
	metrics || continue
	accepted=$(metric fieldgate_readings_accepted_total)
	tracked=$(metric fieldgate_sensors_tracked)
	lru=$(metric 'fieldgate_sensors_evicted_total{reason="lru"}')
	[ -n "$accepted" ] && [ -n "$tracked" ] && [ -n "$lru" ] || { fail "metrics: $(grep sensors "$T/m")"; break; }
	scrapes=$((scrapes + 1))
	[ "$tracked" -gt "$max_tracked" ] && max_tracked=$tracked
	[ "$tracked" -gt $CAP ] && over=$((over + 1))
	# Each reading was a sensor not in the table: created = tracked + evicted.
	# The counters are read a few microseconds apart: allow that many readings.
	d=$((tracked + lru - accepted))
	{ [ $d -lt 0 ] || [ $d -gt 1000 ]; } && bad_sum=$((bad_sum + 1)) &&
		echo "  tracked $tracked + evicted $lru vs accepted $accepted" >&2
done
hwm=$(vm "$pid" VmHWM)
[ "$accepted" -ge $N ] && pass "$accepted readings of $N sensors through with max_sensors = $CAP (${SECONDS}s)" ||
	fail "only $accepted of $N readings within ${DEADLINE}s"
[ $scrapes -ge 3 ] && pass "$scrapes scrapes during the run" || fail "only $scrapes scrapes of /metrics"
expect "tracked sensors never above the cap (largest seen: $max_tracked)" $over 0
expect "the table is full at the end" "$tracked" $CAP
expect "sensors tracked + evicted = readings accepted, at every scrape" $bad_sum 0
expect "no idle evictions without sensor_idle_timeout" "$(metric 'fieldgate_sensors_evicted_total{reason="idle"}')" 0
expect "fieldgate_sensors_max" "$(metric fieldgate_sensors_max)" $CAP
[ -n "$hwm" ] && [ "$hwm" -le $bound ] && pass "peak RSS $hwm kB <= $bound kB" ||
	fail "peak RSS ${hwm:-?} kB above the bound $bound kB for $CAP sensors"
stop_agent
capped_hwm=${hwm:-0}

# 2. The same without a cap in reach: RSS must pass twice the bound.
start_agent 100000000
rss=0 accepted=0
end=$((SECONDS + DEADLINE))
while [ "$rss" -le $((2 * bound)) ] && [ "$accepted" -lt $N ] && [ $SECONDS -lt $end ]; do
	sleep 0.2
	rss=$(vm "$pid" VmRSS); rss=${rss:-0}
	metrics && accepted=$(metric fieldgate_readings_accepted_total)
	accepted=${accepted:-0}
done
metrics && tracked=$(metric fieldgate_sensors_tracked)
if [ "$rss" -gt $((2 * bound)) ]; then
	pass "without a cap: RSS $rss kB > 2 x $bound kB with $tracked sensors tracked"
	echo "  ~$(( (rss - capped_hwm) * 1024 / (tracked - CAP) )) bytes per tracked sensor"
else
	fail "without a cap RSS stayed at $rss kB (<= 2 x $bound kB) after $accepted readings: the bound proves nothing"
fi
[ "${tracked:-0}" -gt $CAP ] && pass "without a cap the table holds more than $CAP ($tracked)" ||
	fail "without a cap only ${tracked:-?} sensors tracked"
stop_agent
finish
