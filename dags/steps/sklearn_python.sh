# shellcheck shell=bash
# Sourced by dags/demo.sh and tests/integration/t0500-demo.sh (bash): find a Python 3 that can
# import scikit-learn and make `python3` in a folder of our own run it, so that the pipeline's
# `python3 steps/…` lines work where the python3 first on PATH lacks scikit-learn (a pyenv or
# venv build next to Debian's python3-sklearn).

# sklearn_python_link DIR: create DIR/python3 running the first of `python3` on PATH and
# /usr/bin/python3 that imports sklearn; print that interpreter's path. Returns 1, creating
# nothing, when none can.
sklearn_python_link() {
    local dir=$1 cand exe venv
    for cand in "$(command -v python3 2>/dev/null)" /usr/bin/python3; do
        [ -n "$cand" ] && [ -x "$cand" ] || continue
        # The real executable, and whether it belongs to a venv (sys.prefix differs there).
        exe=$("$cand" -c 'import sklearn, sys; print(sys.executable)' 2>/dev/null) || continue
        venv=$("$cand" -c 'import sys; print(int(sys.prefix != sys.base_prefix))')
        [ -n "$exe" ] || continue
        mkdir -p "$dir" || return 1
        rm -f "$dir/python3"
        if [ "$venv" = 1 ]; then
            # Python finds its venv next to the path it was started by, and a symlink elsewhere
            # would lose it: start it by its own path instead.
            printf '#!/bin/sh\nexec %q "$@"\n' "$exe" >"$dir/python3" && chmod +x "$dir/python3"
        else
            ln -s "$exe" "$dir/python3"
        fi || return 1
        printf '%s\n' "$exe"
        return 0
    done
    return 1
}
