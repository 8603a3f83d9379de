"""Values and types shared by the hostile suite's fixtures and tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.sandbox.isolation import SandboxLimits

CELL_TIMEOUT_S = 60  # the test machine is shared and often overloaded: honest cells need head room
NOTEBOOK_TIMEOUT_S = 120
SHORT_CELL_TIMEOUT_S = 10  # for the cases that are about a cell running forever
SUITE_LIMITS = SandboxLimits(
    memory_limit_mb=2048, max_processes=64, file_size_limit_mb=32, open_files=256, cpu_time_s=120,
    work_dir_limit_mb=96, tmp_limit_mb=16, shm_limit_mb=16, cpu_cores=1.0,
)
SECRET = "postgresql://labgrader:hostile-suite-s3cret@127.0.0.1:5432/labgrader"


@dataclass
class Listener:
    """A real TCP server on the host's 127.0.0.1 and a Unix socket on the host's filesystem (where a notebook could
    point the grader's kernel connections), each recording every connection it accepts."""

    port: int
    accepted: list[tuple[str, int]]
    unix_path: str = ""
    unix_accepted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceFiles:
    data_dir: Path
    db_file: Path
    jobs_root: Path
    decoy: Path
