"""The `labgrader` command line."""
