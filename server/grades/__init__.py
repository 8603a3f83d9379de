"""Instructors' decisions on grades: overrides with a comment, the submission that counts, extensions, excusals."""
