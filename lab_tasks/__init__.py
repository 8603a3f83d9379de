"""Labs: one folder each, with a declarative spec (`lab.toml`), a starter notebook, solutions and data preparation."""
