#!/bin/bash
# run.sh - fieldgate's benchmarks (`make bench`); results and method are in
# tests/bench/RESULTS.md.
#
#   infer  scorer_predict(), all three models per event, and the whole
#          per-reading CPU path (build/bench/bench_infer, 7 runs)
#   infer_sklearn  the same inference with models imported from scikit-learn
#          (models/import_sklearn.py): a random forest of 100 trees, depth 10,
#          a GBT of 100 trees, depth 10, and a logistic regression, fitted
#          (tests/integration/sklearn_fit.py) on 50,000 simulated readings;
#          all three and each alone (7 runs; info)
#   e2e    simulator -> score -> event JSON -> SQLite with the real binary
#          flat out, sync = normal and sync = full (3 runs each)
#   rss    peak RSS (VmHWM) of `fieldgate run` at 10,000 events/s (3 runs)
#   mqtt1  [source] type = mqtt, QoS 1 (commit before ack): 60,000 readings
#          queued in the broker, drained by the agent (3 runs)
#   mqtt0  QoS 0: 400,000 readings from mosquitto_pub while the agent runs,
#          publisher, broker and agent on the same cores (3 runs; info)
#   mqtt0d QoS 0 as a backlog drain (the mqtt1 method): 200,000 readings queued
#          for the agent's session while it is away, then drained (3 runs;
#          the QoS 0 target, 60,000 msg/s, is judged here)
#   latency  published -> received (and committed) at 5,000 readings/s,
#          QoS 1: p50/p99/max (3 runs)
#   latency0 the same at QoS 0, for comparison (not in the default set)
#   kafka  simulator flat out -> agent -> Kafka mock cluster (3 brokers,
#          acks=all, idempotent): rate of the sink's acknowledged position
#          (3 runs)
#   kafka_latency  arrival -> Kafka acknowledgement p50/p99/max at 10,000
#          events/s, from the agent's own histogram (3 runs)
#   kafka_drain  a backlog of 1,000,000 events built with the brokers down,
#          then drained by a restarted agent (3 runs on copies of it)
#   es     simulator flat out -> agent -> Elasticsearch stand-in (rate of
#          the sink's acknowledged position), the stand-in's own ceiling
#          with the run's own events, bytes and agent CPU per event; and
#          the same agent paced at 50,000 events/s (3 runs each)
#   replay `fieldgate replay --sink kafka` of a 1,000,000-event buffer
#          (3 runs)
#   restart  launch -> first new event committed, on that buffer: no
#          sinks (warm and cold page cache), Kafka + ES enabled but down,
#          MQTT QoS 1 (3 runs each)
#   flash  bytes written to the storage device per event: the simulator at
#          100, 1,000 and 10,000 events/s, MQTT QoS 0 and QoS 1 at 1,000/s,
#          sync normal and full (root: a loop device)
#   soak   (not in the default set; `make soak`) 30 min of MQTT QoS 1 at
#          10,000 readings/s with both sinks and a 3-minute ES outage: RSS,
#          fds, buffer and WAL every 10 s into tests/bench/soak.csv and .png;
#          soak_report re-reads that CSV and prints the verdicts again
#   lifecycle  the scoring path (ingest_score) with input-drift counting and
#          with a shadow set, interleaved: the PSI and shadow overheads (9 runs)
#   reload SIGHUP -> new model set live, and readings delayed around it, at
#          5,000 QoS 1 readings/s with 20 reloads (3 runs, each paired with
#          one without reloads)
#   train  `fieldgate train` on 1,000,000 simulated readings: wall time and
#          peak RSS (/usr/bin/time), and that every run writes the same bytes
#          (3 runs)
#   wire   (not in the default set) the full path, MQTT QoS 1 -> models ->
#          buffer -> Kafka mock + ES stand-in, paced at 1,000 and 10,000/s:
#          bytes per event to Kafka (per compression/linger.ms) and to ES,
#          CPU per event, buffer bytes per event (3 runs, interleaved)
#
# Usage: tests/bench/run.sh [infer|infer_sklearn|e2e|rss|mqtt1|mqtt0|mqtt0d|latency|
#        latency0|kafka|kafka_latency|kafka_drain|es|replay|restart|reload|lifecycle|train|flash|
#        soak|soak_report ...]
# (default: all but latency0, soak and soak_report; the environment variable BENCH="e2e rss" does
# the same, for `BENCH=e2e make bench`).
# Needs build/fieldgate and build/bench/bench_infer (`make bench` builds
# them); the MQTT benchmarks also need mosquitto, mosquitto_pub and python3.
# They start their own mosquitto on a free loopback port. The Kafka ones
# need build/peers/kafka_mock (`make peers`) and start it themselves.
# infer_sklearn needs Debian's python3-sklearn (/usr/bin/python3).
# es starts tests/peers/es_standin.py itself (/usr/bin/python3) and uses
# sqlite3 (the CLI); replay and restart share one 1,000,000-event buffer.
# KEEP_SAMPLES=PREFIX keeps the kafka and kafka_drain status samples as
# PREFIX.kafka-N and PREFIX.drain-N ("time newest position p50 p99 max").
# Prints a table of medians with PASS/MISS per target. A MISS does not fail:
# this is a measurement. Exits non-zero only when a benchmark could not run.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
FG=${FIELDGATE:-$top/build/fieldgate}
BENCH_INFER=$top/build/bench/bench_infer
BENCH_LIFECYCLE=$top/build/bench/bench_lifecycle LIFECYCLE_REPS=9
E2E_RUNS=3 RSS_RUNS=3 INFER_REPS=7
E2E_WARMUP=2 E2E_WINDOW=5 RSS_SECONDS=20

T=$(mktemp -d "${TMPDIR:-/tmp}/fieldgate-bench.XXXXXX") || exit 1
agent_pid='' sleep_pid='' pub_pid='' broker_pid='' flash_mnt='' flash_dev=''
cleanup() {
	if [ -n "$sleep_pid" ]; then kill "$sleep_pid" 2>/dev/null; fi
	if [ -n "$pub_pid" ]; then kill -TERM "$pub_pid" 2>/dev/null; wait "$pub_pid" 2>/dev/null; fi
	if [ -n "$agent_pid" ]; then kill -9 "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; fi
	if [ -n "$broker_pid" ]; then kill -9 "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null; fi
	if [ -n "${es_pid:-}" ]; then kill -9 "$es_pid" 2>/dev/null; wait "$es_pid" 2>/dev/null; fi
	if [ -n "$flash_mnt" ]; then umount "$flash_mnt"; fi
	if [ -n "$flash_dev" ]; then losetup -d "$flash_dev"; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

errors=0
rows=()
err() { echo "bench: $*" >&2; errors=$((errors + 1)); }
now() { date +%s.%N; }
# pause SECONDS: a sleep that a SIGTERM/SIGINT to this script interrupts at once
pause() { sleep "$1" & sleep_pid=$!; wait $sleep_pid; sleep_pid=; }
# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# verdict VALUE OP LIMIT -> PASS or MISS (OP is <= or >=)
verdict() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {ok = (op == "<=") ? v <= l : v >= l; print ok ? "PASS" : "MISS"}'; }
# row NAME TARGET MEDIAN RUNS RESULT: one line of the final table
row() { rows+=("$(printf '%-36s %-12s %12s  %-8s %s' "$1" "$2" "$3" "$5" "$4")"); }

# row_median LABEL ARRAY [OP LIMIT]: a row for the runs in the array named
# ARRAY: their median, and a PASS/MISS verdict against OP LIMIT, or "(info)".
row_median() {
	local -n runs_=$2
	local m
	m=$(median "${runs_[@]}")
	if [ $# -ge 4 ]; then
		row "$1" "$3 $4" "$m" "$(IFS=,; echo "${runs_[*]}")" "$(verdict "$m" "$3" "$4")"
	else
		row "$1" "(info)" "$m" "$(IFS=,; echo "${runs_[*]}")" "-"
	fi
}

# write_conf FILE DATA_DIR SENSORS RATE SYNC: a simulator site. max_mb is
# raised so the buffer's size limit never triggers inside a measurement
# (a flat-out run writes ~140 MB/s of events).
write_conf() {
	cat >"$1" <<CONF
[agent]
gateway_id = gw-bench
site = bench
data_dir = $2
log_level = info
[source]
type = simulator
[simulator]
sensors = $3
rate = $4
seed = 1
[models]
dir = $top/models/default
[buffer]
path = buffer.db
max_mb = 16384
sync = $5
commit_ms = 10
[http]
listen =
CONF
}

# newest_seq CONF: the agent's newest committed seq, from `status --json`.
newest_seq() {
	"$FG" status -c "$1" --json 2>/dev/null | sed -n 's/.*"newest_seq":\([0-9][0-9]*\).*/\1/p'
}

# alive PID: the process exists and is not a zombie.
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# start_agent CONF LOG: run the agent in the background (sets agent_pid).
start_agent() {
	"$FG" run -c "$1" 2>"$2" &
	agent_pid=$!
}

# stop_agent: SIGTERM, wait up to 30 s (then SIGKILL), reap. Returns its status.
stop_agent() {
	local pid=$agent_pid rc i
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 300; i++)); do alive "$pid" || break; sleep 0.1; done
	alive "$pid" && { echo "bench: agent did not stop in 30 s, killing it" >&2; kill -9 "$pid"; }
	wait "$pid"; rc=$?
	agent_pid=
	return $rc
}

bench_infer() {
	local out
	echo "== infer: $BENCH_INFER models/default 100000 $INFER_REPS"
	if [ ! -x "$BENCH_INFER" ]; then err "infer: $BENCH_INFER not built (run make bench)"; return; fi
	if ! out=$("$BENCH_INFER" models/default 100000 $INFER_REPS); then err "infer: bench_infer failed"; return; fi
	echo "$out"
	local im imin imax pm pmin pmax
	read -r im imin imax < <(echo "$out" | sed -n 's/^infer median=\([^ ]*\) min=\([^ ]*\) max=\([^ ]*\).*/\1 \2 \3/p')
	read -r pm pmin pmax < <(echo "$out" | sed -n 's/^path median=\([^ ]*\) min=\([^ ]*\) max=\([^ ]*\).*/\1 \2 \3/p')
	if [ -z "${im:-}" ] || [ -z "${pm:-}" ]; then err "infer: unexpected output"; return; fi
	row "inference, 3 models (ns/event)" "<= 1000" "$im" "min $imin max $imax ($INFER_REPS runs)" "$(verdict "$im" '<=' 1000)"
	row "  per-reading CPU path (ns/event)" "(info)" "$pm" "min $pmin max $pmax ($INFER_REPS runs)" "-"
}

# infer_row OUTPUT NAME LABEL: a row for bench_infer's line NAME (info).
infer_row() {
	local m mn mx
	read -r m mn mx < <(echo "$1" | sed -n "s/^$2 median=\([^ ]*\) min=\([^ ]*\) max=\([^ ]*\).*/\1 \2 \3/p")
	if [ -z "${m:-}" ]; then err "infer_sklearn: no $2 line"; return; fi
	row "$3" "(info)" "$m" "min $mn max $mx ($INFER_REPS runs)" "-"
}

bench_infer_sklearn() {
	local d=$T/sklearn out py=/usr/bin/python3
	local data="--sensors 100 --rate 0.01 --count 50000 --seed 7 --start 2026-01-05T00:00:00Z"
	echo "== infer_sklearn: fit (sklearn_fit.py, simulate $data), import, $BENCH_INFER 100000 $INFER_REPS"
	if [ ! -x "$BENCH_INFER" ]; then err "infer_sklearn: $BENCH_INFER not built (run make bench)"; return; fi
	if ! $py -c 'import sklearn' 2>/dev/null; then err "infer_sklearn: $py cannot import sklearn (python3-sklearn)"; return; fi
	mkdir -p "$d/sk" "$d/models"
	# shellcheck disable=SC2086
	"$FG" simulate $data --out "$d/train.jsonl" && "$FG" models features --data "$d/train.jsonl" --out "$d/train.csv" \
		|| { err "infer_sklearn: training data"; return; }
	$py tests/integration/sklearn_fit.py "$d/train.csv" "$d/sk" --rf-trees 100 --rf-depth 10 \
		--gbt-trees 100 --gbt-depth 10 --gbt-subsample 1 || { err "infer_sklearn: fitting"; return; }
	$py models/import_sklearn.py --fieldgate "$FG" "$d/sk/rf.pkl" --features "$(cat "$d/sk/rf.features")" --out "$d/models" &&
		$py models/import_sklearn.py --fieldgate "$FG" "$d/sk/lr.joblib" --features "$(cat "$d/sk/lr.features")" --out "$d/models" &&
		$py models/import_sklearn.py --fieldgate "$FG" "$d/sk/gbt.joblib" --out "$d/models" \
		|| { err "infer_sklearn: import"; return; }
	if ! out=$("$BENCH_INFER" "$d/models" 100000 $INFER_REPS); then err "infer_sklearn: bench_infer failed"; return; fi
	echo "$out"
	infer_row "$out" infer "infer, 3 sklearn models (ns/event)"
	infer_row "$out" infer_status "  forest 100 x depth 10 (ns/event)"
	infer_row "$out" infer_anomaly "  logistic regression (ns/event)"
	infer_row "$out" infer_humidity "  GBT 100 x depth 10 (ns/event)"
}

# lifecycle: bench_lifecycle, the scoring path with input-drift counting and a
# shadow set (issue 12: PSI upkeep <= 0.1 us, shadow scoring <= 0.5 us a reading).
bench_lifecycle() {
	local out m mn mx name
	echo "== lifecycle: $BENCH_LIFECYCLE models/default models/default 100000 $LIFECYCLE_REPS"
	if [ ! -x "$BENCH_LIFECYCLE" ]; then err "lifecycle: $BENCH_LIFECYCLE not built (run make bench)"; return; fi
	if ! out=$("$BENCH_LIFECYCLE" models/default models/default 100000 $LIFECYCLE_REPS); then
		err "lifecycle: bench_lifecycle failed"; return
	fi
	echo "$out"
	for name in live psi_overhead shadow_overhead shadow_event_overhead; do
		read -r m mn mx < <(echo "$out" | sed -n "s/^$name median=\([^ ]*\) min=\([^ ]*\) max=\([^ ]*\).*/\1 \2 \3/p")
		if [ -z "${m:-}" ]; then err "lifecycle: no $name line"; return; fi
		case $name in
		live) row "scoring path, live set + PSI (ns/event)" "(info)" "$m" "min $mn max $mx ($LIFECYCLE_REPS runs)" "-" ;;
		psi_overhead) row "  input drift (PSI) upkeep (ns/event)" "<= 100" "$m" "min $mn max $mx" "$(verdict "$m" '<=' 100)" ;;
		shadow_overhead) row "  shadow set scoring (ns/event)" "<= 500" "$m" "min $mn max $mx" "$(verdict "$m" '<=' 500)" ;;
		*) row "  + shadow in each event (ns/event)" "(info)" "$m" "min $mn max $mx" "-" ;;
		esac
	done
}

# ---- flash wear (issue 13) ----------------------------------------------
# What the agent writes to the storage device per event: the buffer on a
# fresh ext4 file system of its own (a loop device, so that the device's
# own count of sectors written is the agent's alone, file-system journal
# included), no sinks. The readings come from the built-in simulator (in
# rounds: all 100 sensors at once, RATE/100 times a second) or over MQTT
# from `fieldgate simulate --mqtt` (one by one, evenly spaced) at QoS 0 or
# QoS 1 (one commit per reading: acknowledged only once committed). After
# FLASH_WARMUP s, for FLASH_SECONDS s: the process's write_bytes
# (/proc/PID/io: bytes it dirtied in the page cache) and the device's
# sectors written, against the bytes of the events committed meanwhile
# (their JSON, as stored). Needs root (losetup, mount).
# FLASH_EXTRA="key = value" replaces the [buffer] commit_ms line;
# FLASH_SOURCES, FLASH_RATES (simulator), FLASH_MQTT_RATES, FLASH_SYNCS
# choose the runs.
FLASH_WARMUP=${FLASH_WARMUP:-10} FLASH_SECONDS=${FLASH_SECONDS:-30}

# flash_run SOURCE RATE SYNC: one run (SOURCE sim, qos0 or qos1); sets
# flash ("events E json_bytes J proc_bytes P dev_bytes D"). Returns 1 on
# failure.
flash_run() {
	local src=$1 rate=$2 sync=$3 d=$T/flash-$1-$2-$3 img dev pid io0 io1 s0 s1 q0 q1 js
	flash=
	mkdir -p "$d/mnt"
	img=$d/fs.img
	truncate -s 1G "$img" && mkfs.ext4 -q -F "$img" && dev=$(losetup --find --show "$img") &&
		flash_dev=$dev && mount "$dev" "$d/mnt" && flash_mnt=$d/mnt ||
		{ echo "bench: flash: cannot mount a loop device (root?)" >&2; return 1; }
	if [ "$src" == sim ]; then
		write_conf "$d/site.conf" "$d/mnt/data" 100 "$(awk -v r="$rate" 'BEGIN {print r / 100}')" "$sync"
	else
		broker_start flash || return 1
		write_mqtt_conf "$d/site.conf" "$d/mnt/data" "${src#qos}" "fieldgate-bench-flash-$$" false
		sed -i "s/^sync = .*/sync = $sync/" "$d/site.conf"
	fi
	[ -n "${FLASH_EXTRA:-}" ] && sed -i "s|^commit_ms = 10|${FLASH_EXTRA//$'\n'/\\n}|" "$d/site.conf"
	start_agent "$d/site.conf" "$d/agent.log"
	pid=$agent_pid
	if [ "$src" != sim ]; then
		wait_connected "$d/site.conf" || { agent_fail "$d" "flash: agent did not connect"; broker_stop; return 1; }
		"$FG" simulate --mqtt "tcp://127.0.0.1:$mqtt_port" --qos "${src#qos}" --sensors 100 \
			--rate "$(awk -v r="$rate" 'BEGIN {print r / 100}')" --seed 5 --start $SIM_START \
			2>"$d/pub.log" &
		pub_pid=$!
	fi
	pause "$FLASH_WARMUP"
	sync
	q0=$(newest_seq "$d/site.conf"); io0=$(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")
	s0=$(awk '{print $7}' "/sys/block/$(basename "$dev")/stat")
	pause "$FLASH_SECONDS"
	q1=$(newest_seq "$d/site.conf"); io1=$(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")
	sync
	s1=$(awk '{print $7}' "/sys/block/$(basename "$dev")/stat")
	if [ -n "$pub_pid" ]; then kill "$pub_pid" 2>/dev/null; wait "$pub_pid" 2>/dev/null; pub_pid=; fi
	stop_agent || echo "bench: flash: agent exited non-zero: $(tail -n 3 "$d/agent.log")" >&2
	[ "$src" != sim ] && broker_stop
	js=$(sqlite3 -batch -noheader "$d/mnt/data/buffer.db" \
		"SELECT coalesce(sum(length(data)), 0) FROM events WHERE seq > $q0 AND seq <= $q1")
	umount "$d/mnt" && flash_mnt= && losetup -d "$dev" && flash_dev=
	rm -rf "$d"
	flash="events $((q1 - q0)) json_bytes $js proc_bytes $((io1 - io0)) dev_bytes $(((s1 - s0) * 512))"
}

# bench_flash: the simulator at 100, 1,000 and 10,000 events/s, MQTT QoS 0
# and QoS 1 at 1,000/s; sync normal and full.
bench_flash() {
	local src rate sync e j p dv rates label
	echo "== flash: bytes written per event, no sinks, buffer alone on a fresh ext4 loop device;"\
		"${FLASH_SECONDS} s after ${FLASH_WARMUP} s of warm-up; write amplification = bytes written"\
		"/ bytes of the events' JSON${FLASH_EXTRA:+; [buffer] $FLASH_EXTRA}"
	for src in ${FLASH_SOURCES:-sim qos0 qos1}; do
		rates=${FLASH_RATES:-100 1000 10000}
		[ "$src" != sim ] && rates=${FLASH_MQTT_RATES:-1000}
		for sync in ${FLASH_SYNCS:-normal full}; do
			for rate in $rates; do
				if ! flash_run "$src" "$rate" "$sync"; then err "flash $src $rate $sync failed"; return; fi
				echo "$src $rate/s sync=$sync: $flash"
				# shellcheck disable=SC2086 # "events E json_bytes J proc_bytes P dev_bytes D"
				set -- $flash
				e=$2 j=$4 p=$6 dv=$8
				label="flash simulator $rate/s $sync"
				[ "$src" != sim ] && label="flash MQTT QoS ${src#qos} $rate/s $sync"
				row "$label: device / event (B)" "(info)" "$((dv / (e > 0 ? e : 1)))" \
					"process $((p / (e > 0 ? e : 1))) B, JSON $((j / (e > 0 ? e : 1))) B, $e events" "-"
				if [ "$src" == sim ] && [ "$rate" == 1000 ]; then
					row "  write amplification (device)" "<= 3" "$(awk -v a="$dv" -v b="$j" 'BEGIN {printf "%.2f", a / b}')" \
						"process $(awk -v a="$p" -v b="$j" 'BEGIN {printf "%.2f", a / b}')" \
						"$(verdict "$(awk -v a="$dv" -v b="$j" 'BEGIN {print a / b}')" '<=' 3)"
				else
					row "  write amplification (device)" "(info)" "$(awk -v a="$dv" -v b="$j" 'BEGIN {printf "%.2f", a / b}')" \
						"process $(awk -v a="$p" -v b="$j" 'BEGIN {printf "%.2f", a / b}')" "-"
				fi
			done
		done
	done
}

# e2e_run SYNC N: one flat-out run; sets rate (events/s). Returns 1 on
# failure. Runs in this shell (not in $(...)) so the EXIT trap sees agent_pid.
e2e_run() {
	local d=$T/e2e-$1-$2 s1 s2 t1 t2
	rate=
	mkdir -p "$d"
	write_conf "$d/site.conf" "$d/data" 1000 1000 "$1"
	start_agent "$d/site.conf" "$d/agent.log"
	pause $E2E_WARMUP
	s1=$(newest_seq "$d/site.conf"); t1=$(now)
	pause $E2E_WINDOW
	s2=$(newest_seq "$d/site.conf"); t2=$(now)
	if ! alive "$agent_pid"; then
		wait "$agent_pid"; agent_pid=
		echo "bench: e2e: agent exited early: $(tail -n 3 "$d/agent.log")" >&2; rm -rf "$d"; return 1
	fi
	stop_agent || echo "bench: e2e: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	rm -rf "$d"
	if [ -z "$s1" ] || [ -z "$s2" ]; then echo "bench: e2e: status --json gave no newest_seq" >&2; return 1; fi
	rate=$(awk -v a="$s1" -v b="$s2" -v t1="$t1" -v t2="$t2" 'BEGIN {printf "%.0f", (b - a) / (t2 - t1)}')
}

# The two sync modes alternate (normal, full, normal, ...) so that drift in
# the machine (disk, neighbours, CPU clock) spreads over both alike.
bench_e2e() {
	local i sync rate m
	local -A runs=([normal]='' [full]='') target=([normal]=200000 [full]=100000)
	echo "== e2e: sensors=1000 rate=1000, ${E2E_WARMUP}s warm-up, ${E2E_WINDOW}s window,"\
		"$E2E_RUNS runs per sync mode, alternating"
	for ((i = 1; i <= E2E_RUNS; i++)); do
		for sync in normal full; do
			if ! e2e_run $sync $i; then err "e2e sync=$sync run $i failed"; return; fi
			echo "run $i sync=$sync: $rate events/s"
			runs[$sync]+="${runs[$sync]:+ }$rate"
		done
	done
	for sync in normal full; do
		# shellcheck disable=SC2086 # word splitting wanted: the runs
		m=$(median ${runs[$sync]})
		row "e2e sync=$sync (events/s)" ">= ${target[$sync]}" "$m" "${runs[$sync]// /,}" \
			"$(verdict "$m" '>=' "${target[$sync]}")"
	done
}

# rss_run N: one run at 10,000 events/s; sets hwm (VmHWM, kB) and rate
# (events/s over the whole run). Returns 1 on failure.
rss_run() {
	local d=$T/rss-$1 t0 t1 seq
	hwm='' rate=''
	mkdir -p "$d"
	write_conf "$d/site.conf" "$d/data" 100 100 normal
	t0=$(now)
	start_agent "$d/site.conf" "$d/agent.log"
	pause $RSS_SECONDS
	seq=$(newest_seq "$d/site.conf"); t1=$(now)
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$agent_pid/status" 2>/dev/null)
	if ! alive "$agent_pid" || [ -z "$hwm" ] || [ -z "$seq" ]; then
		if alive "$agent_pid"; then stop_agent; else wait "$agent_pid"; agent_pid=; fi
		echo "bench: rss: agent not running or no status: $(tail -n 3 "$d/agent.log")" >&2
		rm -rf "$d"; return 1
	fi
	stop_agent || echo "bench: rss: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	rm -rf "$d"
	rate=$(awk -v s="$seq" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.0f", s / (t1 - t0)}')
}

bench_rss() {
	local hwms=() rates=() i hwm rate
	echo "== rss: sensors=100 rate=100 (10,000 events/s), sync=normal, ${RSS_SECONDS}s, $RSS_RUNS runs"
	for ((i = 1; i <= RSS_RUNS; i++)); do
		if ! rss_run $i; then err "rss run $i failed"; return; fi
		echo "run $i: VmHWM $hwm kB, sustained $rate events/s"
		hwms+=("$(awk -v h="$hwm" 'BEGIN {printf "%.1f", h / 1024}')"); rates+=("$rate")
	done
	local m mr; m=$(median "${hwms[@]}"); mr=$(median "${rates[@]}")
	row "peak RSS at 10k events/s (MiB)" "<= 16" "$m" "$(IFS=,; echo "${hwms[*]}")" "$(verdict "$m" '<=' 16)"
	row "  sustained rate (events/s)" ">= 9500" "$mr" "$(IFS=,; echo "${rates[*]}")" "$(verdict "$mr" '>=' 9500)"
}

# ---- MQTT benchmarks ------------------------------------------------------
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
MQTT_RUNS=${MQTT_RUNS:-3}
MQTT1_N=60000 MQTT0_N=400000 MQTT0D_N=200000
LAT_SENSORS=100 LAT_RATE=50 LAT_N=${LAT_N:-50000}
RELOAD_N=${RELOAD_N:-60000} # 12 s at 5,000/s: the 20 reloads take about 9
POLL=0.05 # seconds between two `status --json` polls (each costs ~5 ms of CPU)
SIM_START=2026-03-01T00:00:00Z
mqtt_port=''

# port_open PORT: something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# broker_start NAME: a private mosquitto on a free loopback port (sets
# mqtt_port, broker_pid). max_queued_messages 0 = unlimited, so the QoS 1
# readings published while the agent is away all wait for it; the in-flight
# window per client is mosquitto's default, 20. `user` is this user: run as
# root, mosquitto would otherwise drop to "mosquitto" and fail to write its
# persistence dir.
broker_start() {
	local d=$T/broker-$1 end
	mkdir -p "$d/mosq"
	mqtt_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()') || return 1
	cat >"$d/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous true
max_queued_messages 0
queue_qos0_messages true
max_inflight_messages 20
set_tcp_nodelay true
persistence true
persistence_location $d/mosq/
autosave_interval 0
log_dest file $d/mosquitto.log
log_type error
log_type warning
user $(id -un)
listener $mqtt_port 127.0.0.1
CONF
	"$MOSQUITTO" -c "$d/mosquitto.conf" 2>"$d/stderr" &
	broker_pid=$!
	end=$((SECONDS + 10))
	while ! port_open "$mqtt_port"; do
		if ! alive "$broker_pid" || [ $SECONDS -ge $end ]; then
			echo "bench: mosquitto did not start: $(tail -n 3 "$d/stderr" "$d/mosquitto.log" 2>/dev/null)" >&2
			broker_stop; return 1
		fi
		sleep 0.05
	done
}

# broker_stop: SIGTERM and reap.
broker_stop() {
	[ -n "$broker_pid" ] || return 0
	kill -TERM "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null
	broker_pid=
}

# write_mqtt_conf FILE DATA_DIR QOS CLIENT_ID CLEAN_SESSION: an MQTT site on
# the bench broker, sync = normal, no sinks, no HTTP.
write_mqtt_conf() {
	cat >"$1" <<CONF
[agent]
gateway_id = gw-bench
site = bench
data_dir = $2
log_level = info
[source]
type = mqtt
[models]
dir = $top/models/default
[buffer]
path = buffer.db
max_mb = 16384
sync = normal
commit_ms = 10
[http]
listen =
[mqtt]
uri = tcp://127.0.0.1:$mqtt_port
topic = sensors/+/reading
qos = $3
client_id = $4
clean_session = $5
keepalive = 10
CONF
}

# wait_connected CONF: until `status --json` says the source is connected
# (10 s at most; the agent must be running).
wait_connected() {
	local end=$((SECONDS + 10))
	while [ $SECONDS -lt $end ] && alive "$agent_pid"; do
		"$FG" status -c "$1" --json 2>/dev/null | grep -q '"source":{[^}]*"state":"connected"' && return 0
		sleep $POLL
	done
	return 1
}

# wait_seq CONF N SECS: poll newest_seq every $POLL s until it reaches N;
# sets seq_t to the time of the poll that saw it (so the figure is late by
# at most one poll, about 50 ms). Returns 1 on timeout or if the agent died.
wait_seq() {
	local end=$((SECONDS + $3)) s
	seq_t=
	while [ $SECONDS -lt $end ] && alive "$agent_pid"; do
		s=$(newest_seq "$1")
		if [ "${s:-0}" -ge "$2" ]; then seq_t=$(now); return 0; fi
		sleep $POLL
	done
	return 1
}

# rate_of N T0 T1: N / (T1 - T0), rounded.
rate_of() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {printf "%.0f", n / (b - a)}'; }

# agent_fail D WHAT: report an agent that failed in run dir D.
agent_fail() {
	echo "bench: $2: $(tail -n 3 "$1/agent.log" 2>/dev/null)" >&2
	if [ -n "$agent_pid" ]; then
		if alive "$agent_pid"; then stop_agent; else wait "$agent_pid"; agent_pid=; fi
	fi
	rm -rf "$1"
}

# mqtt_drain NAME DIR CLIENT_ID QOS N SEED: the drain method. The agent
# subscribes once at QOS (persistent session), goes away; N readings are
# published at QoS 1 (none lost on the way in) and queued by the broker for
# the session; the agent comes back and drains them. Sets drain (msg/s from
# its launch to the poll that saw N committed), pubrate (the offline
# publish) and got; removes DIR. Returns 1 (reported) on failure.
mqtt_drain() {
	local name=$1 d=$2 id=$3 qos=$4 n=$5 seed=$6 t0 pout
	mkdir -p "$d"
	write_mqtt_conf "$d/site.conf" "$d/data" "$qos" "$id" false
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_connected "$d/site.conf"; then agent_fail "$d" "$name: agent did not connect"; return 1; fi
	stop_agent || { echo "bench: $name: agent exited non-zero on SIGTERM" >&2; rm -rf "$d"; return 1; }
	if ! pout=$(timeout 120 "$FG" simulate --mqtt "tcp://127.0.0.1:$mqtt_port" --qos 1 --sensors 100 \
		--rate 1000 --count "$n" --seed "$seed" --start $SIM_START 2>&1); then
		echo "bench: $name: simulate --mqtt failed: $pout" >&2; rm -rf "$d"; return 1
	fi
	pubrate=$(echo "$pout" | sed -n 's/.*(\([0-9]*\)\/s).*/\1/p')
	t0=$(now)
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_seq "$d/site.conf" "$n" 120; then agent_fail "$d" "$name: drain did not reach $n"; return 1; fi
	drain=$(rate_of "$n" "$t0" "$seq_t")
	got=$(newest_seq "$d/site.conf")
	stop_agent || echo "bench: $name: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	rm -rf "$d"
}

# mqtt1_run I: one QoS 1 run; sets drain (msg/s: the agent alone, draining
# MQTT1_N readings queued in the broker), live (msg/s: publisher and agent
# at once) and pubrate (what `simulate --mqtt` reported for the offline
# publish).
mqtt1_run() {
	local d id=fieldgate-bench-mqtt1-$$-$1 t0
	drain='' live='' pubrate=''
	mqtt_drain mqtt1 "$T/mqtt1-$1" "$id" 1 $MQTT1_N 3 || return 1
	# live: a fresh session, the publisher running beside the agent
	d=$T/mqtt1-live-$1
	mkdir -p "$d"
	write_mqtt_conf "$d/site.conf" "$d/data" 1 "$id-live" false
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_connected "$d/site.conf"; then agent_fail "$d" "mqtt1 live: agent did not connect"; return 1; fi
	t0=$(now)
	timeout 120 "$FG" simulate --mqtt "tcp://127.0.0.1:$mqtt_port" --qos 1 --sensors 100 \
		--rate 1000 --count $MQTT1_N --seed 3 --start $SIM_START 2>"$d/pub.log" &
	pub_pid=$!
	if ! wait_seq "$d/site.conf" $MQTT1_N 120; then agent_fail "$d" "mqtt1 live: did not reach $MQTT1_N"; return 1; fi
	live=$(rate_of $MQTT1_N "$t0" "$seq_t")
	wait "$pub_pid" || echo "bench: mqtt1 live: simulate failed: $(cat "$d/pub.log")" >&2
	pub_pid=
	stop_agent || echo "bench: mqtt1: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	rm -rf "$d"
}

bench_mqtt1() {
	local drains=() lives=() pubs=() i m
	echo "== mqtt1: QoS 1, commit before ack, sync=normal; $MQTT1_N readings queued in the broker while"\
		"the agent is away, then drained (timed from its launch); $MQTT_RUNS runs"
	broker_start mqtt1 || { err "mqtt1: no broker"; return; }
	for ((i = 1; i <= MQTT_RUNS; i++)); do
		if ! mqtt1_run $i; then err "mqtt1 run $i failed"; broker_stop; return; fi
		echo "run $i: drain $drain msg/s; live (publisher beside the agent) $live msg/s;"\
			"offline publish $pubrate msg/s"
		drains+=("$drain"); lives+=("$live"); pubs+=("$pubrate")
	done
	broker_stop
	row_median "mqtt QoS 1 drain (msg/s)" drains '>=' 20000
	row_median "  live, publisher beside it (msg/s)" lives
	row_median "  simulate --mqtt QoS 1 pub (msg/s)" pubs
}

# mqtt0d_run I: one QoS 0 drain (mqtt_drain at QoS 0: the broker queues the
# readings for the session with queue_qos0_messages); sets drain and got.
mqtt0d_run() {
	drain='' got=''
	mqtt_drain mqtt0d "$T/mqtt0d-$1" "fieldgate-bench-mqtt0d-$$-$1" 0 $MQTT0D_N 5
}

bench_mqtt0d() {
	local drains=() i m
	echo "== mqtt0d: QoS 0, $MQTT0D_N readings queued in the broker while the agent is away, then"\
		"drained at QoS 0 (timed from its launch; the mqtt1 method); $MQTT_RUNS runs"
	broker_start mqtt0d || { err "mqtt0d: no broker"; return; }
	for ((i = 1; i <= MQTT_RUNS; i++)); do
		if ! mqtt0d_run $i; then err "mqtt0d run $i failed"; broker_stop; return; fi
		echo "run $i: drain $drain msg/s, $got committed"
		drains+=("$drain")
	done
	broker_stop
	row_median "mqtt QoS 0 drain (msg/s)" drains '>=' 60000
}

# mqtt0_run I FILE: one QoS 0 run, FILE piped into mosquitto_pub while the
# agent runs. Samples newest_seq every $POLL s into $d/samples ("t seq
# publisher-running"). Sets steady (msg/s between 0.5 s after the first
# commit and the last sample while mosquitto_pub still ran; empty when that
# window is under 1 s), whole (got / first..last commit), pubrate
# (mosquitto_pub's rate) and got (events committed; QoS 0 may lose some).
mqtt0_run() {
	local d=$T/mqtt0-$1 t0 tp1='' s last='' t still=0 end
	steady='' whole='' pubrate='' got=''
	mkdir -p "$d"
	write_mqtt_conf "$d/site.conf" "$d/data" 0 "fieldgate-bench-mqtt0-$$-$1" true
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_connected "$d/site.conf"; then agent_fail "$d" "mqtt0: agent did not connect"; return 1; fi
	t0=$(now)
	mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -q 0 -t sensors/bench/reading -l <"$2" 2>"$d/pub.log" &
	pub_pid=$!
	end=$((SECONDS + 120))
	: >"$d/samples"
	while [ $SECONDS -lt $end ] && alive "$agent_pid"; do
		s=$(newest_seq "$d/site.conf"); t=$(now)
		if [ -n "$pub_pid" ] && ! alive "$pub_pid"; then
			tp1=$t; wait "$pub_pid" || echo "bench: mqtt0: mosquitto_pub failed: $(cat "$d/pub.log")" >&2
			pub_pid=
		fi
		echo "$t ${s:-0} $([ -n "$pub_pid" ] && echo 1 || echo 0)" >>"$d/samples"
		[ "${s:-0}" -ge "$MQTT0_N" ] && break
		# QoS 0 may drop: stop once nothing new arrived for 2 s after the publisher ended
		if [ -z "$pub_pid" ] && [ "${s:-0}" == "$last" ]; then
			still=$((still + 1)); [ $still -ge 40 ] && break
		else still=0; fi
		last=${s:-0}
		sleep $POLL
	done
	if [ -n "$pub_pid" ]; then kill -TERM "$pub_pid" 2>/dev/null; wait "$pub_pid"; pub_pid=; fi
	if ! alive "$agent_pid"; then agent_fail "$d" "mqtt0: agent died"; return 1; fi
	stop_agent || echo "bench: mqtt0: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	[ -n "$tp1" ] && pubrate=$(rate_of "$MQTT0_N" "$t0" "$tp1")
	read -r got whole steady < <(awk '
		{t[NR] = $1; s[NR] = $2; p[NR] = $3}
		END {
			n = NR; final = s[n]
			for (i = 1; i <= n && s[i] == 0; i++) ; first = i
			for (i = first; i <= n && s[i] < final; i++) ; lastc = i
			whole = (t[lastc] > t[first]) ? sprintf("%.0f", final / (t[lastc] - t[first])) : ""
			a = 0; b = 0
			for (i = first; i <= n; i++) {
				if (!a && t[i] >= t[first] + 0.5) a = i
				if (p[i] == 1) b = i
			}
			st = (a && b > a && t[b] - t[a] >= 1) ? sprintf("%.0f", (s[b] - s[a]) / (t[b] - t[a])) : ""
			print final, whole, st
		}' "$d/samples")
	rm -rf "$d"
	if [ -z "$got" ] || [ "$got" -eq 0 ]; then echo "bench: mqtt0: nothing committed" >&2; return 1; fi
}

# chain_run FILE: mosquitto_pub -> broker -> mosquitto_sub alone, no agent;
# sets chain (msg/s, from the publisher's start to the last message received).
chain_run() {
	local t0 t1 sub
	chain=''
	mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -q 0 -t 'sensors/+/reading' -C "$MQTT0_N" -W 120 >/dev/null &
	sub=$!; pub_pid=$sub
	pause 0.5 # let it subscribe
	t0=$(now)
	mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -q 0 -t sensors/bench/reading -l <"$1" || return 1
	wait "$sub" || { pub_pid=; return 1; }
	t1=$(now); pub_pid=
	chain=$(rate_of "$MQTT0_N" "$t0" "$t1")
}

bench_mqtt0() {
	local steadys=() wholes=() pubs=() i m f=$T/mqtt0.jsonl lost=0
	echo "== mqtt0: QoS 0, $MQTT0_N readings from mosquitto_pub -l while the agent runs, sync=normal; $MQTT_RUNS runs"
	if ! "$FG" simulate --out "$f" --count $MQTT0_N --sensors 100 --rate 1000 --seed 3 --start $SIM_START; then
		err "mqtt0: simulate --out failed"; return
	fi
	broker_start mqtt0 || { err "mqtt0: no broker"; return; }
	for ((i = 1; i <= MQTT_RUNS; i++)); do
		if ! mqtt0_run $i "$f"; then err "mqtt0 run $i failed"; broker_stop; return; fi
		echo "run $i: steady ${steady:-n/a} msg/s (while publishing), $got committed, whole $whole msg/s"\
			"(first..last commit), mosquitto_pub ${pubrate:-?} msg/s"
		steadys+=("${steady:-0}"); wholes+=("$whole"); pubs+=("${pubrate:-0}")
		lost=$((lost + MQTT0_N - got))
	done
	if chain_run "$f"; then echo "mosquitto_pub -> mosquitto_sub alone (no agent): $chain msg/s"
	else echo "bench: mqtt0: mosquitto_pub -> mosquitto_sub run failed" >&2; chain='?'; fi
	broker_stop
	rm -f "$f"
	# The 60,000 msg/s target is judged on mqtt0d (the agent alone with the
	# broker, as mqtt1 is); here the publisher shares the 2 cores.
	row_median "mqtt QoS 0 live, pub beside (msg/s)" steadys
	row "  first..last commit (msg/s)" "(info)" "$(median "${wholes[@]}")" "$(IFS=,; echo "${wholes[*]}"); lost $lost" "-"
	row_median "  mosquitto_pub rate (msg/s)" pubs
	row "  pub->sub alone, no agent (msg/s)" "(info)" "$chain" "1 run, no agent" "-"
}

# latency_run I QOS: the agent running (QoS QOS), `simulate --mqtt` paces
# LAT_N readings at LAT_SENSORS x LAT_RATE a second with the timestamps of
# now; sets lat to latency.py's output line.
latency_run() {
	local d=$T/latency-$1-$2 out
	lat=''
	mkdir -p "$d"
	write_mqtt_conf "$d/site.conf" "$d/data" "$2" "fieldgate-bench-latency-$$-$1-$2" false
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_connected "$d/site.conf"; then agent_fail "$d" "latency: agent did not connect"; return 1; fi
	# the observer: when each reading reached a trivial subscriber
	mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -q "$2" -t 'sensors/+/reading' -F '%U %p' >"$d/observer" &
	pub_pid=$!
	pause 0.3 # let it subscribe
	if ! out=$(timeout 120 "$FG" simulate --mqtt "tcp://127.0.0.1:$mqtt_port" --qos "$2" \
		--sensors $LAT_SENSORS --rate $LAT_RATE --count "$LAT_N" --seed 3 2>&1); then
		echo "bench: latency: simulate --mqtt failed: $out" >&2; agent_fail "$d" "latency"; return 1
	fi
	if ! wait_seq "$d/site.conf" "$LAT_N" 30; then agent_fail "$d" "latency: buffer did not reach $LAT_N"; return 1; fi
	stop_agent || echo "bench: latency: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	kill -TERM "$pub_pid" 2>/dev/null; wait "$pub_pid" 2>/dev/null; pub_pid=
	if ! lat=$(python3 "$top/tests/bench/latency.py" "$d/data/buffer.db" $LAT_SENSORS $LAT_RATE "$d/observer"); then
		echo "bench: latency: latency.py failed" >&2; rm -rf "$d"; return 1
	fi
	rm -rf "$d"
}

# bench_latency_qos QOS: 3 runs of latency_run.
bench_latency_qos() {
	local q=$1 p50s=() p99s=() maxs=() cp99s=() obs=() aobs=() i m name
	local tgt='<= 5' res
	echo "== latency$([ "$q" == 0 ] && echo 0): QoS $q, $LAT_SENSORS sensors x $LAT_RATE/s = $((LAT_SENSORS * LAT_RATE))"\
		"readings/s, $LAT_N readings, published -> received_at (ms, +-1 ms resolution); $MQTT_RUNS runs"
	broker_start "latency$q" || { err "latency: no broker"; return; }
	for ((i = 1; i <= MQTT_RUNS; i++)); do
		if ! latency_run $i "$q"; then err "latency QoS $q run $i failed"; broker_stop; return; fi
		echo "run $i: $lat"
		# shellcheck disable=SC2086 # word splitting wanted: "count N p50 X ..."
		set -- $lat
		p50s+=("$4"); p99s+=("$6"); maxs+=("$8"); cp99s+=("${12}"); obs+=("${16:-?}"); aobs+=("${18:-?}")
	done
	broker_stop
	m=$(median "${p99s[@]}")
	name="mqtt latency QoS $q p99 (ms)"
	if [ "$q" == 1 ]; then res=$(verdict "$m" '<=' 5); else tgt='(info)' res=-; fi
	row "$name" "$tgt" "$m" "$(IFS=,; echo "${p99s[*]}")" "$res"
	row_median "  p50 (ms)" p50s
	row_median "  max (ms)" maxs
	row_median "  p99 at observer, no agent (ms)" obs
	row_median "  p99 agent minus observer (ms)" aobs
	row_median "  p99 + simulate's connect time (ms)" cp99s
}
# reload_run I RELOADS: latency_run's set-up (QoS 1, 5,000 readings/s) with
# [models] dir a symlink to set 1; with RELOADS (20) > 0, a set of every model
# at version 2, 3, ... swapped in and signalled (SIGHUP) every 0.4 s while the
# stream runs; with 0, the same moments only noted. Sets rel to reload.py's
# output line.
reload_run() {
	local d=$T/reload-$1-$2 v out
	rel=''
	mkdir -p "$d/sets"
	for ((v = 1; v <= $2 + 1; v++)); do
		mkdir -p "$d/sets/$v" && cp "$top"/models/default/*.json "$d/sets/$v/" &&
			sed -i "s/^  \"version\": 1,\$/  \"version\": $v,/" "$d/sets/$v"/*.json &&
			"$FG" models seal "$d/sets/$v" >/dev/null || { echo "bench: reload: cannot build set $v" >&2; return 1; }
	done
	ln -s "$d/sets/1" "$d/live"
	write_mqtt_conf "$d/site.conf" "$d/data" 1 "fieldgate-bench-reload-$$-$1-$2" false
	sed -i "s|^dir = .*|dir = $d/live|" "$d/site.conf"
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_connected "$d/site.conf"; then agent_fail "$d" "reload: agent did not connect"; return 1; fi
	timeout 120 "$FG" simulate --mqtt "tcp://127.0.0.1:$mqtt_port" --qos 1 --sensors $LAT_SENSORS \
		--rate $LAT_RATE --count "$RELOAD_N" --seed 3 >"$d/pub.log" 2>&1 &
	pub_pid=$!
	pause 1
	: >"$d/reloads"
	# Without reloads, the same is done to a link the agent does not use and
	# the moments are noted (as version 1): readings late near them are the
	# machine's own noise (and this script's), the baseline.
	for ((v = 2; v <= 21; v++)); do
		if [ "$2" -gt 0 ]; then
			ln -sfn "$d/sets/$v" "$d/live.tmp" && mv -T "$d/live.tmp" "$d/live"
			echo "$v $(date +%s%3N)" >>"$d/reloads"
			kill -HUP "$agent_pid"
		else
			ln -sfn "$d/sets/$v" "$d/idle.tmp" && mv -T "$d/idle.tmp" "$d/idle"
			echo "1 $(date +%s%3N)" >>"$d/reloads"
			kill -0 "$agent_pid"
		fi
		pause 0.4
	done
	if ! wait "$pub_pid"; then pub_pid=; echo "bench: reload: simulate failed: $(cat "$d/pub.log")" >&2; agent_fail "$d" reload; return 1; fi
	pub_pid=
	if ! wait_seq "$d/site.conf" "$RELOAD_N" 30; then agent_fail "$d" "reload: buffer did not reach $RELOAD_N"; return 1; fi
	stop_agent || echo "bench: reload: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	out=$(python3 "$top/tests/bench/reload.py" "$d/data/buffer.db" $LAT_SENSORS $LAT_RATE "$d/reloads" ${RELOAD_DEBUG:-}) || {
		echo "bench: reload: reload.py failed: $out" >&2; rm -rf "$d"; return 1; }
	rel=$out
	rm -rf "$d"
}

# bench_reload: reload_run without and with 20 reloads, alternating, 3 runs each.
bench_reload() {
	local i lives=() livemax=() delayed=() delayedb=() p99r=() maxr=() p99b=() maxb=() swapr=() swapb=()
	echo "== reload: QoS 1 at $((LAT_SENSORS * LAT_RATE)) readings/s, $RELOAD_N readings; 20 SIGHUPs 0.4 s apart,"\
		"each to a new sealed set (a symlink swapped); signal -> first event scored by the new set,"\
		"and events received within 200 ms after a signal that came > 10 ms late; each run paired"\
		"with one without reloads; $MQTT_RUNS runs"
	broker_start reload || { err "reload: no broker"; return; }
	for ((i = 1; i <= MQTT_RUNS; i++)); do
		if ! reload_run "$i" 0; then err "reload run $i (no reloads) failed"; broker_stop; return; fi
		echo "run $i, no reloads: $rel"
		# shellcheck disable=SC2086 # "reloads N live_median X live_max X around N delayed N p99 X max X swap_late X"
		set -- $rel
		delayedb+=("${10}"); p99b+=("${12}"); maxb+=("${14}"); swapb+=("${16}")
		if ! reload_run "$i" 20; then err "reload run $i failed"; broker_stop; return; fi
		echo "run $i, 20 reloads: $rel"
		# shellcheck disable=SC2086 # "reloads N live_median X live_max X around N delayed N p99 X max X swap_late X"
		set -- $rel
		lives+=("$4"); livemax+=("$6"); delayed+=("${10}"); p99r+=("${12}"); maxr+=("${14}"); swapr+=("${16}")
	done
	broker_stop
	row_median "reload: signal -> new set live (ms)" lives '<=' 50
	row_median "  the slowest of 20 (ms)" livemax
	row_median "  latest reading as the set goes live (ms)" swapr '<=' 10
	row_median "  ... at the same moments, no reload (ms)" swapb
	row_median "  readings > 10 ms late near a reload" delayed
	row_median "  ... near the same moments, no reload" delayedb
	row_median "  latency p99 with reloads (ms)" p99r
	row_median "  latency p99 without (ms)" p99b
	row_median "  latency max with reloads (ms)" maxr
	row_median "  latency max without (ms)" maxb
}

bench_latency() { bench_latency_qos 1; }
bench_latency0() { bench_latency_qos 0; }

# ---- Kafka benchmarks (issue 4) ------------------------------------------
# The peer is build/peers/kafka_mock (librdkafka's mock cluster in its own
# process, `make peers`), driven with tests/integration/kafka_lib.sh, which
# wants lib.sh's $T, pids and fail; its EXIT trap stops the mock and then
# calls our cleanup.
# shellcheck disable=SC2034 # used by kafka_lib.sh
pids=()
fail() { echo "bench: $*" >&2; }
# shellcheck source=tests/integration/kafka_lib.sh
. "$top/tests/integration/kafka_lib.sh"
KAFKA_RUNS=${KAFKA_RUNS:-3} KAFKA_PARTITIONS=8
KAFKA_WARMUP=2 KAFKA_WINDOW=8 KAFKA_SAMPLE=0.5
KLAT_SECONDS=25
DRAIN_N=1000000 DRAIN_POLL=0.1
HZ=$(getconf CLK_TCK)

# kafka_up: a fresh mock cluster, 3 brokers, sensor-scored with
# KAFKA_PARTITIONS partitions (sets KAFKA_BOOTSTRAP, KAFKA_PID).
kafka_up() { start_kafka --brokers 3 --topic "sensor-scored:$KAFKA_PARTITIONS"; }

# write_kafka_conf FILE DATA_DIR SENSORS RATE: write_conf's simulator site
# (sync = normal) forwarding to the mock; librdkafka's defaults otherwise
# (no compression, linger.ms 5; acks = all and idempotence are the agent's).
# KAFKA_EXTRA, when set, is appended to [kafka] as it is, for experiments:
# KAFKA_EXTRA='property.linger.ms = 1' BENCH=kafka_latency tests/bench/run.sh
write_kafka_conf() {
	write_conf "$1" "$2" "$3" "$4" normal
	cat >>"$1" <<CONF
[kafka]
enabled = true
brokers = $KAFKA_BOOTSTRAP
topic = sensor-scored
${KAFKA_EXTRA:-}
CONF
}

# kstat CONF: one `status --json`, printed as "newest position p50 p99 max"
# (the kafka sink's acknowledged prefix and its delivery latency, ms).
kstat() {
	"$FG" status -c "$1" --json 2>/dev/null | awk '{
		n = $0; sub(/.*"newest_seq":/, "", n); sub(/[^0-9].*/, "", n)
		k = $0; if (!sub(/.*"kafka":\{/, "", k)) exit
		p = k; sub(/.*"position":/, "", p); sub(/[^0-9].*/, "", p)
		l = k; sub(/.*"latency_ms":\{/, "", l); sub(/\}.*/, "", l); gsub(/"[a-z0-9]*":/, "", l); gsub(/,/, " ", l)
		print n, p, l
	}'
}

# cpu_ticks PID: utime + stime of PID (all its threads), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }

# kafka_run I: one flat-out run against a fresh mock. Samples kstat every
# KAFKA_SAMPLE s over KAFKA_WINDOW s after KAFKA_WARMUP s; sets krate (kafka
# position, events/s), kingest (newest_seq, events/s), kcpu (agent CPU,
# cores), kmcpu (the mock's CPU, cores), kus (agent CPU µs per event
# acknowledged by Kafka).
kafka_run() {
	local d=$T/kafka-$1 end s t c0 c1 m0 m1
	krate='' kingest='' kcpu='' kmcpu='' kus=''
	mkdir -p "$d"
	kafka_up || return 1
	write_kafka_conf "$d/site.conf" "$d/data" 1000 1000
	start_agent "$d/site.conf" "$d/agent.log"
	pause $KAFKA_WARMUP
	: >"$d/samples"
	c0=$(cpu_ticks "$agent_pid"); m0=$(cpu_ticks "$KAFKA_PID")
	end=$(awk -v t="$(now)" -v w=$KAFKA_WINDOW 'BEGIN {printf "%.3f", t + w}')
	while alive "$agent_pid"; do
		s=$(kstat "$d/site.conf"); t=$(now)
		echo "$t $s" >>"$d/samples"
		awk -v t="$t" -v e="$end" 'BEGIN {exit !(t >= e)}' && break
		pause $KAFKA_SAMPLE
	done
	c1=$(cpu_ticks "$agent_pid"); m1=$(cpu_ticks "$KAFKA_PID")
	if ! alive "$agent_pid"; then agent_fail "$d" "kafka: agent died"; stop_kafka; return 1; fi
	stop_agent || echo "bench: kafka: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	stop_kafka
	read -r kingest krate kcpu kmcpu kus < <(awk -v c="$((c1 - c0))" -v m="$((m1 - m0))" -v hz="$HZ" '
		NF >= 3 {t[++n] = $1; s[n] = $2; p[n] = $3}
		END {
			if (n < 2 || t[n] - t[1] < 1) exit
			w = t[n] - t[1]; dp = p[n] - p[1]
			printf "%.0f %.0f %.2f %.2f %.1f\n", (s[n] - s[1]) / w, dp / w, c / hz / w, m / hz / w,
				(dp > 0) ? c / hz * 1e6 / dp : 0
		}' "$d/samples")
	if [ -z "$krate" ]; then
		echo "bench: kafka: status --json gave no kafka position: $(tail -n 2 "$d/samples")" >&2; rm -rf "$d"; return 1
	fi
	[ -n "${KEEP_SAMPLES:-}" ] && cp "$d/samples" "$KEEP_SAMPLES.kafka-$1"
	rm -rf "$d"
}

bench_kafka() {
	local rates=() ingests=() cpus=() mcpus=() uss=() i m
	echo "== kafka: simulator flat out (sensors=1000 rate=1000) -> agent -> mock cluster (3 brokers,"\
		"$KAFKA_PARTITIONS partitions, acks=all, idempotent); ${KAFKA_WARMUP}s warm-up, kafka position"\
		"sampled every ${KAFKA_SAMPLE}s for ${KAFKA_WINDOW}s; $KAFKA_RUNS runs"
	for ((i = 1; i <= KAFKA_RUNS; i++)); do
		if ! kafka_run $i; then err "kafka run $i failed"; return; fi
		echo "run $i: kafka $krate events/s acknowledged, ingest $kingest events/s;"\
			"agent CPU $kcpu cores ($kus us per acknowledged event), mock CPU $kmcpu cores"
		rates+=("$krate"); ingests+=("$kingest"); cpus+=("$kcpu"); mcpus+=("$kmcpu"); uss+=("$kus")
	done
	row_median "kafka acknowledged (events/s)" rates '>=' 100000
	row_median "  ingest, same window (events/s)" ingests
	row_median "  agent CPU (cores)" cpus
	row_median "  agent CPU per kafka event (us)" uss
	row_median "  mock cluster CPU (cores)" mcpus
}

# kafka_latency_run I: 10,000 events/s for KLAT_SECONDS s, then the agent's
# own delivery-latency quantiles (arrival -> delivery report, last 10-20 s);
# sets kp50 kp99 kmax (ms), kbehind (newest - position at that moment) and
# kcpu (agent CPU, cores, over the whole run).
kafka_latency_run() {
	local d=$T/klat-$1 s c0 c1 t0 t1 n p
	kp50='' kp99='' kmax='' kbehind='' kcpu=''
	mkdir -p "$d"
	kafka_up || return 1
	write_kafka_conf "$d/site.conf" "$d/data" 100 100
	t0=$(now)
	start_agent "$d/site.conf" "$d/agent.log"
	c0=$(cpu_ticks "$agent_pid")
	pause $KLAT_SECONDS
	s=$(kstat "$d/site.conf")
	c1=$(cpu_ticks "$agent_pid"); t1=$(now)
	if ! alive "$agent_pid"; then agent_fail "$d" "kafka_latency: agent died"; stop_kafka; return 1; fi
	stop_agent || echo "bench: kafka_latency: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	stop_kafka
	read -r n p kp50 kp99 kmax <<<"$s"
	rm -rf "$d"
	if [ -z "$kmax" ]; then echo "bench: kafka_latency: no latency in status --json: $s" >&2; return 1; fi
	kbehind=$((n - p))
	kcpu=$(awk -v c="$((c1 - c0))" -v hz="$HZ" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", c / hz / (b - a)}')
}

bench_kafka_latency() {
	local p50s=() p99s=() maxs=() cpus=() i m
	echo "== kafka_latency: sensors=100 rate=100 (10,000 events/s) -> agent -> mock cluster; after"\
		"${KLAT_SECONDS}s, arrival -> Kafka acknowledgement (the agent's 1 ms histogram, last 10-20 s); $KAFKA_RUNS runs"
	for ((i = 1; i <= KAFKA_RUNS; i++)); do
		if ! kafka_latency_run $i; then err "kafka_latency run $i failed"; return; fi
		echo "run $i: p50 $kp50 ms, p99 $kp99 ms, max $kmax ms; $kbehind events behind newest_seq"\
			"(the saved position lags up to 200 ms); agent CPU $kcpu cores"
		p50s+=("$kp50"); p99s+=("$kp99"); maxs+=("$kmax"); cpus+=("$kcpu")
	done
	row_median "kafka latency p99 at 10k/s (ms)" p99s '<=' 20
	row_median "  p50 (ms)" p50s
	row_median "  max (ms)" maxs
	row_median "  agent CPU at 10k/s (cores)" cpus
}

# drain_backlog DIR: build the backlog once: the agent flat out with every
# broker down until newest_seq >= DRAIN_N, then SIGTERM; the stopped
# agent's data dir is kept in DIR/data (sets backlog = its newest_seq).
drain_backlog() {
	local d=$1 s
	backlog=''
	mkdir -p "$d"
	kafka_cmd down all || return 1
	write_kafka_conf "$d/site.conf" "$d/data" 1000 1000
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_seq "$d/site.conf" $DRAIN_N 120; then agent_fail "$d" "kafka_drain: backlog did not reach $DRAIN_N"; return 1; fi
	stop_agent || echo "bench: kafka_drain: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	read -r backlog s _ <<<"$(kstat "$d/site.conf")"
	if [ -z "$backlog" ] || [ "${s:-x}" != 0 ]; then
		echo "bench: kafka_drain: backlog not as expected (newest ${backlog:-?}, kafka position ${s:-?})" >&2; return 1
	fi
	kafka_cmd up all
}

# drain_run I BACKLOG_DIR: copy the stopped agent's data dir, start it at a
# low live rate (sensors=10 rate=10) and poll every DRAIN_POLL s until the
# kafka position reaches the backlog's last seq. Sets dsteady (events/s
# from the first poll >= 0.5 s after launch to the poll that saw the
# backlog acknowledged), dwhole (backlog / launch..caught up), dsecs (that
# time) and dcpu (agent CPU, cores, launch..caught up).
drain_run() {
	local d=$T/drain-$1 t0 t s pos end c0 c1
	dsteady='' dwhole='' dsecs='' dcpu=''
	mkdir -p "$d"
	cp -a "$2/data" "$d/data" || { rm -rf "$d"; return 1; }
	write_kafka_conf "$d/site.conf" "$d/data" 10 10
	: >"$d/samples"
	t0=$(now)
	start_agent "$d/site.conf" "$d/agent.log"
	c0=$(cpu_ticks "$agent_pid")
	end=$((SECONDS + 120))
	while [ $SECONDS -lt $end ] && alive "$agent_pid"; do
		s=$(kstat "$d/site.conf"); t=$(now)
		echo "$t $s" >>"$d/samples"
		read -r _ pos _ <<<"$s"
		[ "${pos:-0}" -ge "$backlog" ] && break
		sleep $DRAIN_POLL
	done
	c1=$(cpu_ticks "$agent_pid")
	if ! alive "$agent_pid"; then agent_fail "$d" "kafka_drain: agent died"; return 1; fi
	stop_agent || echo "bench: kafka_drain: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	[ -n "${KEEP_SAMPLES:-}" ] && cp "$d/samples" "$KEEP_SAMPLES.drain-$1"
	read -r dsteady dwhole dsecs dcpu < <(awk -v t0="$t0" -v b="$backlog" -v c="$((c1 - c0))" -v hz="$HZ" '
		NF >= 3 {t[++n] = $1; p[n] = $3}
		END {
			if (n < 1 || p[n] < b) exit
			for (a = 1; a < n && t[a] < t0 + 0.5; a++) ;
			w = t[n] - t0
			printf "%s %.0f %.2f %.2f\n", (a < n) ? sprintf("%.0f", (p[n] - p[a]) / (t[n] - t[a])) : "?",
				b / w, w, c / hz / w
		}' "$d/samples")
	rm -rf "$d"
	if [ -z "$dwhole" ]; then echo "bench: kafka_drain: position did not reach $backlog in 120 s" >&2; return 1; fi
}

bench_kafka_drain() {
	local steadys=() wholes=() secs=() cpus=() i m b=$T/drain-backlog
	echo "== kafka_drain: a backlog of >= $DRAIN_N events built with every broker down, then drained"\
		"(agent restarted on a copy of it, live sensors=10 rate=10); $KAFKA_RUNS runs on the same backlog"
	kafka_up || { err "kafka_drain: no mock cluster"; return; }
	if ! drain_backlog "$b"; then err "kafka_drain: could not build the backlog"; stop_kafka; return; fi
	echo "backlog: $backlog events, $(du -sm "$b/data" | cut -f1) MB on disk"
	for ((i = 1; i <= KAFKA_RUNS; i++)); do
		if ! drain_run $i "$b"; then err "kafka_drain run $i failed"; stop_kafka; rm -rf "$b"; return; fi
		echo "run $i: $dsteady events/s after the first 0.5 s; whole drain $dwhole events/s"\
			"($backlog in $dsecs s from launch); agent CPU $dcpu cores"
		steadys+=("$dsteady"); wholes+=("$dwhole"); secs+=("$dsecs"); cpus+=("$dcpu")
	done
	stop_kafka
	rm -rf "$b"
	row_median "kafka backlog drain (events/s)" steadys '>=' 200000
	row_median "  from launch, incl. start-up (ev/s)" wholes
	row_median "  launch .. caught up (s)" secs
	row_median "  agent CPU while draining (cores)" cpus
}

# ---- Elasticsearch (issue 5) and operations (issue 6) benchmarks ---------
# The ES peer is tests/peers/es_standin.py (Python, stdlib), started here
# without --data-dir (documents in memory; a fresh one per run, so its
# memory never holds more than one run's documents) and with --no-validate
# (mapping checks cap it near 35,000 docs/s, below the target).
ES_PY=/usr/bin/python3
ES_STANDIN=$top/tests/peers/es_standin.py
ES_BENCH_CLIENT=$top/tests/peers/es_bench_client.py
ES_RUNS=${ES_RUNS:-3} ES_WARMUP=2 ES_WINDOW=8 ES_SAMPLE=0.5
ES_PACED_SENSORS=100 ES_PACED_RATE=500 # 50,000 events/s: the target, paced
ES_CEIL_BULKS=30                      # x 1,000 events for the stand-in alone
OPS_N=1000000 OPS_RUNS=${OPS_RUNS:-3}
es_pid='' es_port='' ops_dir=''

# es_up DIR [PORT [FLAG...]]: a fresh stand-in on PORT (default: a free
# loopback port), with any more es_standin.py flags (sets es_pid, es_port).
es_up() {
	local end=$((SECONDS + 10)) dir=$1 port=${2:-0}
	shift; [ $# -gt 0 ] && shift
	rm -f "$dir/es.port"
	"$ES_PY" "$ES_STANDIN" --port "$port" --port-file "$dir/es.port" --no-validate "$@" 2>>"$dir/es.log" &
	es_pid=$!
	while [ ! -s "$dir/es.port" ]; do
		if ! alive "$es_pid" || [ $SECONDS -ge $end ]; then
			echo "bench: es_standin.py did not start: $(tail -n 3 "$dir/es.log")" >&2; es_down; return 1
		fi
		sleep 0.05
	done
	es_port=$(cat "$dir/es.port")
}

# es_down: kill -9 and reap (it keeps nothing worth a clean stop).
es_down() {
	[ -n "$es_pid" ] || return 0
	kill -9 "$es_pid" 2>/dev/null; wait "$es_pid" 2>/dev/null
	es_pid=
}

# es_counters: "bulk_items max_bulk_bytes failed_items" from the stand-in.
es_counters() {
	curl -sS "http://127.0.0.1:$es_port/_standin/faults" | "$ES_PY" -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(c["bulk_items"], c["max_bulk_bytes"], sum(n for s, n in c["items_by_status"].items() if s != "201"))'
}

# write_es_conf FILE DATA_DIR SENSORS RATE: write_conf's simulator site
# forwarding to the stand-in (index sensors-scored, the default).
write_es_conf() {
	write_conf "$1" "$2" "$3" "$4" normal
	cat >>"$1" <<CONF
[elasticsearch]
enabled = true
url = http://127.0.0.1:$es_port
CONF
}

# sstat CONF SINK: one `status --json`, printed as "newest position" for SINK.
sstat() {
	"$FG" status -c "$1" --json 2>/dev/null | awk -v s="\"$2\":{" '{
		n = $0; sub(/.*"newest_seq":/, "", n); sub(/[^0-9].*/, "", n)
		k = $0; i = index(k, s); if (!i) exit
		k = substr(k, i); sub(/^[^}]*"position":/, "", k); sub(/[^0-9].*/, "", k)
		print n, k
	}'
}

# es_ceiling DB PORT: the stand-in alone, fed by one keep-alive connection
# one _bulk at a time as the agent does: ES_CEIL_BULKS bodies of 1,000 real
# events read back from the agent's buffer DB, each framed exactly as
# sinks/es.c frames it ({"create":{"_id":"gw-bench:SEQ"}}\n + event + \n),
# POSTed to /sensors-scored/_bulk. Prints "docs/s bytes-per-event".
es_ceiling() {
	"$ES_PY" - "$1" "$2" "$ES_CEIL_BULKS" <<'PY'
import http.client, json, sqlite3, sys, time
db, port, nbulks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
rows = c.execute("select seq, data from events order by seq limit ?", (nbulks * 1000,)).fetchall()
c.close()
bodies = []
for i in range(0, len(rows), 1000):
    bodies.append(b"".join(b'{"create":{"_id":"gw-bench:%d"}}\n' % s + bytes(d) + b"\n" for s, d in rows[i:i + 1000]))
conn = http.client.HTTPConnection("127.0.0.1", port)
failed = 0
t0 = time.monotonic()
for b in bodies:
    conn.request("POST", "/sensors-scored/_bulk", body=b, headers={"Content-Type": "application/x-ndjson"})
    r = conn.getresponse()
    out = json.loads(r.read())
    if r.status != 200 or out["errors"]:
        failed += 1
dt = time.monotonic() - t0
if failed:
    sys.exit("%d bulks failed" % failed)
print("%.0f %.1f" % (len(rows) / dt, sum(len(b) for b in bodies) / len(rows)))
PY
}

# es_run I MODE: one run against a fresh stand-in; MODE flat (sensors=1000
# rate=1000) or paced (ES_PACED_SENSORS x ES_PACED_RATE). Samples sstat every
# ES_SAMPLE s over ES_WINDOW s after ES_WARMUP s. Sets erate (ES position,
# events/s), eingest (newest_seq, events/s), ecpu and escpu (agent's and
# stand-in's CPU, cores), eus (agent CPU µs per delivered event), ebytes
# (bulk body bytes per event, from the buffer), emaxb (largest _bulk body),
# erss (stand-in VmHWM, MiB, with edocs documents); in flat mode also eceil
# (stand-in alone, real bodies) and esyn (es_bench_client.py, synthetic).
es_run() {
	local d=$T/es-$2-$1 sensors=1000 rate=1000 end s t c0 c1 e0 e1 pos bi nfail
	erate='' eingest='' ecpu='' escpu='' eus='' ebytes='' emaxb='' erss='' edocs='' eceil='' esyn=''
	[ "$2" == paced ] && sensors=$ES_PACED_SENSORS rate=$ES_PACED_RATE
	mkdir -p "$d"
	es_up "$d" || { rm -rf "$d"; return 1; }
	write_es_conf "$d/site.conf" "$d/data" $sensors $rate
	start_agent "$d/site.conf" "$d/agent.log"
	pause $ES_WARMUP
	: >"$d/samples"
	c0=$(cpu_ticks "$agent_pid"); e0=$(cpu_ticks "$es_pid")
	end=$(awk -v t="$(now)" -v w=$ES_WINDOW 'BEGIN {printf "%.3f", t + w}')
	while alive "$agent_pid"; do
		s=$(sstat "$d/site.conf" elasticsearch); t=$(now)
		echo "$t $s" >>"$d/samples"
		awk -v t="$t" -v e="$end" 'BEGIN {exit !(t >= e)}' && break
		pause $ES_SAMPLE
	done
	c1=$(cpu_ticks "$agent_pid"); e1=$(cpu_ticks "$es_pid")
	if ! alive "$agent_pid"; then agent_fail "$d" "es: agent died"; es_down; return 1; fi
	stop_agent || echo "bench: es: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	read -r bi emaxb nfail <<<"$(es_counters)"
	erss=$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$es_pid/status" 2>/dev/null)
	edocs=$bi
	es_down
	read -r eingest erate ecpu escpu eus pos < <(awk -v c="$((c1 - c0))" -v m="$((e1 - e0))" -v hz="$HZ" '
		NF >= 3 {t[++n] = $1; s[n] = $2; p[n] = $3}
		END {
			if (n < 2 || t[n] - t[1] < 1) exit
			w = t[n] - t[1]; dp = p[n] - p[1]
			printf "%.0f %.0f %.2f %.2f %.1f %d\n", (s[n] - s[1]) / w, dp / w, c / hz / w, m / hz / w,
				(dp > 0) ? c / hz * 1e6 / dp : 0, p[n]
		}' "$d/samples")
	if [ -z "$erate" ] || [ "${nfail:-1}" != 0 ]; then
		echo "bench: es: no elasticsearch position in status --json, or items failed (${nfail:-?}):"\
			"$(tail -n 2 "$d/samples")" >&2; rm -rf "$d"; return 1
	fi
	# what sinks/es.c puts on the wire per event: the action line
	# {"create":{"_id":"gw-bench:SEQ"}}\n (22 bytes + the id), the event, \n
	ebytes=$(sqlite3 "$d/data/buffer.db" "select printf('%.1f', avg(length(data) + 23 + length('gw-bench:' || seq)))
		from events where seq <= $pos")
	if [ "$2" == flat ]; then
		if ! es_up "$d" || ! read -r eceil _ < <(es_ceiling "$d/data/buffer.db" "$es_port"); then
			echo "bench: es: the stand-in's ceiling could not be measured" >&2; es_down; rm -rf "$d"; return 1
		fi
		es_down
		es_up "$d" || { rm -rf "$d"; return 1; }
		esyn=$("$ES_PY" "$ES_BENCH_CLIENT" --port "$es_port" --bulks $ES_CEIL_BULKS --docs 1000 |
			sed -n 's/.* \([0-9]*\) docs\/s.*/\1/p')
		es_down
	fi
	[ -n "${KEEP_SAMPLES:-}" ] && cp "$d/samples" "$KEEP_SAMPLES.es-$2-$1"
	rm -rf "$d"
}

bench_es() {
	local rates=() ingests=() cpus=() scpus=() uss=() bytes=() ceils=() syns=() rsss=()
	local prates=() pingests=() pcpus=() puss=() i m mode
	echo "== es: simulator flat out (sensors=1000 rate=1000) -> agent -> es_standin.py --no-validate"\
		"(in memory); ${ES_WARMUP}s warm-up, ES position sampled every ${ES_SAMPLE}s for ${ES_WINDOW}s;"\
		"then the stand-in alone with $ES_CEIL_BULKS x 1,000 of the run's own events; and the same"\
		"agent paced at $((ES_PACED_SENSORS * ES_PACED_RATE)) events/s; $ES_RUNS runs, alternating"
	for ((i = 1; i <= ES_RUNS; i++)); do
		for mode in flat paced; do
			if ! es_run $i $mode; then err "es $mode run $i failed"; return; fi
			echo "run $i $mode: elasticsearch $erate events/s delivered, ingest $eingest events/s;"\
				"agent CPU $ecpu cores ($eus us per delivered event), stand-in CPU $escpu cores;"\
				"$ebytes bytes/event on the wire (largest _bulk $emaxb bytes); stand-in VmHWM $erss MiB"\
				"with $edocs documents${eceil:+; stand-in alone: $eceil docs/s real events, $esyn synthetic}"
			if [ $mode == flat ]; then
				rates+=("$erate"); ingests+=("$eingest"); cpus+=("$ecpu"); scpus+=("$escpu"); uss+=("$eus")
				bytes+=("$ebytes"); ceils+=("$eceil"); syns+=("$esyn"); rsss+=("$erss")
			else
				prates+=("$erate"); pingests+=("$eingest"); pcpus+=("$ecpu"); puss+=("$eus")
			fi
		done
	done
	row_median "es delivered, flat out (events/s)" rates '>=' 50000
	row_median "  ingest, same window (events/s)" ingests
	row_median "  stand-in alone, real (docs/s)" ceils
	row_median "  stand-in alone, synthetic (docs/s)" syns
	row_median "  agent CPU (cores)" cpus
	row_median "  agent CPU per delivered event (us)" uss
	row_median "  stand-in CPU (cores)" scpus
	row_median "  bytes per event on the wire" bytes
	row_median "  stand-in VmHWM (MiB)" rsss
	m=$(median "${prates[@]}")
	row "es delivered, paced 50k/s (events/s)" "(info)" "$m" "$(IFS=,; echo "${prates[*]}")" "-"
	row_median "  ingest, same window (events/s)" pingests
	row_median "  agent CPU (cores)" pcpus
	row_median "  agent CPU/event, whole path (us)" puss
}

# ops_backlog: once per script run, a stopped agent's data dir in
# $T/ops/data holding >= OPS_N events: the simulator flat out, no sinks,
# until newest_seq >= OPS_N, then SIGTERM. replay and restart share it
# (replay only reads it; each restart run adds a few events).
ops_backlog() {
	local d=$T/ops n
	[ -n "$ops_dir" ] && return 0
	mkdir -p "$d"
	write_conf "$d/site.conf" "$d/data" 1000 1000 normal
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_seq "$d/site.conf" $OPS_N 120; then agent_fail "$d" "ops: backlog did not reach $OPS_N"; return 1; fi
	stop_agent || { echo "bench: ops: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2; return 1; }
	n=$(newest_seq "$d/site.conf")
	echo "backlog: $n events, $(du -sm "$d/data" | cut -f1) MB on disk (built in $d)"
	ops_dir=$d
}

# replay_run I: `fieldgate replay --sink kafka` of the whole backlog to a
# fresh mock. Sets rrate (the command's own events/s), rsecs (its own
# seconds), rwall (launch -> exit, s) and rwrate (events / rwall).
replay_run() {
	local d=$T/replay-$1 t0 t1 out n
	rrate='' rsecs='' rwall='' rwrate=''
	mkdir -p "$d"
	kafka_up || { rm -rf "$d"; return 1; }
	write_kafka_conf "$d/site.conf" "$ops_dir/data" 10 10
	t0=$(now)
	timeout 300 "$FG" replay -c "$d/site.conf" --sink kafka >"$d/replay.out" 2>"$d/replay.log" &
	pub_pid=$!
	wait "$pub_pid"
	t1=$(now)
	pub_pid=
	stop_kafka
	out=$(cat "$d/replay.out")
	# kafka: N of N events delivered in X s (R/s), 0 rejected
	read -r n _ _ rsecs rrate < <(echo "$out" | sed -n 's/^kafka: \([0-9]*\) of \([0-9]*\) events delivered in \([0-9.]*\) s (\([0-9]*\)\/s).*/\1 of \2 \3 \4/p')
	if [ -z "$rrate" ] || [ "$n" != "$(echo "$out" | sed -n 's/.* of \([0-9]*\) events.*/\1/p')" ]; then
		echo "bench: replay: not every event delivered: $out $(tail -n 3 "$d/replay.log")" >&2; rm -rf "$d"; return 1
	fi
	rwall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
	rwrate=$(rate_of "$n" "$t0" "$t1")
	rm -rf "$d"
}

bench_replay() {
	local rates=() secs=() walls=() wrates=() i m
	echo "== replay: \`fieldgate replay --sink kafka\` of a >= $OPS_N-event buffer (agent stopped) to a"\
		"fresh mock cluster (3 brokers, $KAFKA_PARTITIONS partitions); $OPS_RUNS runs on the same buffer"
	ops_backlog || { err "replay: could not build the backlog"; return; }
	for ((i = 1; i <= OPS_RUNS; i++)); do
		if ! replay_run $i; then err "replay run $i failed"; return; fi
		echo "run $i: $rrate events/s as printed ($rsecs s); launch -> exit $rwall s ($rwrate events/s)"
		rates+=("$rrate"); secs+=("$rsecs"); walls+=("$rwall"); wrates+=("$rwrate")
	done
	row_median "replay to kafka (events/s)" rates '>=' 200000
	row_median "  launch .. exit (events/s)" wrates
	row_median "  launch .. exit (s)" walls
}

# restart_watch DB LOG READY [cold]: polls every 5 ms from a separate
# process, so the agent's launch is not delayed by it. Reads the newest seq
# (with "cold": then evicts the buffer's files from the page cache with
# fdatasync + POSIX_FADV_DONTNEED, which touches no other file), writes it
# to READY, then prints the wall-clock times (s) of the agent's
# "agent: started" and "mqtt: connected" log lines (0 if never) and of the
# first event with a seq above it, as "started connected first" (30 s at most).
restart_watch() {
	"$ES_PY" - "$@" <<'PY'
import os, sqlite3, sys, time
db, log, ready = sys.argv[1:4]
c = sqlite3.connect(db, timeout=5, isolation_level=None)
base = c.execute("select max(seq) from events").fetchone()[0] or 0
if sys.argv[4:] == ["cold"]:
    for f in (db, db + "-wal", db + "-shm"):
        try:
            fd = os.open(f, os.O_RDWR)
        except OSError:
            continue
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
with open(ready + ".tmp", "w") as f:
    f.write("%d\n" % base)
os.rename(ready + ".tmp", ready)
started = connected = first = 0.0
text, end = "", time.time() + 30
while time.time() < end:
    now = time.time()
    if not started or not connected:
        try:
            with open(log) as f:
                text = f.read()
        except OSError:
            text = ""
        if not started and "agent: started:" in text:
            started = now
        if not connected and "mqtt: connected" in text:
            connected = now
    if (c.execute("select max(seq) from events").fetchone()[0] or 0) > base:
        first = time.time()
        if not connected and "mqtt: connected" in open(log).read():
            connected = first  # logged since the last look: at most 5 ms early
        break
    time.sleep(0.005)
c.close()
print("%.4f %.4f %.4f" % (started, connected, first))
PY
}

# restart_run I VARIANT: launch the agent on the backlog and time it to
# its first new committed event. VARIANT plain (sensors=10 rate=100, no
# sinks), cold (plain with the buffer evicted from the page cache), sinks (the same with kafka and elasticsearch on dead loopback
# ports) or mqtt (QoS 1 readings waiting in the broker for the agent's
# persistent session). Sets tfirst (launch -> first new event, ms) and
# tstart (launch -> "agent: started", ms), tconn (-> "connected", mqtt).
restart_run() {
	local d=$T/restart-$2-$1 t0 ts tc tf id=fieldgate-bench-restart-$$ dead out j
	tfirst='' tstart='' tconn=''
	mkdir -p "$d"
	if [ "$2" == mqtt ]; then
		write_mqtt_conf "$d/site.conf" "$ops_dir/data" 1 "$id" false
		if ! out=$(timeout 60 "$FG" simulate --mqtt "tcp://127.0.0.1:$mqtt_port" --qos 1 --sensors 10 \
			--rate 100 --count 100 --seed 5 2>&1); then
			echo "bench: restart: simulate --mqtt failed: $out" >&2; rm -rf "$d"; return 1
		fi
	else
		write_conf "$d/site.conf" "$ops_dir/data" 10 100 normal
		if [ "$2" == sinks ]; then
			dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
			printf '[kafka]\nenabled = true\nbrokers = 127.0.0.1:%s\n[elasticsearch]\nenabled = true\nurl = http://127.0.0.1:%s\n' \
				"$dead" "$dead" >>"$d/site.conf"
		fi
	fi
	: >"$d/agent.log"
	local cold=()
	[ "$2" == cold ] && cold=(cold)
	restart_watch "$ops_dir/data/buffer.db" "$d/agent.log" "$d/ready" "${cold[@]}" >"$d/watch" &
	pub_pid=$!
	for ((j = 0; j < 200; j++)); do [ -s "$d/ready" ] && break; sleep 0.02; done
	if [ ! -s "$d/ready" ]; then
		echo "bench: restart: the watcher did not start" >&2; kill "$pub_pid"; wait "$pub_pid"; pub_pid=; rm -rf "$d"; return 1
	fi
	t0=$(now)
	"$FG" run -c "$d/site.conf" 2>>"$d/agent.log" &
	agent_pid=$!
	wait "$pub_pid"; pub_pid=
	read -r ts tc tf <"$d/watch"
	if ! alive "$agent_pid" || [ "${tf:-0}" == 0.0000 ]; then
		agent_fail "$d" "restart $2: no new event committed within 30 s"; return 1
	fi
	stop_agent || echo "bench: restart: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	read -r tfirst tstart tconn < <(awk -v t0="$t0" -v s="$ts" -v c="$tc" -v f="$tf" 'BEGIN {
		printf "%.0f %s %s\n", (f - t0) * 1000, (s > 0) ? sprintf("%.0f", (s - t0) * 1000) : "?",
			(c > 0) ? sprintf("%.0f", (c - t0) * 1000) : "-" }')
	rm -rf "$d"
}

bench_restart() {
	local v i m
	local -A firsts=() starts=() conns=() label=([plain]="no sinks" [cold]="cold cache" [sinks]="kafka+es down" [mqtt]="mqtt QoS 1")
	echo "== restart: the agent launched on a >= $OPS_N-event buffer: launch -> first new event committed"\
		"(polled every 5 ms); variants plain (simulator sensors=10 rate=100, no sinks), cold (plain, the"\
		"buffer's files evicted from the page cache first), sinks (kafka and"\
		"elasticsearch enabled, on a dead port), mqtt (100 QoS 1 readings waiting for its session);"\
		"$OPS_RUNS runs each, alternating, on the same buffer"
	ops_backlog || { err "restart: could not build the backlog"; return; }
	if broker_start restart; then
		# one start registers the persistent session that the readings wait in
		local d=$T/restart-session
		mkdir -p "$d"
		write_mqtt_conf "$d/site.conf" "$d/data" 1 "fieldgate-bench-restart-$$" false
		start_agent "$d/site.conf" "$d/agent.log"
		if wait_connected "$d/site.conf" && stop_agent; then rm -rf "$d"; else
			agent_fail "$d" "restart: the mqtt session could not be registered"; broker_stop; fi
	fi
	for ((i = 1; i <= OPS_RUNS; i++)); do
		for v in plain cold sinks mqtt; do
			[ $v == mqtt ] && [ -z "$broker_pid" ] && continue
			if ! restart_run $i $v; then err "restart $v run $i failed"; broker_stop; return; fi
			echo "run $i $v: first new event committed $tfirst ms after launch; \"started\" logged after"\
				"$tstart ms; \"connected\" logged after $tconn ms"
			firsts[$v]+="${firsts[$v]:+ }$tfirst"; starts[$v]+="${starts[$v]:+ }$tstart"; conns[$v]+="${conns[$v]:+ }$tconn"
		done
	done
	broker_stop
	for v in plain cold sinks mqtt; do
		[ -n "${firsts[$v]:-}" ] || continue
		# shellcheck disable=SC2086 # word splitting wanted: the runs
		m=$(median ${firsts[$v]})
		row "restart, ${label[$v]} (ms)" "<= 1000" "$m" "${firsts[$v]// /,}" "$(verdict "$m" '<=' 1000)"
		# shellcheck disable=SC2086
		row "  launch .. \"started\" logged (ms)" "(info)" "$(median ${starts[$v]})" "${starts[$v]// /,}" "-"
		# shellcheck disable=SC2086
		[ $v == mqtt ] && row "  launch .. \"connected\" logged (ms)" "(info)" "$(median ${conns[$v]})" "${conns[$v]// /,}" "-"
	done
}

# ---- training ------------------------------------------------------------
TRAIN_ROWS=1000000 TRAIN_RUNS=3
TRAIN_DATA="--sensors 100 --rate 0.01 --count $TRAIN_ROWS --seed 7 --start 2026-01-05T00:00:00Z"

# `fieldgate train` on 1 M rows, as `make models` trains on 200,000: the
# time of the whole command (reading the JSON lines, all three models,
# writing the files) and its peak RSS, from /usr/bin/time. Every run must
# write the same files (training is deterministic).
bench_train() {
	local d=$T/train i out secs kb walls=() mibs=() rates=()
	echo "== train: fieldgate simulate $TRAIN_DATA, then fieldgate train --data FILE --out DIR" \
		"($TRAIN_RUNS runs)"
	if [ ! -x /usr/bin/time ]; then err "train: /usr/bin/time missing (apt install time)"; return; fi
	mkdir -p "$d"
	# shellcheck disable=SC2086 # word splitting wanted: the options
	if ! "$FG" simulate $TRAIN_DATA --out "$d/data.jsonl"; then err "train: simulate failed"; return; fi
	for ((i = 1; i <= TRAIN_RUNS; i++)); do
		if ! out=$(/usr/bin/time -f '%e %M' "$FG" train --data "$d/data.jsonl" --out "$d/m$i" 2>&1 >/dev/null); then
			err "train run $i failed: $(echo "$out" | tail -n 3)"; return
		fi
		read -r secs kb < <(echo "$out" | tail -n 1)
		if [ $i -gt 1 ] && ! diff -rq "$d/m1" "$d/m$i" >/dev/null; then
			err "train run $i: not the same files as run 1"; return
		fi
		echo "run $i: $secs s, peak RSS $kb kB"
		walls+=("$secs"); mibs+=("$(awk -v k="$kb" 'BEGIN {printf "%.1f", k / 1024}')")
		rates+=("$(awk -v s="$secs" -v n=$TRAIN_ROWS 'BEGIN {printf "%.0f", n / s}')")
	done
	row_median "train, 1 M rows (s)" walls '<=' 60
	row_median "  peak RSS (MiB)" mibs '<=' 512
	row_median "  rows/s (info)" rates
	rm -rf "$d"
}

# ---- soak (issue 13) ------------------------------------------------------
# SOAK_MINUTES (30) of SOAK_RATE (10,000) readings/s over MQTT QoS 1 from
# `fieldgate simulate --mqtt` (1,000 sensors), both sinks on (Kafka mock, 3
# brokers; the ES stand-in with --discard, so that it does not hold 18 M
# documents in memory), the buffer capped at SOAK_MAX_MB; the stand-in is
# killed (kill -9) from 40 % of the run for SOAK_OUTAGE_S s and restarted on
# the same port. Every SOAK_EVERY s: the agent's RSS and open fds, the
# buffer's and WAL's size, the newest seq and both sinks' positions, into
# SOAK_OUT.csv, plotted to SOAK_OUT.png with gnuplot. After the publisher is
# done, the run waits for both sinks to catch up, then checks that every
# reading the broker acknowledged is one event. Not in the default list.
SOAK_MINUTES=${SOAK_MINUTES:-30} SOAK_RATE=${SOAK_RATE:-10000} SOAK_MAX_MB=${SOAK_MAX_MB:-2048}
SOAK_OUTAGE_S=${SOAK_OUTAGE_S:-180} SOAK_EVERY=${SOAK_EVERY:-10} SOAK_WARMUP_S=${SOAK_WARMUP_S:-120}
SOAK_OUT=${SOAK_OUT:-$top/tests/bench/soak}

# soak_sample CONF DB T ES_UP: one CSV line.
soak_sample() {
	local rss fds bsz wsz js n k e
	rss=$(awk '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} /^RssShmem:/ {s = $2}
		END {print r "," a "," f "," s}' "/proc/$agent_pid/status" 2>/dev/null)
	fds=$(find "/proc/$agent_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	bsz=$(stat -c %s "$2" 2>/dev/null || echo 0)
	wsz=$(stat -c %s "$2-wal" 2>/dev/null || echo 0)
	js=$("$FG" status -c "$1" --json 2>/dev/null)
	n=$(echo "$js" | sed -n 's/.*"newest_seq":\([0-9]*\).*/\1/p')
	k=$(echo "$js" | sed -n 's/.*"kafka":{[^}]*"position":\([0-9]*\).*/\1/p')
	e=$(echo "$js" | sed -n 's/.*"elasticsearch":{[^}]*"position":\([0-9]*\).*/\1/p')
	echo "$3,${rss:-0,0,0,0},$fds,$bsz,$wsz,${n:-0},${k:-0},${e:-0},$4"
}

# soak_report CSV READINGS PUBLISHER_RC NEWEST_SEQ: the verdicts and the plot
# from a soak's samples (also `tests/bench/run.sh soak_report`, which re-reads
# $SOAK_OUT.csv). RSS growth is the trend, not the noise: the median of the
# last SOAK_WINDOW_S of samples minus the median of the first SOAK_WINDOW_S
# after the warm-up (the largest sample is shown beside it).
soak_report() {
	local csv=$1 n=$2 rc=$3 newest=$4 warm=$SOAK_WARMUP_S stats
	local rss0 rss1 rssmax fd0 fdmax bmax wmax down_at up_at caught tend
	stats=$(awk -F, -v w="$warm" -v win="${SOAK_WINDOW_S:-300}" -v r="$SOAK_RATE" '
		function median(a, k,   i, j, t) {
			for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		NR > 1 {
			t[NR] = $1; rs[NR] = $2
			if ($1 >= w) { if (f0 == "") f0 = $6; if ($2 > rm) rm = $2; if ($6 > fm) fm = $6 }
			if ($7 > bm) bm = $7; if ($8 > wm) wm = $8
			if ($12 == 0 && down == "") down = $1
			if ($12 == 1 && down != "" && up == "") up = $1
			if (up != "" && caught == "" && $9 - $11 < r) caught = $1 - up
			last = NR; tend = $1
		}
		END {
			for (i = 2; i <= last; i++) {
				if (t[i] >= w && t[i] < w + win) a[++ka] = rs[i]
				if (t[i] > tend - win && t[i] >= w) b[++kb] = rs[i]
			}
			printf "%d %d %d %d %d %.0f %.0f %s %s %s %d\n", ka ? median(a, ka) : 0, kb ? median(b, kb) : 0,
				rm, f0, fm, bm, wm, down == "" ? "-" : down, up == "" ? "-" : up, caught == "" ? "never" : caught, tend
		}' "$csv")
	read -r rss0 rss1 rssmax fd0 fdmax bmax wmax down_at up_at caught tend <<<"$stats"
	row "soak: readings acknowledged / events" "= $n" "$newest" "publisher exit $rc" \
		"$([ "$newest" == "$n" ] && [ "$rc" == 0 ] && echo PASS || echo MISS)"
	row "  RSS growth after ${warm} s (MB)" "<= 1" "$(awk -v a="$rss0" -v b="$rss1" 'BEGIN {printf "%.2f", (b - a) / 1000}')" \
		"median $(awk -v a="$rss0" 'BEGIN {printf "%.1f", a / 1024}') MiB first ${SOAK_WINDOW_S:-300} s, $(awk -v b="$rss1" 'BEGIN {printf "%.1f", b / 1024}') MiB last; max $(awk -v b="$rssmax" 'BEGIN {printf "%.1f", b / 1024}') MiB" \
		"$(verdict "$(awk -v a="$rss0" -v b="$rss1" 'BEGIN {print (b - a) / 1000}')" '<=' 1)"
	row "  open fds, growth after ${warm} s" "= 0" "$((fdmax - fd0))" "$fd0 at ${warm} s, max $fdmax" \
		"$([ $((fdmax - fd0)) -le 0 ] && echo PASS || echo MISS)"
	row "  buffer file, max (MiB)" "<= $SOAK_MAX_MB" "$((bmax / 1048576))" "$bmax bytes; WAL max $((wmax / 1048576)) MiB" \
		"$(verdict $((bmax / 1048576)) '<=' "$SOAK_MAX_MB")"
	row "  ES back -> backlog < 1 s (s)" "(info)" "$caught" "down at $down_at s, back at $up_at s" "-"
	[ "$down_at" == - ] && down_at=0 up_at=0
	gnuplot <<GP || err "soak: gnuplot failed"
set terminal pngcairo size 1200,900 font ",10" noenhanced
set output "$SOAK_OUT.png"
set datafile separator ","
set key autotitle columnhead
set multiplot layout 4,1 title "fieldgate soak: $tend s, $SOAK_RATE readings/s asked, MQTT QoS 1, Kafka + ES (ES down $down_at-$up_at s), $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null)"
set xlabel "s"
set grid
set object 1 rect from $down_at,graph 0 to $up_at,graph 1 fc rgb "#ffe0e0" fs solid behind
set ylabel "RSS (MiB)"
set yrange [0:*]
plot "$csv" using 1:(\$2/1024) with lines lw 2 title "agent RSS", "" using 1:(\$3/1024) with lines title "of it anonymous", "" using 1:(\$4/1024) with lines title "of it file-backed"
set ylabel "open fds"
plot "$csv" using 1:6 with lines lw 2 title "agent open fds"
set ylabel "MiB"
plot "$csv" using 1:(\$7/1048576) with lines lw 2 title "buffer.db", "" using 1:(\$8/1048576) with lines lw 2 title "buffer.db-wal", $SOAK_MAX_MB with lines dt 2 title "max_mb"
set ylabel "events behind"
plot "$csv" using 1:(\$9-\$10) with lines lw 2 title "Kafka backlog", "" using 1:(\$9-\$11) with lines lw 2 title "ES backlog"
unset multiplot
GP
	echo "soak: wrote $csv and $SOAK_OUT.png"
}

# Re-read a soak's CSV ($SOAK_OUT.csv) and print its verdicts and plot again.
bench_soak_report() {
	local newest
	newest=$(tail -n 1 "$SOAK_OUT.csv" | cut -d, -f9)
	soak_report "$SOAK_OUT.csv" "${SOAK_READINGS:-$newest}" "${SOAK_PUBLISHER_RC:-0}" "$newest"
}

bench_soak() {
	local d=$T/soak secs=$((SOAK_MINUTES * 60)) n t0 t es_on=1 end csv rc=0
	local out_at back_at last newest
	echo "== soak: $SOAK_MINUTES min at $SOAK_RATE readings/s, MQTT QoS 1, Kafka mock + ES stand-in,"\
		"max_mb = $SOAK_MAX_MB, ES down (kill -9) for $SOAK_OUTAGE_S s from 40 % of the run;"\
		"samples every $SOAK_EVERY s into $SOAK_OUT.csv"
	if ! command -v gnuplot >/dev/null; then err "soak: gnuplot missing (packaging/install-deps.sh installs gnuplot-nox)"; return; fi
	mkdir -p "$d"
	broker_start soak || { err "soak: no broker"; return; }
	if ! kafka_up; then err "soak: no Kafka mock"; broker_stop; return; fi
	if ! es_up "$d" 0 --discard; then err "soak: no ES stand-in"; stop_kafka; broker_stop; return; fi
	write_mqtt_conf "$d/site.conf" "$d/data" 1 "fieldgate-bench-soak-$$" false
	sed -i "s/^max_mb = .*/max_mb = $SOAK_MAX_MB/" "$d/site.conf"
	cat >>"$d/site.conf" <<CONF
[kafka]
enabled = true
brokers = $KAFKA_BOOTSTRAP
topic = sensor-scored
[elasticsearch]
enabled = true
url = http://127.0.0.1:$es_port
CONF
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_connected "$d/site.conf"; then
		agent_fail "$d" "soak: agent did not connect"; es_down; stop_kafka; broker_stop; return
	fi
	n=$((SOAK_RATE * secs))
	"$FG" simulate --mqtt "tcp://127.0.0.1:$mqtt_port" --qos 1 --sensors 1000 \
		--rate "$(awk -v r="$SOAK_RATE" 'BEGIN {print r / 1000}')" --count $n --seed 9 \
		--start $SIM_START 2>"$d/pub.log" &
	pub_pid=$!
	out_at=$((secs * 2 / 5)) back_at=$((secs * 2 / 5 + SOAK_OUTAGE_S))
	csv=$SOAK_OUT.csv
	echo "t_s,rss_kb,rss_anon_kb,rss_file_kb,rss_shmem_kb,fds,buffer_bytes,wal_bytes,newest_seq,kafka_position,es_position,es_up" >"$csv"
	t0=$SECONDS end=$((SECONDS + secs + 900))
	while [ $SECONDS -lt $end ] && alive "$agent_pid"; do
		t=$((SECONDS - t0))
		if [ $es_on == 1 ] && [ $t -ge $out_at ] && [ $t -lt $back_at ]; then
			es_down; es_on=0; echo "soak: t=$t s: ES stand-in killed"
		elif [ $es_on == 0 ] && [ $t -ge $back_at ]; then
			if ! es_up "$d" "$es_port" --discard; then err "soak: ES stand-in did not come back"; break; fi
			es_on=1; echo "soak: t=$t s: ES stand-in back on port $es_port"
		fi
		last=$(soak_sample "$d/site.conf" "$d/data/buffer.db" "$t" "$es_on")
		echo "$last" >>"$csv"
		if [ -n "$pub_pid" ] && ! alive "$pub_pid"; then
			wait "$pub_pid"; rc=$?; pub_pid=
			echo "soak: t=$t s: publisher done (exit $rc): $(tail -n 1 "$d/pub.log")"
		fi
		if [ -z "$pub_pid" ]; then
			# Drained: both sinks at the newest seq.
			awk -F, '{exit !($9 > 0 && $10 == $9 && $11 == $9)}' <<<"$last" && break
		fi
		pause "$SOAK_EVERY"
	done
	newest=$(newest_seq "$d/site.conf")
	stop_agent || err "soak: agent exited non-zero: $(tail -n 3 "$d/agent.log")"
	es_down; stop_kafka; broker_stop
	[ -n "$pub_pid" ] && { err "soak: the publisher had not finished"; kill "$pub_pid"; wait "$pub_pid"; pub_pid=; }
	[ "$rc" == 0 ] || err "soak: publisher failed: $(tail -n 2 "$d/pub.log")"
	soak_report "$csv" "$n" "$rc" "$newest"
	rm -rf "$d"
}

# ---- wire: bytes and CPU per event on the full path (issue 14) ------------
# The whole gateway path at a paced rate: `fieldgate simulate --mqtt` at
# QoS 1 (WIRE_RATE sensors at 1 Hz each, spread evenly) -> mosquitto -> the
# agent (models, buffer, sync = normal) -> the Kafka mock (3 brokers, 8
# partitions) and the ES stand-in (--discard) at once. After WIRE_WARMUP s,
# over WIRE_WINDOW s: the TCP payload bytes the agent sent to and got from
# the Kafka brokers and the stand-in (`ss -ti` bytes_acked / bytes_received
# of its connections: Kafka framing, record batches, HTTP headers included;
# IP/TCP headers not), events ingested and acknowledged by each sink, the
# CPU of the agent, mosquitto and the publisher, the agent's write_bytes
# (/proc/PID/io); before the publisher starts, the agent's CPU while idle
# (WIRE_IDLE s, connected to all three); after the stop, the buffer file's
# bytes per event, the events' mean JSON length and the stand-in's mean
# documents per _bulk. WIRE_KAFKA lists the Kafka variants as
# COMPRESSION,LINGER_MS (property.compression.type, property.linger.ms);
# WIRE_SINKS the sinks enabled, kafka+es (default), kafka, es or none (to
# split the CPU per event by sink); WIRE_QOS the agent's subscription QoS
# (1; the publisher always publishes at QoS 1) and WIRE_COMMIT_MS its
# [buffer] commit_ms (10); sinks x rates x variants are
# interleaved within each of WIRE_RUNS repetitions.
# Not in the default list (about 10 minutes with the defaults).
WIRE_RATES=${WIRE_RATES:-1000 10000} WIRE_KAFKA=${WIRE_KAFKA:-lz4,5 none,5 lz4,100} WIRE_SINKS=${WIRE_SINKS:-kafka+es}
WIRE_QOS=${WIRE_QOS:-1} WIRE_COMMIT_MS=${WIRE_COMMIT_MS:-10} wire_n=0
WIRE_RUNS=${WIRE_RUNS:-3} WIRE_WARMUP=${WIRE_WARMUP:-5} WIRE_WINDOW=${WIRE_WINDOW:-20} WIRE_IDLE=${WIRE_IDLE:-5}

# wire_bytes PORT...: "sent received" summed over the established TCP
# connections to those 127.0.0.1 ports (the client side: dport).
wire_bytes() {
	local f='' p
	[ $# -gt 0 ] || { echo 0 0; return; }
	for p in "$@"; do f="$f${f:+ or }dport = :$p"; done
	ss -tinH state established "( $f )" | awk '
		{ for (i = 1; i <= NF; i++) {
			if ($i ~ /^bytes_acked:/) { split($i, a, ":"); s += a[2] }
			if ($i ~ /^bytes_received:/) { split($i, a, ":"); r += a[2] } } }
		END { printf "%d %d\n", s, r }'
}

# wire_stat CONF: "newest kafka_position es_position" from `status --json`
# ("-" for a sink that is not enabled).
wire_stat() {
	"$FG" status -c "$1" --json 2>/dev/null | awk '{
		n = $0; sub(/.*"newest_seq":/, "", n); sub(/[^0-9].*/, "", n)
		k = $0; if (!sub(/.*"kafka":\{[^}]*"position":/, "", k)) k = ""; sub(/[^0-9].*/, "", k)
		e = $0; if (!sub(/.*"elasticsearch":\{[^}]*"position":/, "", e)) e = ""; sub(/[^0-9].*/, "", e)
		print n, (k == "" ? "-" : k), (e == "" ? "-" : e)
	}'
}

# wire_run I RATE SINKS COMPRESSION LINGER: one run; sets wire_out to one
# line of key=value figures (see bench_wire), or returns 1.
wire_run() {
	local d=$T/wire-$1-$2-$3-$4-$5 sinks=$3 ka=0 ea=0 n kports='' i0 i1 ti0 ti1 breq bitems load kb0 kb1 kr0 kr1 eb0 eb1 er0 er1 k0 k1 e0 e1 s0 s1 t0 t1 c0 c1 b0 b1 p0 p1 w0 w1 json fsz
	[[ $sinks == *kafka* ]] && ka=1
	[[ $sinks == *es* ]] && ea=1
	mkdir -p "$d"
	# a client id of its own per run: a session another run left messages in must not feed this one
	wire_n=$((wire_n + 1))
	write_mqtt_conf "$d/site.conf" "$d/data" "$WIRE_QOS" "fieldgate-bench-wire-$$-$wire_n" false
	sed -i "s/^commit_ms = .*/commit_ms = $WIRE_COMMIT_MS/" "$d/site.conf"
	if [ $ka == 1 ]; then
		kafka_up || { rm -rf "$d"; return 1; }
		kports=$(echo "$KAFKA_BOOTSTRAP" | tr ',' '\n' | sed 's/.*://' | tr '\n' ' ')
		printf '[kafka]\nenabled = true\nbrokers = %s\ntopic = sensor-scored\nproperty.compression.type = %s\nproperty.linger.ms = %s\n' \
			"$KAFKA_BOOTSTRAP" "$4" "$5" >>"$d/site.conf"
	fi
	if [ $ea == 1 ]; then
		es_up "$d" 0 --discard || { [ $ka == 1 ] && stop_kafka; rm -rf "$d"; return 1; }
		printf '[elasticsearch]\nenabled = true\nurl = http://127.0.0.1:%s\n' "$es_port" >>"$d/site.conf"
	fi
	start_agent "$d/site.conf" "$d/agent.log"
	if ! wait_connected "$d/site.conf"; then agent_fail "$d" "wire: agent did not connect"; es_down; [ $ka == 1 ] && stop_kafka; return 1; fi
	# the agent connected to all three and idle: its fixed cost per second
	i0=$(cpu_ticks "$agent_pid"); ti0=$(now)
	pause "$WIRE_IDLE"
	i1=$(cpu_ticks "$agent_pid"); ti1=$(now)
	n=$(($2 * (WIRE_WARMUP + WIRE_WINDOW + 3)))
	"$FG" simulate --mqtt "tcp://127.0.0.1:$mqtt_port" --qos 1 --sensors "$2" --rate 1 --count $n \
		--seed 5 --start $SIM_START 2>"$d/pub.log" &
	pub_pid=$!
	pause "$WIRE_WARMUP"
	read -r s0 k0 e0 <<<"$(wire_stat "$d/site.conf")"
	# shellcheck disable=SC2086 # word splitting wanted: one argument per port (none when the sink is off)
	read -r kb0 kr0 <<<"$(wire_bytes $kports)"
	# shellcheck disable=SC2086 # $es_port is empty when ES is off: no argument then
	read -r eb0 er0 <<<"$(wire_bytes $es_port)"
	c0=$(cpu_ticks "$agent_pid"); b0=$(cpu_ticks "$broker_pid"); p0=$(cpu_ticks "$pub_pid")
	w0=$(awk '/^write_bytes:/ {print $2}' "/proc/$agent_pid/io"); t0=$(now)
	pause "$WIRE_WINDOW"
	read -r s1 k1 e1 <<<"$(wire_stat "$d/site.conf")"
	# shellcheck disable=SC2086 # as above
	read -r kb1 kr1 <<<"$(wire_bytes $kports)"
	# shellcheck disable=SC2086 # $es_port is empty when ES is off: no argument then
	read -r eb1 er1 <<<"$(wire_bytes $es_port)"
	c1=$(cpu_ticks "$agent_pid"); b1=$(cpu_ticks "$broker_pid"); p1=$(cpu_ticks "$pub_pid")
	w1=$(awk '/^write_bytes:/ {print $2}' "/proc/$agent_pid/io"); t1=$(now); load=$(cut -d' ' -f1 /proc/loadavg)
	if ! alive "$agent_pid"; then agent_fail "$d" "wire: agent died"; es_down; [ $ka == 1 ] && stop_kafka; return 1; fi
	if [ -z "$p1" ]; then echo "bench: wire: the publisher ended inside the window: $(tail -n 2 "$d/pub.log")" >&2; fi
	wait "$pub_pid" || echo "bench: wire: publisher failed: $(tail -n 2 "$d/pub.log")" >&2
	pub_pid=
	# let the agent drain what the broker still holds for it (20 s at most), so that the
	# buffer holds the whole run for the bytes per event below
	wait_seq "$d/site.conf" $n 20 || true
	stop_agent || echo "bench: wire: agent exited non-zero on SIGTERM: $(tail -n 3 "$d/agent.log")" >&2
	breq=0 bitems=0
	[ $ea == 1 ] && read -r breq bitems <<<"$(curl -sS "http://127.0.0.1:$es_port/_standin/faults" | "$ES_PY" -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(c["bulk_requests"], c["bulk_items"])')"
	es_down; [ $ka == 1 ] && stop_kafka
	fsz=$(stat -c %s "$d/data/buffer.db")
	json=$(sqlite3 "$d/data/buffer.db" "select printf('%d %.1f', count(*), avg(length(data))) from events")
	rm -rf "$d"
	wire_out=$(awk -v s0="$s0" -v s1="$s1" -v k0="$k0" -v k1="$k1" -v e0="$e0" -v e1="$e1" -v t0="$t0" -v t1="$t1" \
		-v kb="$((kb1 - kb0))" -v kr="$((kr1 - kr0))" -v eb="$((eb1 - eb0))" -v er="$((er1 - er0))" \
		-v c="$((c1 - c0))" -v b="$((b1 - b0))" -v p="$((${p1:-0} - ${p0:-0}))" -v w="$((w1 - w0))" \
		-v hz="$HZ" -v fsz="$fsz" -v json="$json" -v breq="${breq:-0}" -v bitems="${bitems:-0}" \
		-v idle="$((i1 - i0))" -v ti0="$ti0" -v ti1="$ti1" -v load="$load" -v ka=$ka -v ea=$ea 'BEGIN {
		w_ = t1 - t0; n = s1 - s0; nk = k1 - k0; ne = e1 - e0; split(json, j, " ")
		if (n <= 0 || (ka && nk <= 0) || (ea && ne <= 0) || kb < 0 || eb < 0) exit 1
		printf "ingest=%.0f", n / w_
		if (ka) printf " kafka=%.0f kafka_B=%.1f kafka_in_B=%.1f", nk / w_, kb / nk, kr / nk
		if (ea) printf " es=%.0f es_B=%.1f es_in_B=%.1f es_docs_per_bulk=%.1f", ne / w_, eb / ne, er / ne, breq ? bitems / breq : 0
		printf " agent_us=%.1f agent_cores=%.3f broker_us=%.1f pub_us=%.1f write_B=%.0f", \
			c / hz * 1e6 / n, c / hz / w_, b / hz * 1e6 / n, p / hz * 1e6 / n, w / n
		printf " file_B=%.0f json_B=%s events=%d", fsz / j[1], j[2], j[1]
		printf " idle_cores=%.3f load=%s\n", idle / hz / (ti1 - ti0), load
	}') || { echo "bench: wire: no progress in the window (newest $s0..$s1, kafka $k0..$k1, es $e0..$e1)" >&2; return 1; }
}

bench_wire() {
	local rep r v comp ling out key sk vs
	declare -A got=()
	echo "== wire: simulate --mqtt QoS 1 (RATE sensors at 1 Hz) -> mosquitto -> agent (QoS $WIRE_QOS,"\
		"commit_ms = $WIRE_COMMIT_MS) -> Kafka mock (3 brokers,"\
		"$KAFKA_PARTITIONS partitions) + ES stand-in (--discard); sinks $WIRE_SINKS; rates $WIRE_RATES; kafka $WIRE_KAFKA"\
		"(compression,linger.ms); ${WIRE_WARMUP}s warm-up, ${WIRE_WINDOW}s window; $WIRE_RUNS runs, interleaved"
	broker_start wire || { err "wire: no broker"; return; }
	for ((rep = 1; rep <= WIRE_RUNS; rep++)); do
		for sk in $WIRE_SINKS; do
			vs=$WIRE_KAFKA; [[ $sk == *kafka* ]] || vs=-,-
			for r in $WIRE_RATES; do
				for v in $vs; do
					comp=${v%,*} ling=${v#*,}
					if ! wire_run "$rep" "$r" "$sk" "$comp" "$ling"; then
						echo "bench: wire run $rep $sk $r/s $v failed; once more" >&2
						if ! wire_run "$rep" "$r" "$sk" "$comp" "$ling"; then err "wire run $rep $sk $r/s $v failed twice"; broker_stop; return; fi
					fi
					out=$wire_out
					echo "run $rep, $sk, $r/s, kafka $comp linger.ms=$ling: $out"
					for kv in $out; do key="$sk $r $v ${kv%%=*}"; got[$key]="${got[$key]:+${got[$key]} }${kv#*=}"; done
				done
			done
		done
	done
	broker_stop
	local -a a
	# shellcheck disable=SC2034 # a is read by row_median through its nameref
	for sk in $WIRE_SINKS; do
		vs=$WIRE_KAFKA; [[ $sk == *kafka* ]] || vs=-,-
		for r in $WIRE_RATES; do
			for v in $vs; do
				if [[ $sk == *kafka* ]]; then
					read -ra a <<<"${got[$sk $r $v kafka_B]}"; row_median "wire $sk $r/s $v: kafka B/event" a
				fi
				read -ra a <<<"${got[$sk $r $v agent_us]}"; row_median "  $sk $r/s $v: agent CPU us/event" a
			done
			v=${vs%% *}
			for key in ingest es_B es_in_B es_docs_per_bulk kafka_in_B agent_cores idle_cores broker_us pub_us write_B file_B json_B; do
				[ -n "${got[$sk $r $v $key]:-}" ] || continue
				read -ra a <<<"${got[$sk $r $v $key]}"; row_median "  $sk $r/s $v: $key" a
			done
		done
	done
}

which=${*:-${BENCH:-infer infer_sklearn e2e rss mqtt1 mqtt0 mqtt0d latency kafka kafka_latency kafka_drain es replay restart reload lifecycle train flash}}
for b in $which; do
	case $b in
	infer | infer_sklearn | e2e | rss | mqtt1 | mqtt0 | mqtt0d | latency | latency0 | kafka | kafka_latency | kafka_drain | es | replay | restart | reload | lifecycle | train | flash | soak | soak_report | wire) ;;
	*) echo "usage: $0 [infer|infer_sklearn|e2e|rss|mqtt1|mqtt0|mqtt0d|latency|latency0|kafka|kafka_latency|kafka_drain|es|replay|restart|reload|lifecycle|train|flash|soak|soak_report|wire ...]" >&2; exit 2 ;;
	esac
done
if [ ! -x "$FG" ]; then echo "bench: $FG not built (run make bench)" >&2; exit 1; fi
start=$SECONDS
echo "fieldgate benchmarks: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'),"\
	"$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1),"\
	"buffer on $(findmnt -no FSTYPE -T "$T" 2>/dev/null || stat -f -c %T "$T")"
for b in $which; do "bench_$b"; done

echo
printf '%-36s %-12s %12s  %-8s %s\n' benchmark target median result runs
for r in "${rows[@]}"; do echo "$r"; done
echo "($((SECONDS - start)) s)"
[ $errors -eq 0 ] || { echo "bench: $errors benchmark(s) could not run" >&2; exit 1; }
