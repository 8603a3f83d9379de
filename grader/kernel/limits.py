"""Defaults of a grading run's own limits, defined once: the service's settings (`LABGRADER_OUTPUT_LIMIT_KB`,
`LABGRADER_HARNESS_TIMEOUT_S`), `GradingContext` and `RunLimits` take them from here. (The sandbox's per-job
resource limits are `grader.sandbox.isolation.SandboxLimits`.)"""

DEFAULT_OUTPUT_LIMIT_KB = 2048  # what a notebook may print before its outputs are truncated
DEFAULT_HARNESS_TIMEOUT_S = 300.0  # the exporter cell after the student's cells
