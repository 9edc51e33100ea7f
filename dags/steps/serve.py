#!/usr/bin/env python3
"""A tiny HTTP server for the deployed tumour classifier (the target of the `deploy` step).

Serves DIR/current/model.pkl, where DIR is the deploy target (blue/green slots and a `current`
symlink). It reloads the model when `current` (or the file behind it) changes, so a deploy
needs no restart, and the deploy step's health check sees the new version.

  GET  /health   200 {"status": "ok", "version": V}; 503 {"status": ..., "error": ...}
                 while no model is deployed or the deployed one cannot be loaded
  POST /predict  {"rows": [[30 numbers], ...]} or {"rows": [{"mean_radius": 17.9, ...}]}
                 -> {"predictions": ["malignant", ...],
                     "probabilities": [{"benign": 0.02, "malignant": 0.98}, ...], "version": V}

Binds 127.0.0.1 only. SIGTERM or SIGINT stops it cleanly (pid file removed).
"""
import argparse
import errno
import importlib
import json
import os
import pickle
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
MAX_BODY = 1 << 20  # bytes; a prediction request is small, refuse anything larger
MAX_ROWS = 10000


class Model:
    """The currently deployed model, reloaded when the deployment changes."""

    def __init__(self, target):
        self.target = target
        self.lock = threading.Lock()
        self.key = None  # what was loaded: (slot, dev, inode, mtime, size) of model.pkl
        self.bundle = None
        self.version = None
        self.error = "no model deployed yet"

    def _identity(self):
        current = os.path.join(self.target, "current")
        try:
            slot = os.readlink(current)
        except OSError:
            slot = None
        path = os.path.join(current, "model.pkl")
        try:
            st = os.stat(path)
        except OSError:
            return None, path
        return (slot, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size), path

    def get(self):
        """(bundle, version, error) of the deployment as it is now; bundle None on error."""
        with self.lock:
            key, path = self._identity()
            if key is None:
                self.key, self.bundle, self.version = None, None, None
                self.error = f"no model at '{path}'"
                try:
                    # A slot without model.pkl: say what it holds instead.
                    held = sorted(os.listdir(os.path.dirname(path)))
                    self.error += f" (the slot holds {held})"
                except OSError:
                    pass
            elif key != self.key:
                self._load(key, path)
            return self.bundle, self.version, self.error

    def _load(self, key, path):
        self.key = key
        version_path = os.path.join(self.target, "current", "VERSION")
        try:
            with open(version_path) as f:
                version = f.read().strip() or "unknown"
        except OSError:
            version = "unknown"
        try:
            # A pickle runs code when loaded: serve only models this pipeline deployed.
            with open(path, "rb") as f:
                bundle = pickle.load(f)
            if not isinstance(bundle, dict) or "model" not in bundle or "features" not in bundle:
                raise ValueError("not a model written by train.py")
        except Exception as exc:  # any failure to load means: unhealthy, keep answering
            self.bundle, self.version = None, version
            self.error = f"cannot load '{path}': {exc}"
            log(f"version {version}: {self.error}")
            return
        self.bundle, self.version, self.error = bundle, version, None
        log(f"loaded version {version} from '{os.path.realpath(path)}'")


def log(msg):
    print(f"serve: {msg}", file=sys.stderr, flush=True)


def rows_to_matrix(rows, features):
    """The request's rows as lists of floats in the model's feature order; ValueError if bad."""
    if not isinstance(rows, list) or not rows:
        raise ValueError("'rows' must be a non-empty list")
    if len(rows) > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS} rows per request")
    out = []
    for n, row in enumerate(rows):
        if isinstance(row, dict):
            missing = [f for f in features if f not in row]
            unknown = [k for k in row if k not in features]
            if missing or unknown:
                raise ValueError(f"row {n}: missing features {missing}, unknown {unknown}")
            values = [row[f] for f in features]
        elif isinstance(row, list):
            if len(row) != len(features):
                raise ValueError(f"row {n}: {len(row)} values, the model needs {len(features)}")
            values = row
        else:
            raise ValueError(f"row {n}: must be a list of numbers or an object")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ValueError(f"row {n}: every value must be a number")
        out.append([float(v) for v in values])
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = "sluice-tumour-serve/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log(f"{self.address_string()} {fmt % args}")

    def reply(self, status, obj):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.path.split("?", 1)[0] != "/health":
            self.reply(404, {"error": f"no route '{self.path}'"})
            return
        bundle, version, error = self.server.model.get()
        if bundle is None:
            self.reply(503, {"status": "unavailable", "version": version, "error": error})
        else:
            self.reply(200, {"status": "ok", "version": version})

    do_HEAD = do_GET

    def do_POST(self):
        if self.path.split("?", 1)[0] != "/predict":
            self.reply(404, {"error": f"no route '{self.path}'"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.reply(411, {"error": "a Content-Length is required"})
            return
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self.reply(413, {"error": f"the body is limited to {MAX_BODY} bytes"})
            return
        raw = self.rfile.read(length)
        bundle, version, error = self.server.model.get()
        if bundle is None:
            self.reply(503, {"error": error, "version": version})
            return
        try:
            req = json.loads(raw)
            if not isinstance(req, dict) or "rows" not in req:
                raise ValueError('the body must be a JSON object {"rows": [...]}')
            x = rows_to_matrix(req["rows"], bundle["features"])
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            self.reply(400, {"error": str(exc)})
            return
        clf = bundle["model"]
        classes = bundle.get("classes", ["benign", "malignant"])
        proba = clf.predict_proba(x)
        names = [classes[int(c)] for c in clf.classes_]
        probabilities = [{name: round(float(p), 6) for name, p in zip(names, ps)} for ps in proba]
        predictions = [max(p, key=p.get) for p in probabilities]
        self.reply(200, {"predictions": predictions, "probabilities": probabilities,
                         "version": version})

    def do_PUT(self):
        self.reply(405, {"error": f"method '{self.command}' not allowed"})

    do_DELETE = do_PATCH = do_PUT


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never delays shutdown


def write_atomically(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True,
                    help="the deploy target: the folder holding the 'current' symlink")
    ap.add_argument("--port", type=int, default=8501,
                    help="port on 127.0.0.1 (default 8501; 0 picks a free one)")
    ap.add_argument("--pidfile", help="write the server's pid here once it listens")
    ap.add_argument("--port-file", help="write the port here once it listens (for --port 0)")
    args = ap.parse_args()
    if not 0 <= args.port <= 65535:
        print(f"error: bad port '{args.port}'", file=sys.stderr)
        return 2

    # Imported before listening, so that a missing scikit-learn fails here and not on the
    # first request (unpickling the model needs it).
    try:
        importlib.import_module("sklearn")
    except ImportError:
        print("error: scikit-learn is missing: apt-get install python3-sklearn", file=sys.stderr)
        return 1

    try:
        server = Server((HOST, args.port), Handler)
    except OSError as exc:
        why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        print(f"error: cannot listen on {HOST}:{args.port}: {why}", file=sys.stderr)
        return 1
    server.model = Model(args.model_dir)
    port = server.server_address[1]

    def stop(signum, _frame):
        log(f"{signal.Signals(signum).name}, stopping")
        # shutdown() waits for serve_forever() to return, so it cannot run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # The files are written only once the socket listens: whoever waits for them can connect.
    if args.port_file:
        write_atomically(args.port_file, f"{port}\n")
    if args.pidfile:
        write_atomically(args.pidfile, f"{os.getpid()}\n")
    _, version, error = server.model.get()
    log(f"listening on http://{HOST}:{port}/ for '{args.model_dir}' "
        f"({'version ' + version if not error else error})")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
