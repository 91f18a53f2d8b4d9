#!/bin/bash
# The Elasticsearch stand-in (tests/peers/es_standin.py) itself, with curl:
# the ES 8 behaviour the forwarder's tests rely on (bulk create 201/409,
# errors flag, items in request order, the trailing-newline 400, the
# Content-Type 406, _count, _doc, index templates, mapping checks), every
# fault of its control endpoint, keep-alive, basic/API-key auth, TLS with a
# generated CA, and that a kill -9 and restart keeps the documents.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/es_lib.sh"
PY=/usr/bin/python3

# req METHOD PATH [curl args...]: sets code, body, hdrs (response headers).
req() {
	local m=$1 p=$2; shift 2
	local out
	out=$(es_curl "$p" -X "$m" -D "$T/hdrs" -w '\n%{http_code}' "$@")
	code=${out##*$'\n'}
	body=${out%$'\n'*}
	hdrs=$(tr -d '\r' <"$T/hdrs" 2>/dev/null)
}
# bulk FILE [curl args...]: POST FILE to /_bulk as NDJSON.
bulk() {
	local f=$1; shift
	req POST /_bulk -H 'Content-Type: application/x-ndjson' --data-binary "@$f" "$@"
}
# js EXPR: evaluate a Python expression on the JSON $body (as d).
js() { printf '%s' "$body" | $PY -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" 2>&1; }
# mkbulk FILE INDEX FIRST LAST [EXTRA-JSON-FIELDS]: create actions for events FIRST..LAST.
mkbulk() {
	$PY - "$@" <<'PY'
import json, sys
f, index, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
with open(f, "w") as out:
    for seq in range(first, last + 1):
        e = {"event_id": "gw-t:%d" % seq, "gateway_id": "gw-t", "site": "t", "seq": seq,
             "sensor_id": "sensor-%03d" % (seq % 7), "geo": {"lat": 33.6, "lon": 73.0},
             "@timestamp": "2026-05-01T00:00:%02d.000Z" % (seq % 60),
             "received_at": "2026-05-01T00:00:%02d.001Z" % (seq % 60),
             "temperature": 20.5, "humidity": 40.0, "hour_of_day": 0, "day_of_week": 4,
             "prediction": {"status": seq % 3, "status_probability": 0.9, "anomaly": seq % 5 == 0,
                            "anomaly_probability": 0.1, "humidity": 40.2, "humidity_residual": -0.2},
             "models": {"status": "status_predictor@1", "anomaly": "anomaly_detector@1",
                        "humidity": "humidity_regressor@1"}}
        e.update(extra)
        out.write('{"create":{"_index":"%s","_id":"gw-t:%d"}}\n' % (index, seq))
        out.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
}
IX=sensors-scored

start_es || finish

# GET /: an ES 8 cluster; the X-elastic-product header the clients check.
req GET /
expect "GET / status" "$code" 200
expect "GET / version 8.x" "$(js 'd["version"]["number"].split(".")[0]')" 8
expect "GET / tagline" "$(js 'd["tagline"]')" "You Know, for Search"
grep -qi '^X-elastic-product: Elasticsearch' <<<"$hdrs" || fail "no X-elastic-product header: $hdrs"

# Index template: PUT (twice: idempotent), GET, HEAD; absent: 404.
tmpl=$($PY -c 'import json, sys; print(json.dumps({"index_patterns": ["sensors-scored", "sensors-scored-*"],
    "priority": 200, "template": json.load(open(sys.argv[1])), "_meta": {"managed_by": "fieldgate"}}))' \
	"$top/packaging/elasticsearch/mappings.json")
for i in 1 2; do
	req PUT /_index_template/fieldgate -H 'Content-Type: application/json' -d "$tmpl"
	expect "PUT _index_template ($i)" "$code $body" '200 {"acknowledged":true}'
done
req GET /_index_template/fieldgate
expect "GET _index_template" "$(js '[t["name"] for t in d["index_templates"]], d["index_templates"][0]["index_template"]["template"]["mappings"]["properties"]["geo"]')" \
	"(['fieldgate'], {'type': 'geo_point'})"
req HEAD /_index_template/fieldgate; expect "HEAD _index_template" "$code" 200
req HEAD /_index_template/nope; expect "HEAD absent _index_template" "$code" 404
req GET /_index_template/nope
expect "GET absent _index_template" "$code $(js 'd["error"]["type"]')" "404 resource_not_found_exception"
req PUT /_index_template/broken -H 'Content-Type: application/json' \
	-d '{"index_patterns":["x"],"template":{"mappings":{"properties":{"a":{"type":"flaot"}}}}}'
expect "template with an unknown field type" "$code $(js 'd["error"]["type"]')" "400 mapper_parsing_exception"

# _bulk create: 201 each, items in request order, errors false.
mkbulk "$T/b1" $IX 1 5
bulk "$T/b1"
expect "bulk create status" "$code" 200
expect "bulk create items" "$(js '[(i["create"]["_id"], i["create"]["status"], i["create"]["result"]) for i in d["items"]]')" \
	"[('gw-t:1', 201, 'created'), ('gw-t:2', 201, 'created'), ('gw-t:3', 201, 'created'), ('gw-t:4', 201, 'created'), ('gw-t:5', 201, 'created')]"
expect "bulk create errors" "$(js 'd["errors"], type(d["took"]).__name__')" "(False, 'int')"
# The same again: 409 version_conflict_engine_exception with ES's wording.
bulk "$T/b1"
expect "bulk repeat errors" "$(js 'd["errors"], [i["create"]["status"] for i in d["items"]]')" "(True, [409, 409, 409, 409, 409])"
expect "409 type and reason" "$(js 'd["items"][1]["create"]["error"]["type"] + " | " + d["items"][1]["create"]["error"]["reason"]')" \
	"version_conflict_engine_exception | [gw-t:2]: version conflict, document already exists (current version [1])"
expect "counters: duplicate creates" "$(es_counter duplicate_creates)" 5
expect "es_count" "$(es_count $IX)" 5
expect "es_ids" "$(es_ids $IX | tr '\n' ' ')" "gw-t:1 gw-t:2 gw-t:3 gw-t:4 gw-t:5 "
expect "es_docs" "$(es_docs $IX | $PY -c 'import json,sys; print([json.loads(l)["_source"]["seq"] for l in sys.stdin])')" "[1, 2, 3, 4, 5]"

# No trailing newline: 400 with ES's reason. No or wrong Content-Type: 406.
head -c -1 "$T/b1" >"$T/b1.nonl"
bulk "$T/b1.nonl"
expect "no trailing newline" "$code $(js 'd["error"]["type"] + " | " + d["error"]["reason"] + " | " + str(d["status"])')" \
	'400 illegal_argument_exception | The bulk request must be terminated by a newline [\n] | 400'
req POST /_bulk -H 'Content-Type: text/plain' --data-binary "@$T/b1"
expect "wrong Content-Type" "$code $body" '406 {"error":"Content-Type header [text/plain] is not supported","status":406}'
req POST /_bulk -H 'Content-Type:' --data-binary "@$T/b1"
expect "no Content-Type" "$code $body" '406 {"error":"Content-Type header is missing","status":406}'
req POST /$IX/_bulk -H 'Content-Type: application/json' --data-binary $'{"create":{"_id":"u1"}}\n{"seq":1}\n'
expect "/{index}/_bulk with application/json" "$code $(js 'd["items"][0]["create"]["_index"], d["items"][0]["create"]["status"]')" "200 ('sensors-scored', 201)"
req POST /_bulk -H 'Content-Type: application/x-ndjson' --data-binary $'{"create":{"_id":"u2"}}\n{"seq":1}\n'
expect "no index anywhere" "$code $(js 'd["error"]["reason"]')" "400 Validation Failed: 1: index is missing;"

# Mapping checks from the template: a wrong type is an item 400, the rest pass.
mkbulk "$T/b2" $IX 6 7
sed -i '2s/"temperature":20.5/"temperature":"warm"/' "$T/b2"
bulk "$T/b2"
expect "mapping check" "$(js '[i["create"]["status"] for i in d["items"]], d["items"][0]["create"]["error"]["type"]')" \
	"([400, 201], 'document_parsing_exception')"
expect "mapping check reason" "$(js '"failed to parse field [temperature] of type [float] in document with id '"'"'gw-t:6'"'"'" in d["items"][0]["create"]["error"]["reason"]')" True

# _count (with q=) and _doc.
req GET /$IX/_count; expect "_count" "$code $(js 'd["count"]')" "200 7"
req GET "/$IX/_count?q=prediction.status:1"; expect "_count ?q=" "$(js 'd["count"]')" 3
req GET /$IX/_doc/gw-t:3
expect "_doc found" "$code $(js 'd["found"], d["_source"]["seq"]')" "200 (True, 3)"
req GET /$IX/_doc/nope; expect "_doc missing" "$code $body" '404 {"_index":"sensors-scored","_id":"nope","found":false}'
req GET /nosuchindex/_count; expect "_count on a missing index" "$code $(js 'd["error"]["type"]')" "404 index_not_found_exception"

# Keep-alive: two requests on one connection.
es_curl / -v -o /dev/null "$ES_URL/" 2>&1 | grep -qi 're-using existing connection' ||
	fail "curl did not reuse the connection (no keep-alive)"

# Fault: a seeded fraction of items get 429 es_rejected_execution_exception.
es_fault '{"item_429_fraction": 0.5, "item_429_seed": 3}'
mkbulk "$T/b3" $IX 101 140
bulk "$T/b3"
n429=$(js 'sum(i["create"]["status"] == 429 for i in d["items"])')
n201=$(js 'sum(i["create"]["status"] == 201 for i in d["items"])')
[ "$n429" -gt 5 ] && [ "$n201" -gt 5 ] && [ $((n429 + n201)) -eq 40 ] || fail "item 429s: $n429 x 429, $n201 x 201"
expect "429 item type" "$(js '[i["create"]["error"]["type"] for i in d["items"] if i["create"]["status"] == 429][0]')" es_rejected_execution_exception
expect "429 items not stored" "$(es_count $IX)" $((7 + n201))
es_fault '{"item_429_fraction": null}'
bulk "$T/b3"
expect "retry stores the rest" "$(js 'sum(i["create"]["status"] == 201 for i in d["items"]), sum(i["create"]["status"] == 409 for i in d["items"])')" "($n429, $n201)"

# Fault: the next 2 bulk requests get 503 (with Retry-After), then normal;
# GET / is not counted with the default scope.
es_fault '{"request_status": 503, "request_status_count": 2, "retry_after": 7}'
mkbulk "$T/b4" $IX 201 203
req GET /; expect "GET / not affected by bulk-scoped faults" "$code" 200
bulk "$T/b4"
expect "503 (1)" "$code $(js 'd["error"]["type"], d["status"]')" "503 ('cluster_block_exception', 503)"
grep -qi '^Retry-After: 7$' <<<"$hdrs" || fail "no Retry-After: 7 header: $hdrs"
bulk "$T/b4"; expect "503 (2)" "$code" 503
bulk "$T/b4"; expect "after 2 x 503" "$code $(js 'd["errors"]')" "200 False"
es_fault '{"request_status": 429, "request_status_count": 1, "request_status_scope": "all", "retry_after": null}'
req GET /; expect "whole-request 429 (scope all)" "$code $(js 'd["error"]["type"]')" "429 es_rejected_execution_exception"
req GET /; expect "after the 429" "$code" 200

# Fault: 413 above max_body_bytes (ES http.max_content_length).
es_fault '{"max_body_bytes": 100}'
bulk "$T/b4"; expect "413 above max_body_bytes" "$code" 413
es_fault '{"max_body_bytes": null}'
bulk "$T/b4"; expect "no 413 once cleared" "$code" 200

# Fault: a 400 mapping error for the documents whose field has a value.
es_fault '{"mapping_error": {"field": "prediction.status", "value": 2}}'
mkbulk "$T/b5" $IX 301 306
bulk "$T/b5"
expect "mapping_error items" "$(js '[i["create"]["status"] for i in d["items"]]')" "[201, 400, 201, 201, 400, 201]"
expect "mapping_error type" "$(js 'd["items"][1]["create"]["error"]["type"]')" document_parsing_exception
expect "mapping_error reason" "$(js 'd["items"][1]["create"]["error"]["reason"].split("] ", 1)[1]')" \
	"failed to parse field [prediction.status] of type [byte] in document with id 'gw-t:302'. Preview of field's value: '2'"
es_fault '{"mapping_error": null}'

# Fault: a delay before answering.
es_fault '{"delay_ms": 600, "delay_count": 1}'
mkbulk "$T/b6" $IX 401 401
t0=$(date +%s%N); bulk "$T/b6"; t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -ge 600 ] || fail "delay_ms 600: answered in $(((t1 - t0) / 1000000)) ms"
t0=$(date +%s%N); bulk "$T/b6"; t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -lt 600 ] || fail "delay_count 1: the second request was delayed too"

# Fault: store, then drop the connection; the retry meets 409s.
es_fault '{"drop_after_store": 1}'
mkbulk "$T/b7" $IX 501 510
before=$(es_count $IX)
es_curl /_bulk -XPOST -H 'Content-Type: application/x-ndjson' --data-binary "@$T/b7" -o /dev/null 2>/dev/null
expect "drop_after_store: curl sees an empty reply (exit 52)" $? 52
expect "drop_after_store: documents stored" "$(es_count $IX)" $((before + 10))
bulk "$T/b7"
expect "drop_after_store: the retry meets 409s" "$(js 'set(i["create"]["status"] for i in d["items"])')" "{409}"
expect "counters: dropped connections" "$(es_counter dropped_connections)" 1

# DELETE /_standin/faults zeroes counters, keeps documents.
count=$(es_count $IX)
es_fault_reset
expect "reset: counters" "$(es_counter bulk_requests)" 0
expect "reset: documents kept" "$(es_count $IX)" "$count"

# kill -9 and restart: documents and templates survive, same port.
port=$ES_PORT
restart_es
expect "restart: same port" "$ES_PORT" "$port"
expect "restart: documents kept" "$(es_count $IX)" "$count"
req HEAD /_index_template/fieldgate; expect "restart: template kept" "$code" 200
bulk "$T/b1"; expect "restart: old ids still conflict" "$(js 'set(i["create"]["status"] for i in d["items"])')" "{409}"

# Basic auth and API key.
stop_es
start_es --user elastic:s3cret --api-key a2V5aWQ6c2VjcmV0
req GET /
expect "no credentials: 401" "$code $(js 'd["error"]["type"]')" "401 security_exception"
expect "401 reason" "$(js 'd["error"]["reason"]')" "missing authentication credentials for REST request [/]"
grep -q '^WWW-Authenticate: Basic realm="security"' <<<"$hdrs" || fail "no WWW-Authenticate: Basic header: $hdrs"
req GET / -u elastic:wrong; expect "wrong password: 401" "$code $(js 'd["error"]["reason"]')" "401 unable to authenticate user [elastic] for REST request [/]"
req GET / -u elastic:s3cret; expect "basic auth: 200" "$code" 200
req GET / -H 'Authorization: ApiKey a2V5aWQ6c2VjcmV0'; expect "API key: 200" "$code" 200
req GET / -H 'Authorization: ApiKey bm9wZQ=='; expect "wrong API key: 401" "$code" 401
req GET /_standin/faults; expect "control endpoint needs no auth" "$code" 200

# TLS with a CA generated here.
stop_es
es_make_tls || finish
start_es --tls-cert "$T/es-tls/server.crt" --tls-key "$T/es-tls/server.key"
expect "TLS URL" "${ES_URL%%:*}" https
ES_CURL_OPTS="--cacert $T/es-tls/ca.crt"
req GET /; expect "TLS with the CA: 200" "$code" 200
expect "TLS: documents kept across restarts" "$(es_count $IX)" "$count"
ES_CURL_OPTS="--cacert $T/es-tls/other.crt"
es_curl / -o /dev/null 2>/dev/null
expect "TLS with an unrelated CA: curl exit 60" $? 60
ES_CURL_OPTS=

stop_es; stop_es
kill -0 "${pids[-1]}" 2>/dev/null && fail "stop_es left the stand-in running"
finish
