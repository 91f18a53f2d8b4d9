#!/usr/bin/python3
"""noisy_readings.py - labelled readings (JSON lines, as `fieldgate train
--data` reads them) whose anomalies are rare and only partly explained by
what the anomaly detector sees, unlike the simulator's clean rule: the
issue-16 test data (tests/integration/test_train_noisy.sh).

  /usr/bin/python3 noisy_readings.py --count N --seed S --start EPOCH_MS [--sensors K]

Each sensor reads every 60 s a temperature that follows its own daily
curve plus noise. One reading in five is disturbed by a jump of 0-4 °C;
it is an anomaly with a probability that grows with the size of the jump
(1 / (1 + e^-(jump - 3))); any other reading is an anomaly with
probability 0.08 that nothing in the data explains (label noise).
About 13 % of the readings are anomalies; a detector that knew every
jump exactly would be right on 88.5 % of them, never alarming on 87.3 %.
Standard library only.
"""
import argparse
import json
import math
import random
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--start", type=int, required=True, help="epoch ms of the first reading")
    ap.add_argument("--sensors", type=int, default=10)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    base = [rnd.uniform(18, 24) for _ in range(a.sensors)]
    phase = [rnd.uniform(0, 2 * math.pi) for _ in range(a.sensors)]
    out = sys.stdout
    for i in range(a.count):
        s = i % a.sensors
        ts = a.start + (i // a.sensors) * 60000
        hour = (ts // 3600000) % 24
        t = base[s] + 2.5 * math.sin(2 * math.pi * hour / 24 + phase[s]) + rnd.gauss(0, 0.3)
        p = 0.08  # anomalies nothing in the readings explains
        if rnd.random() < 0.2:
            jump = rnd.uniform(0, 4)
            t += jump if rnd.random() < 0.5 else -jump
            p = 1 / (1 + math.exp(-(jump - 3)))
        anomaly = 1 if rnd.random() < p else 0
        hum = 45 - 0.8 * (t - 21) + rnd.gauss(0, 2)
        status = 2 if t > 27 else 1 if t > 25 else 0
        out.write(json.dumps({
            "sensor_id": "room-%02d" % s, "temperature": round(t, 2), "humidity": round(hum, 2),
            "timestamp": ts, "location": "lab", "lat": 48.1, "lon": 11.5,
            "hour_of_day": int(hour), "day_of_week": int((ts // 86400000 + 3) % 7),
            "status_flag": status, "is_anomaly": anomaly}, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
