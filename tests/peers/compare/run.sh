#!/bin/bash
# run.sh - `make compare`: the same work through fieldgate and the systems a
# sensor-fleet operator would otherwise run on the gateway, interleaved in one
# run, with the figures as ratios (tests/peers/compare/README.md).
#
# The work: COMPARE_N (100,000) labelled readings queued in mosquitto for a
# persistent QoS 1 session -> the three models (fitted once in scikit-learn,
# prep.sh) -> a durable local store, the broker acknowledged only after the
# commit -> Kafka (librdkafka's mock cluster, 3 brokers, acks=all).
#
# Per system and run (the order of the systems rotates from run to run):
#   drain    the backlog queued, then the system started; readings/s from
#            the moment it is connected to its last Kafka message
#            (CreateTime), and from its launch (start-up included); its CPU
#            seconds (all its processes, start-up included) per 100,000
#            readings and its peak RSS (VmHWM summed over its processes)
#   latency  the system running, `fieldgate simulate --mqtt` publishing at
#            COMPARE_RATE (5,000) readings/s for COMPARE_LAT_N readings; a
#            trivial subscriber on the broker notes when each reading
#            arrived there; latency = the Kafka message's CreateTime (the
#            system's producer takes the event after its local commit)
#            minus that; p99 after the first 2 s
#   kill -9  the backlog queued, the system started, SIGKILL (all its
#            processes) once 30 % are in Kafka, started again; readings
#            never in Kafka = lost, and the duplicates
# Before any timing each system's `score` mode must reproduce fieldgate's
# predictions on prep.sh's 1,000 readings (parity.py); a system that does not
# is reported and left out.
#
#   COMPARE_RUNS=3 COMPARE_N=100000 COMPARE_SYSTEMS="fieldgate python nodered"
#   COMPARE_RATE=5000 COMPARE_LAT_N=50000 COMPARE_OUT=DIR (keep logs there)
#
# Prints the runs as they go and a table at the end; exit status 1 when a
# system failed a parity check or a run failed.
. "$(dirname "$0")/../../integration/lib.sh"
. "$top/tests/integration/mqtt_lib.sh"
. "$top/tests/integration/kafka_lib.sh"
PY=/usr/bin/python3
CMP=$top/tests/peers/compare
RUNS=${COMPARE_RUNS:-3}
N=${COMPARE_N:-100000}
SYSTEMS=${COMPARE_SYSTEMS:-fieldgate python nodered}
RATE=${COMPARE_RATE:-5000}
LAT_N=${COMPARE_LAT_N:-50000}
PARTITIONS=32 # the mock keeps ~5 MB per partition: room for a run's topic
SIM_START=2026-02-02T00:00:00Z
HZ=$(getconf CLK_TCK)
errors=0
err() { echo "compare: $*" >&2; errors=$((errors + 1)); }
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# tree PID: PID and all its descendants.
tree() {
	local p c
	echo "$1"
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree "$c"; done
}
# tree_cpu PID: CPU seconds of PID's processes (user + system, live ones).
tree_cpu() {
	local t=0 p c
	for p in $(tree "$1"); do
		c=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && t=$((t + ${c:-0}))
	done
	awk -v t=$t -v hz="$HZ" 'BEGIN {printf "%.2f", t / hz}'
}
# tree_rss PID: peak RSS (VmHWM) summed over PID's processes, MB.
tree_rss() {
	local t=0 p k
	for p in $(tree "$1"); do
		k=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null) && t=$((t + ${k:-0}))
	done
	awk -v t=$t 'BEGIN {printf "%.1f", t / 1024}'
}

# sys_start SYS DIR TOPIC CLIENT_ID: start SYS with its store in DIR (its
# output appended to DIR/out.log: a restart adds to it); sets sys_pid. Returns at once (the drain is timed
# from here); sys_ready waits for it to be connected.
sys_start() {
	local sys=$1 d=$2 topic=$3 id=$4
	mkdir -p "$d"
	case $sys in
	fieldgate)
		# as shipped: conf/example.conf's defaults (sync = normal, commit_ms
		# = 10, librdkafka's own producer defaults), MQTT QoS 1, Kafka on
		cat >"$d/site.conf" <<CONF
[agent]
gateway_id = gw-compare
site = compare
data_dir = $d/data
[source]
type = mqtt
[mqtt]
uri = tcp://127.0.0.1:$MQTT_PORT
topic = sensors/+/reading
qos = 1
client_id = $id
clean_session = false
[models]
dir = $prep/models
[http]
listen =
[kafka]
enabled = true
brokers = $KAFKA_BOOTSTRAP
topic = $topic
CONF
		"$FG" run -c "$d/site.conf" >>"$d/out.log" 2>&1 &
		;;
	python)
		"$PY" "$CMP/py_service.py" --mqtt "127.0.0.1:$MQTT_PORT" --topic 'sensors/+/reading' \
			--client-id "$id" --models "$prep" --store "$d/store" --kafka "$KAFKA_BOOTSTRAP" \
			--kafka-topic "$topic" >>"$d/out.log" 2>&1 &
		;;
	nodered)
		"$CMP/nodered/run.sh" --mqtt "127.0.0.1:$MQTT_PORT" --topic 'sensors/+/reading' \
			--client-id "$id" --models "$prep" --store "$d/store" --kafka "$KAFKA_BOOTSTRAP" \
			--kafka-topic "$topic" >>"$d/out.log" 2>&1 &
		;;
	*) err "unknown system $sys"; return 1 ;;
	esac
	sys_pid=$!
	pids+=("$sys_pid")
}

# sys_ready SYS DIR: until SYS says it is connected (60 s at most).
sys_ready() {
	local end=$((SECONDS + 60))
	while [ $SECONDS -lt $end ] && kill -0 "$sys_pid" 2>/dev/null; do
		if [ "$1" == fieldgate ]; then
			"$FG" status -c "$2/site.conf" --json 2>/dev/null | grep -q '"source":{[^}]*"state":"connected"' && return 0
		else
			grep -q '^ready' "$2/out.log" 2>/dev/null && return 0
		fi
		sleep 0.1
	done
	echo "compare: $1 did not get ready: $(tail -n 3 "$2/out.log")" >&2
	return 1
}

# sys_stop: SIGTERM, then SIGKILL after 20 s; returns the exit status.
sys_stop() {
	local p=$sys_pid end=$((SECONDS + 20)) rc
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
	kill -0 "$p" 2>/dev/null && { echo "compare: pid $p ignored SIGTERM for 20 s" >&2; kill -9 $(tree "$p") 2>/dev/null; }
	wait "$p"; rc=$?
	sys_pid=
	return $rc
}

# sys_kill: SIGKILL every process of the system at once.
sys_kill() { kill -9 $(tree "$sys_pid") 2>/dev/null; wait "$sys_pid" 2>/dev/null; sys_pid=; }

# queue ID COUNT SEED: a persistent QoS 1 session for client ID, then COUNT
# readings published at QoS 1 and queued for it.
queue() {
	mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -c -i "$1" -q 1 -t 'sensors/+/reading' -E \
		|| { echo "compare: cannot create the session $1" >&2; return 1; }
	timeout 300 "$FG" simulate --mqtt "tcp://127.0.0.1:$MQTT_PORT" --qos 1 --sensors 100 --rate 1000 \
		--count "$2" --seed "$3" --start $SIM_START >/dev/null 2>&1 \
		|| { echo "compare: simulate --mqtt failed" >&2; return 1; }
}

# field JSON KEY: one number (or null) from kcount.py's JSON line.
field() { echo "$1" | "$PY" -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$2"; }

# drain_run SYS I: sets d_rate d_wall d_cpu d_rss (and d_dup).
# d_rate: N / (last Kafka CreateTime - the moment the system said it was
# connected), i.e. the drain itself; d_wall: N / (that - its launch), with
# its start-up. (First-to-last CreateTime is no rate for a system that
# takes the backlog into memory and produces it in bursts, as Node-RED.)
drain_run() {
	local sys=$1 i=$2 d=$T/$1-drain-$2 topic=cmp-$1-drain-$2 id=cmp-$1-drain-$2-$$ t0 tr w s last
	d_rate='' d_wall='' d_cpu='' d_rss='' d_dup=''
	kafka_cmd topic "$topic" $PARTITIONS || return 1
	queue "$id" "$N" 3 || return 1
	t0=$(now)
	sys_start "$sys" "$d" "$topic" "$id" || return 1
	sys_ready "$sys" "$d" || { sys_stop; return 1; }
	tr=$(now)
	if ! w=$("$PY" "$CMP/kcount.py" wait "$KAFKA_BOOTSTRAP" "$topic" "$N" --timeout 900); then
		echo "compare: $sys drain: only $w in Kafka after 900 s: $(tail -n 3 "$d/out.log")" >&2
		sys_stop; return 1
	fi
	d_cpu=$(tree_cpu "$sys_pid"); d_rss=$(tree_rss "$sys_pid")
	sys_stop || echo "compare: $sys drain: exit status $? on SIGTERM: $(tail -n 3 "$d/out.log")" >&2
	s=$("$PY" "$CMP/kcount.py" dump "$KAFKA_BOOTSTRAP" "$topic") || return 1
	[ "$(field "$s" readings)" == "$N" ] || { echo "compare: $sys drain: $s" >&2; return 1; }
	[ "$(field "$s" dropped)" == 0 ] || { echo "compare: $sys drain: the mock dropped batches: $s" >&2; return 1; }
	last=$(field "$s" last_ms); d_dup=$(field "$s" duplicates)
	d_rate=$(awk -v a="$tr" -v b="$last" -v n="$N" 'BEGIN {printf "%.0f", n / (b / 1000 - a)}')
	d_wall=$(awk -v a="$t0" -v b="$last" -v n="$N" 'BEGIN {printf "%.0f", n / (b / 1000 - a)}')
	d_cpu=$(awk -v c="$d_cpu" -v n="$N" 'BEGIN {printf "%.2f", c * 100000 / n}')
	[ -n "${COMPARE_OUT:-}" ] && cp "$d/out.log" "$COMPARE_OUT/$sys-drain-$i.log"
	rm -rf "$d"
}

# latency_run SYS I: sets l_p50 l_p99 l_max.
latency_run() {
	local sys=$1 i=$2 d=$T/$1-lat-$2 topic=cmp-$1-lat-$2 id=cmp-$1-lat-$2-$$ obs pub s
	l_p50='' l_p99='' l_max=''
	kafka_cmd topic "$topic" $PARTITIONS || return 1
	mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -c -i "$id" -q 1 -t 'sensors/+/reading' -E || return 1
	sys_start "$sys" "$d" "$topic" "$id" || return 1
	sys_ready "$sys" "$d" || { sys_stop; return 1; }
	mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 0 -t 'sensors/+/reading' -F '%U %p' >"$d/observer" &
	obs=$!; pids+=("$obs")
	sleep 0.5
	timeout 300 "$FG" simulate --mqtt "tcp://127.0.0.1:$MQTT_PORT" --qos 1 --sensors 100 \
		--rate $((RATE / 100)) --count "$LAT_N" --seed 5 >"$d/pub.log" 2>&1 &
	pub=$!; pids+=("$pub")
	if ! "$PY" "$CMP/kcount.py" wait "$KAFKA_BOOTSTRAP" "$topic" "$LAT_N" --timeout 600 >/dev/null; then
		echo "compare: $sys latency: not all $LAT_N in Kafka: $(tail -n 3 "$d/out.log")" >&2
		kill "$pub" "$obs" 2>/dev/null; sys_stop; return 1
	fi
	wait "$pub" || echo "compare: $sys latency: the publisher failed: $(cat "$d/pub.log")" >&2
	sleep 0.2; kill "$obs"; wait "$obs" 2>/dev/null
	sys_stop || echo "compare: $sys latency: exit status $? on SIGTERM" >&2
	s=$("$PY" "$CMP/kcount.py" dump "$KAFKA_BOOTSTRAP" "$topic" --observer "$d/observer") || return 1
	l_p50=$(field "$s" lat_p50); l_p99=$(field "$s" lat_p99); l_max=$(field "$s" lat_max)
	[ -n "$l_p99" ] || { echo "compare: $sys latency: $s" >&2; return 1; }
	rm -rf "$d"
}

# kill_run SYS I: sets k_lost k_dup.
kill_run() {
	local sys=$1 i=$2 d=$T/$1-kill-$2 topic=cmp-$1-kill-$2 id=cmp-$1-kill-$2-$$ s n
	k_lost='' k_dup=''
	kafka_cmd topic "$topic" $PARTITIONS || return 1
	queue "$id" "$N" 7 || return 1
	sys_start "$sys" "$d" "$topic" "$id" || return 1
	"$PY" "$CMP/kcount.py" wait "$KAFKA_BOOTSTRAP" "$topic" $((N * 3 / 10)) --timeout 600 >/dev/null \
		|| { echo "compare: $sys kill: 30 % never reached Kafka" >&2; sys_stop; return 1; }
	sys_kill
	sys_start "$sys" "$d" "$topic" "$id" || return 1
	# until nothing new has come for 10 s: the high watermark counts the
	# duplicates too, so reaching N says nothing about the last readings
	"$PY" "$CMP/kcount.py" wait "$KAFKA_BOOTSTRAP" "$topic" $((N * 10)) --idle 10 --timeout 900 >/dev/null
	sys_stop || echo "compare: $sys kill: exit status $? on SIGTERM after the restart" >&2
	s=$("$PY" "$CMP/kcount.py" dump "$KAFKA_BOOTSTRAP" "$topic") || return 1
	[ "$(field "$s" dropped)" == 0 ] || { echo "compare: $sys kill: the mock dropped batches: $s" >&2; return 1; }
	n=$(field "$s" readings); k_lost=$((N - n)); k_dup=$(field "$s" duplicates)
	[ -n "${COMPARE_OUT:-}" ] && cp "$d/out.log" "$COMPARE_OUT/$sys-kill-$i.log"
	rm -rf "$d"
}

# parity SYS: SYS's score mode on the 1,000 parity readings against fieldgate.
parity() {
	local out=$T/parity.$1.jsonl
	case $1 in
	fieldgate) return 0 ;;
	python) "$PY" "$CMP/py_service.py" score --models "$prep" <"$prep/parity.jsonl" >"$out" ;;
	nodered) node "$CMP/nodered/score_cli.js" --models "$prep" <"$prep/parity.jsonl" >"$out" ;;
	esac || { echo "compare: $1: score mode failed" >&2; return 1; }
	"$PY" "$CMP/parity.py" "$prep/parity.fieldgate.jsonl" "$out"
}

[ -n "${COMPARE_OUT:-}" ] && mkdir -p "$COMPARE_OUT"
prep=$T/prep
echo "== prep: the scikit-learn models, imported into fieldgate, and 1,000 parity readings"
"$CMP/prep.sh" "$FG" "$prep" || { echo "compare: prep.sh failed" >&2; exit 1; }
systems=()
for s in $SYSTEMS; do
	echo "== parity: $s"
	if parity "$s"; then systems+=("$s"); else err "$s does not predict what fieldgate predicts: left out"; fi
done
start_broker || exit 1
start_kafka --brokers 3 || exit 1
declare -A rate wall cpu rss dup p50 p99 pmax lost kdup
for ((i = 1; i <= RUNS; i++)); do
	order=("${systems[@]:$((i % ${#systems[@]}))}" "${systems[@]:0:$((i % ${#systems[@]}))}")
	for s in "${order[@]}"; do
		if drain_run "$s" $i; then
			echo "run $i $s drain: $d_rate readings/s (launch to last: $d_wall/s), CPU $d_cpu s per 100k, peak RSS $d_rss MB, $d_dup duplicates"
			rate[$s]+=" $d_rate"; wall[$s]+=" $d_wall"; cpu[$s]+=" $d_cpu"; rss[$s]+=" $d_rss"; dup[$s]+=" $d_dup"
		else err "run $i $s drain failed"; fi
		if latency_run "$s" $i; then
			echo "run $i $s latency at $RATE/s: p50 $l_p50 ms, p99 $l_p99 ms, max $l_max ms"
			p50[$s]+=" $l_p50"; p99[$s]+=" $l_p99"; pmax[$s]+=" $l_max"
		else err "run $i $s latency failed"; fi
		if kill_run "$s" $i; then
			echo "run $i $s kill -9 at 30 %: $k_lost readings lost, $k_dup duplicates"
			lost[$s]+=" $k_lost"; kdup[$s]+=" $k_dup"
		else err "run $i $s kill -9 failed"; fi
	done
done
stop_kafka >/dev/null
stop_broker

# The table: medians, and each figure as a ratio to fieldgate's.
m() { [ -n "${2:-}" ] && median $2; }
ratio() { # VALUE FIELDGATE_VALUE HIGHER_IS_BETTER(1/0)
	awk -v v="$1" -v f="$2" -v h="$3" 'BEGIN {
		if (v == "" || f == "" || v + 0 == 0 || f + 0 == 0) { print ""; exit }
		r = h ? f / v : v / f; printf (r >= 10 ? "fieldgate ×%.0f" : "fieldgate ×%.1f"), r }'
}
echo
echo "== compare: $N readings queued (QoS 1, commit before ack) -> 3 models -> local store -> Kafka (acks=all); medians of $RUNS interleaved runs"
printf '| %-34s |' "figure"; for s in "${systems[@]}"; do printf ' %-22s |' "$s"; done; echo
printf '|%s|' "------------------------------------"; for s in "${systems[@]}"; do printf '%s|' "------------------------"; done; echo
line() { # LABEL ARRAY HIGHER_IS_BETTER
	local -n a=$2
	local f v
	f=$(m x "${a[fieldgate]:-}")
	printf '| %-34s |' "$1"
	for s in "${systems[@]}"; do
		v=$(m x "${a[$s]:-}")
		if [ "$s" == fieldgate ] || [ -z "$3" ]; then printf ' %-22s |' "${v:-—}"
		else printf ' %-22s |' "${v:-—} ($(ratio "$v" "$f" "$3"))"; fi
	done
	echo
}
line "drain, readings/s" rate 1
line "  from launch (start-up incl.), /s" wall 1
line "p99 publish → committed+produced, ms" p99 0
line "  p50, ms" p50 0
line "CPU s per 100k readings" cpu 0
line "peak RSS, MB" rss 0
line "lost after kill -9 (of $N)" lost ""
line "  duplicates after kill -9" kdup ""
echo
[ $errors -eq 0 ] || { echo "compare: $errors errors (above)" >&2; exit 1; }
