#!/bin/bash
# es_seeds.sh - (re)make the seeds of fuzz_es_bulk in tests/data/fuzz/es_bulk/:
# real `_bulk` responses from the ES stand-in (tests/peers/es_standin.py),
# each prefixed with the line fuzz_es_bulk reads first (the number of
# documents the request carried): all created, duplicates (409), a partial
# 429 (item_429_fraction), a mapping error (400 item), an unmapped field
# (created), and filter_path'd answers. Run by hand; the output is committed.
set -u
. "$(dirname "$0")/../integration/lib.sh"
. "$top/tests/integration/es_lib.sh"
out=$top/tests/data/fuzz/es_bulk
mkdir -p "$out"
start_es || exit 1
ev() { # ID [extra JSON members]: one SPEC §4 event as a create pair
	printf '{"create":{"_id":"%s"}}\n' "$1"
	printf '{"event_id":"%s","gateway_id":"gw-plant-a-01","site":"plant-a","seq":42,"sensor_id":"sensor-042","location":"building-a","geo":{"lat":33.64,"lon":72.99},"@timestamp":"2026-11-21T22:00:00.123Z","received_at":"2026-11-21T22:00:00.125Z","temperature":23.4,"humidity":45.1,"hour_of_day":14,"day_of_week":3,"status_flag":0,"is_anomaly":0,"prediction":{"status":0,"status_probability":0.97,"anomaly":false,"anomaly_probability":0.03,"humidity":44.8,"humidity_residual":0.3},"models":{"status":"status_predictor@1","anomaly":"anomaly_detector@1","humidity":"humidity_regressor@1"}%s}\n' "$1" "${2:-}"
}
bulk() { # NAME N QUERY BODY-FILE: POST it, save "N\n" + the answer
	{ echo "$2"; es_curl "/sensors-scored/_bulk$3" -XPOST -H 'Content-Type: application/x-ndjson' \
		--data-binary "@$4"; } >"$out/$1"
}
es_curl /_index_template/fieldgate-sensors-scored -XPUT -H 'Content-Type: application/json' \
	-d "{\"index_patterns\":[\"sensors-scored*\"],\"template\":$(cat "$top/packaging/elasticsearch/mappings.json")}" >/dev/null
{ ev gw:1; ev gw:2; ev gw:3; } >"$T/b3"
bulk all-created 3 "" "$T/b3"
bulk duplicates-409 3 "" "$T/b3"
{ ev gw:4; ev gw:5; ev gw:6; ev gw:7; } >"$T/b4"
es_fault '{"item_429_fraction":0.5,"item_429_seed":3}'
bulk partial-429 4 "" "$T/b4"
es_fault_reset
{ ev gw:8; ev gw:9 ',"unknown_field":1'; } >"$T/b2"
bulk unmapped-field-created 2 "" "$T/b2"
es_fault '{"mapping_error":{"field":"prediction.status","value":0,"type":"mapper_parsing_exception"}}'
{ ev gw:10; ev gw:2; } >"$T/b2b"
bulk mapping-error-and-409 2 "" "$T/b2b"
es_fault_reset
{ ev gw:11; } >"$T/b1"
bulk filter-path-errors-only 1 "?filter_path=errors,items.*.error" "$T/b1"
{ ev gw:12; } >"$T/b1b"
bulk created-with-took 1 "?filter_path=took,errors,items.*.status" "$T/b1b"
bulk count-mismatch 2 "" "$T/b1"
ls -l "$out"
finish
