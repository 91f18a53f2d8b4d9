#!/usr/bin/python3
"""parity.py - does a peer predict what fieldgate predicts, reading by
reading? (make compare checks every peer with it before timing it.)

  /usr/bin/python3 parity.py REFERENCE.jsonl PEER.jsonl [--tolerance 1e-5] [--show 10]

Both files hold one JSON event per line with a "prediction" object
{"status", "status_probability", "anomaly", "anomaly_probability",
"humidity"}: REFERENCE is `fieldgate score` output (OUT/parity.fieldgate.jsonl,
from tests/peers/compare/prep.sh), PEER a peer's score-mode output. Readings
are matched by (sensor_id, timestamp), where the timestamp is the event's
"timestamp" in epoch milliseconds or, failing that, its "@timestamp"
(RFC 3339, as fieldgate writes it), so the order of the lines does not
matter. A reading is equal when status and anomaly are equal and
status_probability, anomaly_probability and humidity differ by at most the
tolerance, absolute or relative, whichever is looser (fieldgate prints 6
significant digits).

Exit status: 0 when every reading of REFERENCE is in PEER and equal, and
PEER has no other reading (one summary line on stdout); 1 otherwise (a
summary and the first --show differences, missing and extra readings);
2 on a usage error or a file that cannot be read or parsed.
"""
import argparse
import calendar
import json
import math
import sys
import time

NUMS = ("status_probability", "anomaly_probability", "humidity")


def fail_usage(msg):
    sys.stderr.write("parity: %s\n" % msg)
    sys.exit(2)


def epoch_ms(e, where):
    ts = e.get("timestamp")
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return int(ts)
    s = e.get("@timestamp", ts)
    if not isinstance(s, str):
        fail_usage("%s: no \"timestamp\" (epoch ms) or \"@timestamp\" (RFC 3339)" % where)
    try:
        base, rest = s[:19], s[19:]
        ms = 0
        if rest.startswith("."):
            j = 1
            while j < len(rest) and rest[j].isdigit():
                j += 1
            ms = int((rest[1:j] + "000")[:3])
            rest = rest[j:]
        secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
        if rest not in ("Z", "z", "+00:00"):
            if len(rest) != 6 or rest[0] not in "+-" or rest[3] != ":":
                raise ValueError(rest)
            off = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
            secs -= off if rest[0] == "+" else -off
        return secs * 1000 + ms
    except ValueError:
        fail_usage("%s: timestamp %r is not RFC 3339" % (where, s))


def load(path):
    """{(sensor_id, ms): (lineno, prediction)} of a file of events."""
    out = {}
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        fail_usage("%s: cannot read: %s" % (path, e.strerror))
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = "%s:%d" % (path, n)
            try:
                e = json.loads(line)
            except ValueError as err:
                fail_usage("%s: not JSON: %s" % (where, err))
            if not isinstance(e, dict) or not isinstance(e.get("prediction"), dict) or \
                    not isinstance(e.get("sensor_id"), str):
                fail_usage("%s: not an event (needs sensor_id and a prediction object)" % where)
            p = e["prediction"]
            for k in ("status", "anomaly") + NUMS:
                if k not in p:
                    fail_usage("%s: prediction has no %r" % (where, k))
            key = (e["sensor_id"], epoch_ms(e, where))
            if key in out:
                fail_usage("%s: reading %s @ %d is already on line %d (each reading once)"
                           % (where, key[0], key[1], out[key][0]))
            out[key] = (n, p)
    return out


def close(a, b, tol):
    if isinstance(a, bool) or isinstance(b, bool) or \
            not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return False, math.inf
    d = abs(a - b)
    return d <= max(tol, tol * abs(b)), d


def main():
    ap = argparse.ArgumentParser(description="compare a peer's predictions with fieldgate's")
    ap.add_argument("reference", help="fieldgate score output (OUT/parity.fieldgate.jsonl)")
    ap.add_argument("peer", help="the peer's score-mode output")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument("--show", type=int, default=10, help="differences to list (10)")
    a = ap.parse_args()
    ref, peer = load(a.reference), load(a.peer)
    if not ref:
        fail_usage("%s: no events" % a.reference)
    diffs, maxd = [], {k: 0.0 for k in NUMS}
    missing = [k for k in ref if k not in peer]
    extra = [k for k in peer if k not in ref]
    for key, (n, p) in sorted(ref.items(), key=lambda kv: kv[1][0]):
        if key not in peer:
            continue
        m, q = peer[key]
        why = []
        for k in ("status", "anomaly"):
            # status: int; anomaly: bool (an int 0/1 is accepted as the same)
            if type(p[k]) is bool or type(q[k]) is bool:
                same = bool(p[k]) == bool(q[k]) and isinstance(q[k], (bool, int))
            else:
                same = p[k] == q[k]
            if not same:
                why.append("%s %r (peer %r)" % (k, p[k], q[k]))
        for k in NUMS:
            ok, d = close(q[k], p[k], a.tolerance)
            if d > maxd[k]:
                maxd[k] = d
            if not ok:
                why.append("%s %r (peer %r)" % (k, p[k], q[k]))
        if why:
            diffs.append("  %s @ %d (reference line %d, peer line %d): %s"
                         % (key[0], key[1], n, m, "; ".join(why)))
    matched = len(ref) - len(missing) - len(diffs)
    maxs = ", ".join("%s %.2g" % (k, maxd[k]) for k in NUMS)
    if not diffs and not missing and not extra:
        print("parity: %d of %d readings equal (%s vs %s; status and anomaly identical, "
              "largest differences: %s; tolerance %g)"
              % (matched, len(ref), a.reference, a.peer, maxs, a.tolerance))
        return 0
    print("parity: FAILED: %d of %d readings equal, %d differ, %d missing from %s, "
          "%d extra in it (largest differences: %s; tolerance %g)"
          % (matched, len(ref), len(diffs), len(missing), a.peer, len(extra), maxs, a.tolerance))
    for line in diffs[:a.show]:
        print(line)
    if len(diffs) > a.show:
        print("  ... and %d more differences" % (len(diffs) - a.show))
    for what, keys in (("missing from the peer", missing), ("extra in the peer", extra)):
        if keys:
            shown = ", ".join("%s @ %d" % k for k in sorted(keys)[:a.show])
            print("  %s: %s%s" % (what, shown, " ..." if len(keys) > a.show else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main())
