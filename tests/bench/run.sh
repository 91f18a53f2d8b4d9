#!/bin/bash
# run.sh - fieldgate's benchmarks (`make bench`); results and method are in
# tests/bench/RESULTS.md.
#
#   infer  scorer_predict(), all three models per event, and the whole
#          per-reading CPU path (build/bench/bench_infer, 7 runs)
#   e2e    simulator -> score -> event JSON -> SQLite with the real binary
#          flat out, sync = normal and sync = full (3 runs each)
#   rss    peak RSS (VmHWM) of `fieldgate run` at 10,000 events/s (3 runs)
#
# Usage: tests/bench/run.sh [infer|e2e|rss ...]   (default: all three; the
# environment variable BENCH="e2e rss" does the same, for `BENCH=e2e make bench`).
# Needs build/fieldgate and build/bench/bench_infer (`make bench` builds them).
# Prints a table of medians with PASS/MISS per target. A MISS does not fail:
# this is a measurement. Exits non-zero only when a benchmark could not run.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
FG=${FIELDGATE:-$top/build/fieldgate}
BENCH_INFER=$top/build/bench/bench_infer
E2E_RUNS=3 RSS_RUNS=3 INFER_REPS=7
E2E_WARMUP=2 E2E_WINDOW=5 RSS_SECONDS=20

T=$(mktemp -d "${TMPDIR:-/tmp}/fieldgate-bench.XXXXXX") || exit 1
agent_pid='' sleep_pid=''
cleanup() {
	if [ -n "$sleep_pid" ]; then kill "$sleep_pid" 2>/dev/null; fi
	if [ -n "$agent_pid" ]; then kill -9 "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; fi
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

which=${*:-${BENCH:-infer e2e rss}}
for b in $which; do
	case $b in infer | e2e | rss) ;; *) echo "usage: $0 [infer|e2e|rss ...]" >&2; exit 2 ;; esac
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
