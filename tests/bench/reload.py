#!/usr/bin/env python3
# reload.py - one `reload` benchmark run (tests/bench/run.sh), read back from
# the agent's buffer and the list of reloads the script sent.
#
#   reload.py BUFFER_DB SENSORS RATE RELOADS
#
# RELOADS has one line per SIGHUP: "VERSION SIGNAL_MS" (the wall clock, ms,
# just before kill -HUP; every model of set VERSION carries that version);
# version 1 marks a moment noted without a reload (the baseline run).
# The readings come from `fieldgate simulate --mqtt --sensors SENSORS --rate
# RATE`, as for latency.py: each event's lateness L = received_at minus its
# scheduled publish time, less the smallest such figure of the run (see
# latency.py), in ms (+-1 ms: received_at has ms resolution).
#
# Per reload: live = the first received_at of an event scored by its set
# minus SIGNAL_MS (signal -> new set live); around = the events received in
# [SIGNAL_MS, SIGNAL_MS + 200] and, of those, the ones with L > 10 ms; and
# swap_late, the median over the reloads of the largest L in the 50 ms after
# the signal (when the new set goes live). Prints one line: "reloads N
# live_median X live_max X around N delayed N p99 X max X swap_late X" (ms).
# Exits 1 when a reload's set never scored an event.
import json
import sqlite3
import sys

from latency import epoch_ms, pct  # the same clock arithmetic as latency.py


def main():
    db, sensors, rate, reloads = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    step = 1000.0 / (sensors * rate)
    sent = [tuple(int(x) for x in l.split()) for l in open(reloads) if l.strip()]
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    first, ev = {}, []
    for (d,) in con.execute("SELECT data FROM events ORDER BY seq"):
        e = json.loads(d)
        k = int(e["sensor_id"].rsplit("-", 1)[1])
        ts, rx = epoch_ms(e["@timestamp"]), epoch_ms(e["received_at"])
        v = int(e["models"]["status"].split("@")[1])
        first.setdefault(v, rx)
        ev.append((rx, rx - ts - k * step))
    lo = min(c for _, c in ev)
    lat = sorted(c - lo for _, c in ev)
    live, around, delayed, swap = [], 0, 0, []
    for v, sig in sent:
        # the latest reading of the 50 ms in which the new set goes live
        swap.append(max([c - lo for rx, c in ev if sig <= rx <= sig + 50] or [0]))
        if v == 1:  # a moment noted without a reload (the baseline run)
            live.append(0)
        elif v not in first:
            print("set %d never scored an event" % v, file=sys.stderr)
            return 1
        else:
            live.append(first[v] - sig)
        for rx, c in ev:
            if sig <= rx <= sig + 200:
                around += 1
                delayed += (c - lo) > 10
    if len(sys.argv) > 5:  # per reload: when the late readings came
        for v, sig in sent:
            late = sorted((rx - sig, round(c - lo, 1)) for rx, c in ev if sig - 100 <= rx <= sig + 300 and c - lo > 5)
            print("reload %d: %s" % (v, late[:12]), file=sys.stderr)
    live.sort()
    swap.sort()
    print("reloads %d live_median %d live_max %d around %d delayed %d p99 %.2f max %.2f swap_late %.1f"
          % (len(live), live[len(live) // 2], live[-1], around, delayed, pct(lat, 99), lat[-1],
             swap[len(swap) // 2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
