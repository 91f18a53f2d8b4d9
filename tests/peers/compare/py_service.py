#!/usr/bin/python3
"""py_service.py - the Python peer of `make compare`: what fieldgate does,
written the way the reference design's Python consumers are written
(Debian's python3-paho-mqtt 1.6.1, python3-sklearn, sqlite3 and
python3-confluent-kafka 1.7.0, i.e. librdkafka). Run it with /usr/bin/python3
(Debian's packages import only there).

  py_service.py score --models OUT [--batch N]  <readings.jsonl  >events.jsonl
      readings (JSON lines, the simulator's format) on stdin, one event per
      reading on stdout, through the same feature and model code as the
      service; check it with parity.py against OUT/parity.fieldgate.jsonl.

  py_service.py --mqtt HOST:PORT --topic 'sensors/+/reading' --client-id ID
                --models OUT --store DIR --kafka BOOTSTRAP --kafka-topic TOPIC
                [--batch 20] [--batch-ms 10] [--gateway-id NAME]
      the service: a persistent (clean session false) QoS 1 subscription;
      per batch: features, one vectorised predict per model, INSERT into
      DIR/store.db (SQLite WAL, synchronous=NORMAL) and COMMIT, only then
      the PUBACKs, then one Kafka message per event (acks=all, idempotent,
      key = sensor_id, value = the event JSON, headers event_id and
      gateway_id as fieldgate sends them). Prints "ready" once connected and
      subscribed; SIGTERM stops it cleanly (exit 0). After kill -9, a
      restart with the same options re-sends every stored event Kafka had
      not confirmed (at-least-once, as fieldgate).

OUT is the prep dir of tests/peers/compare/prep.sh; this peer loads OUT/sk:
rf.pkl (pickle), lr.joblib and gbt.joblib (joblib), the feature orders from
rf.features, lr.features and gbt's feature_names_in_. The features are a
line-by-line port of agent/features.c (same window, same order of the
floating-point operations), so the predictions equal fieldgate's (which
imported the same models) to the last printed digit.

The store (DIR/store.db), like fieldgate's buffer (store/store.c):
  events(seq INTEGER PRIMARY KEY, ts, sensor_id, key UNIQUE, data)
      the log; key = "<timestamp> <sensor_id>", so a reading the broker
      redelivers (it was stored, the PUBACK was lost to a kill -9) is not
      stored or forwarded twice;
  quarantine(id, ts, reason, raw)     readings that are not valid
  positions(sink, seq)                the Kafka position: every event with
      seq <= it was confirmed by Kafka; written in the next batch's
      transaction (and on idle and at exit), so a restart re-sends at most
      the unconfirmed tail.

Why batches are at most ~20 readings when draining a backlog: mosquitto
sends a client at most max_inflight_messages (20, its default) QoS 1
messages that it has not acknowledged, and this service acknowledges only
after the commit. --batch is that window; a smaller batch is flushed when
no further message is waiting, or after --batch-ms. Per batch the forest's
predict_proba dominates: about 6 ms for 20 rows and 100 trees, most of it
joblib dispatching the trees one by one (the same call on 1,000 rows costs
little more), so a drain runs at some 1,400-2,500 readings/s (one core
of a busy 2-core VM), where `score --batch 1000` scores about 18,000/s.

Exit status: 0 after SIGTERM or a finished score run; 1 on a runtime error
(store, models, broker refused us); 2 on a usage error.
"""
import argparse
import calendar
import functools
import json
import math
import os
import pickle
import signal
import socket
import sqlite3
import sys
import time
import warnings
from collections import deque

import joblib
import numpy as np
import paho.mqtt.client as mqtt

# gbt.joblib was fitted on a frame (feature_names_in_); we pass it arrays in
# that same column order, which scikit-learn warns about on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names")

PROG = "py_service"


def die(msg, code=1):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.exit(code)


def log(msg):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.stderr.flush()


# ---- features: agent/features.c, operation for operation -------------------

FEATURE_NAMES = [
    "temperature", "humidity", "hour_of_day", "day_of_week", "hour_sin", "hour_cos",
    "lat", "lon", "temp_mean_10", "temp_std_10", "temp_dev_10", "temp_abs_dev_10",
    "temp_diff_prev", "temp_abs_diff_prev", "temp_repeat", "temp_is_repeat",
    "temp_ewma_abs_dev", "humidity_mean_10",
]
FEATURE_INDEX = {n: i for i, n in enumerate(FEATURE_NAMES)}
WINDOW = 10          # FEATURES_WINDOW
EWMA_ALPHA = 0.02
REPEAT_CAP = 50
MAX_SENSORS = 100000  # FEATURES_MAX_SENSORS_DEFAULT: least recently seen evicted
TWO_PI = 2.0 * math.pi


class SensorState:
    __slots__ = ("temp", "hum", "count", "head", "repeat", "ewma")

    def __init__(self):
        self.temp = [0.0] * WINDOW   # ring of previous temperatures
        self.hum = [0.0] * WINDOW    # ring of previous humidities
        self.count = 0
        self.head = 0
        self.repeat = 0
        self.ewma = 0.0


class Features:
    """Per-sensor rolling state, one instance per stream (not thread-safe)."""

    def __init__(self, max_sensors=MAX_SENSORS):
        self.sensors = {}    # insertion order = least recently seen first
        self.max_sensors = max_sensors

    def compute(self, r):
        """The 18 catalogue features of reading r (a dict from decode()),
        then remember r; exactly features_compute_at() in agent/features.c."""
        sid = r["sensor_id"]
        s = self.sensors.pop(sid, None)
        if s is None:
            s = SensorState()
            if len(self.sensors) >= self.max_sensors:
                del self.sensors[next(iter(self.sensors))]
        self.sensors[sid] = s
        t = r["temperature"]
        h = r["humidity"]
        # hour_of_day is the reading's field (or derived from the timestamp
        # when absent), the minutes come from the timestamp, as in C.
        hour = r["hour_of_day"] + ((r["timestamp"] // 60000) % 60) / 60.0
        n = s.count if s.count < WINDOW else WINDOW
        if n == 0:
            mean = t
            std = 0.0
            diff = 0.0
            rep = 0.0
            ewdev = 0.0
            hmean = h
        else:
            temp = s.temp
            hum = s.hum
            st = 0.0
            sh = 0.0
            for i in range(n):
                st += temp[i]
                sh += hum[i]
            mean = st / n
            ss = 0.0
            for i in range(n):
                ss += (temp[i] - mean) * (temp[i] - mean)
            std = math.sqrt(ss / (n - 1)) if n > 1 else 0.0
            prev = temp[(s.head + WINDOW - 1) % WINDOW]
            diff = t - prev
            rep = float(s.repeat + 1) if t == prev else 0.0
            ewdev = abs(t - s.ewma)
            hmean = sh / n
        dev = t - mean
        is_rep = 1.0 if rep > 0 else 0.0
        if rep > REPEAT_CAP:
            rep = float(REPEAT_CAP)
        out = [t, h, float(r["hour_of_day"]), float(r["day_of_week"]),
               math.sin(TWO_PI * hour / 24.0), math.cos(TWO_PI * hour / 24.0),
               r["lat"], r["lon"], mean, std, dev, abs(dev), diff, abs(diff),
               rep, is_rep, ewdev, hmean]
        # Now remember this reading.
        s.repeat = int(rep) if rep > 0 else 0
        s.ewma = t if s.count == 0 else s.ewma + EWMA_ALPHA * (t - s.ewma)
        s.temp[s.head] = t
        s.hum[s.head] = h
        s.head = (s.head + 1) % WINDOW
        s.count += 1
        return out


# The C expression is 2.0 * M_PI * hour / 24.0, evaluated left to right:
# (2.0 * M_PI) is a constant, so TWO_PI * hour / 24.0 is the same sequence.

# ---- readings: the checks of sensors/reading.c that matter here ------------

TIME_MIN_MS = 946684800000       # 2000-01-01
TIME_MAX_MS = 253402300799999    # 9999-12-31T23:59:59.999Z


class Invalid(Exception):
    pass


def _number(v, name, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Invalid("%s: not a number" % name)
    v = float(v)
    if not (lo <= v <= hi):
        raise Invalid("%s: %g outside %g..%g" % (name, v, lo, hi))
    return v


def _integer(v, name, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        raise Invalid("%s: not an integer" % name)
    v = int(v)
    if not (lo <= v <= hi):
        raise Invalid("%s: %d outside %d..%d" % (name, v, lo, hi))
    return v


def _parse_time(s):
    # RFC 3339 in UTC or with an offset, e.g. 2026-02-02T00:00:00.000Z
    try:
        base, frac, off = s[:19], 0, s[19:]
        if off.startswith("."):
            j = 1
            while j < len(off) and off[j].isdigit():
                j += 1
            frac = int((off[1:j] + "000")[:3])
            off = off[j:]
        secs = calendar.timegm(time.strptime(base.replace("t", "T"), "%Y-%m-%dT%H:%M:%S"))
        if off in ("Z", "z"):
            pass
        elif len(off) == 6 and off[0] in "+-" and off[3] == ":":
            d = int(off[1:3]) * 3600 + int(off[4:6]) * 60
            secs -= d if off[0] == "+" else -d
        else:
            raise ValueError
        return secs * 1000 + frac
    except (ValueError, OverflowError):
        raise Invalid("timestamp: %r is not RFC 3339" % s[:40])


def decode(payload, default_id, now_ms):
    """A reading dict from a JSON payload, or raise Invalid(reason)."""
    try:
        o = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise Invalid("not JSON: %s" % e)
    if not isinstance(o, dict):
        raise Invalid("not a JSON object")
    sid = o.get("sensor_id")
    if sid is None:
        sid = default_id
    if not isinstance(sid, str) or not sid:
        raise Invalid("sensor_id: missing or not a non-empty string")
    if len(sid.encode()) > 64:
        raise Invalid("sensor_id: longer than 64 bytes")
    if "temperature" not in o:
        raise Invalid("temperature: missing (required)")
    t = _number(o["temperature"], "temperature", -60, 150)
    if "humidity" not in o:
        raise Invalid("humidity: missing (required)")
    h = _number(o["humidity"], "humidity", 0, 100)
    ts = o.get("timestamp")
    if ts is None:
        ts = now_ms
    elif isinstance(ts, str):
        ts = _parse_time(ts)
    else:
        ts = _integer(ts, "timestamp", TIME_MIN_MS, TIME_MAX_MS)
    if not (TIME_MIN_MS <= ts <= TIME_MAX_MS):
        raise Invalid("timestamp: outside 2000-01-01..9999-12-31")
    days = ts // 86400000
    hod = (ts - days * 86400000) // 3600000
    dow = (days + 3) % 7   # 1970-01-01 was a Thursday; Monday = 0
    v = o.get("hour_of_day")
    if v is not None:
        hod = _integer(v, "hour_of_day", 0, 23)
    v = o.get("day_of_week")
    if v is not None:
        dow = _integer(v, "day_of_week", 0, 6)
    r = {"sensor_id": sid, "temperature": t, "humidity": h, "timestamp": ts,
         "hour_of_day": hod, "day_of_week": dow, "lat": 0.0, "lon": 0.0}
    for k, lo, hi in (("status_flag", 0, 2), ("is_anomaly", 0, 1)):
        v = o.get(k)
        if v is not None:
            r[k] = int(v) if isinstance(v, bool) and k == "is_anomaly" else _integer(v, k, lo, hi)
    loc = o.get("location")
    if loc is not None:
        if not isinstance(loc, str):
            raise Invalid("location: not a string")
        r["location"] = loc
    lat, lon = o.get("lat"), o.get("lon")
    if (lat is None) != (lon is None):
        raise Invalid("lat/lon: one without the other")
    if lat is not None:
        r["lat"] = _number(lat, "lat", -90, 90)
        r["lon"] = _number(lon, "lon", -180, 180)
        r["geo"] = True
    return r


def rfc3339_ms(ms):
    s, m = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % m


# ---- models ----------------------------------------------------------------

def _features_file(path):
    try:
        with open(path) as f:
            names = [n.strip() for n in f.read().strip().split(",")]
    except OSError as e:
        die("%s: cannot read: %s (run tests/peers/compare/prep.sh first)" % (path, e.strerror))
    return names


class Scorer:
    """The three scikit-learn models of OUT/sk, scoring a batch at a time."""

    def __init__(self, prep_dir):
        sk = os.path.join(prep_dir, "sk")
        try:
            with open(os.path.join(sk, "rf.pkl"), "rb") as f:
                self.rf = pickle.load(f)
            self.lr = joblib.load(os.path.join(sk, "lr.joblib"))
            self.gbt = joblib.load(os.path.join(sk, "gbt.joblib"))
        except (OSError, pickle.UnpicklingError, EOFError) as e:
            die("%s: cannot load the scikit-learn models: %s (run tests/peers/compare/prep.sh)"
                % (sk, e))
        # prep.sh fits the forest with n_jobs=2: joblib would start a thread
        # pool for every predict_proba of a 20-row batch, which costs more
        # than the 100 trees themselves. One thread gives the same numbers.
        self.rf.n_jobs = 1
        cols = {}
        for name, names in (("rf", _features_file(os.path.join(sk, "rf.features"))),
                            ("lr", _features_file(os.path.join(sk, "lr.features"))),
                            ("gbt", list(self.gbt.feature_names_in_))):
            try:
                cols[name] = [FEATURE_INDEX[n] for n in names]
            except KeyError as e:
                die("%s model: feature %s is not in the catalogue (%s)"
                    % (name, e, ", ".join(FEATURE_NAMES)))
        self.cols = cols
        self.rf_classes = [int(c) for c in self.rf.classes_]
        self.lr_classes = [int(c) for c in self.lr.classes_]

    def predict(self, feats):
        """feats: list of feature lists (catalogue order). Returns a list of
        prediction dicts, one vectorised call per model for the batch."""
        X = np.array(feats, dtype=np.float64)
        proba = self.rf.predict_proba(X[:, self.cols["rf"]])
        lab = proba.argmax(axis=1)                 # ties: the lowest class
        xl = X[:, self.cols["lr"]]
        p1 = self.lr.predict_proba(xl)[:, 1]
        anom = self.lr.predict(xl)                 # decision > 0
        hum = self.gbt.predict(X[:, self.cols["gbt"]])
        out = []
        for i in range(len(feats)):
            k = int(lab[i])
            hv = float(hum[i])
            out.append({"status": self.rf_classes[k],
                        "status_probability": float(proba[i, k]),
                        "anomaly": bool(anom[i] == 1),
                        "anomaly_probability": float(p1[i]),
                        "humidity": hv,
                        "humidity_residual": feats[i][1] - hv})
        return out


def encode_event(gateway, seq, r, pred, received_ms):
    """The event JSON (what is stored and sent to Kafka), fieldgate's keys."""
    e = {"event_id": "%s:%d" % (gateway, seq), "gateway_id": gateway, "seq": seq,
         "sensor_id": r["sensor_id"]}
    if "location" in r:
        e["location"] = r["location"]
    if "geo" in r:
        e["geo"] = {"lat": r["lat"], "lon": r["lon"]}
    e["timestamp"] = r["timestamp"]
    e["@timestamp"] = rfc3339_ms(r["timestamp"])
    e["received_at"] = rfc3339_ms(received_ms)
    e["temperature"] = r["temperature"]
    e["humidity"] = r["humidity"]
    e["hour_of_day"] = r["hour_of_day"]
    e["day_of_week"] = r["day_of_week"]
    for k in ("status_flag", "is_anomaly"):
        if k in r:
            e[k] = r[k]
    e["prediction"] = pred
    return json.dumps(e, separators=(",", ":"))


def score_batch(features, scorer, readings):
    """Features (in stream order) and predictions for a batch of readings:
    the one code path of both modes."""
    return scorer.predict([features.compute(r) for r in readings])


# ---- score mode ------------------------------------------------------------

def cmd_score(argv):
    ap = argparse.ArgumentParser(prog="py_service.py score",
                                 description="score readings from stdin, events to stdout")
    ap.add_argument("--models", required=True, help="the prep dir (uses MODELS/sk)")
    ap.add_argument("--batch", type=int, default=20, help="readings per predict call (20)")
    a = ap.parse_args(argv)
    if a.batch < 1:
        die("--batch %d: expected at least 1" % a.batch, 2)
    scorer = Scorer(a.models)
    features = Features()
    rejected = 0
    seq = 0
    out = sys.stdout
    batch = []

    def flush():
        nonlocal seq
        now = int(time.time() * 1000)
        for r, p in zip(batch, score_batch(features, scorer, batch)):
            seq += 1
            out.write(encode_event("score", seq, r, p, now) + "\n")
        batch.clear()

    for lineno, line in enumerate(sys.stdin.buffer, 1):
        if not line.strip():
            continue
        try:
            batch.append(decode(line, None, int(time.time() * 1000)))
        except Invalid as e:
            rejected += 1
            log("stdin:%d: rejected: %s" % (lineno, e))
            continue
        if len(batch) >= a.batch:
            flush()
    if batch:
        flush()
    out.flush()
    return 1 if rejected else 0


# ---- the store -------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL,
    sensor_id TEXT NOT NULL, key TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,
    reason TEXT NOT NULL, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS positions(sink TEXT PRIMARY KEY, seq INTEGER NOT NULL)
    WITHOUT ROWID;
INSERT OR IGNORE INTO positions VALUES ('kafka', 0);
"""


class Store:
    def __init__(self, d):
        try:
            os.makedirs(d, exist_ok=True)
            self.path = os.path.join(d, "store.db")
            self.db = sqlite3.connect(self.path, isolation_level=None)
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                die("%s: journal_mode is %s, not WAL" % (self.path, mode))
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.executescript(SCHEMA)
            self.last_seq = self.db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            self.position = self.db.execute(
                "SELECT seq FROM positions WHERE sink = 'kafka'").fetchone()[0]
        except (OSError, sqlite3.Error) as e:
            die("%s: cannot open the store: %s" % (d, e))
        self.saved_position = self.position

    def append(self, items, encode, quarantined, position):
        """One transaction: the batch's events, quarantined readings and the
        Kafka position. items are (reading, received_ms, prediction); a
        reading whose key (timestamp, sensor_id) is already stored is
        skipped and takes no seq, so seqs stay contiguous (the event's JSON,
        made by encode(seq, ...), carries its seq). Returns the inserted
        rows as (seq, sensor_id, data)."""
        db = self.db
        new = []
        seq = self.last_seq
        db.execute("BEGIN IMMEDIATE")
        try:
            for r, rx, p in items:
                sid = r["sensor_id"]
                data = encode(seq + 1, r, p, rx)
                c = db.execute("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)",
                               (seq + 1, r["timestamp"], sid, "%d %s" % (r["timestamp"], sid), data))
                if c.rowcount == 1:
                    seq += 1
                    new.append((seq, sid, data))
            if quarantined:
                db.executemany("INSERT INTO quarantine(ts, reason, raw) VALUES (?, ?, ?)",
                               quarantined)
            if position != self.saved_position:
                db.execute("UPDATE positions SET seq = ? WHERE sink = 'kafka'", (position,))
            db.execute("COMMIT")
        except sqlite3.Error:
            db.execute("ROLLBACK")
            raise
        self.last_seq = seq
        self.saved_position = position
        return new

    def save_position(self, position):
        if position != self.saved_position:
            self.db.execute("UPDATE positions SET seq = ? WHERE sink = 'kafka'", (position,))
            self.saved_position = position

    def unforwarded(self, chunk=5000):
        """The events after the Kafka position, oldest first."""
        after = self.position
        while True:
            rows = self.db.execute("SELECT seq, sensor_id, data FROM events WHERE seq > ? "
                                   "ORDER BY seq LIMIT ?", (after, chunk)).fetchall()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]


# ---- Kafka -----------------------------------------------------------------

class Forwarder:
    """confluent-kafka producer, acks=all (idempotent, as fieldgate's), with
    the stored seq of each message; position = the highest seq such that it
    and every seq before it were confirmed."""

    def __init__(self, bootstrap, topic, gateway, position):
        from confluent_kafka import Producer
        self.topic = topic
        self.gw = gateway.encode()
        self.position = position
        self.order = deque()     # seqs in flight, in produce order
        self.done = set()        # of those, confirmed out of order
        self.retry = []          # (seq, key, value) that failed: produced again
        self.inflight = {}       # seq -> (key, value) until confirmed
        self.errors = 0
        self.last_err = 0.0
        self.p = Producer({
            "bootstrap.servers": bootstrap,
            "client.id": "py_service",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "error_cb": self._error,
        })

    def _error(self, err):
        now = time.monotonic()
        if now - self.last_err > 10:
            self.last_err = now
            log("kafka: %s" % err)

    def _dr(self, seq, err, msg):
        if err is not None:
            self.errors += 1
            key, value = self.inflight[seq]
            self.retry.append((seq, key, value))
            self._error("delivery of seq %d failed, will retry: %s" % (seq, err))
            return
        self.inflight.pop(seq, None)
        self.done.add(seq)
        o = self.order
        while o and o[0] in self.done:
            self.position = o.popleft()
            self.done.discard(self.position)

    def send(self, seq, key, value):
        self.inflight[seq] = (key, value)
        self.order.append(seq)
        self._produce(seq, key, value)

    def _produce(self, seq, key, value):
        eid = (b"%s:%d" % (self.gw, seq))
        while True:
            try:
                self.p.produce(self.topic, value=value, key=key,
                               headers=[("event_id", eid), ("gateway_id", self.gw)],
                               on_delivery=functools.partial(self._dr, seq))
                return
            except BufferError:       # librdkafka's queue is full: let it drain
                self.p.poll(0.05)

    def poll(self, timeout=0.0):
        self.p.poll(timeout)
        if self.retry:
            todo, self.retry = self.retry, []
            for seq, key, value in todo:
                self._produce(seq, key, value)

    def pending(self):
        return len(self.order)

    def flush(self, timeout):
        end = time.monotonic() + timeout
        while self.order and time.monotonic() < end:
            self.p.flush(min(0.5, max(0.0, end - time.monotonic())))
            self.poll(0)
        return len(self.order)


# ---- MQTT: acknowledge after the commit ------------------------------------

class DeferredAckClient(mqtt.Client):
    """paho-mqtt 1.6.1 has no manual_ack (2.0 added it). Its
    Client._handle_publish, for a QoS 1 PUBLISH, calls on_message and right
    after returns self._send_puback(message.mid); _send_puback is called
    from nowhere else. So overriding _send_puback to only remember the mid
    defers the acknowledgement, and ack() sends the PUBACKs for real
    (Client._send_puback -> _send_command_with_mid(PUBACK, mid) ->
    _packet_queue) once the batch is committed: what paho 2.x does with
    manual_ack=True and client.ack(mid, qos). Everything runs in the one
    thread that calls loop(), so there is no locking. A connection lost with
    mids still deferred drops them: the broker redelivers those messages on
    the new connection (persistent session), and the store's UNIQUE key
    skips the ones already stored."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.deferred = []

    def _send_puback(self, mid):
        self.deferred.append(mid)
        return mqtt.MQTT_ERR_SUCCESS

    def ack(self):
        mids, self.deferred = self.deferred, []
        for mid in mids:
            mqtt.Client._send_puback(self, mid)
        # paho 1.6.1's _packet_write returns without updating _last_msg_out
        # when it has written the whole queue, so it sends a PINGREQ every
        # keepalive however many PUBACKs went out; and mosquitto 2.0.11
        # answers a PINGREQ only after the backlog it is draining to us, so
        # a drain longer than the keepalive ended in "did not communicate in
        # the keepalive interval" and a reconnect. Record the writes.
        if mids and not self._out_packet:
            with self._msgtime_mutex:
                self._last_msg_out = mqtt.time_func()


def host_port(s):
    s = s.replace("tcp://", "").replace("mqtt://", "")
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("%r: expected HOST:PORT" % s)
    return host, int(port)


class Service:
    def __init__(self, a):
        self.a = a
        self.stop = False
        signal.signal(signal.SIGTERM, self._on_term)   # also while loading
        signal.signal(signal.SIGINT, self._on_term)
        self.gateway = a.gateway_id or socket.gethostname() or "localhost"
        self.store = Store(a.store)
        self.scorer = Scorer(a.models)
        self.features = Features()
        self.fwd = Forwarder(a.kafka, a.kafka_topic, self.gateway, self.store.position)
        self.batch = []          # (topic, payload, received_ms)
        self.batch_t0 = 0.0
        self.connected = False
        self.subscribed = False
        self.ready = False
        self.got = 0             # messages seen by on_message
        self.stats = {"stored": 0, "duplicates": 0, "quarantined": 0, "resent": 0, "batches": 0,
                      "readings": 0}

    # paho callbacks
    def on_connect(self, client, userdata, flags, rc):
        if rc != 0:
            log("mqtt: %s:%d refused the connection: %s"
                % (self.a.mqtt[0], self.a.mqtt[1], mqtt.connack_string(rc)))
            return
        self.connected = True
        client.subscribe(self.a.topic, qos=1)

    def on_subscribe(self, client, userdata, mid, granted):
        if granted and granted[0] == 0x80:
            die("mqtt: the broker refused the subscription to %s" % self.a.topic)
        self.subscribed = True

    def on_disconnect(self, client, userdata, rc):
        self.connected = False
        # Deferred mids belong to the lost connection (see DeferredAckClient).
        client.deferred = []
        if not self.stop:
            log("mqtt: connection to %s:%d lost (%s); reconnecting"
                % (self.a.mqtt[0], self.a.mqtt[1], mqtt.error_string(rc)))

    def on_message(self, client, userdata, msg):
        if not self.batch:
            self.batch_t0 = time.monotonic()
        self.batch.append((msg.topic, msg.payload, int(time.time() * 1000)))
        self.got += 1

    def resend(self):
        n = 0
        for seq, sid, data in self.store.unforwarded():
            self.fwd.send(seq, sid.encode(), data.encode())
            n += 1
            if n % 1000 == 0:
                self.fwd.poll(0)
        if n:
            log("kafka: re-sending %d stored events Kafka had not confirmed (seq %d..%d)"
                % (n, self.store.position + 1, self.store.last_seq))
        self.stats["resent"] = n

    def flush(self):
        """Score, store and commit the batch; then PUBACK; then Kafka."""
        batch, self.batch = self.batch, []
        self.stats["batches"] += 1
        self.stats["readings"] += len(batch)
        readings, quarantined = [], []
        for topic, payload, rx in batch:
            parts = topic.split("/")
            default_id = parts[1] if len(parts) >= 3 else None
            try:
                readings.append((decode(payload, default_id, rx), rx))
            except Invalid as e:
                quarantined.append((rx, str(e), payload))
        items = []
        if readings:
            preds = score_batch(self.features, self.scorer, [r for r, _ in readings])
            items = [(r, rx, p) for (r, rx), p in zip(readings, preds)]
        gw = self.gateway
        new = self.store.append(items, lambda seq, r, p, rx: encode_event(gw, seq, r, p, rx),
                                quarantined, self.fwd.position)
        self.stats["stored"] += len(new)
        self.stats["duplicates"] += len(items) - len(new)
        self.stats["quarantined"] += len(quarantined)
        if quarantined:
            log("quarantined %d invalid readings (first: %s)" % (len(quarantined), quarantined[0][1]))
        self.client.ack()                       # committed: now the PUBACKs
        for seq, sid, data in new:
            self.fwd.send(seq, sid.encode(), data.encode())
        self.fwd.poll(0)

    def run(self):
        a = self.a
        self.resend()
        c = DeferredAckClient(client_id=a.client_id, clean_session=False,
                              protocol=mqtt.MQTTv311)
        self.client = c
        c.on_connect = self.on_connect
        c.on_subscribe = self.on_subscribe
        c.on_disconnect = self.on_disconnect
        c.on_message = self.on_message
        if os.environ.get("PY_SERVICE_DEBUG"):     # paho's packet log on stderr
            c.on_log = lambda cl, u, lvl, buf: log("%.3f paho: %s" % (time.monotonic(), buf))
        try:
            c.connect(a.mqtt[0], a.mqtt[1], keepalive=a.keepalive)
        except OSError as e:
            die("mqtt: cannot connect to %s:%d: %s" % (a.mqtt[0], a.mqtt[1], e.strerror or e))
        backoff = 0.5
        last_pos_save = time.monotonic()
        while not self.stop:
            before = self.got
            rc = c.loop(timeout=0.0 if self.batch else 0.05)
            if self.subscribed and not self.ready:
                self.ready = True
                log("mqtt: subscribed to %s as %s (persistent session); kafka: %s topic %s"
                    % (a.topic, a.client_id, a.kafka, a.kafka_topic))
                sys.stdout.write("ready\n")
                sys.stdout.flush()
            if self.batch and (len(self.batch) >= a.batch or self.got == before or
                               time.monotonic() - self.batch_t0 >= a.batch_ms / 1000.0):
                self.flush()
            elif not self.batch:
                self.fwd.poll(0)
                now = time.monotonic()
                if now - last_pos_save >= 1.0:
                    self.store.save_position(self.fwd.position)
                    last_pos_save = now
            if rc != mqtt.MQTT_ERR_SUCCESS and not self.stop:
                if self.batch:
                    self.flush()     # stored; the broker redelivers them anyway
                self.connected = False
                time.sleep(backoff)
                try:
                    c.reconnect()
                    backoff = 0.5
                except OSError as e:
                    log("mqtt: reconnect to %s:%d failed: %s" % (a.mqtt[0], a.mqtt[1], e))
                    backoff = min(backoff * 2, 10)
        return self.shutdown()

    def _on_term(self, signum, frame):
        self.stop = True

    def shutdown(self):
        if self.batch:
            self.flush()
        left = self.fwd.flush(10)
        self.store.save_position(self.fwd.position)
        try:
            self.client.disconnect()
            self.client.loop(0.1)
        except Exception:
            pass
        s = self.stats
        log("stopped: %d stored, %d duplicates skipped, %d quarantined, %d re-sent at start, "
            "%d batches (%.1f readings each); kafka position %d of %d%s"
            % (s["stored"], s["duplicates"], s["quarantined"], s["resent"], s["batches"],
               s["readings"] / max(1, s["batches"]),
               self.fwd.position, self.store.last_seq,
               ", %d not confirmed (re-sent at the next start)" % left if left else ""))
        self.store.db.close()
        return 0


def cmd_service(argv):
    ap = argparse.ArgumentParser(prog="py_service.py",
                                 description="MQTT -> 3 scikit-learn models -> SQLite -> Kafka "
                                             "(or: py_service.py score --models OUT)")
    ap.add_argument("--mqtt", required=True, type=host_port, metavar="HOST:PORT")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--models", required=True, metavar="OUT", help="the prep dir (uses OUT/sk)")
    ap.add_argument("--store", required=True, metavar="DIR")
    ap.add_argument("--kafka", required=True, metavar="BOOTSTRAP")
    ap.add_argument("--kafka-topic", required=True, metavar="TOPIC")
    ap.add_argument("--batch", type=int, default=20,
                    help="readings per batch at most (20: mosquitto's in-flight window)")
    ap.add_argument("--batch-ms", type=float, default=10.0, help="oldest reading's wait at most (10)")
    ap.add_argument("--gateway-id", help="gateway_id of the events (default: the host name)")
    ap.add_argument("--keepalive", type=int, default=30, help="MQTT keepalive, seconds (30)")
    a = ap.parse_args(argv)
    if a.batch < 1 or a.batch_ms <= 0:
        die("--batch must be >= 1 and --batch-ms > 0", 2)
    return Service(a).run()


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "score":
        return cmd_score(argv[1:])
    return cmd_service(argv)


if __name__ == "__main__":
    sys.exit(main())
