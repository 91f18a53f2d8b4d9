#!/bin/bash
# A fleet (issue 14): 8 agents with their own gateway_id (gw-1..gw-8), data
# dir and simulator forward at once into one 3-broker Kafka mock cluster and
# one ES stand-in; a consumer group of 3 independent kafka-python processes
# (tests/peers/fleet_consumer.py) reads the topic. Mid-run one broker is
# down for 10 s, then one gateway is killed with kill -9 and restarted.
# Checks:
#  - every event of every gateway (seqs 1..N of each) reaches Kafka, and
#    exactly one ES document per event (_ids = the expected set, count = sum);
#  - per-(gateway_id, sensor_id) order within each partition (kafka_check.py's
#    rule: a new event_id never arrives after a higher seq of its stream);
#    duplicates are allowed (at-least-once), counted and reported;
#  - the 6 partitions hold within 20 % of the mean each;
#  - the group: 3 members in one generation, the 6 partitions divided
#    between them (2 each, none assigned twice, none read by two members),
#    together every offset of every partition, offsets committed to the end;
#  - the broker outage is felt (sampled every 0.5 s, every gateway has
#    events that wait 5 s or more for Kafka) and loses nothing;
#  - kill -9 of gw-8 (right after a burst reached its buffer, so it dies
#    with events Kafka and ES have not acknowledged): none of the 7 others
#    has an event waiting for Kafka longer than 3 s, before or after the
#    kill, and each keeps delivering; the restarted gw-8 kept its buffer
#    (seqs continue, contiguous) and delivers everything.
#
# Keys and balance. The simulator names its sensors sensor-000.. at every
# gateway and the Kafka key is sensor_id (SPEC §5), so the 8 gateways share
# their keys: sensor-042 of every gateway lands in the same partition
# (checked: no sensor_id in two partitions), and per-sensor order is per
# (gateway_id, sensor_id) inside that partition. A partition's load is then
# fixed by which keys librdkafka's default partitioner (consistent_random:
# CRC32 of the key modulo the partition count) sends to it, times 8 gateways
# that each send every sensor equally often (round robin): the balance is a
# deterministic property of the key set, not of chance or timing. With 6
# partitions (2 per consumer, 2 led by each broker), few keys split badly:
# sensor-000..059 put 8..12 keys in a partition (20 % off), while from ~370
# sensors on every partition stays within ~13 % of the mean; 400 sensors
# split 62/63/73/74/65/63 (11 % at most), so the 20 % check has margin and
# would catch a partitioner that ignores the key or piles keys on a few
# partitions. The rate: 400 sensors at 0.25 Hz, 100 readings/s per gateway,
# 800/s for the fleet, modest for 8 agents on 2 cores.
#
# The consumer group. librdkafka 2.0.2's mock does coordinate a group for
# kafka-python 2.0.2 (it negotiates api_version (2, 3, 0): FindCoordinator
# v0, JoinGroup v2, SyncGroup v1, Heartbeat v1, OffsetCommit v2, OffsetFetch
# v1), but only a group that forms in one go: members that join within the
# mock's 3 s initial rebalance delay get one generation and a range
# assignment; a member joining later makes it rebalance and kafka-python
# fails on that (SyncGroup answered REBALANCE_IN_PROGRESS, then
# INVALID_REQUEST, which it raises as fatal; FIXMEs in rdkafka_mock_cgrp.c).
# So the members bootstrap first and join together on a go file, and the
# test checks there was exactly one assignment per member. For the same
# reason the broker taken down is one that leads partitions but is not the
# group's coordinator (losing the coordinator makes the members rejoin).
# The partition leaders are set at the start: partition p on broker
# p % 3 + 1. Wall time: about 75 s on the 2-core VM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
. "$(dirname "$0")/es_lib.sh"
PY=/usr/bin/python3
FLEET=$top/tests/peers/fleet_consumer.py
GWS=8 PARTS=6 SENSORS=400 RATE=0.25 PER_S=100
TOPIC=fleet-scored IDX=fleet-scored
CONSUMERS=(c1 c2 c3)
t_start=$SECONDS

start_kafka --brokers 3 --topic $TOPIC:$PARTS || finish
for ((p = 0; p < PARTS; p++)); do
	kafka_cmd leader $TOPIC $p $((p % 3 + 1)) || fail "mock: leader $TOPIC $p"
done
start_es || finish

# --- the consumer group ------------------------------------------------------
G=$T/group
mkdir -p "$G"
for c in "${CONSUMERS[@]}"; do
	$PY "$FLEET" consume --bootstrap "$KAFKA_BOOTSTRAP" --topic $TOPIC --group fleet \
		--name $c --dir "$G" --go-file "$G/go" --stop-file "$G/stop" --close-file "$G/close" --timeout 300 2>"$G/$c.stderr" &
	pids+=($!); eval "pid_$c=$!"
done
# all_have TEST EXT: every member's file $G/NAME.EXT passes test -TEST.
all_have() { local c; for c in "${CONSUMERS[@]}"; do test "-$1" "$G/$c.$2" || return 1; done; }
wait_for "the 3 consumers to bootstrap" 20 all_have e ready || finish
touch "$G/go"
wait_for "the 3 consumers to get their partitions" 20 all_have s assign || finish
# assign_field NAME KEY: from the member's (first) assignment.
assign_field() { $PY -c 'import json,sys; v=json.loads(open(sys.argv[1]).readline())[sys.argv[2]]; print(" ".join(map(str,v)) if isinstance(v,list) else v)' "$G/$1.assign" "$2"; }
for c in "${CONSUMERS[@]}"; do
	echo "consumer $c: partitions $(assign_field $c partitions), generation $(assign_field $c generation)"
done
coord=$(assign_field c1 coordinator); coord=${coord#coordinator-}
down=$coord
echo "the outage takes broker $down: the group's coordinator, leader of partitions $((down - 1)) and $((down + 2))"

# --- 8 gateways ------------------------------------------------------------
# gw_conf K: gateway gw-K, its own data dir and simulator seed.
gw_conf() {
	cat >"$T/gw-$1.conf" <<CONF
[agent]
gateway_id = gw-$1
site = fleet-$1
data_dir = $T/gw-$1
log_level = info
[source]
type = simulator
[simulator]
sensors = $SENSORS
rate = $RATE
seed = $1
[models]
dir = $top/models/default
[buffer]
path = buffer.db
commit_ms = 10
[http]
listen =
[kafka]
enabled = true
brokers = $KAFKA_BOOTSTRAP
topic = $TOPIC
[elasticsearch]
enabled = true
url = $ES_URL
index = $IDX
CONF
}
start_gw() {
	"$FG" run -c "$T/gw-$1.conf" 2>>"$T/gw-$1.log" &
	eval "gw_pid_$1=$!"; pids+=($!)
}
gw_pid() { eval "echo \$gw_pid_$1"; }
# gw_state K: "newest kafka_position es_position" of gateway K (0 when none yet).
gw_state() {
	sqlite3 -batch -noheader -separator ' ' -cmd '.timeout 2000' "file:$T/gw-$1/buffer.db?mode=ro" \
		"SELECT coalesce((SELECT max(seq) FROM events), 0), coalesce((SELECT seq FROM positions WHERE sink = 'kafka'), 0), coalesce((SELECT seq FROM positions WHERE sink = 'elasticsearch'), 0)" 2>/dev/null || echo "0 0 0"
}
# all_states: one line "K newest kafka es" per gateway.
all_states() { local k; for ((k = 1; k <= GWS; k++)); do echo "$k $(gw_state $k)"; done; }
# caught_up_since FILE: every gateway's Kafka and ES positions reached the
# newest event of FILE (an all_states snapshot).
caught_up_since() {
	local k n kp ep
	while read -r k n _ _; do
		read -r _ kp ep <<<"$(gw_state "$k")"
		[ "$kp" -ge "$n" ] && [ "$ep" -ge "$n" ] || return 1
	done <"$1"
}
forwarding() {
	local k n kp ep
	for ((k = 1; k <= GWS; k++)); do
		read -r n kp ep <<<"$(gw_state $k)"
		[ "$kp" -gt 0 ] && [ "$ep" -gt 0 ] || return 1
	done
}
for ((k = 1; k <= GWS; k++)); do mkdir -p "$T/gw-$k"; gw_conf $k; start_gw $k; done
wait_for "all 8 gateways to deliver to Kafka and ES" 30 forwarding || { tail -5 "$T"/gw-*.log >&2; finish; }
sleep "$(slow 4)"

# Delivery delay, sampled: every 0.5 s, in the background, each gateway's
# newest seq and Kafka position ($T/samples: "time K newest kafka es"). An
# event waits from the first sample where it is buffered to the first where
# the Kafka position covers it; `waits FROM TO` prints per gateway
# "K longest_wait_s delivered" over the samples taken between the two
# times ($EPOCHREALTIME values), 0.5 s granularity.
: >"$T/samples"
sampler() {
	while [ ! -e "$T/samples.stop" ]; do
		all_states | sed "s/^/$EPOCHREALTIME /" >>"$T/samples"
		sleep 0.5
	done
}
sampler & sampler_pid=$!; pids+=($sampler_pid)
waits() {
	$PY - "$T/samples" "$1" "$2" <<'PY'
import sys
f = lambda s: float(s.replace(",", "."))
t_from, t_to = f(sys.argv[2]), f(sys.argv[3])
rows = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 5:
        rows.setdefault(int(p[1]), []).append((f(p[0]), int(p[2]), int(p[3])))
for k, r in sorted(rows.items()):
    worst, first_kp, last_kp = 0.0, None, None
    for i, (t, n, kp) in enumerate(r):
        if not t_from <= t <= t_to:
            continue
        first_kp = kp if first_kp is None else first_kp
        last_kp = kp
        since = next((tj for tj, nj, _ in r[:i + 1] if nj > kp), t)
        worst = max(worst, t - since)
    print(k, "%.1f" % worst, (last_kp or 0) - (first_kp or 0))
PY
}

# --- one broker down for 10 s ----------------------------------------------
t_down=$EPOCHREALTIME
kafka_cmd down $down || fail "mock: down $down"
sleep 10
all_states >"$T/end-down"
kafka_cmd up $down || fail "mock: up $down"
up_at=$SECONDS t_up=$EPOCHREALTIME
wait_for "every gateway to catch up after the broker came back" 60 caught_up_since "$T/end-down"
echo "caught up $((SECONDS - up_at)) s after broker $down came back"
# Felt, and seen by the sampling: the events for the down broker's
# partitions wait, so each gateway's Kafka position stops short of them.
felt=0
while read -r k w _; do
	echo "gw-$k: Kafka backlog $(awk -v k=$k '$1 == k {print $2 - $3}' "$T/end-down") at the end of the outage, longest wait ${w} s"
	awk -v w="$w" 'BEGIN{exit !(w >= 5)}' && felt=$((felt + 1))
done < <(waits "$t_down" "$t_up")
expect "the outage held every gateway's events back (a wait of 5 s or more)" $felt $GWS

# --- kill -9 one gateway: the 7 others are unaffected ----------------------
# Each simulator emits its 400 readings as a burst every 4 s (a round of
# sensors at 0.25 Hz), so counts over a few seconds jump by 400s: the 7
# others are unaffected when none of their events waits for Kafka longer
# than MAX_WAIT s, in the 6 s before the kill and the 8 s after it, and each
# keeps delivering. gw-8 is killed right after a burst reached its buffer,
# so it usually dies with events not yet acknowledged.
MAX_WAIT=$(slow 3)
victim=$GWS
sleep 6
t_before=$EPOCHREALTIME
read -r n0 _ _ <<<"$(gw_state $victim)"
end=$((SECONDS + 6))
while [ $SECONDS -lt $end ]; do
	read -r n _ _ <<<"$(gw_state $victim)"
	[ "$n" -gt "$n0" ] && break
	sleep 0.01
done
kill -9 "$(gw_pid $victim)"; wait "$(gw_pid $victim)" 2>/dev/null
t_kill=$EPOCHREALTIME
read -r n_killed kp_killed ep_killed <<<"$(gw_state $victim)"
echo "gw-$victim killed with $n_killed events buffered, Kafka at $kp_killed, ES at $ep_killed"
sleep 8
t_after=$EPOCHREALTIME
read -r n_dead _ _ <<<"$(gw_state $victim)"
expect "gw-$victim produced nothing while killed" "$n_dead" "$n_killed"
waits "$t_before" "$t_kill" >"$T/waits-before"
unaffected=0
while read -r k wa da; do
	[ "$k" == "$victim" ] && continue
	wb=$(awk -v k=$k '$1 == k {print $2}' "$T/waits-before")
	echo "gw-$k: longest Kafka wait ${wb} s before the kill, ${wa} s in the 8 s after it ($da events delivered)"
	awk -v w="$wa" -v b="$wb" -v m="$MAX_WAIT" 'BEGIN{exit !(w <= m && b <= m)}' && [ "$da" -gt 0 ] &&
		unaffected=$((unaffected + 1))
done < <(waits "$t_kill" "$t_after")
expect "the 7 other gateways kept delivering (no wait over $MAX_WAIT s) after gw-$victim was killed" \
	$unaffected $((GWS - 1))
touch "$T/samples.stop"
start_gw $victim
sleep "$(slow 5)"

# --- stop: each agent flushes on SIGTERM -------------------------------------
for ((k = 1; k <= GWS; k++)); do kill -TERM "$(gw_pid $k)"; done
stopped=0
for ((k = 1; k <= GWS; k++)); do wait "$(gw_pid $k)" && stopped=$((stopped + 1)); done
expect "all 8 agents exit 0 on SIGTERM" $stopped $GWS
total=0 expect_list= flushed=0
for ((k = 1; k <= GWS; k++)); do
	read -r n kp ep <<<"$(gw_state $k)"
	[ "$kp" == "$n" ] && [ "$ep" == "$n" ] && flushed=$((flushed + 1)) ||
		echo "gw-$k: newest $n, kafka at $kp, elasticsearch at $ep" >&2
	total=$((total + n)); expect_list+=${expect_list:+,}gw-$k=$n
	dl=$(sqlite3 -batch "$T/gw-$k/buffer.db" 'SELECT count(*) FROM dead_letter')
	[ "$dl" == 0 ] || fail "gw-$k: $dl dead letters"
done
expect "every gateway's Kafka and ES positions reached its newest event" $flushed $GWS
echo "the fleet produced $total events ($expect_list)"
expect "gw-$victim kept its buffer through kill -9 (seqs 1..N contiguous, beyond the kill)" \
	"$(sqlite3 -batch "$T/gw-$victim/buffer.db" "SELECT min(seq) = 1 AND max(seq) = count(*) AND max(seq) > $n_killed FROM events")" 1

# --- what the group read ------------------------------------------------------
group_unique() { local c s=0 u; for c in "${CONSUMERS[@]}"; do read -r _ u <"$G/$c.progress" || u=0; s=$((s + u)); done; echo $s; }
group_has_all() { [ "$(group_unique)" -ge "$total" ]; }
wait_for "the consumer group to read all $total events" 30 group_has_all
sleep 1   # duplicates still in flight
touch "$G/stop"    # each commits and reports, and stays a member until "close"
wait_for "the 3 consumers to commit and report" 20 all_have s json
touch "$G/close"
for c in "${CONSUMERS[@]}"; do eval "wait \$pid_$c" || fail "consumer $c: $(cat "$G/$c.json" 2>/dev/null) $(tail -3 "$G/$c.stderr")"; done
$PY "$FLEET" merge --dir "$G" --names "$(IFS=,; echo "${CONSUMERS[*]}")" --partitions $PARTS \
	--expect "$expect_list" >"$T/merge.json" || fail "merge failed"
# m KEY: a field of the merged result (lists joined by spaces, dicts as JSON).
m() { $PY -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(" ".join(map(str,v)) if isinstance(v,list) else json.dumps(v,sort_keys=True) if isinstance(v,dict) else str(v).lower() if isinstance(v,bool) else v)' "$T/merge.json" "$1"; }
expect "no consumer error" "$(m errors)" ""
expect "one assignment per member (no rebalance)" "$(m assign_events)" '{"c1": 1, "c2": 1, "c3": 1}'
expect "the members share one generation" "$(m generations | wc -w)" 1
split=$($PY -c 'import json,sys; a=json.load(open(sys.argv[1]))["assignments"]; print(" ".join(str(len(a.get(c,[]))) for c in ("c1","c2","c3")))' "$T/merge.json")
expect "the 6 partitions divided between the 3 members" "$split" "2 2 2"
expect "no partition assigned to two members" "$(m overlap)" ""
expect "no partition left unassigned" "$(m unassigned)" ""
expect "no member read a partition it was not assigned" "$(m foreign_reads)" 0
expect "no partition read by two members" "$(m shared_partitions)" ""
expect "together the members read every offset of every partition" "$(m offsets_missing)" 0
expect "the group committed its offsets to the end" "$(m commit_lag)" 0
expect "every event of every gateway is in Kafka" "$(m missing)" \
	"$($PY -c 'import json,sys; print(json.dumps({kv.split("=")[0]: 0 for kv in sys.argv[1].split(",")}, sort_keys=True))' "$expect_list")"
[ "$(m missing_first)" == "" ] || echo "first missing: $(m missing_first)" >&2
expect "distinct events in Kafka = events produced" "$(m unique)" $total
expect "no unexpected events" "$(m extra)" 0
expect "per-(gateway, sensor) order within each partition" "$(m out_of_order)" 0
expect "keys = sensor_id and the event_id/gateway_id headers" "$(m keys_ok),$(m headers_ok)" true,true
expect "each sensor_id in one partition only (shared keys)" "$(m split_sensors)" 0
imb=$(m imbalance)
echo "messages per partition: $(m partition_messages); largest deviation from the mean $(awk -v x="$imb" 'BEGIN{printf "%.1f", x*100}') %"
awk -v x="$imb" 'BEGIN{exit !(x <= 0.20)}' && pass "partitions balanced within 20 % ($imb)" ||
	fail "partitions unbalanced: largest deviation $imb of the mean: $(m partition_messages)"
echo "Kafka duplicates (at-least-once, counted): $(m duplicates) of $(m messages) messages"

# --- Elasticsearch: exactly one document per event -----------------------------
expect "ES documents = events produced" "$(es_count $IDX)" $total
for ((k = 1; k <= GWS; k++)); do
	n=${expect_list#*gw-$k=}; n=${n%%,*}
	seq -f "gw-$k:%.0f" 1 "$n"
done | sort >"$T/want-ids"
es_ids $IDX | sort >"$T/es-ids"
expect "the ES _ids are exactly gw-K:1..N of each gateway" \
	"$(comm -3 "$T/want-ids" "$T/es-ids" | wc -l)" 0
echo "ES: $(es_counter duplicate_creates) retried creates answered 409 (already stored)"

stop_kafka || fail "the mock did not stop cleanly"
echo "fleet test: $((SECONDS - t_start)) s"
finish
