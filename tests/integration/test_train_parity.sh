#!/bin/bash
# Training parity with scikit-learn (issue 12, point 2): `fieldgate train`
# and scikit-learn learn the same three models from the same simulated
# readings, with the same hyperparameters, and are scored on the same
# held-out readings (another seed, another week). fieldgate must reach
# accuracy within 1 percentage point of scikit-learn's (status and anomaly)
# and an RMSE at most 5 % above it (humidity).
#
# Same features: scikit-learn trains on `fieldgate models features --data`
# (every catalogue feature as the agent computes it), taking the columns
# each model file lists in "features". Same hyperparameters, read from the
# model files' "hyperparameters":
#  - status, random forest: trees, max_depth, features_per_node (an int
#    max_features: ours is ceil(sqrt(nf)), sklearn's "sqrt" floors it),
#    bootstrap (ours Poisson(1) weights as Spark, sklearn n draws with
#    replacement), gini. Ours splits among max_bins - 1 = 127 quantile
#    candidates per feature, sklearn among all midpoints.
#  - anomaly, L2 logistic regression: Spark's regParam with
#    standardization is mean log-loss + regParam/2 |w|^2 on standardised
#    features, which is sklearn's StandardScaler + C = 1 / (regParam * n)
#    (C * sum of log-losses + |w|^2 / 2, intercept not penalised). sklearn's
#    scaler divides by the population sd, ours by the sample sd: at n =
#    200,000 the penalties differ by a factor (n-1)/n. fieldgate's decision
#    threshold is chosen automatically (train's default, --threshold auto):
#    fit on the first 80 % of the rows, the cut with the fewest false
#    alarms plus misses on the last 20 %, then a fit on all rows keeps it;
#    sklearn's is chosen by the same rule on its own 80 % fit, so
#    threshold meets threshold. Both are also printed at 0.5, for
#    information.
#  - humidity, GBT: fieldgate (as Spark) fits its first tree to y with
#    weight 1, then iterations - 1 trees with weight step_size.
#    GradientBoostingRegressor starts from mean(y) and weighs every tree by
#    the learning rate; its closest setting is init = a depth-5
#    DecisionTreeRegressor (the weight-1 first tree) and n_estimators =
#    iterations - 1, which is what we compare against. The default (init =
#    mean, 10 trees at 0.1, only 1 - 0.9^10 = 65 % of the way from the mean)
#    is printed too.
# Needs /usr/bin/python3 with python3-sklearn (Debian's 1.2.1); the first
# python3 on PATH may be another interpreter without it.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
ROWS=${PARITY_ROWS:-200000} TEST_ROWS=${PARITY_TEST_ROWS:-50000}

if ! $PY -c 'import sklearn, numpy' 2>/dev/null; then
	fail "$PY has no scikit-learn (apt install python3-sklearn)"
	finish
fi

sim() { "$FG" simulate --sensors 100 --rate 0.01 "$@"; }
sim --count "$ROWS" --seed 11 --start 2026-01-05T00:00:00Z --out "$T/train.jsonl" || fail "simulate train"
sim --count "$TEST_ROWS" --seed 23 --start 2026-02-02T00:00:00Z --out "$T/test.jsonl" || fail "simulate test"

t0=$(date +%s.%N)
"$FG" train --data "$T/train.jsonl" --out "$T/fg" --seed 7 >/dev/null; expect "fieldgate train exits 0" $? 0
t1=$(date +%s.%N)
"$FG" eval --models "$T/fg" --data "$T/test.jsonl" --json >"$T/eval.json"; expect "fieldgate eval exits 0" $? 0
"$FG" models features --data "$T/train.jsonl" --out "$T/train.csv"; expect "features of the training rows" $? 0
"$FG" models features --data "$T/test.jsonl" --out "$T/test.csv"; expect "features of the test rows" $? 0

$PY - "$T" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" <<'PY' || fail "parity with scikit-learn (figures above)"
import json, sys, time
import numpy as np
import sklearn
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

d, fg_secs = sys.argv[1], float(sys.argv[2])

def load(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    a = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(1, len(header)))
    return {name: a[:, i] for i, name in enumerate(header[1:])}

tr, te = load(d + "/train.csv"), load(d + "/test.csv")
ev = json.load(open(d + "/eval.json"))
assert ev["rows"] == len(te["temperature"]) and ev["rejected"] == 0, ev
models = {m: json.load(open("%s/fg/%s.json" % (d, m)))
          for m in ("status_predictor", "anomaly_detector", "humidity_regressor")}
def X(rows, m): return np.column_stack([rows[f] for f in models[m]["features"]])
rows = []  # (what, fieldgate, sklearn, sklearn's fit seconds, ok)

# status: random forest
hp = models["status_predictor"]["hyperparameters"]
assert hp["impurity"] == "gini" and hp["bootstrap"] == "poisson(1)", hp
t = time.time()
rf = RandomForestClassifier(n_estimators=hp["trees"], max_depth=hp["max_depth"],
                            max_features=hp["features_per_node"], bootstrap=True,
                            criterion="gini", random_state=7, n_jobs=1)
rf.fit(X(tr, "status_predictor"), tr["status_flag"])
sk = float((rf.predict(X(te, "status_predictor")) == te["status_flag"]).mean())
fg = ev["status"]["accuracy"]
rows.append(("status accuracy", fg, sk, time.time() - t, fg >= sk - 0.01))

# anomaly: L2 logistic regression, threshold chosen on the last 20 %
hp = models["anomaly_detector"]["hyperparameters"]
assert hp["elastic_net_param"] == 0 and hp["threshold"] == "auto" and hp["class_weight"] == "none", hp
y = tr["is_anomaly"]
n = len(y)
def lr_fit(X, y):
    return make_pipeline(StandardScaler(), LogisticRegression(
        C=1.0 / (hp["reg_param"] * len(y)), tol=1e-10, max_iter=1000)).fit(X, y)
t = time.time()
Xa = X(tr, "anomaly_detector")
hold = n * 20 // 100
k = n - hold
ph, yh = lr_fit(Xa[:k], y[:k]).predict_proba(Xa[k:])[:, 1], y[k:]
# fieldgate's rule (logreg_choose_threshold): sweep from the most probable
# row down, cut only between distinct probabilities, fewest false alarms
# plus misses (never alarming included, ties to the higher cut), midway.
order = np.lexsort((-yh, -ph))
ps, ys = ph[order], yh[order]
tp = np.cumsum(ys == 1)
errors = (np.arange(1, hold + 1) - tp) + ((yh == 1).sum() - tp)
errors = errors.astype(float)
errors[:-1][ps[1:] == ps[:-1]] = np.inf
best = int(np.argmin(errors))
thr = 0.5
if errors[best] < (yh == 1).sum():
    thr = (ps[best] + ps[best + 1]) / 2 if best + 1 < hold else ps[best] / 2
lr = lr_fit(Xa, y)
sk_fit = time.time() - t
pt = lr.predict_proba(X(te, "anomaly_detector"))[:, 1]
sk = float(((pt >= thr) == te["is_anomaly"]).mean())
fg = ev["anomaly"]["accuracy"]
rows.append(("anomaly accuracy (auto threshold)", fg, sk, sk_fit, fg >= sk - 0.01))
m = models["anomaly_detector"]
z = m["intercept"] + X(te, "anomaly_detector") @ np.array(m["weights"])
fg05 = float(((1 / (1 + np.exp(-z)) >= 0.5) == te["is_anomaly"]).mean())
sk05 = float(((pt >= 0.5) == te["is_anomaly"]).mean())
rows.append(("  at threshold 0.5 (info)", fg05, sk05, None, None))
print("anomaly thresholds: fieldgate %.6f, sklearn %.6f" % (m.get("threshold", 0.5), thr))

# humidity: GBT; sklearn's closest setting to a weight-1 first tree
hp = models["humidity_regressor"]["hyperparameters"]
assert hp["loss"] == "squared" and hp["subsampling_rate"] == 1, hp
def rmse(g):
    g.fit(X(tr, "humidity_regressor"), tr["humidity"])
    e = g.predict(X(te, "humidity_regressor")) - te["humidity"]
    return float(np.sqrt((e * e).mean()))
t = time.time()
sk = rmse(GradientBoostingRegressor(
    loss="squared_error", criterion="squared_error", n_estimators=hp["iterations"] - 1,
    learning_rate=hp["step_size"], max_depth=hp["max_depth"], subsample=1.0, random_state=7,
    init=DecisionTreeRegressor(max_depth=hp["max_depth"], criterion="squared_error")))
fg = ev["humidity"]["rmse"]
rows.append(("humidity RMSE (init = a tree)", fg, sk, time.time() - t, fg <= 1.05 * sk))
t = time.time()
sk0 = rmse(GradientBoostingRegressor(
    loss="squared_error", criterion="squared_error", n_estimators=hp["iterations"],
    learning_rate=hp["step_size"], max_depth=hp["max_depth"], random_state=7))
rows.append(("  sklearn default, init = mean (info)", fg, sk0, time.time() - t, None))

print("scikit-learn %s, %d training rows, %d test rows; fieldgate train (all three): %.1f s"
      % (sklearn.__version__, n, ev["rows"], fg_secs))
print("%-38s %9s %9s %12s %8s  %s" % ("", "fieldgate", "sklearn", "difference", "fit (s)", "check"))
for what, fg, sk, secs, ok in rows:
    diff = "x %.4f" % (fg / sk) if "RMSE" in what or "init" in what else "%+.2f pp" % (100 * (fg - sk))
    print("%-38s %9.4f %9.4f %12s %8s  %s" % (what, fg, sk, diff, "" if secs is None else "%.1f" % secs,
                                              "" if ok is None else "ok" if ok else "MISS"))
sys.exit(0 if all(r[4] is not False for r in rows) else 1)
PY
[ $fails -eq 0 ] && pass "fieldgate within 1 pp (accuracy) and 5 % (RMSE) of scikit-learn"
finish
