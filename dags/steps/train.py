#!/usr/bin/env python3
"""Train a random-forest tumour classifier and record its learning curve.

A sluice step (dags/tumour.yaml, step `train`): reads $SLUICE_IN_TRAIN (CSV with a header, 30
numeric features and `diagnosis` = malignant|benign), writes $SLUICE_OUT/model.pkl and metrics:
scalars (train_accuracy, oob_accuracy, ...) and two series, n_trees and oob_accuracy_curve,
the out-of-bag accuracy as the forest grows by --step trees at a time.

model.pkl is a pickled dict: {"model": the fitted classifier, "features": [column names in
order], "label": "diagnosis", "classes": ["benign", "malignant"] (index = the model's class),
"positive": "malignant", "sklearn_version", "params"}. evaluate.py and serve.py read it.
"""
import argparse
import json
import os
import pickle
import warnings

from stepkit import fail, need_env, read_csv

LABEL = "diagnosis"
CLASSES = ["benign", "malignant"]  # class 1 (positive) is malignant


def read_xy(path):
    """Features as a float matrix, labels as 0/1, and the feature names, from a CSV."""
    import numpy as np

    header, rows = read_csv(path, need=[LABEL])
    col = header.index(LABEL)
    features = [h for i, h in enumerate(header) if i != col]
    x, y = [], []
    for n, r in enumerate(rows, start=2):
        if r[col] not in CLASSES:
            fail(f"'{path}' line {n}: diagnosis '{r[col]}' is neither benign nor malignant")
        try:
            x.append([float(v) for i, v in enumerate(r) if i != col])
        except ValueError as exc:
            fail(f"'{path}' line {n}: {exc}")
        y.append(CLASSES.index(r[col]))
    if not rows:
        fail(f"'{path}' has no rows")
    return np.array(x), np.array(y), features


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-depth", type=int, default=4, help="depth limit of each tree (default 4)")
    ap.add_argument("--n-estimators", type=int, default=100,
                    help="trees in the forest (default 100)")
    ap.add_argument("--step", type=int, default=10,
                    help="trees added per point of the learning curve (default 10)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = ap.parse_args()
    if args.max_depth < 1:
        fail(f"--max-depth must be at least 1, not '{args.max_depth}'")
    if args.n_estimators < 1 or args.step < 1:
        fail("--n-estimators and --step must be at least 1")

    train_path = need_env("SLUICE_IN_TRAIN")
    out = need_env("SLUICE_OUT")

    import sklearn
    from sklearn.ensemble import RandomForestClassifier

    x, y, features = read_xy(train_path)
    # warm_start grows the same forest stage by stage, so the curve costs one training, not
    # one per point; n_jobs=1 because the pipeline gives this step one CPU.
    clf = RandomForestClassifier(n_estimators=0, max_depth=args.max_depth, oob_score=True,
                                 warm_start=True, random_state=args.seed, n_jobs=1)
    n_trees, oob_curve = [], []
    sizes = list(range(args.step, args.n_estimators, args.step)) + [args.n_estimators]
    for n in sizes:
        clf.set_params(n_estimators=n)
        with warnings.catch_warnings():
            # With few trees some rows were in every bootstrap sample and have no out-of-bag
            # vote yet; scikit-learn warns, the curve simply starts lower.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            clf.fit(x, y)
        n_trees.append(n)
        oob_curve.append(round(float(clf.oob_score_), 6))
        print(f"  {n:4d} trees  out-of-bag accuracy {clf.oob_score_:.4f}")

    train_accuracy = float((clf.predict(x) == y).mean())
    bundle = {
        "model": clf,
        "features": features,
        "label": LABEL,
        "classes": CLASSES,
        "positive": CLASSES[1],
        "sklearn_version": sklearn.__version__,
        "params": {"max_depth": args.max_depth, "n_estimators": args.n_estimators,
                   "seed": args.seed},
    }
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, ".model.pkl.tmp")
    with open(tmp, "wb") as f:
        pickle.dump(bundle, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, os.path.join(out, "model.pkl"))

    metrics = {
        "train_rows": int(len(y)),
        "features": len(features),
        "n_estimators": args.n_estimators,
        "max_depth": args.max_depth,
        "train_accuracy": round(train_accuracy, 6),
        "oob_accuracy": oob_curve[-1],
        "n_trees": n_trees,
        "oob_accuracy_curve": oob_curve,
    }
    metrics_path = os.environ.get("SLUICE_METRICS")
    if metrics_path:
        with open(metrics_path, "w") as f:
            json.dump(metrics, f)

    ranked = sorted(zip(clf.feature_importances_, features), reverse=True)[:5]
    print(f"random forest: {args.n_estimators} trees, max_depth {args.max_depth}, "
          f"seed {args.seed}, {len(y)} rows x {len(features)} features")
    print(f"train accuracy {train_accuracy:.4f}, out-of-bag accuracy {oob_curve[-1]:.4f}")
    print("most important features: " + ", ".join(f"{name} ({w:.3f})" for w, name in ranked))


if __name__ == "__main__":
    main()
