"""What the tumour pipeline's step scripts share: failing with a message, reading the step's
environment, and reading a CSV table with a header (split.py, train.py, evaluate.py).

No step names this file on its command line, so the steps that cache list it in `deps:`
(dags/tumour.yaml): a change here is a change of their code, and re-runs them.
"""
import csv
import os
import sys


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def need_env(name):
    value = os.environ.get(name)
    if not value:
        fail(f"${name} is not set; run this script as a sluice step")
    return value


def read_csv(path, need=()):
    """The header and the non-empty rows of the CSV file at path. Fails when the file is empty,
    lacks a column named in need, or has a row whose field count is not the header's."""
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = [r for r in reader if r]
    except OSError as exc:
        fail(f"cannot read '{path}': {exc.strerror}")
    if header is None:
        fail(f"'{path}' is empty")
    missing = [c for c in need if c not in header]
    if missing:
        fail(f"'{path}' lacks the column(s) '{', '.join(missing)}'")
    for n, r in enumerate(rows, start=2):
        if len(r) != len(header):
            fail(f"'{path}' line {n}: {len(r)} fields, the header has {len(header)}")
    return header, rows
