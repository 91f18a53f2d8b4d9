#!/bin/bash
# [http] listen (SPEC §6): GET /metrics in the Prometheus text format and
# GET /healthz as JSON, from the real agent with an MQTT source (mosquitto)
# and the Kafka sink (the mock cluster), so that a known input can be
# counted exactly once everything has settled:
#   - the exposition passes `promtool check metrics` (the parser and linter
#     Prometheus ships) and has the right content types;
#   - the counters reconcile: received = accepted + rejected, rejected by
#     reason = the bad-payload corpus, stored = accepted - duplicates, and
#     per sink (the buffer started empty) stored = delivered + dead-lettered
#     + missing + backlog; inference time is sampled on 1 reading in 64;
#   - a real Prometheus server scrapes the agent and its query API returns
#     the agent's own values;
#   - 404 for other paths, 405 (with Allow) for other methods, HEAD works;
#   - a port in use stops the start with exit 1 and one line naming the key;
#   - /healthz is 503 when the buffer cannot be written (a 1 MB tmpfs in a
#     private mount namespace; skipped where mounting is not allowed).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt_lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
# The sanitized build: the HTTP thread and the snapshot hand-over must be
# ASan/LSan-clean (tests/run.sh sets FIELDGATE_ASAN).
FG=${FIELDGATE_ASAN:-$FG}
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
CT_METRICS='text/plain; version=0.0.4; charset=utf-8'

# scrape PORT PATH OUT: GET into OUT; prints "CODE CONTENT-TYPE".
scrape() { curl -s -o "$3" -w '%{http_code} %{content_type}' "http://127.0.0.1:$1$2"; }
# val FILE 'name{labels}': one sample's value from an exposition ("" if absent).
val() {
	$PY - "$1" "$2" <<'PY'
import sys
want = sys.argv[2]
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    key, _, v = line.rstrip("\n").rpartition(" ")
    if key == want:
        print(int(float(v)) if float(v).is_integer() else v)
        break
PY
}
# jget FILE PYEXPR: evaluate PYEXPR over the JSON in FILE (as j).
jget() { $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2" 2>/dev/null; }

start_broker || mqtt_finish
start_kafka --brokers 1 --topic sensor-scored:2 || mqtt_finish
HP=$(free_port)
write_mqtt_config "$T/site.conf" "[kafka]" "enabled = true" "brokers = $KAFKA_BOOTSTRAP" \
	"topic = sensor-scored"
sed -i "s/^listen =.*/listen = 127.0.0.1:$HP/" "$T/site.conf"

# Before the agent: nothing listens.
port_open "$HP" && fail "port $HP taken before the agent started"
start_agent "$T/site.conf" "$T/agent.log"
mqtt_up() { scrape "$HP" /metrics "$T/m0.txt" >/dev/null && [ "$(val "$T/m0.txt" fieldgate_mqtt_connected)" == 1 ]; }
wait_for "/metrics showing the MQTT source connected" 20 mqtt_up || { tail -5 "$T/agent.log"; mqtt_finish; }
grep -q "http: serving /metrics and /healthz on 127.0.0.1:$HP" "$T/agent.log" ||
	fail "no start line for the HTTP server: $(grep http "$T/agent.log")"

# A port in use: exit 1 at start, one line that names the file, key and port.
sed "s#^data_dir = .*#data_dir = $T/data2#" "$T/site.conf" >"$T/site2.conf"
"$FG" run -c "$T/site2.conf" 2>"$T/busy.log"
expect "a second agent on the same port exits 1" $? 1
expect "one line on stderr for the port in use" "$(wc -l <"$T/busy.log")" 1
grep -q "site2.conf: \[http\] listen 127.0.0.1:$HP: port $HP is already in use" "$T/busy.log" ||
	fail "port-in-use message: $(cat "$T/busy.log")"

# Known input: N readings (QoS 1), the bad-payload corpus, one redelivery.
N=300
sim=(--sensors 10 --rate 1000 --count $N --seed 5 --start 2026-01-01T00:00:00Z)
sim_file "$T/readings.jsonl" "${sim[@]}"
sim_publish "$T/pub.log" --topic 'sensors/{sensor_id}/reading' --qos 1 "${sim[@]}" ||
	fail "simulate --mqtt: $(cat "$T/pub.log")"
nbad=0
for f in "$top"/tests/data/payloads/*; do
	mqtt_pub -t sensors/bad/reading -f "$f" || fail "mosquitto_pub -f $(basename "$f")"
	nbad=$((nbad + 1))
done
first=$(head -1 "$T/readings.jsonl")
first_id=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["sensor_id"])' "$first")
mqtt_pub -t "sensors/$first_id/reading" -m "$first" || fail "mosquitto_pub (redelivery)"
total=$((N + nbad + 1))

# Settled: everything received, committed, and acknowledged by Kafka.
settled() {
	scrape "$HP" /metrics "$T/m.txt" >/dev/null || return 1
	[ "$(val "$T/m.txt" fieldgate_readings_received_total)" == $total ] &&
		[ "$(val "$T/m.txt" fieldgate_sink_backlog_events'{sink="kafka"}')" == 0 ] &&
		[ "$(val "$T/m.txt" fieldgate_sink_inflight_events'{sink="kafka"}')" == 0 ] &&
		[ "$(val "$T/m.txt" fieldgate_buffer_last_seq)" == $N ]
}
wait_for "all $total readings counted and delivered to Kafka" 60 settled ||
	{ grep -E '^fieldgate_(readings|events|sink|buffer)' "$T/m.txt"; mqtt_finish; }
# One scrape, checked as a whole.
got=$(scrape "$HP" /metrics "$T/m.txt")
expect "GET /metrics: 200 and the text format's content type" "$got" "200 $CT_METRICS"
"$PROMTOOL" check metrics <"$T/m.txt" >"$T/promtool.out" 2>&1
rc=$?
expect "promtool check metrics: exit 0, nothing to say ($(head -3 "$T/promtool.out"))" \
	"$rc $(wc -c <"$T/promtool.out")" "0 0"
v() { val "$T/m.txt" "$1"; }
rcv=$(v fieldgate_readings_received_total)
acc=$(v fieldgate_readings_accepted_total)
rej=$(v fieldgate_readings_rejected_total)
dup=$(v fieldgate_events_duplicate_total)
stored=$(v fieldgate_events_stored_total)
expect "received = accepted + rejected" "$rcv" $((acc + rej))
expect "rejected = the corpus" "$rej" $nbad
expect "accepted = the readings and the redelivery" "$acc" $((N + 1))
expect "events scored = accepted" "$(v fieldgate_events_scored_total)" "$acc"
expect "one duplicate" "$dup" 1
expect "stored = accepted - duplicates" "$stored" $((acc - dup))
expect "quarantined = rejected" "$(v fieldgate_readings_quarantined_total)" "$rej"
# Drift: the simulated readings carry ground truth, so all three measures are
# there, each beside its training figure, and in a sane range.
for m in 'model="status",measure="accuracy"' 'model="anomaly",measure="accuracy"' \
	'model="humidity",measure="rmse"'; do
	now=$(v "fieldgate_model_drift{$m}"); tr=$(v "fieldgate_model_training_figure{$m}")
	awk -v a="$now" -v b="$tr" 'BEGIN {exit !(a != "" && b != "" && a > 0 && b > 0 && a / b > 0.5 && a / b < 2)}' \
		&& pass "drift $m: $now (trained $tr)" || fail "drift $m: '$now' beside trained '$tr'"
done
expect "quarantine records in the buffer = rejected" "$(v fieldgate_buffer_quarantine_records)" "$rej"
for reason in $(ls "$top"/tests/data/payloads | sed 's/-.*//' | sort -u); do
	expect "rejected_by_reason{$reason} = its corpus files" \
		"$(v "fieldgate_readings_rejected_by_reason_total{reason=\"$reason\"}")" \
		"$(ls "$top"/tests/data/payloads | grep -c "^$reason-")"
done
# The buffer started empty with this process, so its figures equal ours.
expect "buffer last seq = stored" "$(v fieldgate_buffer_last_seq)" "$stored"
expect "buffer events = stored (nothing dropped)" "$(v fieldgate_buffer_events)" "$stored"
expect "no drops" "$(v 'fieldgate_buffer_dropped_events_total{reason="undelivered"}')" 0
k() { v "$1{sink=\"kafka\"}"; }
expect "kafka: stored = delivered + dead-lettered + missing + backlog" \
	$(($(k fieldgate_sink_delivered_events_total) + $(k fieldgate_sink_dead_lettered_events_total) + \
	   $(k fieldgate_sink_missing_events_total) + $(k fieldgate_sink_backlog_events))) "$stored"
expect "kafka: delivered every stored event" "$(k fieldgate_sink_delivered_events_total)" "$stored"
expect "kafka: position = last seq" "$(k fieldgate_sink_position)" "$stored"
expect "kafka: up" "$(k fieldgate_sink_up)" 1
[ -n "$(k fieldgate_sink_delivery_latency_p99_seconds)" ] &&
	pass "kafka: delivery latency p99 present" || fail "no delivery latency for kafka"
# Inference time: the first reading and every 64th after it (one MQTT context).
for m in status anomaly humidity; do
	expect "inference samples for $m: 1 in 64 of $acc scored" \
		"$(v "fieldgate_model_inference_seconds_count{model=\"$m\"}")" $(((acc + 63) / 64))
done
expect "model info" "$(v 'fieldgate_model_info{model="status",name="status_predictor@1"}')" 1
expect "buffer writable" "$(v fieldgate_buffer_writable)" 1
expect "build info" "$(v "fieldgate_build_info{version=\"$("$FG" version | head -1 | awk '{print $2}')\"}")" 1

# /healthz
got=$(scrape "$HP" /healthz "$T/h.json")
expect "GET /healthz: 200, JSON" "$got" "200 application/json"
expect "healthz status" "$(jget "$T/h.json" 'j["status"]')" ok
expect "healthz buffer_writable" "$(jget "$T/h.json" 'j["buffer_writable"]')" true
expect "healthz source" "$(jget "$T/h.json" 'j["source"]["type"] + " " + j["source"]["state"]')" "mqtt connected"
expect "healthz kafka" "$(jget "$T/h.json" 'j["sinks"]["kafka"]["state"], j["sinks"]["kafka"]["backlog"], j["sinks"]["kafka"]["last_error"]')" \
	"('delivering', 0, None)"

# Other paths and methods.
expect "GET /nope: 404" "$(scrape "$HP" /nope /dev/null | cut -d' ' -f1)" 404
expect "GET /metrics?x=1: 200 (query ignored)" "$(scrape "$HP" '/metrics?x=1' /dev/null | cut -d' ' -f1)" 200
curl -s -o /dev/null -D "$T/post.h" -X POST -d x "http://127.0.0.1:$HP/metrics"
grep -q '^HTTP/1.1 405' "$T/post.h" && grep -qi '^Allow: GET, HEAD' "$T/post.h" &&
	pass "POST: 405 with Allow: GET, HEAD" || fail "POST: $(cat "$T/post.h")"
curl -sI "http://127.0.0.1:$HP/healthz" >"$T/head.h"
grep -q '^HTTP/1.1 200' "$T/head.h" && pass "HEAD /healthz: 200" || fail "HEAD: $(cat "$T/head.h")"

# A real Prometheus scrapes the agent every second.
PP=$(free_port)
cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: fieldgate
    static_configs:
      - targets: ["127.0.0.1:$HP"]
YML
"$PROMETHEUS" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
	--web.listen-address="127.0.0.1:$PP" --log.level=warn 2>"$T/prometheus.log" &
prom_pid=$!; pids+=($prom_pid)
# promq QUERY: the first result's value ("" when none).
promq() {
	curl -s -G "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1" |
		$PY -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null
}
prom_has() { [ "$(promq "$1")" == "$2" ]; }
wait_for "Prometheus scraping the agent (up == 1)" 60 prom_has 'up{job="fieldgate"}' 1 ||
	tail -5 "$T/prometheus.log"
expect "Prometheus: accepted_total = the agent's" "$(promq fieldgate_readings_accepted_total)" "$acc"
expect "Prometheus: received - accepted - rejected = 0" \
	"$(promq 'fieldgate_readings_received_total - fieldgate_readings_accepted_total - fieldgate_readings_rejected_total')" 0
expect "Prometheus: kafka delivered = the agent's" \
	"$(promq 'fieldgate_sink_delivered_events_total{sink="kafka"}')" "$stored"
expect "Prometheus: inference histogram usable (count)" \
	"$(promq 'fieldgate_model_inference_seconds_count{model="anomaly"}')" $(((acc + 63) / 64))
expect "Prometheus: no scrape sample errors" \
	"$(promq 'scrape_samples_scraped{job="fieldgate"} > 0 and scrape_samples_post_metric_relabeling{job="fieldgate"} == scrape_samples_scraped{job="fieldgate"}' | grep -c .)" 1
kill -TERM $prom_pid; wait $prom_pid 2>/dev/null

kill -TERM "$agent_pid"; wait "$agent_pid"
expect "agent exits 0 on SIGTERM" $? 0
port_open "$HP" && fail "port $HP still open after the agent stopped" || pass "port closed after stop"

# 503 when the buffer cannot be written: the data dir on a 1 MB tmpfs in a
# private mount namespace (needs root or CAP_SYS_ADMIN; skipped otherwise).
mkdir -p "$T/full"
if unshare -m sh -c "mount -t tmpfs -o size=1m tmpfs '$T/full'" 2>/dev/null; then
	HP2=$(free_port)
	SIM_SENSORS=100 SIM_RATE=100 write_config "$T/full.conf"
	sed -i -e "s#^data_dir = .*#data_dir = $T/full#" -e "s/^listen =.*/listen = 127.0.0.1:$HP2/" "$T/full.conf"
	unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$1" run -c "$2"' \
		"$T/full" "$FG" "$T/full.conf" 2>"$T/full.log" &
	full_pid=$!; pids+=($full_pid)
	unhealthy() { [ "$(scrape "$HP2" /healthz "$T/h2.json" | cut -d' ' -f1)" == 503 ] &&
		[ "$(jget "$T/h2.json" 'j["buffer_writable"]')" == false ]; }
	if wait_for "/healthz 503 with the buffer's disk full" 30 unhealthy; then
		pass "disk full: /healthz 503, buffer_writable false"
		expect "disk full: status failing" "$(jget "$T/h2.json" 'j["status"]')" failing
		scrape "$HP2" /metrics "$T/m2.txt" >/dev/null
		expect "disk full: fieldgate_buffer_writable 0" "$(val "$T/m2.txt" fieldgate_buffer_writable)" 0
		"$PROMTOOL" check metrics <"$T/m2.txt" >"$T/promtool2.out" 2>&1 ||
			fail "promtool (disk full): $(head -3 "$T/promtool2.out")"
		[ "$(val "$T/m2.txt" fieldgate_writer_commit_errors_total)" -gt 0 ] 2>/dev/null &&
			pass "disk full: commit errors counted" || fail "no commit errors counted"
	else
		tail -5 "$T/full.log"
	fi
	kill -9 "$full_pid" 2>/dev/null; wait "$full_pid" 2>/dev/null
else
	echo "skip: cannot mount a tmpfs in a private namespace here (not root?); 503 not tested"
fi
mqtt_finish
