#!/bin/bash
# Issue 17, bad input as a new user gives it, through the real binary:
# `score` refuses a reading with \u0000 in a string (it was cut short: two
# sensors merged) or a key given twice (the first silently won), and says
# "nested too deep" rather than "syntax error"; check-config refuses a
# data_dir that is a file or that the agent's user cannot write (file:line
# and the cause), and `run` says the same instead of SQLite's "unable to
# open database file"; `replay --sink` names what is enabled; a model file
# beyond the caps is refused by `models check`, check-config and `run`
# with the cap named. The MQTT path of the reading checks is test_mqtt's
# payload corpus (tests/data/payloads/nul_in_string-*, duplicate_key-*).
. "$(dirname "$0")/lib.sh"
# The sanitized build: these are error paths.
FG=${FIELDGATE_ASAN:-$FG}
M=$top/models/default

# ---- readings: score ------------------------------------------------------
score() { printf '%s\n' "$1" | "$FG" score --models "$M" >"$T/out" 2>"$T/err"; }
# score_refuses DESC READING REASON TEXT: exit 1, no event, one stderr line.
score_refuses() {
	score "$2"; local rc=$?
	if [ $rc -eq 1 ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
		grep -qF "rejected ($3): $4" "$T/err"; then
		pass "score refuses $1: $(cat "$T/err")"
	else
		fail "score $1: exit $rc, out $(head -c 200 "$T/out"), err $(cat "$T/err")"
	fi
}
# The issue's repro.
score_refuses "\\u0000 in sensor_id" '{"sensor_id":"s\u0000x","temperature":20,"humidity":50}' \
	nul_in_string 'sensor_id: string contains \u0000 (a NUL character) at byte 15'
score_refuses "\\u0000 in location" '{"sensor_id":"s","temperature":20,"humidity":50,"location":"a\u0000b"}' \
	nul_in_string 'location: string contains \u0000'
score_refuses "\\u0000 in a key" '{"sensor_id":"s","temp\u0000":1,"temperature":20,"humidity":50}' \
	nul_in_string 'key "temp\u0000": contains \u0000'
score_refuses "\\u0000 in an ignored member" '{"sensor_id":"s","temperature":20,"humidity":50,"fw":["\u0000"]}' \
	nul_in_string 'fw: a string nested in it contains \u0000'
score_refuses "a key given twice" '{"sensor_id":"s","temperature":20,"humidity":50,"temperature":"x"}' \
	duplicate_key 'temperature: duplicate key'
score_refuses "nesting past 1000 levels" "$(printf '%*s' 1001 '' | tr ' ' '[')" \
	not_json 'not JSON: nested deeper than 1000 levels at byte 1000'
# An escaped backslash then "u0000" is text, kept whole.
score '{"sensor_id":"s\\u0000x","temperature":20,"humidity":50}'
expect "score keeps \"s\\\\u0000x\" whole (exit)" $? 0
grep -qF '"sensor_id":"s\\u0000x"' "$T/out" || fail "the escaped backslash: $(cat "$T/out" "$T/err")"
# Two sensors stay two.
printf '%s\n' '{"sensor_id":"s","temperature":20,"humidity":50}' \
	'{"sensor_id":"s\u0000x","temperature":21,"humidity":50}' |
	"$FG" score --models "$M" >"$T/out" 2>"$T/err"
expect "score of s and s\\u0000x: one event, one rejection" "$?:$(wc -l <"$T/out"):$(wc -l <"$T/err")" "1:1:1"

# ---- data_dir ---------------------------------------------------------------
chmod 755 "$T" # nobody must reach the directories below
write_config "$T/base.conf"
# with_data_dir DIR: $T/dd.conf with data_dir = DIR (line 4).
with_data_dir() { sed "s|^data_dir = .*|data_dir = $1|" "$T/base.conf" >"$T/dd.conf"; chmod 644 "$T/dd.conf"; }
expect "data_dir is line 4 of the config" "$(grep -n '^data_dir' "$T/base.conf" | cut -d: -f1)" 4
# refuses DESC EXPECTED-LINE CMD...: exit 2 (check-config) or 1 (run), the line.
cc_refuses() {
	local desc=$1 want=$2; shift 2
	"$@" check-config -c "$T/dd.conf" >/dev/null 2>"$T/err"; local rc=$?
	if [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$want" "$T/err"; then
		pass "check-config refuses $desc: $(cat "$T/err")"
	else
		fail "check-config $desc: exit $rc, $(cat "$T/err")"
	fi
}
run_refuses() {
	local desc=$1 want=$2; shift 2
	timeout 20 "$@" run -c "$T/dd.conf" >/dev/null 2>"$T/err"; local rc=$?
	# Exit 2, a configuration error: systemd does not restart it in a loop
	# (RestartPreventExitStatus=2 in fieldgate@.service).
	if [ $rc -eq 2 ] && grep -qF -- "$want" "$T/err" && ! grep -q "unable to open database file" "$T/err"; then
		pass "run refuses $desc: $(grep -F -- "$want" "$T/err")"
	else
		fail "run $desc: exit $rc, $(cat "$T/err")"
	fi
}
: >"$T/afile"
with_data_dir "$T/afile"
cc_refuses "a data_dir that is a file" \
	"$T/dd.conf:4: [agent] data_dir: $T/afile is a file, not a directory (set [agent] data_dir to a directory, or move it away)" "$FG"
run_refuses "a data_dir that is a file" "error agent: data_dir: $T/afile is a file, not a directory" "$FG"
with_data_dir "$T/afile/sub"
cc_refuses "a data_dir below a file" "$T/dd.conf:4: [agent] data_dir: $T/afile/sub: $T/afile is a file, not a directory" "$FG"
run_refuses "a data_dir below a file" "data_dir: $T/afile/sub: $T/afile is a file, not a directory" "$FG"

# Not writable by the user the agent runs as: root may write anywhere, so
# as nobody (setpriv), and as root for nobody (--user: what check-config
# does for the service user when run as root).
nobody=(env FIELDGATE_SERVICE_USER= setpriv --reuid=nobody --regid=nogroup --clear-groups)
mkdir -m 755 "$T/rootdir"
with_data_dir "$T/rootdir"
nw="$T/dd.conf:4: [agent] data_dir: $T/rootdir is not writable by user nobody (uid $(id -u nobody)): Permission denied"
cc_refuses "a data_dir nobody cannot write, run as nobody" "$nw" "${nobody[@]}" "$FG"
"$FG" check-config -c "$T/dd.conf" --user nobody >/dev/null 2>"$T/err"
expect "check-config --user nobody, as root: exit 2, one line" "$?:$(wc -l <"$T/err")" "2:1"
grep -qF "$nw (give it to that user: chown nobody $T/rootdir, or set [agent] data_dir to a directory it can write)" "$T/err" \
	|| fail "check-config --user nobody: $(cat "$T/err")"
run_refuses "a data_dir it cannot write, as nobody" \
	"data_dir: $T/rootdir is not writable by user nobody (uid $(id -u nobody)): Permission denied" "${nobody[@]}" "$FG"
"$FG" check-config -c "$T/dd.conf" >/dev/null 2>"$T/err"
expect "the same data_dir passes for root (FIELDGATE_SERVICE_USER=root, as lib.sh sets it)" $? 0
"$FG" check-config -c "$T/dd.conf" --user nosuchuser-17 >/dev/null 2>"$T/err"
expect "check-config --user with no such user exits 2" $? 2
grep -q "no user 'nosuchuser-17'" "$T/err" || fail "no such user: $(cat "$T/err")"
# Its own directory, but a buffer.db left by root.
mkdir -m 755 "$T/nobodys"; chown nobody:nogroup "$T/nobodys"
with_data_dir "$T/nobodys"
"${nobody[@]}" "$FG" check-config -c "$T/dd.conf" >/dev/null 2>"$T/err"
expect "nobody's own data_dir passes as nobody" $? 0
: >"$T/nobodys/buffer.db"
cc_refuses "a buffer.db nobody cannot write" \
	"$T/dd.conf:4: [agent] data_dir: $T/nobodys/buffer.db is not writable by user nobody (uid $(id -u nobody)): Permission denied (another user, root perhaps, created it: chown nobody $T/nobodys/buffer.db*)" \
	"${nobody[@]}" "$FG"
rm -f "$T/nobodys/buffer.db"
# Missing: run creates it, so its nearest existing parent must be writable.
with_data_dir "$T/nobodys/new/deeper"
"${nobody[@]}" "$FG" check-config -c "$T/dd.conf" >/dev/null 2>"$T/err"
expect "a data_dir nobody can create passes" $? 0
with_data_dir "$T/rootdir/new"
cc_refuses "a data_dir nobody cannot create" \
	"$T/dd.conf:4: [agent] data_dir: $T/rootdir/new does not exist, and user nobody (uid $(id -u nobody)) cannot create it in $T/rootdir: Permission denied" \
	"${nobody[@]}" "$FG"
# The default data_dir (/var/lib/fieldgate/SITE) is systemd's StateDirectory=:
# not there yet is fine whoever checks.
grep -v '^data_dir' "$T/base.conf" | sed 's/^site = test/site = issue17-absent/' >"$T/dd.conf"; chmod 644 "$T/dd.conf"
if [ -e /var/lib/fieldgate/issue17-absent ]; then
	echo "info: /var/lib/fieldgate/issue17-absent exists: default data_dir case skipped"
else
	"${nobody[@]}" "$FG" check-config -c "$T/dd.conf" >/dev/null 2>"$T/err"
	expect "the default data_dir, not created yet, passes" $? 0
fi

# ---- replay --sink ------------------------------------------------------------
write_config "$T/none.conf"
"$FG" replay -c "$T/none.conf" --sink foo >/dev/null 2>"$T/err"
expect "replay --sink foo, no sink enabled: exit 2" $? 2
expect "replay --sink foo, no sink enabled: the message" "$(cat "$T/err")" \
	"fieldgate replay: --sink foo: unknown sink, and none is enabled in $T/none.conf (set [kafka] or [elasticsearch] enabled = true)"
"$FG" replay -c "$T/none.conf" --sink kafka >/dev/null 2>"$T/err"
expect "replay --sink kafka, not enabled: the message" "$(cat "$T/err")" \
	"fieldgate replay: --sink kafka: not enabled in $T/none.conf, nor is any other sink (set [kafka] enabled = true)"
write_config "$T/es.conf" "[elasticsearch]" "enabled = true" "url = http://127.0.0.1:9"
"$FG" replay -c "$T/es.conf" --sink foo >/dev/null 2>"$T/err"
expect "replay --sink foo with elasticsearch enabled: the message" "$(cat "$T/err")" \
	"fieldgate replay: --sink foo: unknown sink (expected elasticsearch, the sink enabled in $T/es.conf)"
"$FG" replay -c "$T/es.conf" --sink kafka >/dev/null 2>"$T/err"
expect "replay --sink kafka with elasticsearch enabled: the message" "$(cat "$T/err")" \
	"fieldgate replay: --sink kafka: not enabled in $T/es.conf (set [kafka] enabled = true, or replay to elasticsearch)"

# ---- model files beyond the caps -----------------------------------------------
mkdir -p "$T/big" "$T/many"
cp "$M"/*.json "$T/big/"; cp "$M"/*.json "$T/many/"
# 32 MiB + 1 byte: refused by its size, unread (spaces after the JSON).
truncate -s $((32 * 1024 * 1024 + 1)) "$T/big/status_predictor.json"
"$FG" models check "$T/big" >"$T/out" 2>&1
expect "models check of a model file over 32 MiB exits 2" $? 2
grep -qF "$T/big/status_predictor.json: 33554433 bytes (a model file has at most 33554432, 32 MiB)" "$T/out" \
	|| fail "models check, too big: $(cat "$T/out")"
# 262,145 nodes: one past the node cap (a GBT: one caterpillar tree, one leaf).
/usr/bin/python3 - "$T/many/humidity_regressor.json" <<'PY'
import json, sys
spine = 131071
nodes = []
for i in range(spine):
    nodes.append({"feature": 0, "threshold": i, "left": 2 * i + 1, "right": 2 * i + 2})
    nodes.append({"value": 0.5})
nodes.append({"value": -1})
m = {"format": "fieldgate-model", "format_version": 1, "kind": "gbt_regressor",
     "name": "humidity_regressor", "version": 1, "features": ["temperature"],
     "hyperparameters": {}, "training": {"rows": 0}, "init": 50,
     "tree_weights": [1, 1, 1], "trees": [{"nodes": nodes}, {"nodes": [{"value": 1}]},
                                          {"nodes": [{"value": 1}]}]}
json.dump(m, open(sys.argv[1], "w"))
PY
"$FG" models check "$T/many" >"$T/out" 2>&1
expect "models check of a model with 262,145 nodes exits 2" $? 2
grep -qF "$T/many/humidity_regressor.json: \$.trees: 262145 nodes in all trees (at most 262144: fewer trees or less depth)" "$T/out" \
	|| fail "models check, too many nodes: $(cat "$T/out")"
for d in big many; do
	write_config "$T/$d.conf"; sed -i "s|^dir = .*|dir = $T/$d|" "$T/$d.conf"
	"$FG" check-config -c "$T/$d.conf" >/dev/null 2>"$T/err"
	expect "check-config with the $d model exits 2" $? 2
	grep -q "a model file has at most 33554432\|at most 262144: fewer trees" "$T/err" || fail "check-config $d: $(cat "$T/err")"
	timeout 20 "$FG" run -c "$T/$d.conf" >/dev/null 2>"$T/err"
	expect "run with the $d model exits 1" $? 1
	grep -q "a model file has at most 33554432\|at most 262144: fewer trees" "$T/err" || fail "run $d: $(cat "$T/err")"
done
finish
