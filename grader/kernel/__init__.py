"""Running a notebook's cells: nbclient behind the job's unprivileged driver in a sandboxed kernel, the kernel's
process, job slots, student environments and warm kernels. The run's order lives above it, in `grader.pipeline`."""
