#!/usr/bin/python3
"""kafka_check.py - what fieldgate's Kafka forwarder delivered, seen by an
independent client (kafka-python, Debian's python3-kafka; python3-lz4 for
lz4-compressed batches).

Reads TOPIC from the beginning of every partition until it has seen
--expect N distinct event_ids, or --idle S seconds pass with no new
message, or --timeout S in all; then prints one JSON object on stdout.
It can run in the background while the producer runs: the mock keeps only
~5 MB per partition and drops the oldest batches past that, so a consumer
started late would miss them (such vanished offsets are counted as
"offset_gaps" and listed under "bad").

Checks for every message:
  - the value is a JSON object with string event_id and sensor_id;
  - key == sensor_id ("keys_ok");
  - headers event_id and gateway_id are present and equal the value's
    ("headers_ok");
  - order: within one partition, for each (gateway_id, sensor_id), seq
    increases. A message whose event_id was already seen is a duplicate
    (at-least-once redelivery, e.g. a retried batch the mock stored twice,
    or a replay): it is counted in "duplicates" and NOT checked for order,
    since going back to an already delivered seq is what a redelivery
    looks like. A NEW event_id whose seq is not above the highest seq
    already seen for its sensor in that partition is a real reordering
    (an event overtook an older one that had not been delivered yet):
    counted in "out_of_order" (messages) and "out_of_order_sensors"
    (distinct gateway/sensor/partition streams affected).

Exit status: 0 when the --expect count was reached (or no --expect) and
nothing was wrong (bad, out_of_order, offset_gaps all zero, headers_ok and
keys_ok); 1 otherwise; 2 on a usage error or when the topic's partitions
could not be found. Duplicates alone do not fail (at-least-once); test
"duplicates" yourself where exactly-once matters.

Output keys: messages, unique, duplicates, bad (first --max-bad problems),
bad_count, out_of_order, out_of_order_sensors, headers_ok, keys_ok,
max_seq, min_seq, offset_gaps, split_sensors (sensors seen in more than
one partition), partitions ({"0": messages, ...}), stopped ("expect",
"idle", "timeout", "signal"), elapsed_s; with --kcat also
"kcat": {"messages": n, "unique": n} read afterwards by kcat.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

try:
    from kafka import KafkaConsumer, TopicPartition
except ImportError:
    sys.stderr.write("kafka_check: python3-kafka is not installed "
                     "(apt-get install python3-kafka; make deps)\n")
    sys.exit(2)


class Stop(Exception):
    """Raised by the SIGTERM/SIGINT handler to end the read loop."""


def on_signal(signum, frame):
    raise Stop()


def kcat_counts(bootstrap, topic, timeout):
    """Total messages and distinct event_id headers, as read by kcat."""
    try:
        out = subprocess.run(
            ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning",
             "-e", "-q", "-f", "%h\n"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            timeout=timeout, check=False).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": "kcat: %s" % e}
    lines = out.splitlines()
    ids = set()
    for line in lines:
        for kv in line.split(","):
            if kv.startswith("event_id="):
                ids.add(kv[len("event_id="):])
    return {"messages": len(lines), "unique": len(ids)}


class Checker:
    """Running totals over every message read."""

    def __init__(self, max_bad):
        self.max_bad = max_bad
        self.messages = 0
        self.seen = set()           # event_ids
        self.seqs = set()           # seqs of distinct events
        self.duplicates = 0
        self.bad = []
        self.bad_count = 0
        self.out_of_order = 0
        self.disordered = set()     # (partition, gateway_id, sensor_id)
        self.last_seq = {}          # (partition, gateway_id, sensor_id) -> highest seq
        self.headers_ok = True
        self.keys_ok = True
        self.offset_gaps = 0
        self.next_offset = {}       # partition -> offset expected next
        self.sensor_parts = {}      # sensor_id -> set of partitions
        self.per_partition = {}     # partition -> messages

    def problem(self, text):
        self.bad_count += 1
        if len(self.bad) < self.max_bad:
            self.bad.append(text)

    def record(self, r):
        """Checks one ConsumerRecord; returns True when its event_id is new."""
        p, where = r.partition, "partition %d offset %d" % (r.partition, r.offset)
        self.messages += 1
        self.per_partition[p] = self.per_partition.get(p, 0) + 1
        want = self.next_offset.get(p)
        if want is not None and r.offset > want:
            self.offset_gaps += r.offset - want
            self.problem("partition %d: offsets %d..%d vanished before they were read "
                         "(the mock keeps ~5 MB per partition: start the checker "
                         "before producing)" % (p, want, r.offset - 1))
        self.next_offset[p] = r.offset + 1
        try:
            v = json.loads(r.value)
        except (TypeError, ValueError) as e:
            self.problem("%s: value is not JSON (%s): %.80r" % (where, e, r.value))
            return False
        if not isinstance(v, dict) or not isinstance(v.get("event_id"), str) \
                or not isinstance(v.get("sensor_id"), str):
            self.problem("%s: value has no string event_id and sensor_id: %.80r"
                         % (where, r.value))
            return False
        eid, sensor, gw = v["event_id"], v["sensor_id"], v.get("gateway_id")
        key = r.key.decode("utf-8", "replace") if r.key is not None else None
        if key != sensor:
            self.keys_ok = False
            self.problem("%s: key %r != sensor_id %r" % (where, key, sensor))
        hdrs = {}
        for hk, hv in (r.headers or []):
            hdrs[hk] = hv.decode("utf-8", "replace") if hv is not None else None
        for name, want_v in (("event_id", eid), ("gateway_id", gw)):
            if hdrs.get(name) != want_v:
                self.headers_ok = False
                self.problem("%s: header %s = %r, value has %r"
                             % (where, name, hdrs.get(name), want_v))
        self.sensor_parts.setdefault(sensor, set()).add(p)
        if eid in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(eid)
        seq = v.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            self.problem("%s: event %s has no integer seq" % (where, eid))
            return True
        self.seqs.add(seq)
        stream = (p, gw, sensor)
        last = self.last_seq.get(stream)
        if last is not None and seq <= last:
            self.out_of_order += 1
            self.disordered.add(stream)
            self.problem("%s: sensor %s seq %d arrived after seq %d (event %s)"
                         % (where, sensor, seq, last, eid))
        else:
            self.last_seq[stream] = seq
        return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP"),
                    help="host:port[,host:port...] (default $KAFKA_BOOTSTRAP)")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--expect", type=int, help="stop after this many distinct event_ids")
    ap.add_argument("--idle", type=float, default=5.0,
                    help="stop after this many seconds without a message (default 5)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="stop after this many seconds in all (default 60)")
    ap.add_argument("--linger", type=float, default=0.0,
                    help="after --expect is reached, keep reading this long for "
                         "extras and duplicates (default 0)")
    ap.add_argument("--seqs-out", help="write the distinct seqs, sorted, one per line")
    ap.add_argument("--ready-file", help="create this file once every partition is "
                                         "assigned (start producing after that)")
    ap.add_argument("--kcat", action="store_true",
                    help="afterwards, also count with kcat (adds \"kcat\")")
    ap.add_argument("--max-bad", type=int, default=10)
    a = ap.parse_args()
    if not a.bootstrap:
        ap.error("--bootstrap (or $KAFKA_BOOTSTRAP) is required")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    start = time.monotonic()
    deadline = start + a.timeout
    c = Checker(a.max_bad)
    stopped = "timeout"
    consumer = None
    result = {}
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=a.bootstrap.split(","), group_id=None,
            enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=100, max_poll_records=5000,
            request_timeout_ms=15000, session_timeout_ms=10000,
            connections_max_idle_ms=60000)
        parts = None
        while time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(a.topic)
            if parts:
                break
            time.sleep(0.1)
        if not parts:
            print(json.dumps({"error": "topic %s not found on %s within %gs"
                              % (a.topic, a.bootstrap, a.timeout)}))
            return 2
        tps = [TopicPartition(a.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        for tp, off in consumer.beginning_offsets(tps).items():
            c.next_offset[tp.partition] = off
            if off > 0:
                c.offset_gaps += off
                c.problem("partition %d: offsets 0..%d were dropped before the checker "
                          "started (the mock keeps ~5 MB per partition)"
                          % (tp.partition, off - 1))
        if a.ready_file:
            open(a.ready_file, "w").close()
        last_new = time.monotonic()
        reached_at = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                stopped = "timeout"
                break
            if reached_at is not None and now - reached_at >= a.linger:
                stopped = "expect"
                break
            if now - last_new >= a.idle:
                stopped = "idle"
                break
            batch = consumer.poll(timeout_ms=100)
            for recs in batch.values():
                for r in recs:
                    c.record(r)
                    last_new = time.monotonic()
            if reached_at is None and a.expect is not None and len(c.seen) >= a.expect:
                reached_at = time.monotonic()
    except Stop:
        stopped = "signal"
    except Exception as e:  # a client failure is reported, not a traceback
        result["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if consumer is not None:
            try:
                consumer.close(autocommit=False)
            except Exception:
                pass
    result.update({
        "messages": c.messages, "unique": len(c.seen), "duplicates": c.duplicates,
        "bad": c.bad, "bad_count": c.bad_count,
        "out_of_order": c.out_of_order, "out_of_order_sensors": len(c.disordered),
        "headers_ok": c.headers_ok, "keys_ok": c.keys_ok,
        "max_seq": max(c.seqs) if c.seqs else None,
        "min_seq": min(c.seqs) if c.seqs else None,
        "offset_gaps": c.offset_gaps,
        "split_sensors": sum(1 for s in c.sensor_parts.values() if len(s) > 1),
        "partitions": {str(p): n for p, n in sorted(c.per_partition.items())},
        "stopped": stopped, "elapsed_s": round(time.monotonic() - start, 2),
    })
    if a.seqs_out:
        with open(a.seqs_out, "w") as f:
            f.writelines("%d\n" % s for s in sorted(c.seqs))
    if a.kcat:
        result["kcat"] = kcat_counts(a.bootstrap, a.topic, max(10.0, a.idle * 2))
    print(json.dumps(result, sort_keys=True))
    sys.stdout.flush()
    ok = ("error" not in result and (a.expect is None or len(c.seen) >= a.expect)
          and c.bad_count == 0 and c.out_of_order == 0 and c.offset_gaps == 0
          and c.headers_ok and c.keys_ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
