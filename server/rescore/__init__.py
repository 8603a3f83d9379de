"""rescore: each job's stored scoring inputs, and a lab rescored from them with no kernel."""
