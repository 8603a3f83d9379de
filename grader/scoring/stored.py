"""What scoring consumes, stored beside each report, so a changed threshold, point value or check is applied to a
whole lab without running a notebook again (`labgrader rescore`).

The stored object is `StoredEvaluation`: the `EvaluationResult` of one run (the predictions the grader computed, the
facts, the histories) and the evaluation plan it answered (which model slots were evaluated on which data, which
histories were looked for). `score_report` is the one function that turns it into a report, for a fresh grading run
and for a rescore alike; a rescore can answer a changed spec only when the spec's plan asks nothing the stored plan
did not (`cannot_answer`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from grader.data.lab_data import LabData
from grader.errors import StoredOutputUnreadable
from grader.evaluation.request import RunSlots, run_slots
from grader.evaluation.result import EvaluationResult
from grader.scoring.discovery_report import discovery_lines
from grader.scoring.held_back import held_back_lines
from grader.scoring.report import CellError, Cutoff, GradingReport
from grader.scoring.scorers import execution_context, history_of, score_checks, with_dataset_note
from grader.spec.lab import LabSpec
from grader.spec.slots import role_of

STORED_EVALUATION_FORMAT: Literal["stored-evaluation/1"] = "stored-evaluation/1"
MAX_STORED_EVALUATION_BYTES = 2 * 1024 * 1024  # compressed; a larger one is not kept (its job needs a regrade)
MAX_UNPACKED_BYTES = 32 * 1024 * 1024


class EvaluatedSlot(BaseModel):
    """One model slot the evaluation answered: on which dataset, for which architecture, on which data version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dataset: str
    architecture: str
    data_sha256: str
    title: str = ""  # how reports name the dataset (the lab's declaration); outputs stored before it was kept lack it
    top_k: int = 0  # the classes ranked per hidden input (a top-k check of the slot); 0: none


class EvaluatedHistory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str | None = None


class EvaluationPlan(BaseModel):
    """What an evaluation is asked for by a spec on a data directory; a stored output answers the plan it ran."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slots: tuple[EvaluatedSlot, ...] = ()
    histories: tuple[EvaluatedHistory, ...] = ()


class StoredEvaluation(BaseModel):
    """Everything `score_report` reads of one run besides the spec and the hidden labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["stored-evaluation/1"] = STORED_EVALUATION_FORMAT
    plan: EvaluationPlan
    output: EvaluationResult | None = None

    def cannot_answer(self, wanted: EvaluationPlan) -> str:
        """Why these inputs cannot score a spec with plan `wanted` ("" when they can)."""
        have = {s.name: s for s in self.plan.slots}
        for slot in wanted.slots:
            old = have.get(slot.name)
            role = role_of(slot.architecture, slot.title or slot.dataset)
            if old is None:
                return f"the lab now evaluates a model slot `{slot.name}` ({role}) that was not evaluated then"
            if old.dataset != slot.dataset:
                return (f"model slot `{slot.name}` is now evaluated on dataset `{slot.dataset}`, not "
                        f"`{old.dataset}` as then")
            if old.architecture != slot.architecture:
                return (f"model slot `{slot.name}` now requires architecture `{slot.architecture}` (then "
                        f"`{old.architecture}`): the grader may pick a different network")
            if slot.top_k > old.top_k:
                return (f"model slot `{slot.name}` now has a top-{slot.top_k} check, and its class scores were not "
                        "ranked then")
            if old.data_sha256 != slot.data_sha256:
                return f"the data of dataset `{slot.dataset}` changed since then (a new hidden or training split)"
        asked = set(self.plan.histories)
        for history in wanted.histories:
            if history not in asked:
                return f"the lab now reads a training history `{history.name}` that was not looked for then"
        return ""


_DIGESTS: dict[tuple[str, int, int, int], str] = {}
DIGEST_CACHE = ".digests.json"  # in the lab's data directory (beside `hidden/` and `visible/`, never copied to a job)


def _npz_sha256(path: Path, cache: dict[str, list[object]] | None = None) -> str:
    """sha256 of an archive's arrays (names, dtypes, shapes, values; not the zip's timestamps), remembered per
    (path, inode, size, mtime): in this process, and in `cache` (the lab directory's digest file, read by
    `dataset_sha256`) so a one-off `labgrader grade` does not decompress every array again."""
    stat = path.stat()
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    stored = cache.get(str(path)) if cache is not None else None
    if key not in _DIGESTS and isinstance(stored, list) and stored[:3] == list(key[1:]) and isinstance(stored[3], str):
        _DIGESTS[key] = stored[3]
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with np.load(path, allow_pickle=False) as archive:
            for name in sorted(archive.files):
                array = np.ascontiguousarray(archive[name])
                digest.update(f"{name}:{array.dtype.str}:{array.shape}\n".encode())
                digest.update(array.tobytes())
        _DIGESTS[key] = digest.hexdigest()
    if cache is not None:
        cache[str(path)] = [*key[1:], _DIGESTS[key]]
    return _DIGESTS[key]


def _read_digest_cache(lab: LabData) -> dict[str, list[object]]:
    try:
        cached = json.loads((lab.root / DIGEST_CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _write_digest_cache(lab: LabData, cache: dict[str, list[object]]) -> None:
    """Best effort (a read-only data directory just recomputes): written whole and renamed into place."""
    target = lab.root / DIGEST_CACHE
    temporary = target.with_name(f"{DIGEST_CACHE}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        temporary.write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
        os.replace(temporary, target)
    with contextlib.suppress(OSError):
        temporary.unlink()


def dataset_sha256(lab: LabData, dataset: str) -> str:
    """One digest of a dataset's hidden split and visible training data (both feed scoring)."""
    cache = _read_digest_cache(lab)
    before = json.dumps(cache, sort_keys=True)
    parts = [_npz_sha256(lab.hidden / f"{dataset}.npz", cache), _npz_sha256(lab.visible / f"{dataset}.npz", cache)]
    if json.dumps(cache, sort_keys=True) != before:
        _write_digest_cache(lab, cache)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def evaluation_plan(spec: LabSpec, lab: LabData, run: RunSlots | None = None) -> EvaluationPlan:
    """The slots and histories an evaluation of `spec` answers on this data directory (installed datasets only), from
    the run's slots (`grader.evaluation.request.run_slots`, derived once per run) when given."""
    run = run or run_slots(spec, lab)
    slots = tuple(
        EvaluatedSlot(name=s.name, dataset=s.dataset, architecture=s.architecture,
                      data_sha256=dataset_sha256(lab, s.dataset), title=spec.dataset_title(s.dataset),
                      top_k=s.top_k or 0)
        for s in sorted(run.slots, key=lambda s: s.name))
    histories = tuple(sorted({EvaluatedHistory(name=h.name, model=h.model) for h in run.histories},
                             key=lambda h: (h.name, h.model or "")))
    return EvaluationPlan(slots=slots, histories=histories)


def score_report(spec: LabSpec, inputs: StoredEvaluation, lab: LabData, *, cell_errors: tuple[CellError, ...] = (),
                 execution_note: str = "", device: str = "cpu", isolation: str = "",
                 timings_s: dict[str, float] | None = None, cutoff: Cutoff | None = None,
                 cell_numbers: Mapping[int, int] | None = None, discovery: tuple[str, ...] | None = None,
                 ) -> GradingReport:
    """The report of one run: its checks scored from `inputs` against the hidden labels, what was found, history.

    `cutoff`: the limit that stopped the run, if one did; `cell_numbers` (execution count -> cell number) lets the
    discovery lines name the cell a network was taken after; a rescore passes the `discovery` it had."""
    output = inputs.output
    context = execution_context(list(cell_errors), execution_note)
    checks = with_dataset_note(score_checks(spec, output, lab, context, cutoff), list(cell_errors))
    histories = {h.name: history_of(h) for h in (output.histories if output else []) if h.found}
    return GradingReport(
        lab_id=spec.id, checks=tuple(checks), cell_errors=cell_errors, execution_note=execution_note,
        device=device, isolation=isolation, timings_s=timings_s or {},
        discovery=discovery if discovery is not None else (*discovery_lines(spec, output, cell_numbers),
                                                           *held_back_lines(spec, output, lab)),
        history=histories, cutoff=cutoff,
    )


def rescore_report(spec: LabSpec, previous: GradingReport, inputs: StoredEvaluation, lab: LabData) -> GradingReport:
    """The report `previous` would have been under `spec`, from its stored inputs; no kernel runs."""
    return score_report(spec, inputs, lab, cell_errors=previous.cell_errors, execution_note=previous.execution_note,
                        device=previous.device, isolation=previous.isolation, timings_s=previous.timings_s,
                        cutoff=previous.cutoff, discovery=previous.discovery or None)


def pack_evaluation(inputs: StoredEvaluation) -> bytes | None:
    """The compressed stored form, or None over `MAX_STORED_EVALUATION_BYTES` (that run cannot be rescored)."""
    packed = zlib.compress(inputs.model_dump_json(exclude_none=True).encode(), 6)
    return packed if len(packed) <= MAX_STORED_EVALUATION_BYTES else None


def unpack_evaluation(data: bytes) -> StoredEvaluation:
    """Read a stored form back; a corrupt, oversized or outdated one raises `StoredOutputUnreadable`."""
    if len(data) > MAX_STORED_EVALUATION_BYTES:
        raise StoredOutputUnreadable(f"the stored evaluation output is {len(data)} bytes, over its limit")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, MAX_UNPACKED_BYTES)
    except zlib.error as exc:
        raise StoredOutputUnreadable(f"the stored evaluation output is corrupt: {exc}") from exc
    if inflater.unconsumed_tail:
        raise StoredOutputUnreadable("the stored evaluation output unpacks past its limit")
    try:
        return StoredEvaluation.model_validate_json(raw)
    except ValidationError as exc:
        raise StoredOutputUnreadable("the stored evaluation output is in a format this grader no longer reads "
                                     f"({exc.error_count()} field(s) differ)") from exc
