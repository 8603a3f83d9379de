"""Running a notebook: upload checks, nbclient in a sandboxed kernel, job slots, warm kernels and the grading pipeline
(validate -> prepare job dir -> execute -> harness output -> score -> report)."""
