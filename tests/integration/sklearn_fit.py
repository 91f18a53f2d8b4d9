#!/usr/bin/python3
"""sklearn_fit.py - fit the three scikit-learn models the import tests and
the benchmark use, on a CSV from `fieldgate models features --data`
(numpy only: no pandas on the build machines).

  /usr/bin/python3 sklearn_fit.py TRAIN.csv OUTDIR [--test TEST.csv]
      [--rf-trees 100] [--rf-depth 10] [--gbt-trees 100] [--gbt-depth 8]
      [--gbt-subsample 0.8]

writes into OUTDIR
  rf.pkl        RandomForestClassifier on status_flag (pickle); feature
                names in rf.features (it was fitted on an array)
  lr.joblib     LogisticRegression on is_anomaly (joblib); lr.features
  lr_multi.pkl  the same with multi_class='multinomial' (pickle); lr.features
  gbt.joblib    GradientBoostingRegressor on humidity (joblib, compressed),
                with feature_names_in_ set as a DataFrame would have set it
  sklearn.csv   with --test: scikit-learn's predictions for each test row,
                as repr() (exact): status,p_normal,p_warning,p_fault,
                anomaly_probability,anomaly,humidity,anomaly_multi_probability,
                anomaly_multi
Exits non-zero on any error.
"""
import argparse
import csv
import pickle
import sys
import warnings

import joblib
import numpy as np
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

# Which catalogue features each model learns from. lat/lon and the rolling
# means have thresholds where float32 rounding matters.
RF_FEATURES = ["temperature", "humidity", "hour_of_day", "day_of_week", "lat", "lon",
               "temp_mean_10", "temp_std_10", "temp_dev_10"]
LR_FEATURES = ["temp_abs_dev_10", "temp_abs_diff_prev", "temp_is_repeat", "temp_std_10",
               "temp_ewma_abs_dev", "temp_repeat", "temp_dev_10"]
GBT_FEATURES = ["temperature", "hour_sin", "hour_cos", "lat", "lon", "temp_mean_10",
                "humidity_mean_10"]


def read(path):
    """(columns -> float arrays, status labels, anomaly labels)."""
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = list(r)
    cols = {}
    for j, name in enumerate(header):
        if name in ("sensor_id", "timestamp", "status_flag", "is_anomaly"):
            continue
        cols[name] = np.array([float(row[j]) for row in rows])
    status = np.array([int(row[header.index("status_flag")]) for row in rows])
    anomaly = np.array([int(row[header.index("is_anomaly")]) for row in rows])
    return cols, status, anomaly


def matrix(cols, names):
    return np.column_stack([cols[n] for n in names])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("out")
    ap.add_argument("--test")
    ap.add_argument("--rf-trees", type=int, default=100)
    ap.add_argument("--rf-depth", type=int, default=10)
    ap.add_argument("--gbt-trees", type=int, default=100)
    ap.add_argument("--gbt-depth", type=int, default=8)
    ap.add_argument("--gbt-subsample", type=float, default=0.8)
    a = ap.parse_args()
    warnings.simplefilter("ignore")  # "X does not have valid feature names" for the GBT

    cols, status, anomaly = read(a.train)
    rf = RandomForestClassifier(n_estimators=a.rf_trees, max_depth=a.rf_depth, n_jobs=2,
                                # leaves of weighted counts; predicts all 3 classes
                                class_weight="balanced",
                                random_state=1).fit(matrix(cols, RF_FEATURES), status)
    # balanced: P > 0.5 on hundreds of held-out rows, so the label is tested
    lr = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(
        matrix(cols, LR_FEATURES), anomaly)
    lr_multi = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced",
                                  multi_class="multinomial").fit(
        matrix(cols, LR_FEATURES), anomaly)
    gbt = GradientBoostingRegressor(n_estimators=a.gbt_trees, max_depth=a.gbt_depth,
                                    learning_rate=0.1, subsample=a.gbt_subsample,
                                    random_state=1).fit(matrix(cols, GBT_FEATURES),
                                                        cols["humidity"])
    # What fitting on a DataFrame with these columns sets (pandas is absent).
    gbt.feature_names_in_ = np.array(GBT_FEATURES, dtype=object)

    with open(f"{a.out}/rf.pkl", "wb") as f:
        pickle.dump(rf, f)
    joblib.dump(lr, f"{a.out}/lr.joblib")
    with open(f"{a.out}/lr_multi.pkl", "wb") as f:
        pickle.dump(lr_multi, f)
    joblib.dump(gbt, f"{a.out}/gbt.joblib", compress=3)
    for name, feats in (("rf", RF_FEATURES), ("lr", LR_FEATURES)):
        with open(f"{a.out}/{name}.features", "w") as f:
            f.write(",".join(feats) + "\n")

    if a.test:
        t, _, _ = read(a.test)
        proba = rf.predict_proba(matrix(t, RF_FEATURES))
        full = np.zeros((len(proba), 3))
        full[:, [int(c) for c in rf.classes_]] = proba  # status classes at 0, 1, 2
        label = rf.predict(matrix(t, RF_FEATURES))
        pa = lr.predict_proba(matrix(t, LR_FEATURES))[:, 1]
        la = lr.predict(matrix(t, LR_FEATURES))
        pm = lr_multi.predict_proba(matrix(t, LR_FEATURES))[:, 1]
        lm = lr_multi.predict(matrix(t, LR_FEATURES))
        hum = gbt.predict(matrix(t, GBT_FEATURES))
        with open(f"{a.out}/sklearn.csv", "w") as f:
            f.write("status,p_normal,p_warning,p_fault,anomaly_probability,anomaly,humidity,"
                    "anomaly_multi_probability,anomaly_multi\n")
            for i in range(len(hum)):
                p = [repr(float(v)) for v in full[i]]
                f.write(f"{int(label[i])},{p[0]},{p[1]},{p[2]},"
                        f"{float(pa[i])!r},{int(la[i])},{float(hum[i])!r},"
                        f"{float(pm[i])!r},{int(lm[i])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
