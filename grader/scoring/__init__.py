"""Trusted scoring: one scorer per check kind, the report they roll up into, its plots and its discovery lines."""
