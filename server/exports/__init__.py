"""Gradebook exports: which submission counts per student (deadline, late penalty, latest or best) and the formats."""
