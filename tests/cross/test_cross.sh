#!/bin/bash
# test_cross.sh ARCH [FIELDGATE] - fieldgate cross-built for an ARM gateway
# (arm64, armhf), run under qemu-user on this amd64 machine.
#
#   1. the unit tests (build/cross/ARCH/tests/, UBSan; ASan does not run
#      under qemu-user), two at a time, from tests/unit as tests/run.sh does;
#   2. the same output as build/fieldgate (amd64), byte for byte, for the same
#      seed: simulate, score (events; received_at, the wall clock, aside),
#      score on the rejected-readings corpus (tests/data/readings/bad.tsv:
#      stdout and stderr), models features and models predict (every model
#      output at full precision, %.17g), eval --json, and train (the model
#      files, every number at full precision);
#   3. the agent (simulator -> models -> buffer) for a few seconds, then
#      status --json from the ARCH binary and from the amd64 one on the buffer
#      the ARCH binary wrote: the same.
#
# FIELDGATE is the ARCH binary (default build/cross/ARCH/fieldgate; make
# test-cross also passes the one in the .deb). qemu is called explicitly
# (qemu-aarch64-static, qemu-arm-static), so binfmt_misc is not needed. Ends
# with "N passed, N failed"; exits non-zero if anything failed.
# Environment: CROSS_UNIT=0 skips step 1 (the binary only).
set -u
arch=${1:?usage: test_cross.sh arm64|armhf [FIELDGATE]}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
case $arch in
arm64) qemu="qemu-aarch64-static" ;;
armhf) qemu="qemu-arm-static" ;;
*) echo "test_cross.sh: unknown architecture '$arch' (arm64 or armhf)" >&2; exit 2 ;;
esac
fg_arch=$(readlink -f "${2:-build/cross/$arch/fieldgate}")
fg_amd64=$top/build/fieldgate
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
die() { echo "test_cross: $*" >&2; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
command -v $qemu >/dev/null || die "$qemu not found: packaging/install-cross-deps.sh $arch installs it"
[ -x "$fg_arch" ] || die "$fg_arch: no such binary; make cross-$arch builds it"
[ -x "$fg_amd64" ] || die "$fg_amd64: no such binary; make builds it"
T=$(mktemp -d /tmp/fieldgate-cross.XXXXXX)
agent_pid=
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
A() { $qemu "$fg_arch" "$@"; } # the ARCH binary
X() { env $x_env "$fg_amd64" "$@"; } # the amd64 binary
# glibc's exp() (and log, pow) has an FMA variant, picked at run time on a
# CPU with FMA: every arm64, x86-64 since Haswell, not armhf (VFPv3-D16). The
# two variants differ in the last bit for a few inputs (the logistic
# regression's sigmoid: 2 of 3,000 anomaly probabilities here, by 1e-18;
# events, at 6 digits, were the same). So armhf is compared with amd64 told
# not to use FMA (GLIBC_TUNABLES), and arm64 with amd64 on an FMA CPU.
# README ("On ARM gateways") says why this is harmless.
x_env=
case $arch in
armhf) x_env=GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA ;;
arm64) grep -qw fma /proc/cpuinfo || die "this CPU has no FMA: glibc's exp() on amd64 differs from arm64's in the last bit for a few inputs; run on an FMA CPU" ;;
esac
# same DESC FILE_AMD64 FILE_ARCH: byte for byte, or the first difference.
same() {
	if cmp -s "$2" "$3"; then
		pass "$1: the same as amd64 ($(wc -l <"$2") lines, $(wc -c <"$2") bytes)"
	else
		fail "$1: differs from amd64: $(cmp "$2" "$3" 2>&1 | head -1)"
		diff "$2" "$3" | head -6 >&2
	fi
}
echo "$arch: $(file -b "$fg_arch" | cut -d, -f1-2), under $qemu"

# --- 1. unit tests -------------------------------------------------------------
if [ "${CROSS_UNIT:-1}" = 1 ]; then
	units=(build/cross/"$arch"/tests/test_*)
	[ -x "${units[0]}" ] || die "no unit tests in build/cross/$arch/tests; make cross-$arch builds them"
	start=$SECONDS
	# Two at a time, the longest first (under qemu here: agent and sensors 20 s each, store 7 s).
	slow='test_(agent|sensors|store)$'
	# shellcheck disable=SC2016 # the inner bash expands them
	{ printf '%s\n' "${units[@]}" | grep -E "$slow"; printf '%s\n' "${units[@]}" | grep -vE "$slow"; } |
		xargs -P 2 -I{} bash -c 'n=$(basename {}); s=$SECONDS
			(cd tests/unit && FIELDGATE_EMULATED=1 \
			 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 '"$qemu"' ../../{}) >'"$T"'/$n.log 2>&1
			echo "$? $n $((SECONDS - s))" >>'"$T"'/units'
	while read -r rc n secs; do
		if [ "$rc" -eq 0 ]; then
			pass "unit/$n under $qemu: $(tail -1 "$T/$n.log" | sed 's/^[^:]*: //') (${secs} s)"
		else
			fail "unit/$n under $qemu exited $rc (${secs} s):"
			tail -30 "$T/$n.log" | sed 's/^/    | /' >&2
		fi
	done < <(sort -k2 "$T/units")
	[ "$(wc -l <"$T/units")" -eq ${#units[@]} ] || fail "only $(wc -l <"$T/units") of ${#units[@]} unit tests reported"
	echo "unit tests: $((SECONDS - start)) s"
fi

# --- 2. the same bytes as amd64 ---------------------------------------------------
start=$SECONDS
sim=(simulate --sensors 20 --rate 0.05 --count 3000 --seed 1515 --start 2026-01-05T00:00:00Z --drift-after 2000)
X "${sim[@]}" --out "$T/sim.amd64" || fail "simulate (amd64) failed"
A "${sim[@]}" --out "$T/sim.$arch" || fail "simulate ($arch) failed"
same "simulate --seed 1515" "$T/sim.amd64" "$T/sim.$arch"
# received_at is the wall clock of the scoring: everything else must match.
no_received() { sed 's/"received_at":"[^"]*",//'; }
X score --models models/default <"$T/sim.amd64" | no_received >"$T/events.amd64"
A score --models models/default <"$T/sim.amd64" | no_received >"$T/events.$arch"
[ -s "$T/events.amd64" ] || fail "score wrote no events"
same "score: events" "$T/events.amd64" "$T/events.$arch"
# The rejected-readings corpus: one reading a line (the third column).
grep -v '^#' tests/data/readings/bad.tsv | cut -f3- >"$T/bad.jsonl"
X score --models models/default <"$T/bad.jsonl" 2>"$T/bad-err.amd64" | no_received >"$T/bad.amd64"
A score --models models/default <"$T/bad.jsonl" 2>"$T/bad-err.$arch" | no_received >"$T/bad.$arch"
[ -s "$T/bad-err.amd64" ] || fail "score on bad.tsv rejected nothing"
same "score on tests/data/readings/bad.tsv: stdout" "$T/bad.amd64" "$T/bad.$arch"
same "score on tests/data/readings/bad.tsv: stderr (the rejections)" "$T/bad-err.amd64" "$T/bad-err.$arch"
X models features --data "$T/sim.amd64" --out "$T/features.amd64"
A models features --data "$T/sim.amd64" --out "$T/features.$arch"
same "models features (every feature)" "$T/features.amd64" "$T/features.$arch"
X models predict --models models/default --features "$T/features.amd64" >"$T/predict.amd64"
A models predict --models models/default --features "$T/features.amd64" >"$T/predict.$arch"
[ -s "$T/predict.amd64" ] || fail "models predict wrote nothing"
same "models predict (raw outputs, %.17g)" "$T/predict.amd64" "$T/predict.$arch"
X eval --models models/default --data "$T/sim.amd64" --json >"$T/eval.amd64"
A eval --models models/default --data "$T/sim.amd64" --json >"$T/eval.$arch"
same "eval --json" "$T/eval.amd64" "$T/eval.$arch"
# Training: trees, boosting and logistic regression (exp, log), every
# threshold and weight written at full precision.
X train --data "$T/sim.amd64" --out "$T/models.amd64" --seed 3 >/dev/null 2>&1 ||
	fail "train (amd64) failed"
A train --data "$T/sim.amd64" --out "$T/models.$arch" --seed 3 >/dev/null 2>&1 ||
	fail "train ($arch) failed"
for f in "$T"/models.amd64/*; do
	same "train: $(basename "$f")" "$f" "$T/models.$arch/$(basename "$f")"
done
echo "comparisons: $((SECONDS - start)) s"

# --- 3. the agent: simulator -> models -> buffer ------------------------------------
start=$SECONDS
. "$top/tests/integration/site_conf.sh"
GATEWAY_ID=gw-$arch SITE_NAME=cross SIM_SENSORS=10 SIM_RATE=20 write_config "$T/agent.conf"
mkdir -p "$T/data"
$qemu "$fg_arch" run -c "$T/agent.conf" >"$T/agent.log" 2>&1 & # (not A: its pid must be qemu's)
agent_pid=$!
# newest_seq: from status --json (of the given binary).
newest() { "$@" status -c "$T/agent.conf" --json 2>/dev/null | grep -o '"newest_seq": *[0-9]*' | grep -o '[0-9]*$'; }
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ] && [ "$(newest A || echo 0)" -lt 200 ] 2>/dev/null; do
	kill -0 $agent_pid 2>/dev/null || break
	sleep 0.5
done
n=$(newest A)
check_n=${n:-0}
if [ "$check_n" -ge 200 ]; then pass "the $arch agent buffered $n events (status --json)"; else
	fail "the $arch agent buffered ${n:-no} events in 60 s:"; tail -20 "$T/agent.log" >&2; fi
kill -TERM $agent_pid
wait $agent_pid; rc=$?
agent_pid=
if [ $rc -eq 0 ] && grep -q 'agent: stopped:' "$T/agent.log"; then
	pass "SIGTERM: the $arch agent stopped cleanly ($(grep -m1 -o 'agent: stopped:.*' "$T/agent.log" | cut -c1-70))"
else
	fail "the $arch agent exited $rc on SIGTERM:"; tail -20 "$T/agent.log" >&2
fi
X status -c "$T/agent.conf" --json >"$T/status.amd64" 2>&1
A status -c "$T/agent.conf" --json >"$T/status.$arch" 2>&1
same "status --json on the $arch agent's buffer, read by amd64 and by $arch" "$T/status.amd64" "$T/status.$arch"
X check-config -c "$T/agent.conf" >"$T/cc.amd64" 2>&1
A check-config -c "$T/agent.conf" >"$T/cc.$arch" 2>&1
same "check-config (the effective settings)" "$T/cc.amd64" "$T/cc.$arch"
echo "agent: $((SECONDS - start)) s"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
