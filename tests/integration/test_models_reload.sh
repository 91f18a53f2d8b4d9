#!/bin/bash
# Hot reload under load (issue 12 point 3): a QoS 1 stream at 5,000
# readings/s while the model set is replaced 50 times, 10 of them with a
# broken, partial or incompatible set, each followed by SIGHUP. Checks:
# nothing lost (every published reading is exactly one event), each broken
# set refused with one line naming its file while the set before it keeps
# serving, and every event scored by one whole set (its three models carry
# the same version) that was live at the time (versions never go back in
# seq order, and no refused set ever scored). Then [models] watch: a set
# swapped in without a signal is loaded, and one copied into place file by
# file is refused until its seal matches.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt_lib.sh"

files=(status_predictor.json anomaly_detector.json humidity_regressor.json)

# make_set K: $T/sets/K, the shipped models with every version = K, sealed.
make_set() {
	local d=$T/sets/$1
	mkdir -p "$d" && cp "$top"/models/default/*.json "$d"/ &&
		sed -i "s/^  \"version\": 1,\$/  \"version\": $1,/" "$d"/*.json &&
		"$FG" models seal "$d" >/dev/null
}

# make_broken K KIND: a set of version K that must be refused, and the file
# whose name the refusal must carry.
make_broken() {
	local d=$T/sets/$1
	make_set "$1"
	case $2 in
	truncated) head -c 300 "$top/models/default/status_predictor.json" >"$d/status_predictor.json"
		"$FG" models seal "$d" >/dev/null; echo status_predictor.json ;;
	nan) sed -i '0,/"threshold":[-0-9.e]*/s//"threshold":NaN/' "$d/humidity_regressor.json"
		"$FG" models seal "$d" >/dev/null; echo humidity_regressor.json ;;
	kind) cp "$d/humidity_regressor.json" "$d/anomaly_detector.json"
		"$FG" models seal "$d" >/dev/null; echo anomaly_detector.json ;;
	feature) sed -i 's/"temp_std_10"/"temp_std_99"/' "$d/anomaly_detector.json"
		"$FG" models seal "$d" >/dev/null; echo anomaly_detector.json ;;
	missing) rm "$d/humidity_regressor.json"; echo humidity_regressor.json ;;
	half) # copied over file by file: one file is still the old one
		cp "$top/models/default/anomaly_detector.json" "$d/"; echo anomaly_detector.json ;;
	esac
}

# install_set K: point $T/live at set K atomically (a symlink renamed over).
install_set() { ln -sfn "$T/sets/$1" "$T/live.tmp" && mv -T "$T/live.tmp" "$T/live"; }

make_set 1 && install_set 1 || fail "cannot build the first set"
start_broker || mqtt_finish
write_mqtt_config "$T/site.conf"
sed -i "s|^dir = .*|dir = $T/live|" "$T/site.conf"
start_agent "$T/site.conf" "$T/agent.log"
wait_connected "$T/site.conf" 15 || { tail -5 "$T/agent.log"; mqtt_finish; }

# 100 sensors x 50 Hz = 5,000 readings/s for 20 s (the reloads take ~14 s).
N=100000
opts=(--sensors 100 --rate 50 --count $N --seed 5 --start 2026-04-01T00:00:00Z)
sim_file "$T/sim.jsonl" "${opts[@]}"
sim_publish_bg "$T/pub.log" --topic 'sensors/{sensor_id}/reading' --qos 1 "${opts[@]}"

# 50 reloads, one every 0.25 s: versions 2..41 good, 10 broken ones among
# them (versions 1001..1010), each kind of breakage at least once.
kinds=(truncated nan kind feature missing half truncated nan kind half)
good=1 bad=0
declare -A broken_file=()
for i in $(seq 1 50); do
	if [ $((i % 5)) -eq 3 ] && [ $bad -lt 10 ]; then
		v=$((1001 + bad)); broken_file[$v]=$(make_broken $v "${kinds[$bad]}"); bad=$((bad + 1))
	else
		good=$((good + 1)); v=$good; make_set $v
	fi
	install_set $v
	kill -HUP $agent_pid
	sleep 0.25
done
expect "50 reloads sent: 40 good sets, 10 broken" "$good/$bad" 41/10

wait $pub; rc=$?
expect "simulate --mqtt exits 0" $rc 0
[ $rc -eq 0 ] || cat "$T/pub.log" >&2
wait_events $N 60
sleep 1
expect "exactly $N events: none lost, none twice" "$(count_events)" $N
compare_buffer "$T/sim.jsonl" || fail "the buffer differs from the published readings"
expect "nothing quarantined" "$(sql 'SELECT count(*) FROM quarantine')" 0
expect "40 reloads loaded" "$(grep -c 'models: reloaded: ' "$T/agent.log")" 40
expect "10 reloads refused" "$(grep -c 'models: reload failed, keeping the current models: ' "$T/agent.log")" 10
for v in "${!broken_file[@]}"; do
	grep -q "reload failed, keeping the current models: $T/live/${broken_file[$v]}: " "$T/agent.log" ||
	grep -q "reload failed, keeping the current models: $T/live: .*${broken_file[$v]}" "$T/agent.log" ||
		fail "no refusal names ${broken_file[$v]} (set $v)"
done

# Every event: one whole set, live when it scored (versions never go back),
# never a refused one. The last set serves at the end.
sqlite3 -batch -noheader "$T/data/buffer.db" \
	"SELECT json_extract(data, '\$.models.status') || ' ' || json_extract(data, '\$.models.anomaly') \
	 || ' ' || json_extract(data, '\$.models.humidity') FROM events ORDER BY seq" >"$T/models.txt"
$PY - "$T/models.txt" <<'PY' || fail "events scored by a mix of sets, an old set after a newer one, or a refused set"
import sys
prev, seen, bad = 0, set(), 0
for n, line in enumerate(open(sys.argv[1]), 1):
    v = {int(m.split("@")[1]) for m in line.split()}
    if len(v) != 1 or min(v) > 1000 or min(v) < prev:
        bad += 1
        if bad <= 5:
            print("event %d: %s (previous version %d)" % (n, line.strip(), prev))
    else:
        prev = v.pop()
        seen.add(prev)
print("%d sets scored events, the last version %d; %d bad events" % (len(seen), prev, bad))
sys.exit(1 if bad or prev != 41 or len(seen) < 20 else 0)
PY
"$FG" status -c "$T/site.conf" --json >"$T/status.json"
$PY - "$T/status.json" <<'PY' || fail "status after the reloads: $(cat "$T/status.json")"
import json, sys
m = json.load(open(sys.argv[1]))["models"]
assert m["status"] == "status_predictor@41" and m["reloads"] == 40 and m["reloads_refused"] == 10, m
PY
kill -TERM $agent_pid; wait $agent_pid; expect "SIGTERM exits 0" $? 0

# [models] watch: no signal needed.
echo "watch = true" >"$T/watch.ini"
sed -i "/^dir = /r $T/watch.ini" "$T/site.conf"
start_agent "$T/site.conf" "$T/agent2.log"
wait_connected "$T/site.conf" 15 || fail "agent with watch = true did not connect"
make_set 50 && install_set 50
wait_for "the watch loads set 50" 10 grep -q 'models: reloaded: status_predictor@50, .*changed' "$T/agent2.log"
# A set copied into the live directory file by file: the first file alone
# does not match the seal; once all are in place it loads.
make_set 51
cp "$T/sets/51/SHA256SUMS" "$T/sets/50/SHA256SUMS"
wait_for "the half-copied set is refused" 10 grep -q 'reload failed, keeping the current models: .*does not match SHA256SUMS' "$T/agent2.log"
for f in "${files[@]}"; do cp "$T/sets/51/$f" "$T/sets/50/$f"; done
wait_for "the completed set loads" 10 grep -q 'models: reloaded: status_predictor@51, ' "$T/agent2.log"
mqtt_pub -t sensors/s1/reading -m '{"sensor_id":"s1","temperature":20,"humidity":50}'
wait_for "an event scored by set 51" 10 has_events 1 "json_extract(data, '\$.models.anomaly') = 'anomaly_detector@51'"
kill -TERM $agent_pid; wait $agent_pid; expect "SIGTERM exits 0" $? 0
mqtt_finish
