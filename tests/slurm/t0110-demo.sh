#!/usr/bin/env bash
# The demo pipeline end to end on Slurm, unchanged: t0500-demo.sh with --executor slurm, and
# every step that runs a process checked to have run as a Slurm job.
DEMO_EXECUTOR=slurm exec bash "$(dirname "$0")/../integration/t0500-demo.sh"
