#!/bin/sh
# The first thing to run on a GPU host (docs/operator.md, "GPU check"): one line per fact, exit 0 when all hold.
#   device / torch / tensorflow / reference / memory cap   (deploy/gpu_check.py says what each one measures)
# Needs root, Docker with the NVIDIA Container Toolkit, the images (`docker compose build`) and python3.
set -eu
cd "$(dirname "$0")/.."
# the same one-line form as every fact (stdout), so `deploy/gpu-check.sh | tee` keeps it
command -v nvidia-smi >/dev/null || { echo "device      FAIL nvidia-smi is not on this host: no NVIDIA driver"; exit 1; }
exec python3 deploy/gpu_check.py "$@"
