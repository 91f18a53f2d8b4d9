#!/bin/bash
# models/import_sklearn.py against scikit-learn itself: fit a random forest
# (100 trees, depth 10), a logistic regression and a gradient-boosted
# regressor on simulated readings' features, import them, and on 10,000
# held-out rows fieldgate must predict what scikit-learn predicts: the same
# status class and anomaly label on every row, probabilities and humidity
# within 1e-6. Then what the importer must refuse. Uses Debian's
# python3-sklearn under /usr/bin/python3 (packaging/build-deps.txt).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! $PY -c 'import sklearn, joblib, numpy' 2>"$T/err"; then
	fail "/usr/bin/python3 cannot import sklearn, joblib and numpy (apt-get install python3-sklearn): $(tail -1 "$T/err")"
	finish
fi
sk_import() { $PY "$top/models/import_sklearn.py" --fieldgate "$FG" "$@"; }

# Training and held-out readings (another seed, another month), as features.
"$FG" simulate --sensors 100 --rate 0.002 --count 20000 --seed 11 --start 2026-01-05T00:00:00Z --out "$T/train.jsonl"
"$FG" simulate --sensors 100 --rate 0.002 --count 10000 --seed 12 --start 2026-02-02T00:00:00Z --out "$T/test.jsonl"
"$FG" models features --data "$T/train.jsonl" --out "$T/train.csv" && \
	"$FG" models features --data "$T/test.jsonl" --out "$T/test.csv" || fail "models features --data"
expect "10,000 held-out rows" "$(($(wc -l <"$T/test.csv") - 1))" 10000

mkdir -p "$T/sk" "$T/models"
$PY "$top/tests/integration/sklearn_fit.py" "$T/train.csv" "$T/sk" --test "$T/test.csv" \
	|| { fail "fitting the scikit-learn models"; finish; }

# Import: a pickle and --features, a joblib file and --features, a
# compressed joblib file with feature_names_in_. Each prints its check line.
sk_import "$T/sk/rf.pkl" --features "$(cat "$T/sk/rf.features")" --out "$T/models" --version 3 \
	--data-source "simulate --seed 11 --count 20000" >"$T/out" 2>"$T/err"
expect "import the forest (pickle) exits 0" $? 0
grep -q "^$T/models/status_predictor.json: OK random_forest_classifier status_predictor@3, 9 features (temperature,humidity,.*), 100 trees, [0-9]* nodes, float32 splits$" "$T/out" \
	|| fail "forest import line: $(cat "$T/out" "$T/err")"
[ -s "$T/err" ] && fail "the importer wrote to stderr when it is not a terminal: $(cat "$T/err")"
sk_import "$T/sk/lr.joblib" --features "$(cat "$T/sk/lr.features")" --out "$T/models" >"$T/out" 2>&1
expect "import the logistic regression (joblib) exits 0" $? 0
grep -q "anomaly_detector.json: OK logistic_regression anomaly_detector@1, 7 features" "$T/out" || fail "logreg import line: $(cat "$T/out")"
sk_import "$T/sk/gbt.joblib" --out "$T/models/humidity_regressor.json" >"$T/out" 2>&1
expect "import the GBT (compressed joblib, feature_names_in_) exits 0" $? 0
grep -q "humidity_regressor.json: OK gbt_regressor humidity_regressor@1, 7 features (temperature,hour_sin,hour_cos,lat,lon,temp_mean_10,humidity_mean_10), 100 trees" "$T/out" \
	|| fail "gbt import line: $(cat "$T/out")"
"$FG" models check "$T/models" >/dev/null; expect "models check of the imported set exits 0" $? 0
ls -a "$T/models" | grep -q tmp && fail "the importer left a temporary file: $(ls -a "$T/models")"
grep -q '"threshold": 0.5000000000000001' "$T/models/anomaly_detector.json" || fail "logreg threshold is not the next double above 0.5"

# Parity on the held-out rows.
"$FG" models predict --models "$T/models" --features "$T/test.csv" >"$T/fg.csv"
expect "models predict on the imported set exits 0" $? 0
parity() { # FIELDGATE.csv SKLEARN.csv ANOMALY_PREFIX: max abs differences, asserts
	$PY - "$@" <<'PY'
import csv, sys
fg = list(csv.DictReader(open(sys.argv[1])))
sk = list(csv.DictReader(open(sys.argv[2])))
a = sys.argv[3]
assert len(fg) == len(sk) == 10000, (len(fg), len(sk))
status = sum(f["status"] != s["status"] for f, s in zip(fg, sk))
label = sum(f["anomaly"] != s[a] for f, s in zip(fg, sk))
dp = max(abs(float(f[c]) - float(s[c])) for f, s in zip(fg, sk) for c in ("p_normal", "p_warning", "p_fault"))
da = max(abs(float(f["anomaly_probability"]) - float(s[a + "_probability"])) for f, s in zip(fg, sk))
dh = max(abs(float(f["humidity"]) - float(s["humidity"])) for f, s in zip(fg, sk))
classes = sorted(set(s["status"] for s in sk)); flagged = sum(s[a] == "1" for s in sk)
print(f"parity on {len(fg)} rows: status class differs on {status}, anomaly label on {label}; "
      f"max |diff| status proba {dp:.3g}, anomaly proba {da:.3g}, humidity {dh:.3g} "
      f"(scikit-learn predicted classes {','.join(classes)}, {flagged} anomalies)")
ok = status == 0 and label == 0 and dp <= 1e-6 and da <= 1e-6 and dh <= 1e-6
sys.exit(0 if ok else 1)
PY
}
parity "$T/fg.csv" "$T/sk/sklearn.csv" anomaly && pass "fieldgate predicts what scikit-learn predicts" \
	|| fail "fieldgate and scikit-learn disagree"

# multi_class='multinomial': a softmax of [-d, d], imported with doubled weights.
mkdir -p "$T/multi"
sk_import "$T/sk/lr_multi.pkl" --features "$(cat "$T/sk/lr.features")" --out "$T/multi" >/dev/null \
	|| fail "import the multinomial logistic regression"
cp "$T/models/status_predictor.json" "$T/models/humidity_regressor.json" "$T/multi/"
"$FG" models predict --models "$T/multi" --features "$T/test.csv" >"$T/fg_multi.csv"
parity "$T/fg_multi.csv" "$T/sk/sklearn.csv" anomaly_multi && pass "multinomial logistic regression: same predictions" \
	|| fail "multinomial logistic regression disagrees"

# What float32 splits are for: the same trees compared as doubles (info only).
mkdir -p "$T/f64"
for f in status_predictor humidity_regressor; do
	grep -v '"split_input": "float32"' "$T/models/$f.json" >"$T/f64/$f.json"
done
cp "$T/models/anomaly_detector.json" "$T/f64/"
"$FG" models predict --models "$T/f64" --features "$T/test.csv" >"$T/fg64.csv"
echo "info: with the trees compared as doubles: $(parity "$T/fg64.csv" "$T/sk/sklearn.csv" anomaly)"

# The agent takes the imported set.
head -500 "$T/test.jsonl" | "$FG" score --models "$T/models" >"$T/ev.jsonl"; expect "score with the imported models exits 0" $? 0
grep -q '"models":{"status":"status_predictor@3","anomaly":"anomaly_detector@1","humidity":"humidity_regressor@1"}' "$T/ev.jsonl" \
	|| fail "events do not name the imported models"

# Refusals: one line, exit 2, nothing written.
refuse() { # DESC EXPECTED-SUBSTRING IMPORT-ARGS...
	local desc=$1 want=$2; shift 2
	sk_import "$@" --out "$T/refused.json" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ $rc -eq 2 ] && grep -qF -- "$want" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ] && [ ! -e "$T/refused.json" ]; then
		pass "refuses $desc"
	else
		fail "refuse $desc: exit $rc, $(cat "$T/err" "$T/out")"
	fi
}
$PY - "$T/sk" <<'PY' || fail "fitting the models to refuse"
import pickle, sys, numpy as np
from sklearn.tree import DecisionTreeClassifier
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import LogisticRegression
d = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.random((200, 3)); y = (X[:, 0] > 0.5).astype(int)
def save(name, obj):
    with open(f"{d}/{name}", "wb") as f:
        pickle.dump(obj, f)
save("tree.pkl", DecisionTreeClassifier(max_depth=3).fit(X, y))
save("pipe.pkl", make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))
save("rf4.pkl", RandomForestClassifier(n_estimators=3).fit(X, (X[:, 0] * 4).astype(int)))
save("rf9.pkl", RandomForestClassifier(n_estimators=3).fit(X, np.arange(200) % 9))
save("rf_str.pkl", RandomForestClassifier(n_estimators=3).fit(X, np.where(y, "fault", "ok")))
save("rf_multi.pkl", RandomForestClassifier(n_estimators=3).fit(X, np.column_stack([y, y])))
save("gbt_abs.pkl", GradientBoostingRegressor(loss="absolute_error", n_estimators=3).fit(X, X[:, 0]))
save("rf3.pkl", RandomForestClassifier(n_estimators=3).fit(X, (X[:, 0] * 3).astype(int)))
save("gbt3.pkl", GradientBoostingRegressor(n_estimators=3).fit(X, X[:, 0]))
save("lr3.pkl", LogisticRegression().fit(X, (X[:, 0] * 3).astype(int)))
save("unfitted.pkl", RandomForestClassifier())
with open(f"{d}/rf.pkl", "rb") as f, open(f"{d}/cut.pkl", "wb") as g:
    g.write(f.read(1000))
PY
rf_feats=$(cat "$T/sk/rf.features")
# The three the issue names, each in its own process as a user runs it.
refuse "an unsupported estimator" "unsupported estimator DecisionTreeClassifier" "$T/sk/tree.pkl" --features temperature,humidity,lat
refuse "a feature not in the catalogue" 'feature "pressure" is not one fieldgate computes' \
	"$T/sk/rf.pkl" --features "${rf_feats/temp_dev_10/pressure}"
refuse "a regressor where a classifier is expected" \
	"the status model must be a RandomForestClassifier, not a GradientBoostingRegressor (a regressor)" "$T/sk/gbt.joblib" --slot status
# The rest through the importer's main() in one process (a Python start with
# scikit-learn costs a second): exit status, one line on stderr, no file.
$PY - "$top/models" "$T/sk" "$FG" "$T/refused.json" "$rf_feats" <<'PY' || fail "the importer accepted what it must refuse"
import contextlib, io, os, sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, sys.argv[1])
import import_sklearn
sk, fg, out, rf = sys.argv[2:]
few = "temperature,humidity,lat"
cases = [
    ("a pipeline", "a Pipeline: fieldgate imports a single estimator", ["pipe.pkl", "--features", few]),
    ("a classifier where a regressor is expected",
     "the humidity model must be a GradientBoostingRegressor, not a RandomForestClassifier (a classifier)",
     ["rf.pkl", "--slot", "humidity", "--features", rf]),
    ("a logistic regression where a forest is expected",
     "the status model must be a RandomForestClassifier, not a LogisticRegression (a classifier)",
     ["lr.joblib", "--slot", "status", "--features", rf]),
    ("a model without feature names", "the model has no feature names (it was fitted on an array)", ["rf.pkl"]),
    ("feature names other than feature_names_in_", "differs from the names the model was fitted with",
     ["gbt.joblib", "--features", "temperature,hour_sin,hour_cos,lat,lon,temp_mean_10,humidity"]),
    ("too few feature names", "3 feature names for a model of 9 features", ["rf.pkl", "--features", few]),
    ("a duplicate feature name", '"lat" appears twice', ["rf4.pkl", "--features", "lat,humidity,lat"]),
    ("classes other than 0, 1, 2",
     "classes ['0', '1', '2', '3']: the status model's classes are 0 normal, 1 warning, 2 fault",
     ["rf4.pkl", "--features", few]),
    ("more than 8 classes", "9 classes (fieldgate's forest takes at most 8, the status model 0, 1, 2)",
     ["rf9.pkl", "--features", few]),
    ("string classes", "the status model's classes are 0 normal, 1 warning, 2 fault", ["rf_str.pkl", "--features", few]),
    ("a multi-output forest", "a multi-output forest (2 outputs)", ["rf_multi.pkl", "--features", few]),
    ("another GBT loss", "loss 'absolute_error' (fieldgate imports squared_error only)", ["gbt_abs.pkl", "--features", few]),
    ("a 3-class logistic regression", "3 classes (the anomaly model is binary: 0 and 1)", ["lr3.pkl", "--features", few]),
    ("an unfitted model", "the RandomForestClassifier is not fitted", ["unfitted.pkl", "--features", "temperature"]),
    ("a truncated pickle", "not a pickle or joblib file of a scikit-learn model", ["cut.pkl"]),
    ("a missing file", "cannot open", ["nope.pkl"]),
    ("version 0", "--version 0 (expected >= 1)", ["rf.pkl", "--version", "0"]),
    ("a name too long", "--name: must be 1..64 bytes", ["rf.pkl", "--name", "x" * 65, "--features", rf]),
]
bad = 0


def refuse(desc, want, args, show=False):
    """The importer on args must exit 2 with one line containing want and write nothing."""
    global bad
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = import_sklearn.main([os.path.join(sk, args[0])] + args[1:] + ["--fieldgate", fg, "--out", out])
    msg = err.getvalue()
    if rc == 2 and want in msg and msg.count("\n") == 1 and not os.path.exists(out):
        print(f"ok: refuses {desc}" + (f": {msg.strip()}" if show else ""))
    else:
        print(f"FAIL: refuse {desc}: exit {rc}, {msg!r}", file=sys.stderr)
        bad += 1


for desc, want, args in cases:
    refuse(desc, want, args)
# fieldgate's caps (models/model.h), before a node is converted or a byte
# written: the importer's copies are the header's values...
import re
hdr = open(os.path.join(sys.argv[1], "model.h")).read()
for name, mine in (("MODEL_MAX_NODES", import_sklearn.MAX_NODES), ("MODEL_MAX_TREES", import_sklearn.MAX_TREES),
                   ("MODEL_MAX_FILE_BYTES", import_sklearn.MAX_FILE_BYTES)):
    m = re.search(r"#define %s \(?([0-9L*<> ]+)\)?" % name, hdr)
    theirs = eval(m.group(1).replace("L", "")) if m else None
    if theirs != mine:
        print(f"FAIL: import_sklearn.py has {name} {mine}, models/model.h {theirs}", file=sys.stderr)
        bad += 1
# ...and a forest or GBT beyond them is refused by name (the caps lowered to
# what rf3.pkl's and gbt3.pkl's 3 trees exceed, rather than fitting 262,145 nodes).
for desc, attr, cap, want, args in (
        ("a forest with too many nodes", "MAX_NODES", 5, "nodes in all 3 trees (fieldgate's models take at most 5: "
         "fewer trees or a smaller max_depth)", ["rf3.pkl", "--features", few]),
        ("a GBT with too many trees", "MAX_TREES", 2, "3 trees (fieldgate's models take at most 2: fewer trees)",
         ["gbt3.pkl", "--features", few]),
        ("a model file too large", "MAX_FILE_BYTES", 1000, "the model file would be",
         ["rf3.pkl", "--features", few])):
    saved = getattr(import_sklearn, attr)
    setattr(import_sklearn, attr, cap)
    refuse(desc, want, args, show=True)
    setattr(import_sklearn, attr, saved)
sys.exit(bad > 0)
PY
sk_import "$T/sk/rf.pkl" --features "$rf_feats" --fieldgate "$T/no-fieldgate" --out "$T/refused.json" 2>"$T/err"
expect "the importer without a fieldgate binary exits 1" $? 1
grep -q "cannot run $T/no-fieldgate (--fieldgate PATH)" "$T/err" || fail "no fieldgate: $(cat "$T/err")"
finish
