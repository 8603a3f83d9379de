"""Everything that touches a notebook: sandbox, kernel execution, harness, trusted scoring, lab specs."""
