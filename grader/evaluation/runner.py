"""Start the evaluator process for one job and read its answer (the host side of `python -m grader.evaluation`).

The evaluator parses an export the kernel wrote, so the host treats it as it treats the kernel: it starts in a place
of its own (`grader.sandbox.evaluator_room`: another uid, no network, no socket, its own memory limit), its result
file is read without following links and only up to a size, and when it dies the student reads a sentence the grader
wrote (why, from its cgroup), never the evaluator's own output, which goes to the log for instructors.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from grader.evaluation.messages import EvaluationJob
from grader.evaluation.result import EvaluationResult

logger = logging.getLogger(__name__)

EVALUATOR_TIMEOUT_S = 300
MAX_RESULT_BYTES = 16 * 1024 * 1024  # predictions for every hidden input of every slot, as JSON, with room to spare
FAILED = "the grader could not evaluate the exported networks"


class EvaluatorPlace(Protocol):
    """Where and how the evaluator runs (`grader.sandbox.evaluator_room.EvaluatorRoom`)."""

    @property
    def inputs(self) -> Path: ...

    @property
    def result(self) -> Path: ...

    def job_as_seen(self, job: Any) -> Any: ...

    def command(self, job_file: Path) -> list[str]: ...

    def death_reason(self) -> str: ...


def _read_result(path: Path) -> bytes | None:
    """The result file's bytes (a regular file, not a link, at most MAX_RESULT_BYTES), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(MAX_RESULT_BYTES + 1)
    return data if len(data) <= MAX_RESULT_BYTES else None


def run_evaluator(job: EvaluationJob, place: EvaluatorPlace, timeout_s: float = EVALUATOR_TIMEOUT_S) -> tuple[
        EvaluationResult | None, str]:
    """(the result, "") or (None, why there is none) for a job built by `build_evaluation_job` in `place.inputs`."""
    job_file = place.inputs / "evaluation-job.json"
    job_file.unlink(missing_ok=True)
    job_file.write_text(json.dumps(place.job_as_seen({**job, "result": str(place.result)})))
    os.chmod(job_file, 0o444)
    try:
        done = subprocess.run(place.command(job_file), env={}, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return None, f"{FAILED}: it took longer than {timeout_s:.0f} s"
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        logger.warning("the evaluator exited with status %s: %s", done.returncode, " | ".join(tail)[-600:])
        why = place.death_reason() or f"it stopped with exit status {done.returncode}"
        return None, f"{FAILED}: {why}"
    data = _read_result(place.result)
    if data is None:
        return None, f"{FAILED}: it wrote no readable result"
    try:
        answer = json.loads(data)
        if "problem" in answer:
            if done.stderr:
                tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
                logger.warning("the evaluator reported a problem: %s", " | ".join(tail)[-600:])
            return None, str(answer["problem"])[:500]
        return EvaluationResult.model_validate(answer["result"]), ""
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        logger.warning("the evaluator's result is unreadable: %s", str(exc)[:300])
        return None, f"{FAILED}: it wrote no readable result"
