#!/usr/bin/env python3
"""Score the trained tumour classifier on the held-out test set.

A sluice step (dags/tumour.yaml, step `evaluate`): loads $SLUICE_IN_MODEL (model.pkl from
train.py) and $SLUICE_IN_TEST (CSV), prints a report to its log and writes metrics, with
malignant as the positive class: accuracy, precision, recall, f1, roc_auc, the confusion
matrix as tn/fp/fn/tp, and series: roc_tpr (true-positive rate at false-positive rates
roc_fpr = 0, 0.05, ..., 1) and precision/recall at the decision thresholds 0.1, ..., 0.9.
The pipeline's approval is gated on f1.
"""
import argparse
import json
import os
import pickle

from stepkit import fail, need_env, read_csv

FPR_GRID = [i / 20 for i in range(21)]
THRESHOLDS = [i / 10 for i in range(1, 10)]


def load_bundle(path):
    # A pickle runs code when loaded: only load models this pipeline produced.
    try:
        with open(path, "rb") as f:
            bundle = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        fail(f"cannot load model '{path}': {exc}")
    if not isinstance(bundle, dict) or "model" not in bundle or "features" not in bundle:
        fail(f"'{path}' is not a model written by train.py")
    return bundle


def read_test(path, features, label, classes):
    """The test rows as a matrix in the model's feature order, and their labels as indices."""
    import numpy as np

    header, rows = read_csv(path, need=features + [label])
    idx = [header.index(c) for c in features]
    lab = header.index(label)
    x, y = [], []
    for n, r in enumerate(rows, start=2):
        if r[lab] not in classes:
            fail(f"'{path}' line {n}: unknown {label} '{r[lab]}'")
        try:
            x.append([float(r[i]) for i in idx])
        except (ValueError, IndexError) as exc:
            fail(f"'{path}' line {n}: {exc}")
        y.append(classes.index(r[lab]))
    if not rows:
        fail(f"'{path}' has no rows")
    return np.array(x), np.array(y)


def r6(v):
    return round(float(v), 6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=0.5,
                    help="probability of malignant from which a tumour is called malignant")
    args = ap.parse_args()

    model_path = need_env("SLUICE_IN_MODEL")
    test_path = need_env("SLUICE_IN_TEST")

    import numpy as np
    from sklearn import metrics as skm

    bundle = load_bundle(model_path)
    clf, features = bundle["model"], bundle["features"]
    label = bundle.get("label", "diagnosis")
    classes = bundle.get("classes", ["benign", "malignant"])
    x, y = read_test(test_path, features, label, classes)

    proba = clf.predict_proba(x)[:, list(clf.classes_).index(1)]
    pred = (proba >= args.threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in skm.confusion_matrix(y, pred, labels=[0, 1]).ravel())
    fpr, tpr, _ = skm.roc_curve(y, proba)
    roc_tpr = [r6(v) for v in np.interp(FPR_GRID, fpr, tpr)]
    prec_at = [r6(skm.precision_score(y, proba >= t, zero_division=0)) for t in THRESHOLDS]
    rec_at = [r6(skm.recall_score(y, proba >= t, zero_division=0)) for t in THRESHOLDS]

    m = {
        "test_rows": int(len(y)),
        "threshold": args.threshold,
        "accuracy": r6(skm.accuracy_score(y, pred)),
        "precision": r6(skm.precision_score(y, pred, zero_division=0)),
        "recall": r6(skm.recall_score(y, pred, zero_division=0)),
        "f1": r6(skm.f1_score(y, pred, zero_division=0)),
        "roc_auc": r6(skm.roc_auc_score(y, proba)) if len(set(y.tolist())) == 2 else 0.0,
        "tn": tn, "fp": fp, "fn": fn, "tp": tp,
        "roc_fpr": FPR_GRID,
        "roc_tpr": roc_tpr,
        "thresholds": THRESHOLDS,
        "precision_at_threshold": prec_at,
        "recall_at_threshold": rec_at,
    }
    metrics_path = os.environ.get("SLUICE_METRICS")
    if metrics_path:
        with open(metrics_path, "w") as f:
            json.dump(m, f)

    print(f"model: {bundle.get('params', {})}, scikit-learn {bundle.get('sklearn_version', '?')}")
    print(f"test set: {len(y)} rows ({int(y.sum())} malignant), positive class: malignant, "
          f"threshold {args.threshold}")
    print()
    print(skm.classification_report(y, pred, labels=[0, 1], target_names=classes, digits=3,
                                    zero_division=0))
    print("confusion matrix   predicted benign  predicted malignant")
    print(f"  benign           {tn:16d}  {fp:19d}")
    print(f"  malignant        {fn:16d}  {tp:19d}")
    print()
    for k in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        print(f"{k:10s} {m[k]:.4f}")
    print()
    print("threshold  precision  recall")
    for t, p, r in zip(THRESHOLDS, prec_at, rec_at):
        print(f"  {t:.1f}      {p:.3f}      {r:.3f}")


if __name__ == "__main__":
    main()
