#!/bin/bash
# run.sh - run the fuzz targets (build/fuzz/fuzz_NAME, make fuzz-build) for
# FUZZ_SECONDS each (default 30), FUZZ_JOBS at a time (default 2, the CI
# machine's cores), at nice FUZZ_NICE (default 10). Each starts from its
# working corpus build/fuzz/corpus/NAME (grown by earlier runs, never
# committed), the seeds tests/data/fuzz/NAME/ and the regressions
# tests/data/fuzz/regressions/NAME/, with tests/fuzz/NAME.dict when there is
# one. Prints one line per target (executions, exec/s, coverage at start and
# end, corpus size, CPU seconds) and exits non-zero if a target crashed,
# leaked or timed out, printing the reproducer's path and the log's last
# lines. Arguments: target names (default: all four).
#   FUZZ_SECONDS=600 tests/fuzz/run.sh          # a long run
#   tests/fuzz/run.sh es_bulk                    # one target
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
secs=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}
nice_n=${FUZZ_NICE:-10}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(reading config model es_bulk)
out=build/fuzz
mkdir -p "$out/logs"

# max_len per target: the decoder refuses above 16 KiB (READING_MAX_BYTES)
# unparsed; configs, models and bulk answers worth mutating are smaller.
max_len() {
	case $1 in
	reading) echo 17000 ;;
	model) echo 16384 ;;
	*) echo 8192 ;;
	esac
}

# run_target NAME: one libFuzzer run; its log in build/fuzz/logs/NAME.log, its
# user+system CPU seconds in build/fuzz/logs/NAME.cpu.
run_target() {
	local t=$1 bin=$out/fuzz_$1 dirs=() opts=()
	mkdir -p "$out/corpus/$t" "$out/crashes/$t"
	dirs=("$out/corpus/$t" "tests/data/fuzz/$t")
	[ -d "tests/data/fuzz/regressions/$t" ] && dirs+=("tests/data/fuzz/regressions/$t")
	[ -f "tests/fuzz/$t.dict" ] && opts+=("-dict=tests/fuzz/$t.dict")
	# LeakSanitizer on; a crash, a leak or a 25 s input all fail the run.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		/usr/bin/time -f '%U %S' -o "$out/logs/$t.cpu" \
		nice -n "$nice_n" "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 \
		-max_len="$(max_len "$t")" -print_final_stats=1 \
		-artifact_prefix="$out/crashes/$t/" "${opts[@]}" "${dirs[@]}" \
		>"$out/logs/$t.log" 2>&1
}

for t in "${targets[@]}"; do
	if [ ! -x "$out/fuzz_$t" ]; then
		echo "$out/fuzz_$t: not built; run make fuzz-build (needs clang and libclang-rt-14-dev, make deps)" >&2
		exit 2
	fi
done

echo "fuzzing ${targets[*]}: $secs s each, $jobs at a time (logs in $out/logs/)"
start=$SECONDS
declare -A rc
running=0
for t in "${targets[@]}"; do
	if [ $running -ge "$jobs" ]; then
		wait -n; running=$((running - 1))
	fi
	( run_target "$t"; echo $? >"$out/logs/$t.rc" ) &
	running=$((running + 1))
done
wait

failed=0
printf '%-8s %10s %8s %15s %15s %8s %7s  %s\n' target execs exec/s "start cov/ft" "end cov/ft" corpus cpu_s result
for t in "${targets[@]}"; do
	log=$out/logs/$t.log
	rc[$t]=$(cat "$out/logs/$t.rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	init=$(sed -n 's/.*INITED cov: \([0-9]*\) ft: \([0-9]*\).*/\1\/\2/p' "$log" | head -1)
	# The last status line: "#N DONE cov: C ft: F corp: N/SIZE ..." or "pulse".
	last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
	endcov=$(sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/\1\/\2/p' <<<"$last")
	corp=$(sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
	cpu=$(tail -1 "$out/logs/$t.cpu" 2>/dev/null | awk '{ printf "%.1f", $1 + $2 }')
	if [ "${rc[$t]}" != 0 ]; then
		res="FAILED (exit ${rc[$t]})"; failed=1
	elif [ "${execs:-0}" -lt 1000 ]; then
		# A target that cannot run a thousand inputs is stuck, not clean.
		res="FAILED (stuck: ${execs:-no} executions)"; failed=1; rc[$t]=stuck
	else
		res=ok
	fi
	printf '%-8s %10s %8s %15s %15s %8s %7s  %s\n' "$t" "${execs:-?}" "${eps:-?}" "${init:-?}" \
		"${endcov:-?}" "${corp:-?}" "${cpu:-?}" "$res"
done
for t in "${targets[@]}"; do
	[ "${rc[$t]}" == 0 ] && continue
	log=$out/logs/$t.log
	[ "${rc[$t]}" == stuck ] && { echo; echo "fuzz_$t ran under 1000 inputs: see $log"; continue; }
	echo
	echo "fuzz_$t failed; the last lines of $log:"
	grep -E 'ERROR:|SUMMARY:|fuzz check failed|runtime error' "$log" | head -5 | sed 's/^/  | /'
	repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
	if [ -n "$repro" ]; then
		echo "reproducer: $repro"
		echo "  replay it: $out/fuzz_$t $repro"
		echo "  once fixed, keep it: cp $repro tests/data/fuzz/regressions/$t/"
	fi
done
echo "wall time $((SECONDS - start)) s"
exit $failed
