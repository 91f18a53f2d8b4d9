#!/usr/bin/python3
"""import_sklearn.py - convert a fitted scikit-learn model into a fieldgate
model file (models/FORMAT.md), for one of the agent's three slots:

  status    RandomForestClassifier, classes a subset of 0 normal, 1 warning,
            2 fault          -> random_forest_classifier, 3 classes
  anomaly   LogisticRegression, binary, classes 0 and 1
                             -> logistic_regression
  humidity  GradientBoostingRegressor, loss squared_error
                             -> gbt_regressor

Run it with Debian's python3-sklearn (/usr/bin/python3). The input is a
pickle or joblib file of the fitted estimator (unpickling runs code: import
only files you trust). The model's feature names come from its
feature_names_in_ (set when it was fitted on a DataFrame) or from
--features, in the order of X's columns, and must be names fieldgate
computes (`fieldgate models features`): train on the CSV that
`fieldgate models features --data` writes and the agent feeds the model the
same numbers. The file is written next to --out under a temporary name,
checked with `fieldgate models check` (the agent's own loader and checks),
and only then renamed into place.

What is carried over so that fieldgate predicts what scikit-learn predicts:
- trees go left on (float)x <= threshold: scikit-learn casts X to float32
  and compares it with float64 thresholds; the file says
  "split_input": "float32" and fieldgate rounds the same way;
- forest: each leaf's distribution is its value row divided by its sum
  (scikit-learn 1.2 stores weighted class counts), placed at the class's
  position among 0, 1, 2; the probability is the mean over the trees, the
  label the first class with the highest probability, as predict_proba and
  predict compute them;
- GBT: init is the init_ estimator's constant (the training mean for the
  default DummyRegressor, 0 for init='zero'), every tree weight is
  learning_rate: value = init + sum(learning_rate * leaf), the order in which
  scikit-learn adds them;
- logistic regression: intercept_ and coef_ as they are (raw feature scale);
  with multi_class='multinomial' the two-class softmax is a sigmoid of twice
  the decision, so both are doubled (exactly). scikit-learn's predict is
  decision > 0, i.e. P > 0.5, while fieldgate labels P >= threshold; the file
  gets threshold 0.5000000000000001, the next double above 0.5, so that the
  label is P > 0.5 too (hyperparameters "threshold" says so, beside the
  estimator's class_weight). They can then differ only for 0 < decision < 1.7e-16
  (where P rounds to 0.5 exactly), and where the decision is so near 0 that its
  sign depends on the order of the sum (scikit-learn's BLAS dot product).

Anything else (other estimators, pipelines, multi-output, more than 8
classes, other classes than 0/1/2, other losses, a feature fieldgate does
not compute) is refused with one line on stderr and exit status 2; a
failure to run fieldgate or to write is exit status 1.

  /usr/bin/python3 models/import_sklearn.py MODEL.pkl --out DIR_OR_FILE
      [--slot status|anomaly|humidity] [--features a,b,c] [--name NAME]
      [--version N] [--rows N] [--data-source TEXT] [--fieldgate PATH]
"""
import argparse
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile

PROG = "import_sklearn.py"

# slot -> (estimator class name, default model name and file stem, fieldgate kind)
SLOTS = {
    "status": ("RandomForestClassifier", "status_predictor", "random_forest_classifier"),
    "anomaly": ("LogisticRegression", "anomaly_detector", "logistic_regression"),
    "humidity": ("GradientBoostingRegressor", "humidity_regressor", "gbt_regressor"),
}
STATUS_CLASSES = 3        # 0 normal, 1 warning, 2 fault
MAX_CLASSES = 8           # MODEL_MAX_CLASSES in models/model.h
MAX_FEATURES = 32         # MODEL_MAX_FEATURES
NAME_MAX = 64             # MODEL_NAME_MAX
MAX_TREES = 10000         # MODEL_MAX_TREES
MAX_NODES = 1 << 18       # MODEL_MAX_NODES: nodes in all the trees of one model
MAX_FILE_BYTES = 32 << 20  # MODEL_MAX_FILE_BYTES (models/FORMAT.md, "Limits")
TREE_LEAF = -1            # sklearn.tree._tree.TREE_LEAF


class Refused(Exception):
    """The input cannot be imported; the message is one line for the user."""


def load_estimator(path):
    """The object in a pickle or joblib file (joblib reads plain pickles too)."""
    try:
        import joblib
    except ImportError:
        joblib = None
    try:
        if joblib is not None:
            return joblib.load(path)
        with open(path, "rb") as f:
            return pickle.load(f)
    except OSError as e:
        raise Refused(f"{path}: cannot open: {e.strerror}")
    except Exception as e:  # a broken pickle can raise nearly anything
        raise Refused(f"{path}: not a pickle or joblib file of a scikit-learn model "
                      f"({type(e).__name__}: {str(e)[:120]})")


def kind_of(est):
    """'classifier', 'regressor' or 'estimator', for messages."""
    t = getattr(est, "_estimator_type", None)
    return t if t in ("classifier", "regressor") else "estimator"


def check_estimator(est, slot, path):
    """The slot the estimator is for (slot, or inferred when None)."""
    name = type(est).__name__
    supported = {v[0]: k for k, v in SLOTS.items()}
    if name == "Pipeline":
        raise Refused(f"{path}: a Pipeline: fieldgate imports a single estimator fitted on "
                      "fieldgate's features as they are (a scaler's transform is not carried "
                      "over); fit the estimator alone")
    if name not in supported:
        raise Refused(f"{path}: unsupported estimator {name} (supported: RandomForestClassifier "
                      "for status, LogisticRegression for anomaly, GradientBoostingRegressor "
                      "for humidity)")
    if slot is None:
        slot = supported[name]
    want = SLOTS[slot][0]
    if name != want:
        raise Refused(f"{path}: the {slot} model must be a {want}, not a {name} "
                      f"(a {kind_of(est)})")
    if not hasattr(est, "n_features_in_"):
        raise Refused(f"{path}: the {name} is not fitted")
    return slot


def feature_names(est, given, path):
    """The model's feature names, in the order of X's columns."""
    n = int(est.n_features_in_)
    fitted = getattr(est, "feature_names_in_", None)
    fitted = [str(f) for f in fitted] if fitted is not None else None
    if given is not None:
        names = [f.strip() for f in given.split(",")]
        if fitted is not None and names != fitted:
            raise Refused(f"{path}: --features {','.join(names)} differs from the names the "
                          f"model was fitted with ({','.join(fitted)})")
    elif fitted is not None:
        names = fitted
    else:
        raise Refused(f"{path}: the model has no feature names (it was fitted on an array): "
                      "give them with --features a,b,c, in the order of X's columns")
    if len(names) != n:
        raise Refused(f"{path}: {len(names)} feature names for a model of {n} features")
    if not 1 <= n <= MAX_FEATURES:
        raise Refused(f"{path}: {n} features (fieldgate's models take 1..{MAX_FEATURES})")
    for i, f in enumerate(names):
        if not f or len(f.encode()) > NAME_MAX:
            raise Refused(f"{path}: feature {i}: name must be 1..{NAME_MAX} bytes")
        if f in names[:i]:
            raise Refused(f"{path}: feature {i}: \"{f}\" appears twice")
    return names


def run_fieldgate(fieldgate, args):
    """(exit status, stdout, stderr) of fieldgate with args; RuntimeError if it cannot run."""
    try:
        p = subprocess.run([fieldgate] + args, capture_output=True, text=True)
    except OSError as e:
        raise RuntimeError(f"cannot run {fieldgate} (--fieldgate PATH): {e.strerror}")
    return p.returncode, p.stdout, p.stderr


def check_catalogue(names, fieldgate, path):
    rc, out, err = run_fieldgate(fieldgate, ["models", "features"])
    if rc != 0:
        raise RuntimeError(f"{fieldgate} models features failed: {err.strip() or rc}")
    catalogue = out.split()
    for f in names:
        if f not in catalogue:
            raise Refused(f"{path}: feature \"{f}\" is not one fieldgate computes "
                          f"(fieldgate models features: {', '.join(catalogue)})")


def finite(v, what, path):
    v = float(v)
    if not math.isfinite(v):
        raise Refused(f"{path}: {what}: {v} is not a finite number")
    return v


class Progress:
    """"trees 37/100" on stderr when it is a terminal, nothing otherwise."""

    def __init__(self, label, total):
        self.label, self.total = label, total
        self.on = sys.stderr.isatty() and total > 1

    def step(self, i):
        if self.on and (i == self.total or i % max(1, self.total // 50) == 0):
            width = 30
            done = width * i // self.total
            sys.stderr.write(f"\r{self.label}: trees {i}/{self.total} "
                             f"[{'#' * done}{'.' * (width - done)}]")
            sys.stderr.flush()

    def end(self):
        if self.on:
            sys.stderr.write("\n")


def check_size(trees, path):
    """fieldgate's caps on trees and nodes, before converting a node."""
    if len(trees) > MAX_TREES:
        raise Refused(f"{path}: {len(trees)} trees (fieldgate's models take at most "
                      f"{MAX_TREES}: fewer trees)")
    nodes = sum(int(t.tree_.node_count) for t in trees)
    if nodes > MAX_NODES:
        raise Refused(f"{path}: {nodes} nodes in all {len(trees)} trees (fieldgate's models "
                      f"take at most {MAX_NODES}: fewer trees or a smaller max_depth)")


def tree_nodes(tree, nfeatures, leaf, path, t):
    """A scikit-learn tree_ as fieldgate nodes; leaf(i) makes leaf i."""
    tr = tree.tree_
    if tr.n_outputs != 1:
        raise Refused(f"{path}: tree {t} has {tr.n_outputs} outputs (fieldgate's trees have one)")
    left, right = tr.children_left, tr.children_right
    nodes = []
    for i in range(tr.node_count):
        if left[i] == TREE_LEAF:
            nodes.append(leaf(i))
            continue
        f = int(tr.feature[i])
        if not 0 <= f < nfeatures:
            raise Refused(f"{path}: tree {t} node {i}: feature index {f} out of range")
        nodes.append({"feature": f,
                      "threshold": finite(tr.threshold[i], f"tree {t} node {i} threshold", path),
                      "left": int(left[i]), "right": int(right[i])})
    return nodes


def convert_forest(est, names, path):
    if getattr(est, "n_outputs_", 1) != 1:
        raise Refused(f"{path}: a multi-output forest ({est.n_outputs_} outputs); fieldgate's "
                      "status model has one")
    classes = list(est.classes_)
    if len(classes) > MAX_CLASSES:
        raise Refused(f"{path}: {len(classes)} classes (fieldgate's forest takes at most "
                      f"{MAX_CLASSES}, the status model 0, 1, 2)")
    pos = []
    for c in classes:
        try:
            ok = float(c) == int(c) and 0 <= int(c) < STATUS_CLASSES
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise Refused(f"{path}: classes {[str(c) for c in classes]}: the status model's "
                          "classes are 0 normal, 1 warning, 2 fault")
        pos.append(int(c))
    check_size(est.estimators_, path)
    trees = []
    prog = Progress(path, len(est.estimators_))
    for t, tree in enumerate(est.estimators_):
        value = tree.tree_.value

        def leaf(i, value=value, t=t):
            v = value[i][0]
            s = v.sum()
            if not s > 0:
                raise Refused(f"{path}: tree {t} node {i}: a leaf with no weight")
            dist = [0.0] * STATUS_CLASSES
            for k, p in enumerate(pos):
                dist[p] = float(v[k] / s)  # as predict_proba: value / value.sum()
            return {"leaf": dist}

        trees.append(tree_nodes(tree, len(names), leaf, path, t))
        prog.step(t + 1)
    prog.end()
    return {"classes": STATUS_CLASSES, "split_input": "float32", "trees": trees}


def convert_gbt(est, names, path):
    loss = getattr(est, "loss", None)
    if loss != "squared_error":
        raise Refused(f"{path}: loss {loss!r} (fieldgate imports squared_error only)")
    init = est.init_
    if isinstance(init, str) and init == "zero":
        init_value = 0.0
    elif type(init).__name__ == "DummyRegressor":
        c = getattr(init, "constant_", None)
        if c is None or c.size != 1:
            raise Refused(f"{path}: init_ DummyRegressor without one constant")
        init_value = finite(c.ravel()[0], "init", path)
    else:
        raise Refused(f"{path}: init estimator {type(init).__name__} (fieldgate imports the "
                      "default init, the training mean, or init='zero')")
    if est.estimators_.ndim != 2 or est.estimators_.shape[1] != 1:
        raise Refused(f"{path}: estimators_ of shape {est.estimators_.shape} (expected one "
                      "tree per stage)")
    lr = finite(est.learning_rate, "learning_rate", path)
    stages = est.estimators_[:, 0]
    check_size(stages, path)
    trees = []
    prog = Progress(path, len(stages))
    for t, tree in enumerate(stages):
        value = tree.tree_.value
        trees.append(tree_nodes(tree, len(names),
                                lambda i, value=value, t=t: {
                                    "value": finite(value[i][0][0], f"tree {t} leaf {i}", path)},
                                path, t))
        prog.step(t + 1)
    prog.end()
    return {"init": init_value, "tree_weights": [lr] * len(trees),
            "split_input": "float32", "trees": trees}


def convert_logreg(est, names, path):
    classes = list(est.classes_)
    if len(classes) != 2:
        raise Refused(f"{path}: {len(classes)} classes (the anomaly model is binary: 0 and 1)")
    try:
        ok = [float(c) for c in classes] == [0.0, 1.0]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise Refused(f"{path}: classes {[str(c) for c in classes]} (the anomaly model's are "
                      "0 normal and 1 anomaly)")
    coef = est.coef_
    if coef.shape != (1, len(names)):
        raise Refused(f"{path}: coef_ of shape {coef.shape} (expected (1, {len(names)}))")
    # As LogisticRegression.predict_proba decides between expit and softmax.
    ovr = est.multi_class in ("ovr", "warn") or (
        est.multi_class == "auto" and (len(classes) <= 2 or est.solver == "liblinear"))
    scale = 1.0 if ovr else 2.0
    import numpy
    intercept = numpy.ravel(est.intercept_)
    if len(intercept) != 1:
        raise Refused(f"{path}: {len(intercept)} intercepts (expected 1)")
    return {"classes": 2,
            "intercept": scale * finite(intercept[0], "intercept", path),
            "weights": [scale * finite(w, f"coef {j}", path) for j, w in enumerate(coef[0])],
            "threshold": math.nextafter(0.5, 1.0)}


def json_value(v):
    """Hyperparameters as JSON: plain values kept, anything else as text."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int) or (hasattr(v, "dtype") and v.dtype.kind in "iu" and v.ndim == 0):
        return int(v)
    if isinstance(v, float) or (hasattr(v, "dtype") and v.dtype.kind == "f" and v.ndim == 0):
        return float(v) if math.isfinite(float(v)) else str(float(v))
    return str(v)


def rows_trained_on(est):
    """Training rows where the fitted model tells them exactly, else 0."""
    name = type(est).__name__
    if name == "GradientBoostingRegressor" and est.subsample == 1.0:
        return int(est.estimators_[0, 0].tree_.n_node_samples[0])
    if name == "RandomForestClassifier" and not est.bootstrap:
        return int(est.estimators_[0].tree_.n_node_samples[0])
    return 0


def dumps(v):
    return json.dumps(v, ensure_ascii=False, allow_nan=False)


def model_text(header, body):
    """The file: one key a line, one tree node a line (as model_save)."""
    out = ["{"]
    items = list(header.items()) + [(k, v) for k, v in body.items() if k != "trees"]
    for k, v in items:
        out.append(f"  {dumps(k)}: {dumps(v)},")
    if "trees" in body:
        out.append('  "trees": [')
        trees = body["trees"]
        for t, nodes in enumerate(trees):
            out.append('    {"nodes": [')
            out.extend(f"      {dumps(n)}{',' if i + 1 < len(nodes) else ''}"
                       for i, n in enumerate(nodes))
            out.append("    ]}" + ("," if t + 1 < len(trees) else ""))
        out.append("  ]")
    else:
        out[-1] = out[-1][:-1]  # no comma after the last key
    out.append("}")
    return "\n".join(out) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(
        prog=PROG, description="Convert a fitted scikit-learn RandomForestClassifier, "
        "LogisticRegression or GradientBoostingRegressor (pickle or joblib) into a fieldgate "
        "model file, checked with 'fieldgate models check'.")
    ap.add_argument("model", help="pickle or joblib file of the fitted estimator")
    ap.add_argument("--out", default=".", help="the model file to write, or a models "
                    "directory (the slot's file in it: status_predictor.json, ...); default: .")
    ap.add_argument("--slot", choices=sorted(SLOTS), help="the agent's model it is for "
                    "(default: from the estimator)")
    ap.add_argument("--features", help="feature names in the order of X's columns, comma-"
                    "separated (default: the model's feature_names_in_)")
    ap.add_argument("--name", help="model name (default: the slot's, e.g. status_predictor)")
    ap.add_argument("--version", type=int, default=1, help="model version, >= 1 (default 1)")
    ap.add_argument("--rows", type=int, help="training rows to record (default: what the "
                    "model tells, else 0)")
    ap.add_argument("--data-source", default="", help="provenance text to record")
    ap.add_argument("--fieldgate", default="fieldgate", help="the fieldgate binary "
                    "(default: fieldgate on PATH)")
    a = ap.parse_args(argv)
    path = a.model
    tmp = None
    try:
        if a.version < 1:
            raise Refused(f"--version {a.version} (expected >= 1)")
        if a.rows is not None and a.rows < 0:
            raise Refused(f"--rows {a.rows} (expected >= 0)")
        est = load_estimator(path)
        slot = check_estimator(est, a.slot, path)
        _, default_name, kind = SLOTS[slot]
        name = a.name or default_name
        if not name or len(name.encode()) > NAME_MAX:
            raise Refused(f"--name: must be 1..{NAME_MAX} bytes")
        names = feature_names(est, a.features, path)
        check_catalogue(names, a.fieldgate, path)
        convert = {"status": convert_forest, "anomaly": convert_logreg,
                   "humidity": convert_gbt}[slot]
        body = convert(est, names, path)

        import sklearn
        hyper = {"library": "scikit-learn", "library_version": sklearn.__version__,
                 "estimator": type(est).__name__}
        hyper.update((k, json_value(v)) for k, v in sorted(est.get_params(deep=False).items()))
        if slot == "anomaly":
            # How the file decides, as fieldgate's own files say it (their
            # "threshold" is "auto" or the number; class_weight is above).
            hyper["threshold"] = "scikit-learn's predict: P > 0.5"
        header = {"format": "fieldgate-model", "format_version": 1, "kind": kind,
                  "name": name, "version": a.version, "features": names,
                  "hyperparameters": hyper,
                  "training": {"rows": a.rows if a.rows is not None else rows_trained_on(est),
                               "data_source": a.data_source or f"scikit-learn: {path}"}}
        text = model_text(header, body)
        size = len(text.encode())
        if size > MAX_FILE_BYTES:
            raise Refused(f"{path}: the model file would be {size} bytes (fieldgate's model "
                          f"files have at most {MAX_FILE_BYTES}, {MAX_FILE_BYTES >> 20} MiB)")

        out = a.out
        if os.path.isdir(out):
            out = os.path.join(out, default_name + ".json")
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(out) + ".",
                                   dir=os.path.dirname(os.path.abspath(out)))
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        rc, so, se = run_fieldgate(a.fieldgate, ["models", "check", tmp])
        if rc != 0:
            why = se.strip() or so.strip() or f"models check: exit {rc}"
            raise Refused(why.replace(tmp, out))
        os.replace(tmp, out)
        checked, tmp = tmp, None
        print(so.strip().replace(checked, out))  # "OUT: OK kind name@version, ..."
        return 0
    except Refused as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    finally:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
