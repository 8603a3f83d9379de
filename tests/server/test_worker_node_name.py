"""Two workers with one host name and one pid (containers on the host network) still get different Celery node
names: the same name makes the second worker die on the node's exclusive control queue (found by the compose run)."""

from __future__ import annotations

import os
import re

from server.jobs.celery_worker import node_name


def test_node_names_differ_within_one_process_and_carry_the_pid() -> None:
    names = {node_name() for _ in range(20)}
    assert len(names) == 20
    assert all(re.fullmatch(rf"labgrader-{os.getpid()}-[0-9a-f]{{6}}", name) for name in names), names
