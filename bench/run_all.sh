#!/bin/sh
# Every benchmark of docs/performance.md, one after another, output kept in $OUT (default /var/tmp/lgbench/results).
# Run from the repository root as root (the sandbox needs it): sh bench/run_all.sh
set -e
PY=${PY:-.venv/bin/python}
OUT=${OUT:-/var/tmp/lgbench/results}
mkdir -p "$OUT"
date -u
"$PY" -m bench.grading_overhead --only trivial,torch,tensorflow --runs 5 | tee "$OUT/grading_small.txt"
"$PY" -m bench.warm_start --runs 3 | tee "$OUT/warm_start.txt"
"$PY" -m bench.kernel_environments --runs 3 | tee "$OUT/kernel_environments.txt"
"$PY" -m bench.executor_throughput --submissions 6 | tee "$OUT/executor.txt"
"$PY" -m bench.api_load --clients 50 --seconds 30 --rounds 2 | tee "$OUT/api_load.txt"
"$PY" -m bench.dashboard_page --submissions 10000 --requests 300 | tee "$OUT/dashboard.txt"
"$PY" -m bench.rescore --submissions 1000 --runs 3 | tee "$OUT/rescore.txt"
"$PY" -m bench.evaluation_cost --runs 3 | tee "$OUT/evaluation_cost.txt"
"$PY" -m bench.evaluator_sandbox --runs 5 | tee "$OUT/evaluator_sandbox.txt"
"$PY" -m bench.fair_limits --cell-limit 15 | tee "$OUT/fair_limits.txt"
"$PY" -m bench.burst | tee "$OUT/burst.txt"
"$PY" -m bench.grading_overhead --only solutions --solution-runs "${SOLUTION_RUNS:-3}" | tee "$OUT/grading_solutions.txt"
date -u
