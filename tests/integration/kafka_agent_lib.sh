# kafka_agent_lib.sh - running the agent against the Kafka mock (after
# lib.sh and kafka_lib.sh): a simulator site with [kafka] enabled, reading
# its sink state back from `fieldgate status --json`.
PY=/usr/bin/python3

# write_kafka_config FILE RATE [extra INI lines...]: 50 sensors at RATE Hz
# each, forwarding to $KAFKA_BOOTSTRAP, topic sensor-scored.
write_kafka_config() {
	local f=$1 rate=$2; shift 2
	SIM_SENSORS=50 SIM_RATE=$rate write_config "$f" "[kafka]" "enabled = true" \
		"brokers = $KAFKA_BOOTSTRAP" "topic = sensor-scored" "$@"
}

start_agent() {
	"$FG" run -c "$1" 2>>"$2" &
	agent_pid=$!; pids+=($agent_pid)
}

# stop_agent: SIGTERM and wait; returns the agent's exit status.
stop_agent() {
	kill -TERM "$agent_pid" 2>/dev/null
	wait "$agent_pid"
}

# sink_field CONF SINK FIELD: from `status --json` (position, backlog, ...).
sink_field() {
	"$FG" status -c "$1" --json 2>/dev/null | $PY -c '
import json, sys
try:
    v = json.load(sys.stdin)
    v = v["sinks"][sys.argv[1]][sys.argv[2]] if sys.argv[2] != "newest_seq" else v["newest_seq"]
except Exception:
    v = ""
print("" if v is None else v)' "$2" "$3"
}

# newest CONF: the buffer's newest seq.
newest() { sink_field "$1" x newest_seq; }

# at_least CONF SINK SEQ: the sink's position has reached SEQ.
at_least() {
	local p
	p=$(sink_field "$1" "$2" position)
	[ -n "$p" ] && [ "$p" -ge "$3" ]
}

# wait_caught_up DESC SECONDS CONF SINK: until the sink's position reaches
# the newest event buffered when the wait began (the source keeps going).
wait_caught_up() {
	local n
	n=$(newest "$3")
	[ "${n:-0}" -gt 0 ] || { fail "$1: no events buffered"; return 1; }
	wait_for "$1" "$2" at_least "$3" "$4" "$n"
}

# json_get JSON KEY: one top-level field of a JSON object.
json_get() { $PY -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"; }
