"""The sandbox's layers: the isolation probe, cgroups, host-wide uid leases, job directories, the kernel's command
line and environment, a job's life from preparation to its end (`job`), and the sweep of a slot uid's processes.
Imports nothing else of the grader but its errors."""
