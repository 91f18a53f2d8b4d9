#!/bin/bash
# The Kafka test peer itself (tests/peers/kafka_mock.c, kafka_check.py and
# kafka_lib.sh), so that a Kafka forwarder test that fails points at the
# forwarder, not at its instruments: the mock starts 3 brokers with our
# topics and TCP_NODELAY on its sockets; events produced with kafka-python
# arrive once each, with key and headers, as seen by both kafka_check.py and
# kcat; the checker catches a wrong key, a missing header, a reordering, a
# duplicate and offsets the mock dropped (it keeps ~5 MB per partition);
# brokers taken down make a producer time out, brought up accept again;
# injected Produce errors reach a producer (MSG_SIZE_TOO_LARGE is permanent,
# NOT_LEADER_FOR_PARTITION is retried); bad commands are answered with
# "error:"; SIGTERM and EOF on stdin stop the mock with status 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kafka_lib.sh"

start_kafka --brokers 3 --topic events:4 --topic wrong:1 --topic big:1 --topic misc:2 || finish
expect "three brokers in the bootstrap list" "$(tr ',' '\n' <<<"$KAFKA_BOOTSTRAP" | grep -c '^127\.0\.0\.1:[0-9][0-9]*$')" 3

# 2,000 events, the checker reading while they are produced.
N=2000
kafka_check --topic events --expect $N --idle 10 --timeout 30 --kcat \
	--ready-file "$T/ready" --seqs-out "$T/seqs" >"$T/check.json" 2>"$T/check.err" &
checker=$!; pids+=($checker)
wait_for "kafka_check ready" 15 test -e "$T/ready"
py_produce_events events $N 20 1; expect "kafka-python producer: all $N acknowledged" $? 0
wait $checker; expect "kafka_check exits 0 for $N good events" $? 0
field() { /usr/bin/python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(json.dumps(v))' "$1" "$2" 2>/dev/null; }
expect "checker: unique" "$(field "$T/check.json" unique)" $N
expect "checker: messages" "$(field "$T/check.json" messages)" $N
expect "checker: duplicates" "$(field "$T/check.json" duplicates)" 0
expect "checker: headers_ok" "$(field "$T/check.json" headers_ok)" true
expect "checker: keys_ok" "$(field "$T/check.json" keys_ok)" true
expect "checker: out_of_order" "$(field "$T/check.json" out_of_order)" 0
expect "checker: max_seq" "$(field "$T/check.json" max_seq)" $N
expect "checker: stopped on --expect" "$(field "$T/check.json" stopped)" '"expect"'
expect "checker: kcat saw the same" "$(field "$T/check.json" kcat)" "{\"messages\": $N, \"unique\": $N}"
expect "--seqs-out: 1..$N" "$(head -1 "$T/seqs"),$(tail -1 "$T/seqs"),$(wc -l <"$T/seqs")" "1,$N,$N"
expect "kcat_count" "$(kcat_count events)" $N
expect "kcat_unique" "$(kcat_unique events)" $N
kafka_cmd nodelay
set -- $KAFKA_REPLY
[ "${2:-0}" -ge 3 ] && [ "${3:-1}" -eq 0 ] || fail "TCP_NODELAY not set on the mock's sockets: $KAFKA_REPLY"

# The checker must be able to fail: a wrong key, a missing header, a
# duplicate (not disorder) and a reordering (seq 5 after 6).
hdr() { printf '%s\t{"event_id":"gw:%d","gateway_id":"gw","seq":%d,"sensor_id":"%s"}\n' "$2" "$1" "$1" s1; }
{ hdr 5 s1; hdr 6 s1; hdr 6 s1; hdr 5 s1; } >"$T/dup.txt"
kcat_produce wrong "$T/dup.txt" -H event_id=x -H gateway_id=gw >/dev/null 2>&1
hdr 7 not-s1 >"$T/key.txt"
kcat_produce wrong "$T/key.txt" >/dev/null 2>&1
kafka_check --topic wrong --expect 3 --idle 5 --timeout 20 >"$T/wrong.json" 2>"$T/wrong.err"
expect "checker exits 1 on bad messages" $? 1
expect "wrong: messages" "$(field "$T/wrong.json" messages)" 5
expect "wrong: unique" "$(field "$T/wrong.json" unique)" 3
expect "wrong: a redelivered event is a duplicate" "$(field "$T/wrong.json" duplicates)" 2
expect "wrong: nothing out of order yet" "$(field "$T/wrong.json" out_of_order)" 0
expect "wrong: headers_ok" "$(field "$T/wrong.json" headers_ok)" false
expect "wrong: keys_ok" "$(field "$T/wrong.json" keys_ok)" false
expect "wrong: stopped on --expect" "$(field "$T/wrong.json" stopped)" '"expect"'
printf 's1\t{"event_id":"gw:4","gateway_id":"gw","seq":4,"sensor_id":"s1"}\n' >"$T/old.txt"
kcat_produce wrong "$T/old.txt" -H event_id=gw:4 -H gateway_id=gw >/dev/null 2>&1
kafka_check --topic wrong --expect 4 --idle 5 --timeout 20 >"$T/wrong2.json" 2>&1
expect "wrong: a new event older than one delivered is out of order" "$(field "$T/wrong2.json" out_of_order),$(field "$T/wrong2.json" out_of_order_sensors)" 1,1

# Past ~5 MB the mock drops a partition's oldest batches (produce still
# succeeds); a checker started afterwards reports the vanished offsets.
/usr/bin/python3 -c '
import json
for i in range(1, 12001):
    print("s1\t" + json.dumps({"event_id": "gw:%d" % i, "gateway_id": "gw", "seq": i,
                               "sensor_id": "s1", "pad": "x" * 500}))' >"$T/big.txt"
kcat_produce big "$T/big.txt" -H gateway_id=gw >/dev/null 2>"$T/big.err"
expect "12,000 x 560 B produced to one partition" $? 0
kafka_check --topic big --idle 2 --timeout 20 >"$T/big.json" 2>&1
expect "checker exits 1 when offsets vanished" $? 1
expect "big: stopped when idle" "$(field "$T/big.json" stopped)" '"idle"'
gaps=$(field "$T/big.json" offset_gaps)
[ "${gaps:-0}" -gt 0 ] 2>/dev/null || fail "the mock kept 6.7 MB in one partition, or the checker missed the gap: $(head -c 300 "$T/big.json")"
expect "messages + vanished offsets = produced" $(($(field "$T/big.json" messages) + ${gaps:-0})) 12000

# All brokers down: a producer times out (message.timeout.ms 1500) fast;
# up again: produce works.
printf 's1\t{"event_id":"gw:1","sensor_id":"s1"}\n' >"$T/one.txt"
kafka_cmd down all; expect "down all" $? 0
start=$SECONDS
kcat_produce misc "$T/one.txt" -X message.timeout.ms=1500 >/dev/null 2>"$T/down.err"
expect "brokers down: produce fails" $? 1
grep -q "Message timed out" "$T/down.err" || fail "brokers down: no 'Message timed out': $(tail -2 "$T/down.err")"
[ $((SECONDS - start)) -le 6 ] || fail "brokers down: the producer took $((SECONDS - start))s to give up"
kafka_cmd up all; expect "up all" $? 0
kcat_produce misc "$T/one.txt" -X message.timeout.ms=5000 >/dev/null 2>"$T/up.err"
expect "brokers up: produce works" $? 0
expect "brokers up: the message arrived" "$(kcat_count misc)" 1

# Injected Produce errors: a permanent one reaches the producer; retriable
# ones are retried by an idempotent producer and the message lands once.
kafka_cmd error produce MSG_SIZE_TOO_LARGE; expect "error produce MSG_SIZE_TOO_LARGE" $? 0
kcat_produce misc "$T/one.txt" -X message.timeout.ms=5000 >/dev/null 2>"$T/large.err"
expect "MSG_SIZE_TOO_LARGE: produce fails" $? 1
grep -q "Message size too large" "$T/large.err" || fail "MSG_SIZE_TOO_LARGE not reported: $(tail -2 "$T/large.err")"
kafka_cmd error produce NOT_LEADER_FOR_PARTITION,REQUEST_TIMED_OUT,6; expect "error produce (3 retriable)" $? 0
kcat_produce misc "$T/one.txt" -X message.timeout.ms=10000 -X enable.idempotence=true >/dev/null 2>"$T/retry.err"
expect "retriable errors: the idempotent producer gets through" $? 0
expect "misc holds 2 messages" "$(kcat_count misc)" 2
kafka_cmd error produce 10; kafka_cmd clear produce
kcat_produce misc "$T/one.txt" >/dev/null 2>&1; expect "clear produce: produce works" $? 0

# Commands: bad ones answered with "error:", good ones with "ok".
kafka_cmd down 4 2>/dev/null; expect "down 4 of 3 brokers refused" $? 1
expect "... with a reason" "${KAFKA_REPLY%%(*}" "error: no broker '4' "
kafka_cmd error produce NO_SUCH_ERROR 2>/dev/null; expect "unknown error name refused" $? 1
kafka_cmd frobnicate 2>/dev/null; expect "unknown command refused" $? 1
kafka_cmd topic events 2 2>/dev/null; expect "existing topic refused" $? 1
kafka_cmd topic later 3; expect "topic later 3" $? 0
kafka_cmd rtt 2 50; expect "rtt 2 50" $? 0
kafka_cmd leader events 0 3; expect "leader events 0 3" $? 0
kafka_cmd ping; expect "ping still answered" "$KAFKA_REPLY" ok

# Clean exits: SIGTERM; EOF on stdin; quit.
stop_kafka; expect "SIGTERM: exit 0" $? 0
stop_kafka; expect "stop_kafka twice" $? 0
timeout 10 "$KAFKA_MOCK" --brokers 1 --topic x </dev/null >"$T/eof.out" 2>&1
expect "EOF on stdin: exit 0" $? 0
grep -q '^BOOTSTRAP 127\.0\.0\.1:[0-9]*$' "$T/eof.out" || fail "one broker: no BOOTSTRAP line: $(cat "$T/eof.out")"
out=$(printf 'quit\nping\n' | timeout 10 "$KAFKA_MOCK" --brokers 2 2>"$T/quit.err"); rc=$?
expect "quit: exit 0, one answer" "$rc,$(sed -n 2,9p <<<"$out")" "0,ok"
timeout 10 "$KAFKA_MOCK" --brokers 0 </dev/null >/dev/null 2>"$T/usage.err"
expect "--brokers 0: usage error" $? 2
[ -s "$T/usage.err" ] || fail "--brokers 0: no message"
finish
