#!/bin/bash
# packaging/kibana/fieldgate-dashboards.ndjson (the Kibana 8 saved-objects
# export) is valid NDJSON whose objects reference only each other and only
# fields of packaging/elasticsearch/mappings.json (tests/peers/check_dashboards.py),
# it is what packaging/kibana/gen_dashboards.py writes, and the checker
# catches deliberately broken copies. The mappings themselves are installed
# as an index template in the ES stand-in and accept SPEC §4's example event
# with no unmapped field, and refuse a wrongly typed one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/es_lib.sh"
PY=/usr/bin/python3
NDJSON=$top/packaging/kibana/fieldgate-dashboards.ndjson
MAPPINGS=$top/packaging/elasticsearch/mappings.json
CHECK=$top/tests/peers/check_dashboards.py

out=$($PY "$CHECK" "$NDJSON" "$MAPPINGS" 2>&1)
expect "the export passes the checker" "$?" 0
echo "$out"
expect "object types" "$($PY -c '
import json, sys
print(" ".join(sorted(json.loads(l)["type"] for l in open(sys.argv[1]) if "attributes" in l)))' "$NDJSON")" \
	"dashboard index-pattern map search search visualization visualization visualization visualization"
$PY -c '
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
d = [o for o in objs if o.get("type") == "dashboard"][0]
assert d["attributes"]["title"] == "fieldgate: sensor overview", d["attributes"]["title"]
panels = json.loads(d["attributes"]["panelsJSON"])
assert len(panels) == len(d["references"]) == 7, len(panels)
dv = [o for o in objs if o.get("type") == "index-pattern"][0]["attributes"]
assert (dv["title"], dv["timeFieldName"]) == ("sensors-scored*", "@timestamp"), dv
' "$NDJSON" || fail "dashboard / data view attributes"

$PY "$top/packaging/kibana/gen_dashboards.py" "$T/gen.ndjson"
cmp -s "$T/gen.ndjson" "$NDJSON" ||
	fail "fieldgate-dashboards.ndjson is not what gen_dashboards.py writes: run it and commit the result"

# broken NAME WANT: the checker must fail on $T/NAME.ndjson and say WANT.
broken() {
	local out
	out=$($PY "$CHECK" "$T/$1.ndjson" "$MAPPINGS" 2>&1)
	if [ $? -eq 0 ]; then
		fail "checker accepted $1"
	elif ! grep -qF -- "$2" <<<"$out"; then
		fail "checker on $1: no '$2' in: $out"
	else
		pass "checker catches $1"
	fi
}
# mutate NAME OLD NEW: $T/NAME.ndjson = the export with every OLD replaced
# (literally) by NEW; OLD must occur.
mutate() {
	$PY - "$NDJSON" "$T/$1.ndjson" "$2" "$3" <<'PY' || fail "mutation $1: '$2' not found"
import sys
src, dst, old, new = sys.argv[1:5]
t = open(src, encoding="utf-8").read()
if old not in t:
    sys.exit(1)
open(dst, "w", encoding="utf-8").write(t.replace(old, new))
PY
}
mutate agg-field prediction.anomaly_probability prediction.anomaly_prob
broken agg-field "field [prediction.anomaly_prob] is not in the index mappings"
mutate kql-field 'prediction.anomaly : true' 'prediction.anomalous : true'
broken kql-field "field [prediction.anomalous] is not in the index mappings"
mutate geo-field '\"geoField\":\"geo\"' '\"geoField\":\"geo_point\"'
broken geo-field "field [geo_point] is not in the index mappings"
mutate column '"models.anomaly"]' '"models.anomaly_detector"]'
broken column "field [models.anomaly_detector] is not in the index mappings"
mutate style-field '{\"name\":\"temperature\",\"origin\":\"source\"}' '{\"name\":\"temp\",\"origin\":\"source\"}'
broken style-field "field [temp] is not in the index mappings"
mutate agg-type '\"type\":\"avg\",\"schema\":\"metric\",\"params\":{\"field\":\"temperature\"' \
	'\"type\":\"avg\",\"schema\":\"metric\",\"params\":{\"field\":\"sensor_id\"'
broken agg-type "aggregation [avg] cannot use field [sensor_id] of type [keyword]"
mutate dangling '"id":"fieldgate-map-sensors","managed"' '"id":"fieldgate-map-renamed","managed"'
broken dangling "resolves to no object in the file"
mutate refname '\"panelRefName\":\"panel_p3\"' '\"panelRefName\":\"panel_p33\"'
broken refname "refers to [panel_p33]"
mutate title '"title":"sensors-scored*"' '"title":"sensor-scored*"'
broken title "does not cover the index [sensors-scored]"
head -c 300 "$NDJSON" >"$T/truncated.ndjson"; echo >>"$T/truncated.ndjson"; tail -n +2 "$NDJSON" >>"$T/truncated.ndjson"
broken truncated "line 1: not JSON"
sed '2d' "$NDJSON" >"$T/count.ndjson"
broken count "exportedCount 9 but 8 objects"
head -n -1 "$NDJSON" >"$T/nosummary.ndjson"
broken nosummary "no export summary line"

# The mappings as an index template: SPEC §4's example event is stored with
# no unmapped field; a wrongly typed copy is refused with a 400.
start_es || finish
tmpl=$($PY -c 'import json, sys; print(json.dumps({"index_patterns": ["sensors-scored", "sensors-scored-*"],
    "priority": 200, "template": json.load(open(sys.argv[1]))}))' "$MAPPINGS")
code=$(es_curl /_index_template/fieldgate -XPUT -H 'Content-Type: application/json' -d "$tmpl" -o "$T/put.json" -w '%{http_code}')
expect "the stand-in accepts mappings.json as a template" "$code $(cat "$T/put.json")" '200 {"acknowledged":true}'
ev='{"event_id": "gw-plant-a-01:42", "gateway_id": "gw-plant-a-01", "site": "plant-a", "seq": 42, "sensor_id": "sensor-042", "location": "building-a", "geo": {"lat": 33.64, "lon": 72.99}, "@timestamp": "2026-11-21T22:00:00.123Z", "received_at": "2026-11-21T22:00:00.125Z", "temperature": 23.4, "humidity": 45.1, "hour_of_day": 14, "day_of_week": 3, "status_flag": 0, "is_anomaly": 0, "prediction": {"status": 0, "status_probability": 0.97, "anomaly": false, "anomaly_probability": 0.03, "humidity": 44.8, "humidity_residual": 0.3}, "models": {"status": "status_predictor@1", "anomaly": "anomaly_detector@1", "humidity": "humidity_regressor@1"}}'
bad=${ev/\"prediction\": \{\"status\": 0,/\"prediction\": \{\"status\": \"warning\",}
printf '{"create":{"_index":"sensors-scored","_id":"gw-plant-a-01:42"}}\n%s\n{"create":{"_index":"sensors-scored","_id":"gw-plant-a-01:43"}}\n%s\n' \
	"$ev" "$bad" >"$T/spec.ndjson"
es_curl /_bulk -XPOST -H 'Content-Type: application/x-ndjson' --data-binary "@$T/spec.ndjson" >"$T/spec.out"
expect "SPEC §4 event: 201; wrongly typed copy: 400" "$($PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
print([i["create"]["status"] for i in d["items"]], d["items"][1]["create"]["error"]["type"])' "$T/spec.out")" \
	"[201, 400] document_parsing_exception"
expect "SPEC §4 event: no unmapped fields" "$(es_counter unmapped_fields)" "[]"
es_curl /sensors-scored/_mapping >"$T/mapping.json"
expect "the index got the template's mappings" "$($PY -c '
import json, sys
print(json.load(open(sys.argv[1]))["sensors-scored"]["mappings"]["properties"]["geo"]["type"])' "$T/mapping.json")" geo_point
stop_es
finish
