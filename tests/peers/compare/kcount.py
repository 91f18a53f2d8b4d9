#!/usr/bin/python3
"""kcount.py - what one `make compare` run delivered to Kafka, read back by an
independent client (Debian's python3-confluent-kafka), the same way for every
system, so the figures compare.

  kcount.py hwm BOOTSTRAP TOPIC
      print "HIGH LOW": the sum over partitions of the high and low
      watermarks (HIGH = messages produced so far, duplicates included;
      LOW > 0 means the mock dropped old batches and a dump would miss them).
  kcount.py wait BOOTSTRAP TOPIC N [--idle S] [--timeout S]
      poll the watermarks every 0.1 s until HIGH >= N, or (with --idle)
      HIGH has not grown for S s, or --timeout S (default 600) passed; print
      "HIGH SECONDS" (SECONDS: wall clock, epoch, when it stopped) and exit
      0 when N was reached, 1 otherwise.
  kcount.py dump BOOTSTRAP TOPIC [--observer FILE] [--skip-ms MS]
      read every partition from offset 0 to its high watermark and print one
      JSON object: messages, readings (distinct sensor_id + reading
      timestamp), duplicates, dropped (LOW), bad (values that are not an
      event with sensor_id, a timestamp and a prediction), first_ms and
      last_ms (the messages' CreateTime, set by each system's producer when
      it hands the event over, i.e. after its local commit), rate (readings/s
      between the first and the last CreateTime), and with --observer the
      latency of each reading from the moment a trivial subscriber on the
      same broker received it (FILE: `mosquitto_sub -F '%U %p'`, ns
      resolution) to its CreateTime: lat_p50, lat_p99, lat_max (ms), over
      the readings observed after the first MS ms of the run (--skip-ms,
      default 2000, at most a fifth of the run: connection set-up and the
      first batch's warm-up are not the steady state), and matched
      (readings found in both).

A reading is identified by (sensor_id, timestamp): fieldgate's events carry
the reading's time as "@timestamp" (RFC 3339, ms), the peers' as "timestamp"
(epoch ms); the simulator gives each sensor one reading per timestamp.
Exit status 0, or 2 on a usage or connection error (message on stderr).
"""
import datetime
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition


def reading_id(ev):
    """(sensor_id, epoch ms) of an event value, or None when it is not one."""
    if not isinstance(ev, dict) or not isinstance(ev.get("sensor_id"), str) or "prediction" not in ev:
        return None
    ts = ev.get("timestamp")
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return ev["sensor_id"], int(ts)
    ts = ev.get("@timestamp")
    if isinstance(ts, str):
        try:
            t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return None
        return ev["sensor_id"], round(t.timestamp() * 1000)
    return None


def consumer(bootstrap):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "fieldgate-compare-kcount",
                     "enable.auto.commit": False, "enable.partition.eof": True,
                     "fetch.max.bytes": 16 << 20, "max.partition.fetch.bytes": 4 << 20})


def partitions(c, topic):
    md = c.list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None or not t.partitions:
        raise KafkaException("topic %s not found: %s" % (topic, t.error if t else "no metadata"))
    return sorted(t.partitions)


def watermarks(c, topic):
    """{partition: (low, high)}."""
    return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions(c, topic)}


def wait(bootstrap, topic, n, idle, timeout):
    c = consumer(bootstrap)
    start = time.time()
    last, grew = -1, start
    while True:
        try:
            hi = sum(h for lo, h in watermarks(c, topic).values())
        except KafkaException:
            hi = last  # a broker down for a moment: ask again
        now = time.time()
        if hi > last:
            last, grew = hi, now
        if last >= n or (idle and now - grew >= idle) or now - start >= timeout:
            break
        time.sleep(0.1)
    c.close()
    print(last, "%.3f" % now)
    return 0 if last >= n else 1


def pct(v, p):
    """Nearest-rank percentile p (0-100) of the sorted list v."""
    i = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[i]


def dump(bootstrap, topic, observer, skip_ms):
    c = consumer(bootstrap)
    wm = watermarks(c, topic)
    todo = {p: hi for p, (lo, hi) in wm.items() if hi > 0}
    c.assign([TopicPartition(topic, p, 0) for p in todo])
    seen = {}
    messages = bad = 0
    first = last = None
    while todo:
        batch = c.consume(10000, timeout=5)
        if not batch:
            raise KafkaException("no message for 5 s with partitions %s unread" % sorted(todo))
        for m in batch:
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    todo.pop(m.partition(), None)
                    continue
                raise KafkaException(m.error())
            if m.partition() not in todo:
                continue
            if m.offset() + 1 >= todo[m.partition()]:
                todo.pop(m.partition())
            messages += 1
            try:
                rid = reading_id(json.loads(m.value()))
            except (ValueError, TypeError):
                rid = None
            if rid is None:
                bad += 1
                continue
            ts = m.timestamp()[1]
            if rid not in seen:
                seen[rid] = ts
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
    c.close()
    out = {"messages": messages, "readings": len(seen), "duplicates": messages - bad - len(seen),
           "dropped": sum(lo for lo, hi in wm.values()), "bad": bad, "first_ms": first, "last_ms": last,
           "rate": round((len(seen) - 1) / ((last - first) / 1000)) if last and last > first else None}
    if observer:
        obs = {}
        for line in open(observer, encoding="utf-8", errors="replace"):
            t, _, payload = line.partition(" ")
            try:
                r = json.loads(payload)
                obs.setdefault((r["sensor_id"], int(r["timestamp"])), float(t) * 1000)
            except (ValueError, KeyError, TypeError):
                continue
        t0 = min(obs.values()) if obs else 0
        if obs:  # a short run (a test): skip at most its first fifth
            skip_ms = min(skip_ms, (max(obs.values()) - t0) / 5)
        lat = sorted(seen[k] - t for k, t in obs.items() if k in seen and t >= t0 + skip_ms)
        out.update({"observed": len(obs), "matched": len(lat)})
        if not lat:  # say why: a reading of each side
            out.update({"observed_example": list(next(iter(obs), ())),
                        "kafka_example": list(next(iter(seen), ()))})
        if lat:
            out.update({"lat_p50": round(pct(lat, 50), 1), "lat_p99": round(pct(lat, 99), 1),
                        "lat_max": round(lat[-1], 1)})
    print(json.dumps(out))


def main():
    a = sys.argv[1:]
    try:
        if len(a) == 3 and a[0] == "hwm":
            c = consumer(a[1])
            wm = watermarks(c, a[2])
            c.close()
            print(sum(hi for lo, hi in wm.values()), sum(lo for lo, hi in wm.values()))
        elif len(a) >= 4 and a[0] == "wait":
            idle, timeout, rest = 0.0, 600.0, a[4:]
            while rest:
                if rest[0] in ("--idle", "--timeout") and len(rest) > 1:
                    v = float(rest[1])
                    idle, timeout = (v, timeout) if rest[0] == "--idle" else (idle, v)
                    rest = rest[2:]
                else:
                    raise SystemExit("kcount.py: unknown option %s" % rest[0])
            return wait(a[1], a[2], int(a[3]), idle, timeout)
        elif len(a) >= 3 and a[0] == "dump":
            observer, skip = None, 2000
            rest = a[3:]
            while rest:
                if rest[0] == "--observer" and len(rest) > 1:
                    observer, rest = rest[1], rest[2:]
                elif rest[0] == "--skip-ms" and len(rest) > 1:
                    skip, rest = int(rest[1]), rest[2:]
                else:
                    raise SystemExit("kcount.py: unknown option %s" % rest[0])
            dump(a[1], a[2], observer, skip)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except KafkaException as e:
        print("kcount.py: %s: %s" % (a[2] if len(a) > 2 else "?", e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
