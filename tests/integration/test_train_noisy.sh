#!/bin/bash
# The anomaly detector on data like real sensors' (issue 16): anomalies
# rare (13 %) and only partly explained by the features the detector sees
# (noisy_readings.py: a jump in temperature makes one likely, label noise
# makes some that nothing explains), not the simulator's clean rule. On
# such data the threshold that maximised F1 on the training rows raised
# more false alarms than it caught anomalies, below never alarming.
#
# Checks, on 20,000 training and 10,000 held-out readings (another seed,
# another period):
#  - `fieldgate train` with its defaults (class weight none, threshold
#    auto) beats the all-normal baseline in accuracy and is within 2 pp of
#    scikit-learn's LogisticRegression with the same settings (its own
#    predict, P > 0.5; sklearn_noisy.py), with no warning;
#  - the fit itself matches scikit-learn's: at a fixed 0.5, within 0.5 pp;
#  - eval reports precision, recall, F1 and the all-normal baseline (text
#    and --json) and says WORSE when the model is below the baseline;
#  - a deliberately bad setting (--threshold 0.01, and --class-weight
#    balanced at 0.5) is warned about in one line at training;
#  - the settings and the threshold are in the model file, and `score`
#    decides by that threshold.
# Needs /usr/bin/python3 with python3-sklearn. About 5 s.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)

if ! $PY -c 'import sklearn, numpy' 2>/dev/null; then
	fail "$PY has no scikit-learn (apt install python3-sklearn)"
	finish
fi
$PY "$here/noisy_readings.py" --count 20000 --seed 1 --start 1767571200000 >"$T/train.jsonl" ||
	fail "noisy_readings train"
$PY "$here/noisy_readings.py" --count 10000 --seed 2 --start 1768571200000 >"$T/test.jsonl" ||
	fail "noisy_readings test"
"$FG" models features --data "$T/train.jsonl" --out "$T/train.csv"; expect "features of the training rows" $? 0
"$FG" models features --data "$T/test.jsonl" --out "$T/test.csv"; expect "features of the test rows" $? 0

# train NAME [OPTIONS]: a set in $T/NAME, stderr in $T/NAME.err, eval --json in $T/NAME.json
train() {
	local name=$1; shift
	"$FG" train --data "$T/train.jsonl" --out "$T/$name" --seed 7 "$@" >/dev/null 2>"$T/$name.err"
	expect "train $name ($*) exits 0" $? 0
	"$FG" eval --models "$T/$name" --data "$T/test.jsonl" --json >"$T/$name.json"
	expect "eval $name exits 0" $? 0
}
train default
train fixed05 --threshold 0.5
train low --threshold 0.01
train balanced05 --class-weight balanced --threshold 0.5
train balanced --class-weight balanced

"$FG" train --help | grep -q -- '--threshold auto  (default)' &&
"$FG" train --help | grep -q -- '--class-weight none  (default)' &&
"$FG" train --help | grep -q 'fewest false alarms plus misses' ||
	fail "train --help does not state the defaults and the threshold rule"
out=$("$FG" train --data "$T/train.jsonl" --out "$T/x" --threshold 1 2>&1); expect "--threshold 1 is refused" $? 2
case $out in *"bad value for an option: '1'"*) ;; *) fail "--threshold 1: $out" ;; esac
"$FG" train --data "$T/train.jsonl" --out "$T/x" --class-weight heavy 2>/dev/null; expect "--class-weight heavy is refused" $? 2

# warnings: one line for the bad settings' anomaly detector, none for the defaults
grep -q warning "$T/default.err" && fail "defaults warned: $(cat "$T/default.err")"
for name in low balanced05; do
	n=$(grep -c 'warning: anomaly_detector is worse than always answering "normal"' "$T/$name.err")
	expect "one warning line for $name" "$n" 1
done

names="default fixed05 low balanced05 balanced"
$PY "$here/sklearn_noisy.py" "$T/train.csv" "$T/test.csv" \
	$(for n in $names; do echo "$T/$n/anomaly_detector.json"; done) >"$T/sk.jsonl" || fail "sklearn_noisy"
"$FG" eval --models "$T/low" --data "$T/test.jsonl" >"$T/low.txt"
"$FG" eval --models "$T/default" --data "$T/test.jsonl" >"$T/default.txt"
cat "$T/default.txt"

$PY - "$T" <<'PY' || fail "figures above"
import json, sys
d = sys.argv[1]
bad = []
def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        bad.append(what)
ev = {n: json.load(open("%s/%s.json" % (d, n))) for n in ("default", "fixed05", "low", "balanced05", "balanced")}
sk = dict(zip(ev, map(json.loads, open(d + "/sk.jsonl"))))
mf = {n: json.load(open("%s/%s/anomaly_detector.json" % (d, n))) for n in ev}
base = sk["default"]["baseline_accuracy"]
print("%-12s %9s %9s %9s %9s %7s %7s   (all-normal %.4f)" % ("settings", "fieldgate", "sklearn",
      "precision", "recall", "alarms", "false", base))
for n in ev:
    a = ev[n]["anomaly"]
    print("%-12s %9.4f %9.4f %9.4f %9.4f %7d %7d   threshold %s" % (n, a["accuracy"], sk[n]["sklearn_accuracy"],
          a["precision"], a["recall"], a["confusion"][0][1] + a["confusion"][1][1], a["confusion"][0][1],
          mf[n].get("threshold", 0.5)))
a = ev["default"]["anomaly"]
hp0 = mf["default"]["hyperparameters"]
check(abs(a["all_normal_accuracy"] - base) < 1e-6, "eval --json all_normal_accuracy is the share of normal rows")
c = a["confusion"]
tp, fp, fn = c[1][1], c[0][1], c[1][0]
check(abs(a["precision"] - tp / (tp + fp)) < 1e-6 and abs(a["recall"] - tp / (tp + fn)) < 1e-6
      and abs(a["f1"] - 2 * tp / (2 * tp + fp + fn)) < 1e-6, "eval --json precision, recall, F1")
check(a["accuracy"] > base, "defaults beat never alarming: %.4f > %.4f" % (a["accuracy"], base))
check(fp < tp, "defaults: fewer false alarms (%d) than anomalies caught (%d)" % (fp, tp))
check(a["accuracy"] >= sk["default"]["sklearn_accuracy"] - 0.02,
      "defaults within 2 pp of sklearn LogisticRegression (C = 1/(%g n), no class weight): %.4f vs %.4f"
      % (hp0["reg_param"], a["accuracy"], sk["default"]["sklearn_accuracy"]))
check(abs(ev["fixed05"]["anomaly"]["accuracy"] - sk["fixed05"]["sklearn_accuracy"]) <= 0.005,
      "at threshold 0.5 the fit matches sklearn's within 0.5 pp: %.4f vs %.4f"
      % (ev["fixed05"]["anomaly"]["accuracy"], sk["fixed05"]["sklearn_accuracy"]))
check(abs(ev["default"]["anomaly"]["accuracy"] - sk["default"]["fieldgate_file_accuracy"]) < 1e-9,
      "eval decides by the file's intercept, weights and threshold")
check(ev["low"]["anomaly"]["accuracy"] < base and ev["balanced05"]["anomaly"]["accuracy"] < base,
      "the bad settings are below never alarming (so their warnings are right)")
check(ev["balanced"]["anomaly"]["accuracy"] > base, "balanced with threshold auto beats never alarming")
hp = {n: mf[n]["hyperparameters"] for n in mf}
check(hp["default"]["class_weight"] == "none" and hp["default"]["threshold"] == "auto"
      and "fewest false alarms plus misses" in hp["default"]["threshold_rule"],
      "defaults recorded: class_weight %s, threshold %s" % (hp["default"]["class_weight"], hp["default"]["threshold"]))
check(0 < mf["default"]["threshold"] < 1 and mf["default"]["threshold"] != 0.5, "auto threshold stored: %s"
      % mf["default"].get("threshold"))
check(mf["default"]["training"]["threshold_holdout_rows"] == 4000, "threshold chosen on 4000 held-out rows")
check(hp["low"]["threshold"] == 0.01 and mf["low"]["threshold"] == 0.01, "--threshold 0.01 recorded and stored")
check(hp["balanced05"]["class_weight"] == "balanced", "--class-weight balanced recorded")
sys.exit(1 if bad else 0)
PY

grep -q 'precision .* recall .* F1 ' "$T/default.txt" && grep -q 'all-normal baseline: accuracy' "$T/default.txt" ||
	fail "eval text has no precision/recall/F1 or all-normal baseline"
grep -q 'WORSE than never alarming' "$T/default.txt" && fail "eval calls the defaults WORSE"
grep -q 'WORSE than never alarming' "$T/low.txt" || fail "eval does not call --threshold 0.01 WORSE: $(cat "$T/low.txt")"

# score decides by the stored threshold: each event's anomaly is
# probability >= threshold (to the 6 digits printed), and as many alarms as eval's
"$FG" score --models "$T/default" <"$T/test.jsonl" >"$T/scored.jsonl" 2>"$T/score.err"
expect "score exits 0" $? 0
$PY - "$T" <<'PY' || fail "score and the stored threshold"
import json, sys
d = sys.argv[1]
thr = json.load(open(d + "/default/anomaly_detector.json"))["threshold"]
ev = json.load(open(d + "/default.json"))["anomaly"]["confusion"]
alarms = wrong = 0
for line in open(d + "/scored.jsonl"):
    p = json.loads(line)["prediction"]
    alarms += p["anomaly"]
    if abs(p["anomaly_probability"] - thr) > 1e-6 and p["anomaly"] != (p["anomaly_probability"] >= thr):
        wrong += 1
print("score: %d alarms, eval: %d; %d decisions not by the threshold %.6f" % (alarms, ev[0][1] + ev[1][1], wrong, thr))
sys.exit(0 if wrong == 0 and alarms == ev[0][1] + ev[1][1] else 1)
PY
[ $fails -eq 0 ] && pass "the anomaly detector beats never alarming and is within 2 pp of scikit-learn"
finish
