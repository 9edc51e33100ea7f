#!/usr/bin/env python3
"""Split the tumour table into a training and a test set, stratified on the diagnosis.

A sluice step (dags/tumour.yaml, step `transform`): reads $SLUICE_IN_RAW, writes
$SLUICE_OUT/train.csv and $SLUICE_OUT/test.csv (same header and rows as the input, only
partitioned), and the metrics train_rows, test_rows and the malignant share of each part.
"""
import argparse
import csv
import json
import os

from stepkit import fail, need_env, read_csv

LABEL = "diagnosis"


def write_table(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def malignant_share(rows, col):
    return round(sum(r[col] == "malignant" for r in rows) / len(rows), 4) if rows else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test-size", type=float, default=0.25,
                    help="share of rows for the test set, in (0, 1) (default 0.25)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = ap.parse_args()
    if not 0.0 < args.test_size < 1.0:
        fail(f"--test-size must be between 0 and 1, not '{args.test_size}'")

    raw = need_env("SLUICE_IN_RAW")
    out = need_env("SLUICE_OUT")

    # Imported late so that a usage error does not pay for loading scikit-learn.
    from sklearn.model_selection import train_test_split

    header, rows = read_csv(raw, need=[LABEL])
    col = header.index(LABEL)
    labels = [r[col] for r in rows]
    # Stratified: both parts keep the malignant/benign ratio of the whole table.
    train, test = train_test_split(rows, test_size=args.test_size, random_state=args.seed,
                                   shuffle=True, stratify=labels)
    os.makedirs(out, exist_ok=True)
    write_table(os.path.join(out, "train.csv"), header, train)
    write_table(os.path.join(out, "test.csv"), header, test)

    metrics = {
        "rows": len(rows),
        "train_rows": len(train),
        "test_rows": len(test),
        "train_malignant_share": malignant_share(train, col),
        "test_malignant_share": malignant_share(test, col),
    }
    metrics_path = os.environ.get("SLUICE_METRICS")
    if metrics_path:
        with open(metrics_path, "w") as f:
            json.dump(metrics, f)
    print(f"split {len(rows)} rows (seed {args.seed}): {len(train)} for training, "
          f"{len(test)} for testing; malignant share {metrics['train_malignant_share']:.3f} / "
          f"{metrics['test_malignant_share']:.3f}")


if __name__ == "__main__":
    main()
