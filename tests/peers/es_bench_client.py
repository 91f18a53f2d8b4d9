#!/usr/bin/python3
"""es_bench_client.py - measure the ES stand-in's own ceiling: N _bulk
requests of D `create` documents (~600-byte SPEC §4 events) over ONE
keep-alive HTTP/1.1 connection, one request at a time, as the forwarder
sends them. Prints docs/s and exits non-zero if any item failed.

Usage: es_bench_client.py --port P [--host 127.0.0.1] [--index sensors-scored]
                          [--bulks 30] [--docs 1000] [--first-seq 1]
"""
import argparse
import http.client
import json
import sys
import time


def event(seq):
    s = seq % 100
    return {"event_id": "gw-bench-01:%d" % seq, "gateway_id": "gw-bench-01", "site": "bench",
            "seq": seq, "sensor_id": "sensor-%03d" % s, "location": "building-%c" % (97 + s % 5),
            "geo": {"lat": 33.64 + s / 1000.0, "lon": 72.99 - s / 1000.0},
            "@timestamp": "2026-11-21T22:%02d:%02d.%03dZ" % (seq // 60000 % 60, seq // 1000 % 60, seq % 1000),
            "received_at": "2026-11-21T22:%02d:%02d.%03dZ" % (seq // 60000 % 60, seq // 1000 % 60, seq % 1000),
            "temperature": 23.4 + s / 10.0, "humidity": 45.1, "hour_of_day": 22, "day_of_week": 5,
            "status_flag": 0, "is_anomaly": 0,
            "prediction": {"status": 0, "status_probability": 0.971234, "anomaly": False,
                           "anomaly_probability": 0.031234, "humidity": 44.812345,
                           "humidity_residual": 0.287655},
            "models": {"status": "status_predictor@1", "anomaly": "anomaly_detector@1",
                       "humidity": "humidity_regressor@1"}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--index", default="sensors-scored")
    p.add_argument("--bulks", type=int, default=30)
    p.add_argument("--docs", type=int, default=1000)
    p.add_argument("--first-seq", type=int, default=1)
    a = p.parse_args()
    bodies, seq, size = [], a.first_seq, 0
    for _ in range(a.bulks):
        parts = []
        for _ in range(a.docs):
            src = json.dumps(event(seq), separators=(",", ":"))
            size += len(src)
            parts.append('{"create":{"_index":"%s","_id":"gw-bench-01:%d"}}\n%s\n' % (a.index, seq, src))
            seq += 1
        bodies.append("".join(parts).encode())
    conn = http.client.HTTPConnection(a.host, a.port)
    failed = 0
    t0 = time.monotonic()
    for b in bodies:
        conn.request("POST", "/_bulk", body=b, headers={"Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        out = json.loads(r.read())
        if r.status != 200 or out["errors"]:
            failed += sum(1 for it in out.get("items", []) if it["create"]["status"] >= 300) or a.docs
    dt = time.monotonic() - t0
    n = a.bulks * a.docs
    print("%d docs (avg %d bytes) in %d bulks over one connection: %.2f s, %.0f docs/s, %d failed"
          % (n, size // n, a.bulks, dt, n / dt, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
