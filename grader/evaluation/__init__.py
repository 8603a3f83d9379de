"""The evaluation: the code that runs inside the kernel (`in_kernel/`, read as text, never imported by the host), the
request it is given and the untrusted output it hands back (size-capped, validated)."""
