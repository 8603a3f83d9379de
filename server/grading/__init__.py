"""The grading-job ledger: the database rows that say which job runs where, and the fenced result write."""
