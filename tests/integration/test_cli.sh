#!/bin/bash
# The command line's contract (SPEC §1): exit statuses, help, version, and
# one-line errors naming the file and line.
. "$(dirname "$0")/lib.sh"
# The sanitized build: the run, reload and shutdown paths must be ASan/LSan-clean.
FG=${FIELDGATE_ASAN:-$FG}

"$FG" >/dev/null 2>&1; expect "no command exits 2" $? 2
"$FG" frobnicate 2>"$T/err"; expect "unknown command exits 2" $? 2
grep -q "unknown command 'frobnicate'" "$T/err" || fail "unknown command message: $(cat "$T/err")"
"$FG" help >"$T/out"; expect "help exits 0" $? 0
for c in run check-config status simulate score train eval replay version; do
	grep -q "^  $c " "$T/out" || fail "help does not list $c"
	"$FG" $c --help >/dev/null; expect "$c --help exits 0" $? 0
done
"$FG" version >"$T/out"; expect "version exits 0" $? 0
grep -q '^fieldgate [0-9]' "$T/out" && grep -q '^SQLite 3' "$T/out" && grep -q '^cJSON 1' "$T/out" \
	|| fail "version output: $(cat "$T/out")"

"$FG" run 2>/dev/null; expect "run without -c exits 2" $? 2
"$FG" run -c "$T/nope.conf" 2>"$T/err"; expect "run with a missing config exits 2" $? 2
grep -q "$T/nope.conf: cannot open" "$T/err" || fail "missing config message: $(cat "$T/err")"

write_config "$T/site.conf"
"$FG" check-config -c "$T/site.conf" >"$T/out" 2>"$T/err"; expect "check-config on a good config exits 0" $? 0
grep -q '^\[buffer\]' "$T/out" && grep -q "gateway_id *= *gw-test" "$T/out" \
	|| fail "check-config prints the effective settings: $(head -5 "$T/out")"

printf '[agent]\nsite = test\n\n[kafka]\nbrokers =\n' >"$T/bad.conf"
"$FG" check-config -c "$T/bad.conf" 2>"$T/err"; expect "check-config on a bad config exits 2" $? 2
grep -q "^$T/bad.conf:5: \[kafka\] brokers: empty value" "$T/err" || fail "bad config message: $(cat "$T/err")"
"$FG" run -c "$T/bad.conf" 2>/dev/null; expect "run on a bad config exits 2" $? 2

# A config whose models are broken is refused with the model file named.
mkdir -p "$T/models"; cp "$top"/models/default/*.json "$T/models/"
echo '{"format": "fieldgate-model", ' >"$T/models/anomaly_detector.json"
write_config "$T/m.conf"; sed -i "s|^dir = .*|dir = $T/models|" "$T/m.conf"
"$FG" check-config -c "$T/m.conf" >/dev/null 2>"$T/err"; expect "check-config with a broken model exits 2" $? 2
grep -q "anomaly_detector.json" "$T/err" || fail "broken model message: $(cat "$T/err")"
"$FG" run -c "$T/m.conf" 2>"$T/err"; expect "run with a broken model exits 1" $? 1
grep -q "anomaly_detector.json" "$T/err" || fail "run broken model message: $(cat "$T/err")"

"$FG" status -c "$T/site.conf" 2>"$T/err"; expect "status before any run exits 1" $? 1
grep -q "no buffer yet" "$T/err" || fail "status message: $(cat "$T/err")"
"$FG" replay -c "$T/site.conf" 2>/dev/null; expect "replay (not in this version) exits 2" $? 2
finish
