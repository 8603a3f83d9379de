"""The grader: a library that grades one notebook against one lab spec, with no database and no web in sight.

This module is its front door: the service (`server/`) and the labs (`lab_tasks/`) import only the names below, never
the modules behind them. The rooms behind the door, each importing only downward:

    grader.kernel      run a notebook: upload checks, files submitted with it, nbclient in a sandboxed kernel, warm
                       kernels, the pipeline
    grader.scoring     trusted scorers, the report, its plots and discovery lines
    grader.evaluation  the in-kernel exporter (`in_kernel/`, read as text, never imported), what comes back, and
                       the clean evaluator that computes every prediction from it (EvaluationResult)
    grader.sandbox     isolation probe, cgroups, uid leases, job directories, the kernel's argv, process reaper
    grader.spec, grader.datasets, grader.errors   the lab-spec schema, a lab's data, the exception tree
    grader.dataset_spec, grader.dataset_prep, grader.dataset_serve, grader.dataset_sources
                                                  a declared dataset, its splits, the files and loaders it serves,
                                                  its declared source files (import, fetch, status)
    grader.spec_lines, grader.spec_problems       a lab.toml's problems, each by key and line
    grader.spec_reference                         the lab.toml reference of docs/lab-author.md
    grader.private_data                           an instructor's own evaluation data for a lab

Names are loaded on first use (PEP 562): a process that needs only the spec schema (the API, most CLI commands) does
not pay for nbclient and jupyter_client (0.6 s against 1.6 s to import on the development machine).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.dataset_prep import prepare_labs as prepare_labs
    from grader.dataset_sources import dataset_status as dataset_status
    from grader.dataset_sources import fetch_sources as fetch_sources
    from grader.dataset_sources import import_source as import_source
    from grader.dataset_spec import DatasetSpec as DatasetSpec
    from grader.datasets import LabData as LabData
    from grader.datasets import missing_datasets as missing_datasets
    from grader.datasets import sha256_of as sha256_of
    from grader.datasets import warn_missing_datasets as warn_missing_datasets
    from grader.errors import AttachmentsInvalid as AttachmentsInvalid
    from grader.errors import AttachmentsTooLarge as AttachmentsTooLarge
    from grader.errors import DatasetError as DatasetError
    from grader.errors import EnvironmentNotReady as EnvironmentNotReady
    from grader.errors import EnvironmentUnavailable as EnvironmentUnavailable
    from grader.errors import GraderError as GraderError
    from grader.errors import HarnessOutputInvalid as HarnessOutputInvalid
    from grader.errors import InfrastructureError as InfrastructureError
    from grader.errors import KernelStartFailed as KernelStartFailed
    from grader.errors import NetworkRefused as NetworkRefused
    from grader.errors import NoFreeUid as NoFreeUid
    from grader.errors import NotebookInvalid as NotebookInvalid
    from grader.errors import SandboxUnavailable as SandboxUnavailable
    from grader.errors import SpecInvalid as SpecInvalid
    from grader.errors import StoredOutputUnreadable as StoredOutputUnreadable
    from grader.errors import WorkerConfigError as WorkerConfigError
    from grader.evaluation.result import EvaluationResult as EvaluationResult
    from grader.kernel.attachments import BUNDLE_CONTENT_TYPE as BUNDLE_CONTENT_TYPE
    from grader.kernel.attachments import FileLimits as FileLimits
    from grader.kernel.attachments import SubmittedFile as SubmittedFile
    from grader.kernel.attachments import bundle as bundle
    from grader.kernel.attachments import collect_files as collect_files
    from grader.kernel.attachments import unbundle as unbundle
    from grader.kernel.environments import DEFAULT_ENVIRONMENT as DEFAULT_ENVIRONMENT
    from grader.kernel.environments import EnvironmentStatus as EnvironmentStatus
    from grader.kernel.environments import StudentEnvironment as StudentEnvironment
    from grader.kernel.environments import build_environment as build_environment
    from grader.kernel.environments import check_environment as check_environment
    from grader.kernel.environments import environment_definitions as environment_definitions
    from grader.kernel.environments import read_environment_marker as read_environment_marker
    from grader.kernel.environments import resolve_environment as resolve_environment
    from grader.kernel.limits import DEFAULT_HARNESS_TIMEOUT_S as DEFAULT_HARNESS_TIMEOUT_S
    from grader.kernel.limits import DEFAULT_OUTPUT_LIMIT_KB as DEFAULT_OUTPUT_LIMIT_KB
    from grader.kernel.notebook import check_upload as check_upload
    from grader.kernel.notebook import parse_notebook as parse_notebook
    from grader.kernel.pipeline import GradingContext as GradingContext
    from grader.kernel.pipeline import GradingOutcome as GradingOutcome
    from grader.kernel.pipeline import grade_notebook as grade_notebook
    from grader.kernel.pipeline import sweep_abandoned_jobs as sweep_abandoned_jobs
    from grader.kernel.slot import KernelSlot as KernelSlot
    from grader.kernel.slot import Slot as Slot
    from grader.kernel.warm_pool import WarmKernelPool as WarmKernelPool
    from grader.kernel.warm_pool import lab_frameworks as lab_frameworks
    from grader.private_data import import_private_data as import_private_data
    from grader.sandbox.isolation import DEFAULT_UID_BASE as DEFAULT_UID_BASE
    from grader.sandbox.isolation import Isolation as Isolation
    from grader.sandbox.isolation import SandboxConfig as SandboxConfig
    from grader.sandbox.isolation import SandboxLimits as SandboxLimits
    from grader.sandbox.isolation import probe_isolation as probe_isolation
    from grader.scoring.report import CellError as CellError
    from grader.scoring.report import CheckResult as CheckResult
    from grader.scoring.report import GradingReport as GradingReport
    from grader.scoring.stored import MAX_STORED_EVALUATION_BYTES as MAX_STORED_EVALUATION_BYTES
    from grader.scoring.stored import STORED_EVALUATION_FORMAT as STORED_EVALUATION_FORMAT
    from grader.scoring.stored import EvaluationPlan as EvaluationPlan
    from grader.scoring.stored import MemoisedLabData as MemoisedLabData
    from grader.scoring.stored import StoredEvaluation as StoredEvaluation
    from grader.scoring.stored import evaluation_plan as evaluation_plan
    from grader.scoring.stored import pack_evaluation as pack_evaluation
    from grader.scoring.stored import rescore_report as rescore_report
    from grader.scoring.stored import unpack_evaluation as unpack_evaluation
    from grader.spec import AccuracyCheck as AccuracyCheck
    from grader.spec import EarlyStoppingCheck as EarlyStoppingCheck
    from grader.spec import LabSpec as LabSpec
    from grader.spec import LateSubmission as LateSubmission
    from grader.spec import OverfittingGapCheck as OverfittingGapCheck
    from grader.spec import discover_labs as discover_labs
    from grader.spec import load_spec as load_spec
    from grader.spec_lines import SpecProblem as SpecProblem
    from grader.spec_problems import find_spec_problems as find_spec_problems

# public name -> the module that defines it (tests/test_import_arrows.py checks this agrees with the block above)
_EXPORTS: dict[str, str] = {
    "prepare_labs": "grader.dataset_prep", "dataset_status": "grader.dataset_sources",
    "fetch_sources": "grader.dataset_sources", "import_source": "grader.dataset_sources",
    "DatasetSpec": "grader.dataset_spec",
    "LabData": "grader.datasets", "missing_datasets": "grader.datasets",
    "sha256_of": "grader.datasets", "warn_missing_datasets": "grader.datasets",
    "DatasetError": "grader.errors", "EnvironmentNotReady": "grader.errors",
    "EnvironmentUnavailable": "grader.errors", "GraderError": "grader.errors",
    "HarnessOutputInvalid": "grader.errors", "InfrastructureError": "grader.errors",
    "KernelStartFailed": "grader.errors", "NetworkRefused": "grader.errors", "NoFreeUid": "grader.errors",
    "NotebookInvalid": "grader.errors", "SandboxUnavailable": "grader.errors", "SpecInvalid": "grader.errors",
    "StoredOutputUnreadable": "grader.errors", "WorkerConfigError": "grader.errors",
    "EvaluationResult": "grader.evaluation.result",
    "AttachmentsInvalid": "grader.errors", "AttachmentsTooLarge": "grader.errors",
    "BUNDLE_CONTENT_TYPE": "grader.kernel.attachments", "FileLimits": "grader.kernel.attachments",
    "SubmittedFile": "grader.kernel.attachments", "bundle": "grader.kernel.attachments",
    "collect_files": "grader.kernel.attachments", "unbundle": "grader.kernel.attachments",
    "DEFAULT_ENVIRONMENT": "grader.kernel.environments", "EnvironmentStatus": "grader.kernel.environments",
    "StudentEnvironment": "grader.kernel.environments", "build_environment": "grader.kernel.environments",
    "check_environment": "grader.kernel.environments", "environment_definitions": "grader.kernel.environments",
    "read_environment_marker": "grader.kernel.environments", "resolve_environment": "grader.kernel.environments",
    "DEFAULT_HARNESS_TIMEOUT_S": "grader.kernel.limits", "DEFAULT_OUTPUT_LIMIT_KB": "grader.kernel.limits",
    "check_upload": "grader.kernel.notebook", "parse_notebook": "grader.kernel.notebook",
    "GradingContext": "grader.kernel.pipeline", "GradingOutcome": "grader.kernel.pipeline",
    "grade_notebook": "grader.kernel.pipeline", "sweep_abandoned_jobs": "grader.kernel.pipeline",
    "KernelSlot": "grader.kernel.slot", "Slot": "grader.kernel.slot",
    "WarmKernelPool": "grader.kernel.warm_pool", "lab_frameworks": "grader.kernel.warm_pool",
    "import_private_data": "grader.private_data",
    "DEFAULT_UID_BASE": "grader.sandbox.isolation", "Isolation": "grader.sandbox.isolation",
    "SandboxConfig": "grader.sandbox.isolation", "SandboxLimits": "grader.sandbox.isolation",
    "probe_isolation": "grader.sandbox.isolation",
    "CellError": "grader.scoring.report", "CheckResult": "grader.scoring.report",
    "GradingReport": "grader.scoring.report",
    "EvaluationPlan": "grader.scoring.stored", "MAX_STORED_EVALUATION_BYTES": "grader.scoring.stored",
    "MemoisedLabData": "grader.scoring.stored", "STORED_EVALUATION_FORMAT": "grader.scoring.stored",
    "StoredEvaluation": "grader.scoring.stored", "evaluation_plan": "grader.scoring.stored",
    "pack_evaluation": "grader.scoring.stored", "rescore_report": "grader.scoring.stored",
    "unpack_evaluation": "grader.scoring.stored",
    "AccuracyCheck": "grader.spec", "EarlyStoppingCheck": "grader.spec", "LabSpec": "grader.spec",
    "LateSubmission": "grader.spec", "OverfittingGapCheck": "grader.spec", "discover_labs": "grader.spec",
    "load_spec": "grader.spec",
    "SpecProblem": "grader.spec_lines",
    "find_spec_problems": "grader.spec_problems",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'grader' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
