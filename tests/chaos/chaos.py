#!/usr/bin/python3
"""chaos.py - fieldgate under a seeded random fault schedule (issue 13).

Starts real peers on free loopback ports: mosquitto (persistent), the Kafka
mock cluster (build/peers/kafka_mock, 3 brokers), the Elasticsearch stand-in
(tests/peers/es_standin.py with --data-dir) and the agent (build/fieldgate
run, MQTT QoS 1 with a persistent session, both sinks, its buffer on a small
tmpfs, its wall clock under build/peers/clockshift.so). A QoS 1 publisher
keeps a ledger of every reading whose PUBACK arrived. Meanwhile a fault
schedule drawn from --seed is played: kill -9 and SIGTERM of the agent (and
a restart), Kafka brokers down/up and leader moves, ES 429 storms, 503s,
dropped responses and an outage (the stand-in killed and restarted on the
same port and data), mosquitto restarts, model reloads (good sets and
broken ones that must be refused), a full disk and the agent's clock
stepped back 1 h. Then everything is healed, the publisher stops, the agent
drains, and an oracle checks the ledger against the buffer, ES, Kafka, the
model versions and the agent's metrics. Prints (and writes to
OUT/chaos-table.md) a table; exits 1 on any loss or failed check, 2 when
the harness itself could not run.

  chaos.py [--minutes M] [--seed S] [--rate R] [--out DIR] [--keep]
           [--self-test drop-buffer-row|drop-es-doc]

The long run's fault counts and durations are the issue's (30 minutes: 55
kill -9s, a 5-minute ES outage, 30 s of full disk...); a shorter run scales
both by M/30 (at least one fault of each kind; durations have floors) and
says so. The same seed gives the same schedule (printed at start); the
actual times can drift by the time the faults themselves take.

--self-test proves that the oracle can fail: after the drain it deletes one
acknowledged reading's event from the buffer (drop-buffer-row) or its
document from ES (drop-es-doc); the run must then exit 1 and name it.
"""
import argparse
import datetime
import json
import os
import pwd
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FG = os.environ.get("FIELDGATE", os.path.join(TOP, "build", "fieldgate"))
KAFKA_MOCK = os.path.join(TOP, "build", "peers", "kafka_mock")
CLOCKSHIFT = os.path.join(TOP, "build", "peers", "clockshift.so")
ES_STANDIN = os.path.join(TOP, "tests", "peers", "es_standin.py")
MOSQUITTO = "/usr/sbin/mosquitto"
PY = "/usr/bin/python3"
TOPIC = "chaos-scored"
PARTITIONS = 6
INDEX = "chaos-scored"
SENSORS = 40
MODEL_FILES = ("status_predictor.json", "anomaly_detector.json", "humidity_regressor.json")
BROKEN_KINDS = ("truncated", "nan", "kind", "half", "missing")

T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def log(msg):
    print("[chaos %7.1fs] %s" % (now(), msg), flush=True)


class HarnessError(Exception):
    """The harness could not do its part (a peer did not start...): exit 2."""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def wait_until(desc, secs, fn, step=0.1):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            if fn():
                return True
        except Exception:
            pass
        time.sleep(step)
    raise HarnessError("timed out after %ds waiting for %s" % (secs, desc))


def iso(ms):
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def event_key(e):
    """A reading's identity, the agent's dedupe key: (sensor_id, @timestamp)."""
    return "%s|%s" % (e.get("sensor_id"), e.get("@timestamp"))


# ---------------------------------------------------------------- schedule

# kind: (count in the 30-minute run, duration range in s or None)
PLAN = {
    "kill9": (55, None),
    "sigterm": (8, None),
    "kafka_down": (8, (10, 60)),
    "kafka_leader": (12, None),
    "es_429_storm": (8, (5, 30)),
    "es_503": (8, None),
    "es_drop_response": (8, None),
    "es_outage": (1, (300, 300)),
    "mqtt_restart": (6, (1, 5)),
    "model_reload": (8, None),
    "model_reload_broken": (5, None),
    "disk_full": (1, (30, 30)),
    "clock_back_1h": (1, None),
}


def make_schedule(seed, minutes):
    """[(t, kind, args)], sorted; durations end with an "_end" entry."""
    rng = random.Random(seed)
    total = minutes * 60.0
    scale = min(1.0, minutes / 30.0)
    sched = []
    busy_by_group = {}
    # The longest first, so that they find a slot the shorter ones then avoid.
    for kind in sorted(PLAN, key=lambda k: (-(PLAN[k][1] or (0, 0))[1], k)):
        count, dur = PLAN[kind]
        n = max(1, int(round(count * scale)))
        # The ES faults never overlap (a 503 during the outage would do
        # nothing); the other kinds overlap each other freely.
        busy = busy_by_group.setdefault("es" if kind.startswith("es_") else kind, [])
        for i in range(n):
            for _ in range(200):
                d = 0.0
                if dur:
                    lo, hi = dur
                    d = round(max(min(2.0, lo), rng.uniform(lo, hi) * scale), 1)
                t = round(rng.uniform(0.05 * total, 0.9 * total - d), 1)
                if all(t + d + 2 < a or t > b + 2 for a, b in busy):
                    break
            busy.append((t, t + d))
            args = {}
            if kind in ("kill9", "sigterm"):
                args["down_s"] = round(rng.uniform(0.2, 2.0), 1)
            elif kind == "kafka_down":
                args["broker"] = rng.randint(1, 3)
            elif kind == "kafka_leader":
                args["partition"] = rng.randrange(PARTITIONS)
                args["broker"] = rng.randint(1, 3)
            elif kind == "es_429_storm":
                args["item_fraction"] = round(rng.uniform(0.2, 0.7), 2)
                args["requests"] = rng.randint(1, 10)
            elif kind == "es_503":
                args["requests"] = rng.randint(1, 20)
            elif kind == "es_drop_response":
                args["requests"] = rng.randint(1, 5)
            elif kind == "model_reload_broken":
                args["breakage"] = BROKEN_KINDS[i % len(BROKEN_KINDS)]
            if dur:
                args["duration_s"] = d
            sched.append((t, kind, args))
            if dur:
                sched.append((round(t + d, 1), kind + "_end", {}))
    sched.sort(key=lambda x: (x[0], x[1]))
    return sched


# ------------------------------------------------------------------ peers

class Mosquitto:
    def __init__(self, work):
        self.dir = os.path.join(work, "mosq")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(work, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("per_listener_settings false\nallow_anonymous true\n"
                    "max_queued_messages 0\nmax_inflight_messages 20\n"
                    "persistence true\npersistence_location %s/\nautosave_interval 0\n"
                    "log_dest file %s/mosquitto.log\nlog_type error\nlog_type warning\n"
                    "log_type notice\nuser %s\nlistener %d 127.0.0.1\n"
                    % (self.dir, work, pwd.getpwuid(os.getuid()).pw_name, self.port))
        self.err = open(os.path.join(work, "mosquitto.stderr"), "a")
        self.proc = None

    def start(self):
        for _ in range(50):
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=self.err,
                                         stderr=self.err)
            end = time.monotonic() + 10
            while time.monotonic() < end and self.proc.poll() is None:
                if port_open(self.port):
                    return
                time.sleep(0.05)
            self.stop()
            time.sleep(0.2)
        raise HarnessError("mosquitto did not start on port %d (see mosquitto.stderr)" % self.port)

    def stop(self):
        """SIGTERM: mosquitto saves what it acknowledged (persistence)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Kafka:
    def __init__(self, work):
        self.err = open(os.path.join(work, "kafka_mock.stderr"), "a")
        self.proc = subprocess.Popen([KAFKA_MOCK, "--brokers", "3", "--topic",
                                      "%s:%d" % (TOPIC, PARTITIONS)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, bufsize=1)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("BOOTSTRAP "):
            raise HarnessError("kafka_mock did not start: %r (see kafka_mock.stderr)" % line)
        self.bootstrap = line.split(" ", 1)[1]
        self.lock = threading.Lock()

    def cmd(self, c):
        with self.lock:
            self.proc.stdin.write(c + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline().strip()
        if not reply.startswith("ok"):
            raise HarnessError("kafka_mock %r: %r" % (c, reply))
        return reply

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ES:
    def __init__(self, work):
        self.data = os.path.join(work, "es-data")
        self.portfile = os.path.join(work, "es.port")
        self.err = open(os.path.join(work, "es-standin.log"), "a")
        self.port = 0
        self.proc = None
        self.counters = []  # counters of each stand-in life, read before it is killed

    def start(self):
        for _ in range(50):
            if os.path.exists(self.portfile):
                os.unlink(self.portfile)
            self.proc = subprocess.Popen([PY, ES_STANDIN, "--port", str(self.port),
                                          "--port-file", self.portfile, "--data-dir", self.data],
                                         stdout=self.err, stderr=self.err)
            end = time.monotonic() + 30
            while time.monotonic() < end and self.proc.poll() is None:
                if os.path.exists(self.portfile) and os.path.getsize(self.portfile) > 0:
                    self.port = int(open(self.portfile).read())
                    self.url = "http://127.0.0.1:%d" % self.port
                    return
                time.sleep(0.05)
            self.kill(save=False)
            time.sleep(0.3)
        raise HarnessError("the ES stand-in did not start on port %d (see es-standin.log)" % self.port)

    def up(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, save=True):
        if save:
            try:
                self.counters.append(self.stats()["counters"])
            except Exception as e:
                log("could not read the ES stand-in's counters before killing it: %s" % e)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def req(self, path, method="GET", body=None, timeout=30):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        r = urllib.request.Request(self.url + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.read()

    def fault(self, obj):
        return self.req("/_standin/faults", "POST", obj)

    def stats(self):
        return json.loads(self.req("/_standin/faults"))


def metrics(port):
    """The agent's /metrics as {name{labels}: value}."""
    out = {}
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if not line or line[0] == "#":
                continue
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


# ------------------------------------------------------------------ agent

class Agent:
    def __init__(self, work, data_dir, mqtt_port, kafka, es, models_live, http_port):
        self.work = work
        self.data_dir = data_dir
        self.db = os.path.join(data_dir, "buffer.db")
        self.conf = os.path.join(work, "site.conf")
        self.http_port = http_port
        self.offset_file = os.path.join(work, "clock-offset")
        with open(self.offset_file, "w") as f:
            f.write("0\n")
        with open(self.conf, "w") as f:
            f.write("""[agent]
gateway_id = gw-chaos
site = chaos
data_dir = %s
log_level = info
[source]
type = mqtt
[models]
dir = %s
[buffer]
path = buffer.db
max_mb = 8192
commit_ms = 10
[kafka]
enabled = true
brokers = %s
topic = %s
[elasticsearch]
enabled = true
url = %s
index = %s
[http]
listen = 127.0.0.1:%d
[mqtt]
uri = tcp://127.0.0.1:%d
topic = sensors/+/reading
qos = 1
client_id = fieldgate-chaos
clean_session = false
keepalive = 10
""" % (data_dir, models_live, kafka.bootstrap, TOPIC, es.url, INDEX, http_port, mqtt_port))
        self.log_path = os.path.join(work, "agent.log")
        self.logf = open(self.log_path, "a")
        self.proc = None
        self.starts = 0
        self.seq_at_start = 0
        self.exits = []  # unexpected exits: (t, status)
        self.lock = threading.Lock()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        with self.lock:
            self.seq_at_start = buffer_last_seq(self.db)
            env = dict(os.environ, LD_PRELOAD=CLOCKSHIFT, FG_CLOCK_OFFSET_FILE=self.offset_file)
            self.proc = subprocess.Popen([FG, "run", "-c", self.conf], stdout=self.logf,
                                         stderr=self.logf, env=env)
            self.starts += 1

    def signal(self, sig, wait=True, timeout=60):
        with self.lock:
            p = self.proc
            if p is None or p.poll() is not None:
                return None
            p.send_signal(sig)
            if not wait:
                return None
            try:
                return p.wait(timeout)
            except subprocess.TimeoutExpired:
                log("the agent did not exit %ds after signal %d: killing it" % (timeout, sig))
                p.kill()
                p.wait()
                return "timeout"

    def log_count(self, text):
        with open(self.log_path, errors="replace") as f:
            return sum(1 for line in f if text in line)


def buffer_last_seq(db):
    if not os.path.exists(db):
        return 0
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        try:
            v = con.execute("SELECT max(seq) FROM events").fetchone()[0]
        finally:
            con.close()
        return v or 0
    except sqlite3.Error:
        return 0


# ---------------------------------------------------------------- clients

class Publisher(threading.Thread):
    """QoS 1 readings; a reading goes into the ledger when its PUBACK came."""

    def __init__(self, work, port, rate):
        super().__init__(daemon=True)
        import paho.mqtt.client as mqtt
        self.mqtt = mqtt
        self.rate = rate
        self.ledger = open(os.path.join(work, "ledger.txt"), "a")
        self.sent = open(os.path.join(work, "sent.txt"), "a")
        self.lock = threading.Lock()
        self.pending = {}
        self.early = set()
        self.acked = 0
        self.published = 0
        self.stop_flag = threading.Event()
        self.last_ms = 0
        c = mqtt.Client(client_id="chaos-publisher", clean_session=True)
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(0.1, 1)
        c.on_publish = self.on_publish
        c.connect_async("127.0.0.1", port, keepalive=10)
        c.loop_start()
        self.client = c

    def on_publish(self, client, userdata, mid):
        with self.lock:
            key = self.pending.pop(mid, None)
            if key is None:
                self.early.add(mid)
                return
            self.ledger.write(key + "\n")
            self.ledger.flush()
            self.acked += 1

    def unacked(self):
        with self.lock:
            return len(self.pending)

    def run(self):
        rng = random.Random(1)
        n = 0
        start = time.monotonic()
        while not self.stop_flag.is_set():
            if not self.client.is_connected() or len(self.pending) > 2000:
                time.sleep(0.05)
                start = time.monotonic() - n / self.rate
                continue
            ahead = n / self.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(min(ahead, 0.1))
                continue
            ms = max(int(time.time() * 1000), self.last_ms + 1)
            self.last_ms = ms
            sid = "chaos-%02d" % (n % SENSORS)
            r = {"sensor_id": sid, "temperature": round(rng.uniform(15, 30), 2),
                 "humidity": round(rng.uniform(30, 70), 2), "timestamp": ms}
            key = "%s|%s" % (sid, iso(ms))
            self.sent.write(key + "\n")
            self.sent.flush()
            info = self.client.publish("sensors/%s/reading" % sid, json.dumps(r), qos=1)
            with self.lock:
                if info.mid in self.early:
                    self.early.discard(info.mid)
                    self.ledger.write(key + "\n")
                    self.ledger.flush()
                    self.acked += 1
                else:
                    self.pending[info.mid] = key
            self.published += 1
            n += 1

    def finish(self, timeout):
        self.stop_flag.set()
        self.join(5)
        end = time.monotonic() + timeout
        while self.unacked() and time.monotonic() < end:
            time.sleep(0.1)
        left = self.unacked()
        self.client.disconnect()
        self.client.loop_stop()
        return left


class KafkaReader(threading.Thread):
    """Reads the topic from the beginning of every partition all run long
    (the mock keeps only ~5 MB per partition)."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.counts = {}  # reading key -> messages
        self.eids = {}    # event_id -> messages
        self.messages = 0
        self.gaps = 0
        self.first_offset_missing = 0
        self.bad = 0
        self.last_msg = time.monotonic()
        self.stop_flag = threading.Event()
        self.error = None

    def run(self):
        try:
            from kafka import KafkaConsumer, TopicPartition
            c = KafkaConsumer(bootstrap_servers=self.bootstrap.split(","), group_id=None,
                              enable_auto_commit=False, auto_offset_reset="earliest",
                              consumer_timeout_ms=1000, request_timeout_ms=20000,
                              session_timeout_ms=10000, reconnect_backoff_max_ms=1000)
            tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
            c.assign(tps)
            c.seek_to_beginning(*tps)
            last = {}
            while not self.stop_flag.is_set():
                batch = c.poll(timeout_ms=500, max_records=2000)
                for tp, msgs in batch.items():
                    for m in msgs:
                        prev = last.get(tp.partition)
                        if prev is None and m.offset > 0:
                            self.first_offset_missing += m.offset
                        elif prev is not None and m.offset > prev + 1:
                            self.gaps += m.offset - prev - 1
                        last[tp.partition] = m.offset
                        self.messages += 1
                        self.last_msg = time.monotonic()
                        try:
                            e = json.loads(m.value)
                            k = event_key(e)
                            eid = e["event_id"]
                        except Exception:
                            self.bad += 1
                            continue
                        self.counts[k] = self.counts.get(k, 0) + 1
                        self.eids[eid] = self.eids.get(eid, 0) + 1
            c.close()
        except Exception as e:  # reported by the oracle
            self.error = "%s: %s" % (type(e).__name__, e)


class Monitor(threading.Thread):
    """Samples the buffer's last seq and the sinks' positions every 0.5 s."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db = db
        self.samples = []  # (t, last_seq, {sink: pos})
        self.stop_flag = threading.Event()

    def sample(self):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
        try:
            last = con.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
            pos = dict(con.execute("SELECT sink, seq FROM positions").fetchall())
        finally:
            con.close()
        return last, pos

    def run(self):
        while not self.stop_flag.is_set():
            try:
                if os.path.exists(self.db):
                    last, pos = self.sample()
                    self.samples.append((now(), last, pos))
            except sqlite3.Error:
                pass
            self.stop_flag.wait(0.5)


# ------------------------------------------------------------------ chaos

class Chaos:
    def __init__(self, args):
        self.args = args
        self.minutes = args.minutes
        self.scale = min(1.0, args.minutes / 30.0)
        self.work = args.out or tempfile.mkdtemp(prefix="fieldgate-chaos.")
        os.makedirs(self.work, exist_ok=True)
        self.small = os.path.join(self.work, "small")
        self.mounted = False
        self.procs = []
        self.executed = []  # (t_planned, t_start, t_end, kind, args, note)
        self.sets_good = []  # model versions installed and loaded
        self.sets_broken = []
        self.refusals_missing = []
        self.next_good = 2
        self.next_broken = 1001
        self.open_faults = {}  # kind -> (t_planned, t_start, args)
        self.clock_offset = 0
        self.notes = []

    # -- setup

    def setup(self):
        for f in (FG, KAFKA_MOCK, CLOCKSHIFT):
            if not os.path.exists(f):
                raise HarnessError("%s is missing: build it with 'make all peers'" % f)
        data_dir = os.path.join(self.work, "data")
        if os.geteuid() == 0:
            os.makedirs(self.small, exist_ok=True)
            size = "%dm" % max(256, int(2048 * self.scale))
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                                "tmpfs", self.small], capture_output=True, text=True)
            if r.returncode == 0:
                self.mounted = True
                data_dir = os.path.join(self.small, "data")
            else:
                self.notes.append("no full-disk fault: cannot mount a tmpfs: %s" % r.stderr.strip())
        else:
            self.notes.append("no full-disk fault: not root (a tmpfs mount is needed)")
        os.makedirs(data_dir, exist_ok=True)
        self.sets_dir = os.path.join(self.work, "sets")
        self.live = os.path.join(self.work, "live")
        self.make_set(1)
        self.install_set(1)
        self.sets_good.append(1)
        self.mosq = Mosquitto(self.work)
        self.mosq.start()
        self.kafka = Kafka(self.work)
        self.es = ES(self.work)
        self.es.start()
        self.agent = Agent(self.work, data_dir, self.mosq.port, self.kafka, self.es,
                           self.live, free_port())
        self.monitor = Monitor(self.agent.db)
        self.kreader = KafkaReader(self.kafka.bootstrap)
        self.kreader.start()
        self.agent.start()
        wait_until("the agent's /healthz on port %d (agent.log)" % self.agent.http_port, 30,
                   lambda: urllib.request.urlopen("http://127.0.0.1:%d/healthz"
                                                  % self.agent.http_port, timeout=2))
        wait_until("the agent's MQTT session", 30,
                   lambda: metrics(self.agent.http_port).get("fieldgate_mqtt_connected", 0) == 1)
        self.monitor.start()
        self.pub = Publisher(self.work, self.mosq.port, self.args.rate)
        self.pub.start()

    def cleanup(self, keep):
        for stop in (lambda: self.pub.finish(0), lambda: self.agent.signal(signal.SIGKILL),
                     lambda: self.kafka.stop(), lambda: self.es.kill(save=False),
                     lambda: self.mosq.stop()):
            try:
                stop()
            except Exception:
                pass
        if self.mounted:
            if keep:
                shutil.copytree(os.path.join(self.small, "data"), os.path.join(self.work, "data"),
                                dirs_exist_ok=True)
            if subprocess.run(["umount", self.small]).returncode != 0:
                subprocess.run(["umount", "-l", self.small])
            self.mounted = False

    # -- models

    def make_set(self, v, breakage=None):
        d = os.path.join(self.sets_dir, str(v))
        os.makedirs(d, exist_ok=True)
        for f in MODEL_FILES:
            src = open(os.path.join(TOP, "models", "default", f)).read()
            src = src.replace('\n  "version": 1,\n', '\n  "version": %d,\n' % v, 1)
            open(os.path.join(d, f), "w").write(src)
        seal = lambda: subprocess.run([FG, "models", "seal", d], capture_output=True, check=True)
        seal()
        if breakage == "truncated":
            src = open(os.path.join(d, "status_predictor.json")).read()
            open(os.path.join(d, "status_predictor.json"), "w").write(src[:300])
            seal()
        elif breakage == "nan":
            p = os.path.join(d, "humidity_regressor.json")
            src = open(p).read()
            i = src.find('"threshold":')
            if i < 0:
                raise HarnessError("no threshold in humidity_regressor.json to break")
            j = i + len('"threshold":')
            k = j
            while src[k] in "-0123456789.eE+":
                k += 1
            open(p, "w").write(src[:j] + "NaN" + src[k:])
            seal()
        elif breakage == "kind":
            shutil.copy(os.path.join(d, "humidity_regressor.json"),
                        os.path.join(d, "anomaly_detector.json"))
            seal()
        elif breakage == "missing":
            os.unlink(os.path.join(d, "humidity_regressor.json"))
        elif breakage == "half":  # copied over file by file: one is still an old one
            shutil.copy(os.path.join(TOP, "models", "default", "anomaly_detector.json"), d)

    def install_set(self, v):
        tmp = self.live + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.path.join(self.sets_dir, str(v)), tmp)
        os.rename(tmp, self.live)

    # -- faults

    def agent_down_up(self, sig, down_s):
        st = self.agent.signal(sig)
        if sig == signal.SIGTERM and st != 0:
            self.notes.append("SIGTERM: the agent exited with status %s at %.1fs" % (st, now()))
        time.sleep(down_s)
        self.agent.start()
        return "exit %s" % st

    def fault(self, kind, a):
        """Do one scheduled action; returns a note."""
        if kind == "kill9":
            return self.agent_down_up(signal.SIGKILL, a["down_s"])
        if kind == "sigterm":
            return self.agent_down_up(signal.SIGTERM, a["down_s"])
        if kind == "kafka_down":
            self.kafka.cmd("down %d" % a["broker"])
            self.open_faults["kafka_down"] = a
            return ""
        if kind == "kafka_down_end":
            self.kafka.cmd("up %d" % self.open_faults.pop("kafka_down")["broker"])
            return ""
        if kind == "kafka_leader":
            self.kafka.cmd("leader %s %d %d" % (TOPIC, a["partition"], a["broker"]))
            return ""
        if kind.startswith("es_") and kind not in ("es_outage", "es_outage_end") and not self.es.up():
            return "skipped: the stand-in is down (outage)"
        if kind == "es_429_storm":
            self.es.fault({"item_429_fraction": a["item_fraction"], "item_429_seed": 7,
                           "request_status": 429, "request_status_count": a["requests"],
                           "retry_after": 1})
            return ""
        if kind == "es_429_storm_end":
            self.es.fault({"item_429_fraction": None, "retry_after": None})
            return ""
        if kind == "es_503":
            self.es.fault({"request_status": 503, "request_status_count": a["requests"]})
            return ""
        if kind == "es_drop_response":
            self.es.fault({"drop_after_store": a["requests"]})
            return ""
        if kind == "es_outage":
            self.es.kill()
            return ""
        if kind == "es_outage_end":
            self.es.start()
            return ""
        if kind == "mqtt_restart":
            self.mosq.stop()
            return ""
        if kind == "mqtt_restart_end":
            self.mosq.start()
            return ""
        if kind == "model_reload":
            v = self.next_good
            self.next_good += 1
            self.make_set(v)
            n = self.agent.log_count("models: reloaded: status_predictor@%d," % v)
            self.install_set(v)
            self.agent.signal(signal.SIGHUP, wait=False)
            try:
                wait_until("reload of set %d" % v, 20, lambda: self.agent.log_count(
                    "models: reloaded: status_predictor@%d," % v) > n, 0.2)
            except HarnessError as e:
                self.notes.append("model_reload %d: %s" % (v, e))
            self.sets_good.append(v)
            return "set %d" % v
        if kind == "model_reload_broken":
            v = self.next_broken
            self.next_broken += 1
            self.make_set(v, a["breakage"])
            text = "models: reload failed, keeping the current models: "
            n = self.agent.log_count(text)
            self.install_set(v)
            self.agent.signal(signal.SIGHUP, wait=False)
            try:
                wait_until("refusal of broken set %d" % v, 20,
                           lambda: self.agent.log_count(text) > n, 0.2)
            except HarnessError:
                self.refusals_missing.append(v)
            self.sets_broken.append(v)
            # The operator puts the good set back (a restart must find one).
            self.install_set(self.sets_good[-1])
            return "set %d (%s)" % (v, a["breakage"])
        if kind == "disk_full":
            if not self.mounted:
                return "skipped: no tmpfs"
            self.fill_disk()
            return ""
        if kind == "disk_full_end":
            if os.path.exists(os.path.join(self.small, "ballast")):
                os.unlink(os.path.join(self.small, "ballast"))
            return ""
        if kind == "clock_back_1h":
            self.clock_offset -= 3600
            with open(self.agent.offset_file + ".tmp", "w") as f:
                f.write("%d\n" % self.clock_offset)
            os.rename(self.agent.offset_file + ".tmp", self.agent.offset_file)
            return "offset %d s" % self.clock_offset
        raise HarnessError("unknown fault kind %s" % kind)

    def fill_disk(self):
        path = os.path.join(self.small, "ballast")
        st = os.statvfs(self.small)
        free = st.f_bavail * st.f_frsize
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            size = free
            while size > 0:
                try:
                    os.posix_fallocate(fd, 0, size)
                    break
                except OSError:
                    size -= 1 << 20
            os.lseek(fd, 0, os.SEEK_END)
            chunk = b"\0" * 4096
            while True:
                try:
                    os.write(fd, chunk)
                except OSError:
                    break
        finally:
            os.close(fd)

    def supervise(self):
        """Like systemd's Restart=always: an agent that exited by itself is
        counted and started again."""
        if not self.agent.running() and self.agent.proc is not None:
            st = self.agent.proc.returncode
            self.agent.exits.append((now(), st))
            tail = open(self.agent.log_path, errors="replace").read().splitlines()[-3:]
            log("the agent exited by itself with status %s: %s" % (st, " | ".join(tail)))
            time.sleep(1)
            self.agent.start()

    def play(self, sched):
        total = self.minutes * 60.0
        t_base = now()
        started = {}  # kind -> (actual start, duration): an _end comes no earlier than that
        for t, kind, a in sched:
            if kind.endswith("_end") and kind[:-4] in started:
                s0, d = started.pop(kind[:-4])
                t = max(t, s0 + d)
            while now() - t_base < t:
                self.supervise()
                time.sleep(min(0.2, max(0.0, t - (now() - t_base))))
            self.supervise()
            t1 = now()
            try:
                note = self.fault(kind, a)
            except HarnessError as e:
                note = "failed: %s" % e
                self.notes.append("%s at %.1fs: %s" % (kind, t, e))
            except OSError as e:
                note = "failed: %s" % e
                self.notes.append("%s at %.1fs: %s" % (kind, t, e))
            t2 = now()
            if "duration_s" in a:
                started[kind] = (t2 - t_base, a["duration_s"])
            self.executed.append((t, t1 - t_base, t2 - t_base, kind, a, note))
            log("%-20s %s %s" % (kind, json.dumps(a, sort_keys=True) if a else "", note))
        while now() - t_base < total:
            self.supervise()
            time.sleep(0.2)
        self.t_base = t_base

    def heal(self):
        """Undo whatever is still broken (the clock stays stepped back)."""
        if self.es.up():
            self.es.fault({"item_429_fraction": None, "request_status": None,
                           "drop_after_store": None, "retry_after": None})
        else:
            self.es.start()
        self.kafka.cmd("up all")
        if self.mosq.proc is None:
            self.mosq.start()
        b = os.path.join(self.small, "ballast")
        if os.path.exists(b):
            os.unlink(b)
        if not self.agent.running():
            self.supervise()

    def drain(self, timeout):
        """Until the agent has stored and both sinks acknowledged everything."""
        m = {}
        end = time.monotonic() + timeout
        stable_since, last = None, None
        while time.monotonic() < end:
            self.supervise()
            try:
                lastseq, pos = self.monitor.sample()
                m = metrics(self.agent.http_port)
            except Exception:
                time.sleep(0.5)
                continue
            caught = (pos.get("kafka", -1) >= lastseq and pos.get("elasticsearch", -1) >= lastseq
                      and time.monotonic() - self.kreader.last_msg > 2)
            if lastseq != last:
                stable_since, last = time.monotonic(), lastseq
            if caught and time.monotonic() - stable_since > 3:
                return True, lastseq, pos
            time.sleep(0.5)
        return False, last, pos if last is not None else {}

    # -- oracle

    def oracle(self, self_test):
        out = {"fail": []}
        fail = out["fail"].append
        ledger = [l.rstrip("\n") for l in open(os.path.join(self.work, "ledger.txt"))]
        sent = set(l.rstrip("\n") for l in open(os.path.join(self.work, "sent.txt")))
        acked = set(ledger)
        out["acked"] = len(acked)
        out["published"] = len(sent)
        if len(ledger) != len(acked):
            fail("the ledger lists %d readings twice (the publisher's bug)" % (len(ledger) - len(acked)))
        if self_test == "drop-buffer-row":
            victim = sorted(acked)[len(acked) // 2]
            sid, ts = victim.split("|")
            con = sqlite3.connect(self.agent.db)
            con.execute("DELETE FROM events WHERE json_extract(data, '$.sensor_id') = ? AND "
                        "json_extract(data, '$.\"@timestamp\"') = ?", (sid, ts))
            con.commit()
            con.close()
            log("self-test: deleted the buffer's event for %s" % victim)
        con = sqlite3.connect("file:%s?mode=ro" % self.agent.db, uri=True, timeout=30)
        buf = {}
        seq_of = {}
        models_seen = {}
        bad_models = []
        good = {v: ("status_predictor@%d" % v, "anomaly_detector@%d" % v,
                    "humidity_regressor@%d" % v) for v in self.sets_good}
        good_rev = {t: v for v, t in good.items()}
        prev_v = 0
        went_back = 0
        seqs = []
        for seq, data in con.execute("SELECT seq, data FROM events ORDER BY seq"):
            e = json.loads(data)
            k = event_key(e)
            buf[k] = buf.get(k, 0) + 1
            seq_of[k] = e.get("event_id")
            seqs.append(seq)
            m = e.get("models", {})
            trip = (m.get("status"), m.get("anomaly"), m.get("humidity"))
            v = good_rev.get(trip)
            if v is None:
                bad_models.append((seq, trip))
            else:
                models_seen[v] = models_seen.get(v, 0) + 1
                if v < prev_v:
                    went_back += 1
                prev_v = max(prev_v, v)
        quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        dead = con.execute("SELECT count(*) FROM dead_letter").fetchone()[0]
        rows = len(seqs)
        out["buffer_rows"] = rows
        out["buffer_seq_gaps"] = (seqs[-1] - seqs[0] + 1 - rows) if seqs else 0
        lost_buf = sorted(k for k in acked if buf.get(k, 0) == 0)
        dup_buf = sorted(k for k, n in buf.items() if n > 1)
        bogus = sorted(k for k in buf if k not in sent)
        out["lost_buffer"] = lost_buf
        out["dup_buffer"] = sum(n - 1 for n in buf.values())
        if lost_buf:
            fail("%d acknowledged readings are not in the buffer, first: %s" % (len(lost_buf), ", ".join(lost_buf[:5])))
        if dup_buf:
            fail("%d readings are more than one event in the buffer, first: %s" % (len(dup_buf), ", ".join(dup_buf[:5])))
        if bogus:
            fail("%d events in the buffer are readings nobody published, first: %s" % (len(bogus), ", ".join(bogus[:5])))
        if quarantined:
            fail("%d readings were quarantined" % quarantined)
        if dead:
            fail("%d events went to the dead-letter table" % dead)
        if bad_models:
            fail("%d events were scored by a set that is not one whole installed good set, first: seq %d %s"
                 % (len(bad_models), bad_models[0][0], bad_models[0][1]))
        if went_back:
            fail("%d events were scored by an older set after a newer one had scored" % went_back)
        if self.refusals_missing:
            fail("broken model sets not refused (no refusal line in agent.log): %s" % self.refusals_missing)
        out["models_seen"] = models_seen
        # Elasticsearch
        if self_test == "drop-es-doc":
            victim = sorted(acked)[len(acked) // 3]
            eid = seq_of.get(victim)
            body = (json.dumps({"delete": {"_index": INDEX, "_id": eid}}) + "\n").encode()
            self.es.req("/_bulk", "POST", body)
            log("self-test: deleted the ES document %s (%s)" % (eid, victim))
        esdocs = {}
        es_ids = {}
        for line in self.es.req("/_standin/docs/" + INDEX, timeout=300).decode().splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            es_ids[d["_id"]] = es_ids.get(d["_id"], 0) + 1
            k = event_key(d["_source"])
            esdocs[k] = esdocs.get(k, 0) + 1
            if seq_of.get(k) != d["_id"]:
                fail("ES document %s is reading %s, which is %s in the buffer"
                     % (d["_id"], k, seq_of.get(k)))
        self.es.counters.append(self.es.stats()["counters"])
        out["es_docs"] = sum(esdocs.values())
        out["es_dup_ids"] = sum(n - 1 for n in es_ids.values())
        out["es_dup_readings"] = sum(n - 1 for n in esdocs.values())
        out["es_duplicate_creates"] = sum(c.get("duplicate_creates", 0) for c in self.es.counters)
        out["es_409"] = sum(c.get("items_by_status", {}).get("409", 0) for c in self.es.counters)
        lost_es = sorted(k for k in acked if esdocs.get(k, 0) == 0)
        out["lost_es"] = lost_es
        if lost_es:
            fail("%d acknowledged readings have no ES document, first: %s" % (len(lost_es), ", ".join(lost_es[:5])))
        if out["es_dup_ids"] or out["es_dup_readings"]:
            fail("ES holds duplicates: %d _ids twice, %d readings as more than one document"
                 % (out["es_dup_ids"], out["es_dup_readings"]))
        if len(esdocs) != len(buf):
            fail("ES holds %d readings, the buffer %d events" % (len(esdocs), len(buf)))
        # Kafka
        self.kreader.stop_flag.set()
        self.kreader.join(10)
        kc = dict(self.kreader.counts)
        lost_k = sorted(k for k in acked if kc.get(k, 0) == 0)
        out["lost_kafka"] = lost_k
        out["kafka_messages"] = self.kreader.messages
        out["kafka_unique"] = len(self.kreader.eids)
        out["kafka_dup"] = self.kreader.messages - len(self.kreader.eids)
        out["kafka_gaps"] = self.kreader.gaps + self.kreader.first_offset_missing
        if self.kreader.error:
            fail("the Kafka reader failed: %s" % self.kreader.error)
        if lost_k:
            fail("%d acknowledged readings are not in Kafka, first: %s%s" % (
                len(lost_k), ", ".join(lost_k[:5]),
                " (the reader saw %d offset gaps: the mock dropped old batches before they were read)"
                % out["kafka_gaps"] if out["kafka_gaps"] else ""))
        in_buffer = set(seq_of.values())
        unknown = [e for e in self.kreader.eids if e not in in_buffer]
        if unknown:
            fail("%d Kafka event_ids are not in the buffer, first: %s" % (len(unknown), unknown[:5]))
        if self.kreader.bad:
            fail("%d Kafka messages were not event JSON" % self.kreader.bad)
        out["lost"] = sorted(set(lost_buf) | set(lost_es) | set(lost_k))
        con.close()
        return out

    def reconcile_metrics(self):
        """With the agent drained and idle: its gauges equal the buffer, and
        this run's stored counter equals the rows stored since it started."""
        fails = []
        m = {}
        for _ in range(20):
            con = sqlite3.connect("file:%s?mode=ro" % self.agent.db, uri=True, timeout=30)
            rows, last = con.execute("SELECT count(*), max(seq) FROM events").fetchone()
            since = con.execute("SELECT count(*) FROM events WHERE seq > ?",
                                (self.agent.seq_at_start,)).fetchone()[0]
            pos = dict(con.execute("SELECT sink, seq FROM positions").fetchall())
            con.close()
            m = metrics(self.agent.http_port)
            want = {"fieldgate_buffer_events": rows, "fieldgate_buffer_last_seq": last,
                    "fieldgate_events_stored_total": since,
                    'fieldgate_sink_position{sink="kafka"}': last,
                    'fieldgate_sink_position{sink="elasticsearch"}': last,
                    'fieldgate_sink_backlog_events{sink="kafka"}': 0,
                    'fieldgate_sink_backlog_events{sink="elasticsearch"}': 0}
            fails = ["%s = %s, the buffer says %s" % (k, m.get(k), v) for k, v in want.items()
                     if m.get(k) != v]
            fails += ["positions table: %s at %s, last seq %s" % (s, pos.get(s), last)
                      for s in ("kafka", "elasticsearch") if pos.get(s) != last]
            if not fails:
                break
            time.sleep(0.5)
        return fails, {k: v for k, v in m.items() if "sink_position" in k or "buffer_events" in k
                       or "stored_total" in k or "last_seq" in k}

    def recovery(self):
        """Per executed fault that ends something: seconds from its end (the
        restart, the broker/stand-in back, the ballast gone, the reload
        done...) until the agent has stored a new event AND both sinks'
        positions have reached the last seq buffered at that moment."""
        samples = self.monitor.samples
        rec = {}
        for t, t1, t2, kind, a, note in self.executed:
            if note.startswith("skipped") or note.startswith("failed"):
                continue
            if kind in ("kafka_down", "es_429_storm", "es_outage", "mqtt_restart", "disk_full"):
                continue  # measured from their _end
            name = kind[:-4] if kind.endswith("_end") else kind
            te = self.t_base + t2
            n0 = None
            for s in samples:
                if s[0] <= te:
                    n0 = s[1]
                else:
                    break
            if n0 is None:
                continue
            r = None
            for s in samples:
                if s[0] < te:
                    continue
                if s[1] > n0 and all(s[2].get(k, -1) >= n0 for k in ("kafka", "elasticsearch")):
                    r = s[0] - te
                    break
            rec.setdefault(name, []).append(r)
        return rec

    def max_backlog(self):
        mb = {"kafka": 0, "elasticsearch": 0}
        for _, last, pos in self.monitor.samples:
            for k in mb:
                mb[k] = max(mb[k], last - pos.get(k, 0))
        return mb


def table(c, sched, res, rec, mb, mfails, drained, drain_s, elapsed, mprint):
    L = []
    a = L.append
    a("Chaos run: seed %d, CHAOS_MINUTES=%g (fault phase %d s), %s readings/s over %d sensors"
      % (c.args.seed, c.minutes, c.minutes * 60, c.args.rate, SENSORS))
    if c.scale < 1:
        a("Short run: fault counts and durations scaled by %g from the 30-minute run "
          "(ES outage %.0f s instead of 300 s, full disk %.0f s instead of 30 s)"
          % (c.scale, max(2.0, 300 * c.scale), max(2.0, 30 * c.scale)))
    a("")
    a("| fault | injected | held (s, median) | recovery median (s) | recovery max (s) |")
    a("| --- | ---: | ---: | ---: | ---: |")
    held, opened = {}, {}
    for t, t1, t2, kind, args, note in c.executed:
        if kind.endswith("_end") and kind[:-4] in opened:
            held.setdefault(kind[:-4], []).append(t1 - opened.pop(kind[:-4]))
        elif "duration_s" in args and not note.startswith(("skipped", "failed")):
            opened[kind] = t2
    counts = {}
    for t, t1, t2, kind, args, note in c.executed:
        if kind.endswith("_end"):
            continue
        if note.startswith("skipped") or note.startswith("failed"):
            counts.setdefault(kind + " (" + note.split(":")[0] + ")", 0)
            counts[kind + " (" + note.split(":")[0] + ")"] += 1
            continue
        counts[kind] = counts.get(kind, 0) + 1
    for kind in sorted(counts):
        r = [x for x in rec.get(kind, []) if x is not None]
        nrec = len(rec.get(kind, [])) - len(r)
        med = "%.1f" % statistics.median(r) if r else "-"
        mx = "%.1f" % max(r) if r else "-"
        if nrec:
            mx += " (%d never recovered)" % nrec
        h = "%.1f" % statistics.median(held[kind]) if held.get(kind) else "-"
        a("| %s | %d | %s | %s | %s |" % (kind, counts[kind], h, med, mx))
    a("| **total** | %d | | | |" % sum(counts.values()))
    a("")
    a("Recovery: from the end of a fault (the agent restarted, the broker or the stand-in back, "
      "the ballast deleted, the leader moved, the reload answered) until the agent has stored a "
      "new reading and both sinks have acknowledged everything buffered at that end (sampled every "
      "0.5 s); faults that overlap (e.g. during the ES outage) wait for each other.")
    a("")
    a("| readings | count |")
    a("| --- | ---: |")
    a("| published (QoS 1) | %d |" % res["published"])
    a("| acknowledged by the broker (ledger) | %d |" % res["acked"])
    a("| **lost** (acknowledged, missing from the buffer, ES or Kafka) | **%d** |" % len(res["lost"]))
    a("| events in the buffer | %d |" % res["buffer_rows"])
    a("")
    a("| sink | holds | duplicates | max backlog (events) |")
    a("| --- | ---: | ---: | ---: |")
    a("| buffer (SQLite) | %d events | %d | - |" % (res["buffer_rows"], res["dup_buffer"]))
    a("| Elasticsearch | %d documents | %d duplicate _ids (%d creates answered 409) | %d |"
      % (res["es_docs"], res["es_dup_ids"], res["es_409"], mb["elasticsearch"]))
    a("| Kafka | %d messages, %d distinct event_ids | %d redelivered | %d |"
      % (res["kafka_messages"], res["kafka_unique"], res["kafka_dup"], mb["kafka"]))
    a("")
    a("Model sets: %d good sets installed and scoring (events per set: %s), %d broken sets refused; "
      "every event scored by one whole good set: %s"
      % (len(c.sets_good), ", ".join("%d: %d" % kv for kv in sorted(res["models_seen"].items())),
         len(c.sets_broken), "yes" if not any("scored" in f for f in res["fail"]) else "NO"))
    a("Agent: %d starts, %d exits by itself; drain %s in %.0f s; metrics vs buffer: %s"
      % (c.agent.starts, len(c.agent.exits),
         "done" if drained else "NOT done", drain_s,
         "exact" if not mfails else "; ".join(mfails)))
    a("Total %.0f s. Verdict: %s" % (elapsed, "PASS" if not res["fail"] else "FAIL"))
    for f in res["fail"]:
        a("  FAIL: %s" % f)
    for n in c.notes:
        a("  note: %s" % n)
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("CHAOS_MINUTES", 2)))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", 1313)))
    ap.add_argument("--rate", type=float, default=200.0, help="readings/s (default 200)")
    ap.add_argument("--out", help="work directory (default: a new /tmp/fieldgate-chaos.*)")
    ap.add_argument("--table", help="also write the table here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--self-test", choices=("drop-buffer-row", "drop-es-doc"))
    ap.add_argument("--print-schedule", action="store_true", help="print the schedule and exit")
    args = ap.parse_args()
    sched = make_schedule(args.seed, args.minutes)
    print("chaos: seed %d, %g minutes, %d scheduled actions (t, kind, args):"
          % (args.seed, args.minutes, len(sched)))
    for t, kind, a in sched:
        print("  (%7.1f, %s, %s)" % (t, kind, json.dumps(a, sort_keys=True)))
    sys.stdout.flush()
    if args.print_schedule:
        return 0
    c = Chaos(args)
    log("work directory %s" % c.work)

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    rc = 2
    try:
        c.setup()
        log("peers up: mosquitto :%d, kafka %s, ES :%d, agent /metrics :%d; publishing %g readings/s"
            % (c.mosq.port, c.kafka.bootstrap, c.es.port, c.agent.http_port, args.rate))
        c.play(sched)
        log("fault phase over: healing, stopping the publisher, draining")
        c.heal()
        left = c.pub.finish(30)
        if left:
            c.notes.append("%d readings were never acknowledged by the broker (not in the ledger)" % left)
        t_drain = now()
        drained, lastseq, pos = c.drain(max(60.0, 20 * args.minutes))
        drain_s = now() - t_drain
        log("drain %s after %.0f s: last seq %s, positions %s"
            % ("done" if drained else "TIMED OUT", drain_s, lastseq, pos))
        c.monitor.stop_flag.set()
        mfails, mprint = c.reconcile_metrics()
        if args.self_test == "drop-buffer-row":
            c.agent.signal(signal.SIGTERM)
        res = c.oracle(args.self_test)
        if not drained:
            res["fail"].insert(0, "the agent did not drain within the timeout: last seq %s, positions %s"
                               % (lastseq, pos))
        res["fail"] += ["metrics: " + f for f in mfails]
        if c.agent.running():
            st = c.agent.signal(signal.SIGTERM)
            if st != 0:
                res["fail"].append("the final SIGTERM: the agent exited with status %s" % st)
        if c.agent.exits:
            res["fail"].append("the agent exited by itself %d times (time s, status): %s (agent.log)"
                               % (len(c.agent.exits), ", ".join("(%.1f, %s)" % e for e in c.agent.exits[:5])))
        txt = table(c, sched, res, c.recovery(), c.max_backlog(), mfails, drained, drain_s, now(), mprint)
        print()
        print(txt)
        for p in [os.path.join(c.work, "chaos-table.md")] + ([args.table] if args.table else []):
            with open(p, "w") as f:
                f.write(txt + "\n")
        rc = 1 if res["fail"] else 0
    except HarnessError as e:
        log("harness error: %s" % e)
        rc = 2
    except KeyboardInterrupt as e:
        log("interrupted (%s)" % e)
        rc = 2
    finally:
        keep = rc != 0 or args.keep or bool(args.out)
        c.cleanup(keep)
        if not keep:
            shutil.rmtree(c.work, ignore_errors=True)
        else:
            log("kept the work directory %s (agent.log, ledger.txt, data/, es-data/)" % c.work)
    return rc


if __name__ == "__main__":
    sys.exit(main())
