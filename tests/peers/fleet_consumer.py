#!/usr/bin/python3
"""fleet_consumer.py - a Kafka consumer group member for test_fleet, and the
merge of what the members read (kafka-python, Debian's python3-kafka).

  fleet_consumer.py consume --bootstrap B --topic T --group G --name NAME
                            --dir DIR [--go-file F] [--stop-file F]
                            [--close-file F] [--timeout S]
      One member of consumer group G (KafkaConsumer with group_id and
      subscribe(), offsets committed to the group every second). It
      bootstraps first and creates DIR/NAME.ready, then waits for --go-file
      (so the members of a test join the group together, see below), then
      reads T until --stop-file exists (or SIGTERM/SIGINT, or --timeout);
      then it commits, writes NAME.json and stays in the group until
      --close-file exists (a member leaving would make the group rebalance
      before the others have committed). It writes:
        DIR/NAME.records   one line per message read, in the order read:
                           "partition offset key gateway_id sensor_id seq event_id
                           ts_ms read_ms" (the event's @timestamp and the time
                           it was read, epoch milliseconds)
        DIR/NAME.assign    one JSON line per assignment and revocation:
                           {"event", "partitions", "generation", "member",
                            "coordinator", "leaders", "t"}
        DIR/NAME.progress  "messages distinct_event_ids", every 0.5 s
        DIR/NAME.json      at the end: kafka_check.py's checks over its own
                           messages (JSON, key = sensor_id, headers), the
                           offsets it committed and the partitions' end
                           offsets, and any client error
  fleet_consumer.py merge --dir DIR --names c1,c2,c3 --partitions N
                          --expect GW=N[,GW=N...]
      Merges the members' files and prints one JSON object (see merge()).
  fleet_consumer.py latency --dir DIR --names c1,c2,c3 --from T0 --to T1
      End to end, per gateway: for the events whose @timestamp lies in
      [T0, T1] (epoch seconds), one line "GATEWAY EVENTS MAX_S", MAX_S the
      longest time from @timestamp to being read by the group (first read).

librdkafka 2.0.2's mock cluster as a group coordinator for kafka-python
2.0.2 (which negotiates api_version (2, 3, 0): FindCoordinator v0,
JoinGroup v2, SyncGroup v1, Heartbeat v1, OffsetCommit v2, OffsetFetch v1)
works for a group that forms in one go, with two limits (FIXMEs in
rdkafka_mock_cgrp.c):
  - the mock answers the parked SyncGroups as soon as the leader's brings
    the assignments, then calls the group up and answers any SyncGroup
    after that with INVALID_REQUEST (42), which kafka-python raises as
    fatal: a follower slower than the leader never gets its assignment (2
    of 3 members died so). Hence FollowersFirstRange, the range assignment
    computed 1.5 s late by the leader;
  - a member joining an established group makes the mock rebalance, and
    that does not converge with kafka-python: members started 5 s apart
    had, 50 s later, no partitions at all (the first one's revoked; without
    FollowersFirstRange, SyncGroups refused as above). Hence the --go-file:
    the members bootstrap first, then join at the same moment (inside the
    mock's 3 s initial rebalance delay), and --close-file: they leave only
    after all of them have committed. test_fleet checks one assignment per
    member (a rebalance would show as a second one, or as this client's
    error in NAME.json).
"""
import argparse
import calendar
import datetime
import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka_check import Checker
except ImportError as e:
    sys.stderr.write("fleet_consumer: %s (apt-get install python3-kafka; make deps)\n" % e)
    sys.exit(2)

stop = False


def on_signal(signum, frame):
    """The first signal ends the read loop; a second one ends the process
    (kafka-python can block in poll() while it waits to join a group)."""
    global stop
    if stop:
        os._exit(1)
    stop = True


class FollowersFirstRange(RangePartitionAssignor):
    """The range assignment, computed by the group leader LEADER_DELAY_S
    later, so that its SyncGroup reaches the mock after the followers'.
    librdkafka 2.0.2's mock answers every parked SyncGroup as soon as the
    leader's brings the assignments, then calls the group up and refuses a
    SyncGroup that comes after that with INVALID_REQUEST (a follower that
    was slower than the leader never gets its assignment; kafka-python
    raises that as fatal). A real broker answers a late follower too."""
    name = "range"
    LEADER_DELAY_S = 1.5

    @classmethod
    def assign(cls, cluster, member_metadata):
        time.sleep(cls.LEADER_DELAY_S)
        return super().assign(cluster, member_metadata)


def epoch_ms(iso):
    """"2026-12-03T17:44:25.169Z" -> epoch milliseconds (None if not that)."""
    try:
        d = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    except (TypeError, ValueError):
        return None
    return calendar.timegm(d.timetuple()) * 1000 + d.microsecond // 1000


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Listener(ConsumerRebalanceListener):
    def __init__(self, consumer, topic, path):
        self.consumer, self.topic, self.path = consumer, topic, path
        self.assigned = []          # the partitions of the current assignment

    def _log(self, event, parts):
        co = self.consumer._coordinator
        gen = co._generation
        cluster = self.consumer._client.cluster
        leaders = {}
        for p in sorted(cluster.partitions_for_topic(self.topic) or ()):
            leaders[str(p)] = cluster.leader_for_partition(TopicPartition(self.topic, p))
        rec = {"event": event, "partitions": sorted(tp.partition for tp in parts),
               "generation": getattr(gen, "generation_id", None),
               "member": getattr(gen, "member_id", None),
               "coordinator": co.coordinator_id, "leaders": leaders, "t": time.time()}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def on_partitions_revoked(self, revoked):
        if revoked:
            self._log("revoked", revoked)
        self.assigned = []

    def on_partitions_assigned(self, assigned):
        self.assigned = sorted(assigned, key=lambda tp: tp.partition)
        self._log("assigned", assigned)


def consume(a):
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    base = os.path.join(a.dir, a.name)
    result = {"name": a.name}
    consumer = None
    c = Checker(max_bad=10)
    rec_f = open(base + ".records", "w")
    listener = None
    start = time.monotonic()
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=a.bootstrap.split(","), group_id=a.group,
            client_id=a.name, enable_auto_commit=True, auto_commit_interval_ms=1000,
            auto_offset_reset="earliest", session_timeout_ms=30000,
            heartbeat_interval_ms=1000, fetch_max_wait_ms=100, max_poll_records=2000,
            request_timeout_ms=40000, reconnect_backoff_max_ms=1000,
            partition_assignment_strategy=[FollowersFirstRange])
        result["api_version"] = list(consumer.config["api_version"])
        open(base + ".ready", "w").close()
        while a.go_file and not os.path.exists(a.go_file) and not stop:
            time.sleep(0.02)
        listener = Listener(consumer, a.topic, base + ".assign")
        consumer.subscribe([a.topic], listener=listener)
        last_progress = 0.0
        while not stop and time.monotonic() - start < a.timeout and \
                not (a.stop_file and os.path.exists(a.stop_file)):
            batch = consumer.poll(timeout_ms=200)
            for recs in batch.values():
                for r in recs:
                    c.record(r)
                    read_ms = int(time.time() * 1000)
                    try:
                        v = json.loads(r.value)
                        gw, sensor, seq, eid = (v.get("gateway_id"), v.get("sensor_id"),
                                                v.get("seq"), v.get("event_id"))
                        ts_ms = epoch_ms(v.get("@timestamp"))
                    except (TypeError, ValueError, AttributeError):
                        gw = sensor = seq = eid = ts_ms = None
                    key = r.key.decode("utf-8", "replace") if r.key is not None else "-"
                    rec_f.write("%d %d %s %s %s %s %s %s %d\n" % (
                        r.partition, r.offset, key, gw, sensor, seq, eid, ts_ms, read_ms))
            now = time.monotonic()
            if now - last_progress >= 0.5:
                rec_f.flush()
                write_atomic(base + ".progress", "%d %d\n" % (c.messages, len(c.seen)))
                last_progress = now
        # The group's committed offsets must reach what was read.
        if listener.assigned:
            consumer.commit()
            result["committed"] = {str(tp.partition): consumer.committed(tp)
                                   for tp in listener.assigned}
            result["end_offsets"] = {str(tp.partition): off for tp, off in
                                     consumer.end_offsets(listener.assigned).items()}
    except Exception as e:  # reported in the JSON, not as a traceback
        result["error"] = "%s: %s" % (type(e).__name__, e)
    rec_f.close()
    write_atomic(base + ".progress", "%d %d\n" % (c.messages, len(c.seen)))
    result.update({
        "messages": c.messages, "unique": len(c.seen), "duplicates": c.duplicates,
        "bad": c.bad, "bad_count": c.bad_count, "out_of_order": c.out_of_order,
        "headers_ok": c.headers_ok, "keys_ok": c.keys_ok, "offset_gaps": c.offset_gaps,
        "partitions": {str(p): n for p, n in sorted(c.per_partition.items())},
        "elapsed_s": round(time.monotonic() - start, 2)})
    write_atomic(base + ".json", json.dumps(result, sort_keys=True) + "\n")
    # Still a member until --close-file: a member that leaves makes the
    # group rebalance, and the others could no longer commit.
    end = time.monotonic() + 60
    while a.close_file and not os.path.exists(a.close_file) and not stop \
            and time.monotonic() < end:
        time.sleep(0.05)
    if consumer is not None:
        try:
            consumer.close(autocommit=False)
        except Exception:
            pass
    return 0 if "error" not in result else 1


def records(d, names):
    """(name, line) for every line of each member's DIR/NAME.records; a
    member that wrote no file (it died before consuming) has none."""
    for n in names:
        try:
            f = open(os.path.join(d, n + ".records"))
        except OSError:
            continue
        with f:
            for line in f:
                yield n, line


def merge(a):
    """What the group read, together. Output keys:
    errors           the members' client errors and bad messages
    assignments      {name: [partitions]} (the last assignment of each)
    assign_events    {name: number of assignments} (1 each: no rebalance)
    generations      distinct generation ids of the assignments
    overlap          partitions assigned to more than one member
    unassigned       partitions assigned to none
    foreign_reads    messages a member read from a partition not assigned to it
    shared_partitions  partitions that more than one member read from
    offsets_missing  offsets below a partition's end offset that nobody read
    offsets_reread   (partition, offset) read more than once
    messages, unique, duplicates (messages with an event_id already read)
    missing          {gateway: count of seqs 1..N not read}
    missing_first    a few of them, "gw:seq"
    extra            distinct events outside the expected gateways/seqs
    out_of_order     new event_ids that arrived, in offset order within
                     their partition, after a higher seq of the same
                     (gateway_id, sensor_id): kafka_check.py's rule
    split_sensors    sensor_ids found in more than one partition
    partition_messages  {partition: messages}; imbalance: the largest
                     |count - mean| / mean over the partitions
    commit_lag       sum over partitions of end offset - committed offset
    coordinator, leaders  as the members saw them
    headers_ok, keys_ok  every member's kafka_check verdict
    """
    names = a.names.split(",")
    expect = {}
    for kv in a.expect.split(","):
        gw, n = kv.split("=")
        expect[gw] = int(n)
    out = {"errors": [], "assignments": {}, "assign_events": {}, "generations": [],
           "headers_ok": True, "keys_ok": True}
    owner = {}
    gens = set()
    coord, leaders = None, {}
    ends, committed = {}, {}
    for n in names:
        base = os.path.join(a.dir, n)
        try:
            s = json.load(open(base + ".json"))
        except (OSError, ValueError) as e:
            out["errors"].append("%s: no summary (%s)" % (n, e))
            s = {}
        if "error" in s:
            out["errors"].append("%s: %s" % (n, s["error"]))
        if s.get("bad_count"):
            out["errors"].append("%s: %d bad messages, first: %s" % (n, s["bad_count"], s["bad"][:3]))
        out["headers_ok"] = out["headers_ok"] and s.get("headers_ok", False)
        out["keys_ok"] = out["keys_ok"] and s.get("keys_ok", False)
        ends.update({int(p): o for p, o in s.get("end_offsets", {}).items()})
        committed.update({int(p): o for p, o in s.get("committed", {}).items()})
        events = []
        try:
            events = [json.loads(line) for line in open(base + ".assign")]
        except (OSError, ValueError):
            pass
        assigned = [e for e in events if e["event"] == "assigned"]
        out["assign_events"][n] = len(assigned)
        if assigned:
            last = assigned[-1]
            out["assignments"][n] = last["partitions"]
            gens.add(last["generation"])
            coord, leaders = last["coordinator"], last["leaders"]
            for p in last["partitions"]:
                owner.setdefault(p, []).append(n)
    out["generations"] = sorted(g for g in gens if g is not None)
    out["coordinator"], out["leaders"] = coord, leaders
    out["overlap"] = sorted(p for p, o in owner.items() if len(o) > 1)
    out["unassigned"] = sorted(p for p in range(a.partitions) if p not in owner)

    rows = []            # (partition, offset, name, key, gw, sensor, seq, eid)
    readers = {}
    foreign = 0
    for n, line in records(a.dir, names):
        parts = line.split()
        if len(parts) != 9:
            out["errors"].append("%s: malformed record line %r" % (n, line[:80]))
            continue
        p, off = int(parts[0]), int(parts[1])
        seq = int(parts[5]) if parts[5].lstrip("-").isdigit() else None
        rows.append((p, off, n, parts[2], parts[3], parts[4], seq, parts[6]))
        readers.setdefault(p, set()).add(n)
        if n not in owner.get(p, []):
            foreign += 1
    out["foreign_reads"] = foreign
    out["shared_partitions"] = sorted(p for p, r in readers.items() if len(r) > 1)
    rows.sort(key=lambda r: (r[0], r[1]))

    read_offsets = {}
    reread = 0
    seen = set()
    dups = 0
    last_seq = {}
    ooo = 0
    sensor_parts = {}
    per_part = {}
    got = {gw: set() for gw in expect}
    extra = 0
    prev = None
    for p, off, n, key, gw, sensor, seq, eid in rows:
        if (p, off) == prev:
            reread += 1
            continue
        prev = (p, off)
        read_offsets.setdefault(p, set()).add(off)
        per_part[p] = per_part.get(p, 0) + 1
        sensor_parts.setdefault(sensor, set()).add(p)
        if eid in seen:
            dups += 1
            continue
        seen.add(eid)
        if gw in expect and seq is not None and 1 <= seq <= expect[gw] and eid == "%s:%d" % (gw, seq):
            got[gw].add(seq)
        else:
            extra += 1
        stream = (p, gw, sensor)
        if seq is not None:
            if stream in last_seq and seq <= last_seq[stream]:
                ooo += 1
            else:
                last_seq[stream] = seq
    missing_off = 0
    for p in range(a.partitions):
        have = read_offsets.get(p, set())
        end = ends.get(p, max(have) + 1 if have else 0)
        missing_off += sum(1 for o in range(end) if o not in have)
    out["offsets_missing"] = missing_off
    out["offsets_reread"] = reread
    out["end_offsets"] = {str(p): ends.get(p) for p in range(a.partitions)}
    for p in range(a.partitions):
        if p not in ends or committed.get(p) is None:
            out["errors"].append("partition %d: no end offset or committed offset reported" % p)
    out["commit_lag"] = sum(ends.get(p, 0) - (committed.get(p) or 0) for p in range(a.partitions))
    out["messages"] = sum(per_part.values())
    out["unique"] = len(seen)
    out["duplicates"] = dups
    out["missing"] = {gw: expect[gw] - len(got[gw]) for gw in sorted(expect)}
    out["missing_first"] = ["%s:%d" % (gw, s) for gw in sorted(expect)
                            for s in range(1, expect[gw] + 1) if s not in got[gw]][:5]
    out["extra"] = extra
    out["out_of_order"] = ooo
    out["split_sensors"] = sum(1 for s in sensor_parts.values() if len(s) > 1)
    out["partition_messages"] = {str(p): per_part.get(p, 0) for p in range(a.partitions)}
    mean = out["messages"] / a.partitions if a.partitions else 0
    out["imbalance"] = round(max(abs(per_part.get(p, 0) - mean) / mean
                                 for p in range(a.partitions)), 4) if mean else None
    print(json.dumps(out, sort_keys=True))
    return 0


def latency(a):
    t0, t1 = float(a.from_.replace(",", ".")) * 1000, float(a.to.replace(",", ".")) * 1000
    first = {}           # event_id -> (gateway, ts_ms, first read_ms)
    for n, line in records(a.dir, a.names.split(",")):
        p = line.split()
        if len(p) != 9 or p[7] == "None" or not t0 <= int(p[7]) <= t1:
            continue
        eid, ts, rd = p[6], int(p[7]), int(p[8])
        if eid not in first or rd < first[eid][2]:
            first[eid] = (p[3], ts, rd)
    per = {}
    for gw, ts, rd in first.values():
        cnt, worst = per.get(gw, (0, 0))
        per[gw] = (cnt + 1, max(worst, rd - ts))
    for gw in sorted(per, key=lambda g: (len(g), g)):
        print(gw, per[gw][0], "%.2f" % (per[gw][1] / 1000.0))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("consume")
    c.add_argument("--bootstrap", required=True)
    c.add_argument("--topic", required=True)
    c.add_argument("--group", required=True)
    c.add_argument("--name", required=True)
    c.add_argument("--dir", required=True)
    c.add_argument("--go-file")
    c.add_argument("--stop-file")
    c.add_argument("--close-file")
    c.add_argument("--timeout", type=float, default=600)
    m = sub.add_parser("merge")
    m.add_argument("--dir", required=True)
    m.add_argument("--names", required=True)
    m.add_argument("--partitions", type=int, required=True)
    m.add_argument("--expect", required=True, help="GW=N[,GW=N...]: seqs 1..N of each gateway")
    lat = sub.add_parser("latency")
    lat.add_argument("--dir", required=True)
    lat.add_argument("--names", required=True)
    lat.add_argument("--from", dest="from_", required=True)
    lat.add_argument("--to", required=True)
    a = ap.parse_args()
    return {"consume": consume, "merge": merge, "latency": latency}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
