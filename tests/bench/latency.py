#!/usr/bin/env python3
# latency.py - the reading-to-commit latency of one `latency` benchmark run
# (tests/bench/run.sh), read back from the agent's buffer.
#
#   latency.py BUFFER_DB SENSORS RATE [OBSERVER]
#
# The readings come from `fieldgate simulate --mqtt --sensors SENSORS --rate
# RATE` (no --start): reading i (0-based) is published at t0 + i / (SENSORS x
# RATE) s, and the readings of round r (sensor-000 .. sensor-NNN) all carry
# timestamp = start + round(r x 1000 / RATE) ms, where start is the wall clock
# when simulate parsed its options and t0 the monotonic clock once it had
# connected (sensors/SIMULATOR.md, agent/cmd_tools.c). So sensor k of a round
# is scheduled k x 1000 / (SENSORS x RATE) ms after the round's timestamp, and
# the scheduled publish time is timestamp + that + D, D being simulate's
# connect time (constant in a run, unknown).
#
# For each event: C = received_at - (@timestamp + k x 1000 / (SENSORS x RATE))
# in ms, which is the latency plus D. The latency estimate is C - min(C): the
# latency relative to the fastest message of the run (whose own latency, well
# under 1 ms on loopback, is thus left out). received_at and @timestamp have
# millisecond resolution (received_at is truncated), so every figure is +- 1 ms.
#
# OBSERVER, optional, is the output of `mosquitto_sub -F '%U %p'` subscribed
# to the same topics during the run: the time each reading reached a second,
# trivial subscriber (ns resolution). Then obs_p99 is the p99 of the same
# latency for that subscriber (publisher + broker, no agent; same offset
# min(C) as the agent's) and agent_obs_p99 the p99 of received_at minus the
# observer's time, reading by reading: what the agent itself adds.
#
# Prints one line: "count N p50 X p99 X max X c_min X c_p99 X raw_p99 X
# [obs_p99 X agent_obs_p99 X]" (ms; c_* is C itself, raw_* is received_at -
# @timestamp, the figure without the in-round pacing correction). Exits 1
# when the buffer has no events.
import datetime
import json
import sqlite3
import sys


def epoch_ms(s):
    """RFC 3339 UTC with milliseconds ("2026-11-21T23:54:26.640Z") -> epoch ms."""
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * 1000)


def pct(v, p):
    """Nearest-rank percentile p (0-100) of the sorted list v."""
    i = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[i]


def main():
    db, sensors, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    step = 1000.0 / (sensors * rate)
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    obs = {}
    if len(sys.argv) > 4:
        for line in open(sys.argv[4]):
            t, p = line.split(" ", 1)
            r = json.loads(p)
            obs[(r["sensor_id"], r["timestamp"])] = float(t) * 1000
    c, raw, oc, diff = [], [], [], []
    for (d,) in con.execute("SELECT data FROM events ORDER BY seq"):
        e = json.loads(d)
        k = int(e["sensor_id"].rsplit("-", 1)[1])
        ts, rx = epoch_ms(e["@timestamp"]), epoch_ms(e["received_at"])
        raw.append(rx - ts)
        c.append(rx - ts - k * step)
        o = obs.get((e["sensor_id"], ts))
        if o is not None:
            oc.append(o - ts - k * step)
            diff.append(rx - o)
    if not c:
        print("no events in %s" % db, file=sys.stderr)
        return 1
    c.sort()
    raw.sort()
    lo = c[0]
    lat = [x - lo for x in c]
    line = ("count %d p50 %.2f p99 %.2f max %.2f c_min %.2f c_p99 %.2f raw_p99 %.2f"
            % (len(c), pct(lat, 50), pct(lat, 99), lat[-1], lo, pct(c, 99), pct(raw, 99)))
    if oc:
        oc.sort()
        diff.sort()
        line += " obs_p99 %.2f agent_obs_p99 %.2f" % (pct(oc, 99) - lo, pct(diff, 99))
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
