"""Defaults of a grading run's own limits, defined once: the service's settings (`LABGRADER_OUTPUT_LIMIT_KB`,
`LABGRADER_HARNESS_TIMEOUT_S`), `GradingContext` and `RunLimits` take them from here. (The sandbox's per-job
resource limits are `grader.sandbox.isolation.SandboxLimits`.)"""

DEFAULT_OUTPUT_LIMIT_KB = 2048  # what a notebook may print before its outputs are truncated
DEFAULT_HARNESS_TIMEOUT_S = 300.0  # the exporter cell after the student's cells
# Cell and notebook limits are CPU seconds of the job's own cgroup at its share of the cores (`cpu_clock`); a cell or
# notebook that sleeps or waits is stopped by wall-clock time this many times its limit
WALL_BACKSTOP_FACTOR = 3.0
# ... and a job that waited for a CPU (that time is not counted by the backstop) is stopped by plain wall-clock time
# this many times its limit: a worker that starves a job below this fraction of its share cuts it by load again
WALL_CEILING_FACTOR = 10.0
