#!/usr/bin/python3
"""sklearn_noisy.py - scikit-learn's LogisticRegression with a fieldgate
anomaly detector's settings, on CSVs from `fieldgate models features
--data`, scored on held-out rows (tests/integration/test_train_noisy.sh).

  /usr/bin/python3 sklearn_noisy.py TRAIN.csv TEST.csv MODEL.json...

Same features (the model file's "features"), same settings (its
"hyperparameters"): Spark's regParam on standardised features is
StandardScaler + C = 1 / (reg_param * n), class_weight "balanced" or None.
scikit-learn's own decision (predict: P > 0.5) is what a user of it gets.
Prints one JSON object per model file, one a line: sklearn's test
accuracy, the all-normal baseline, and fieldgate's model applied to the
same rows by its file's numbers (intercept, weights, threshold).
"""
import json
import sys
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def load(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    a = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=range(1, len(header)))
    return {name: a[:, i] for i, name in enumerate(header[1:])}


def main():
    tr, te = load(sys.argv[1]), load(sys.argv[2])
    for path in sys.argv[3:]:
        one(json.load(open(path)), tr, te)
    return 0


def one(model, tr, te):
    hp = model["hyperparameters"]
    feats = model["features"]
    X = lambda rows: np.column_stack([rows[f] for f in feats])
    y, yt = tr["is_anomaly"], te["is_anomaly"]
    cw = hp.get("class_weight", "none")
    warnings.simplefilter("ignore")
    lr = make_pipeline(StandardScaler(), LogisticRegression(
        C=1.0 / (hp["reg_param"] * len(y)), tol=1e-10, max_iter=5000,
        class_weight="balanced" if cw == "balanced" else None))
    lr.fit(X(tr), y)
    sk = float((lr.predict(X(te)) == yt).mean())
    z = model["intercept"] + X(te) @ np.array(model["weights"])
    fg = (1 / (1 + np.exp(-z))) >= model.get("threshold", 0.5)
    print(json.dumps({"sklearn_accuracy": sk, "baseline_accuracy": float((yt == 0).mean()),
                      "fieldgate_file_accuracy": float((fg == yt).mean()),
                      "test_rows": int(len(yt)), "test_anomalies": int(yt.sum())}))


if __name__ == "__main__":
    sys.exit(main())
