"""The grader: a library that grades one notebook against one lab spec, with no database and no web in sight.

This module is its front door: the service (`server/`) and the labs (`lab_tasks/`) import only the names below, never
the modules behind them. The rooms behind the door, by the steps of a grading run, each importing only downward:

    grader.pipeline    one grading run, step by step (the one module that imports every room); the grading warm pool
    grader.upload      the notebook and the files submitted with it, checked before anything runs
    grader.kernel      running cells: nbclient behind the job's driver in a sandboxed kernel, slots, student
                       environments, warm kernels
    grader.scoring     trusted scorers, the report, its plots and discovery lines
    grader.evaluation  the in-kernel exporter (`in_kernel/`, read as text, never imported), what comes back, and
                       the clean evaluator that computes every prediction from it (EvaluationResult)
    grader.data        a lab's data: its source files, splits, served files and loaders, private data, image folders
    grader.sandbox     isolation probe, cgroups, uid leases, job directories and a job's life, the kernel's argv,
                       process reaper
    grader.spec        what a lab declares: the schema, datasets, model slots, a lab.toml's problems, its reference
    grader.errors      the exception tree

Names are loaded on first use (PEP 562): a process that needs only the spec schema (the API, most CLI commands) does
not pay for nbclient and jupyter_client (0.6 s against 1.6 s to import on the development machine).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.data.lab_data import LabData as LabData
    from grader.data.lab_data import MemoisedLabData as MemoisedLabData
    from grader.data.lab_data import missing_datasets as missing_datasets
    from grader.data.lab_data import sha256_of as sha256_of
    from grader.data.lab_data import warn_missing_datasets as warn_missing_datasets
    from grader.data.prepare import prepare_labs as prepare_labs
    from grader.data.private import import_private_data as import_private_data
    from grader.data.private import undeclared_split as undeclared_split
    from grader.data.sources import dataset_status as dataset_status
    from grader.data.sources import fetch_sources as fetch_sources
    from grader.data.sources import import_source as import_source
    from grader.errors import AttachmentsInvalid as AttachmentsInvalid
    from grader.errors import AttachmentsTooLarge as AttachmentsTooLarge
    from grader.errors import DatasetError as DatasetError
    from grader.errors import EnvironmentNotReady as EnvironmentNotReady
    from grader.errors import EnvironmentUnavailable as EnvironmentUnavailable
    from grader.errors import GraderError as GraderError
    from grader.errors import InfrastructureError as InfrastructureError
    from grader.errors import NotebookInvalid as NotebookInvalid
    from grader.errors import SandboxUnavailable as SandboxUnavailable
    from grader.errors import SpecInvalid as SpecInvalid
    from grader.errors import StoredOutputUnreadable as StoredOutputUnreadable
    from grader.errors import WorkerConfigError as WorkerConfigError
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
    from grader.kernel.slot import Slot as Slot
    from grader.kernel.warm_pool import lab_frameworks as lab_frameworks
    from grader.pipeline import GradingContext as GradingContext
    from grader.pipeline import GradingOutcome as GradingOutcome
    from grader.pipeline import WarmKernelPool as WarmKernelPool
    from grader.pipeline import grade_notebook as grade_notebook
    from grader.sandbox.isolation import DEFAULT_UID_BASE as DEFAULT_UID_BASE
    from grader.sandbox.isolation import SandboxConfig as SandboxConfig
    from grader.sandbox.isolation import SandboxLimits as SandboxLimits
    from grader.sandbox.isolation import probe_isolation as probe_isolation
    from grader.sandbox.job import sweep_abandoned_jobs as sweep_abandoned_jobs
    from grader.scoring.report import CheckResult as CheckResult
    from grader.scoring.report import GradingReport as GradingReport
    from grader.scoring.stored import MAX_STORED_EVALUATION_BYTES as MAX_STORED_EVALUATION_BYTES
    from grader.scoring.stored import STORED_EVALUATION_FORMAT as STORED_EVALUATION_FORMAT
    from grader.scoring.stored import EvaluationPlan as EvaluationPlan
    from grader.scoring.stored import evaluation_plan as evaluation_plan
    from grader.scoring.stored import pack_evaluation as pack_evaluation
    from grader.scoring.stored import rescore_report as rescore_report
    from grader.scoring.stored import unpack_evaluation as unpack_evaluation
    from grader.spec.expectations import EXPECTATIONS_FILE as EXPECTATIONS_FILE
    from grader.spec.expectations import compare_expectations as compare_expectations
    from grader.spec.expectations import load_expectations as load_expectations
    from grader.spec.lab import LabSpec as LabSpec
    from grader.spec.lab import LateSubmission as LateSubmission
    from grader.spec.lab import discover_labs as discover_labs
    from grader.spec.lab import load_spec as load_spec
    from grader.spec.problems import find_spec_problems as find_spec_problems
    from grader.upload.attachments import BUNDLE_CONTENT_TYPE as BUNDLE_CONTENT_TYPE
    from grader.upload.attachments import FileLimits as FileLimits
    from grader.upload.attachments import SubmittedFile as SubmittedFile
    from grader.upload.attachments import bundle as bundle
    from grader.upload.attachments import collect_files as collect_files
    from grader.upload.attachments import unbundle as unbundle
    from grader.upload.notebook import check_upload as check_upload
    from grader.upload.notebook import parse_notebook as parse_notebook

# public name -> the module that defines it (tests/test_import_arrows.py checks this agrees with the block above)
_EXPORTS: dict[str, str] = {
    "LabData": "grader.data.lab_data", "missing_datasets": "grader.data.lab_data", "sha256_of": "grader.data.lab_data",
    "warn_missing_datasets": "grader.data.lab_data", "MemoisedLabData": "grader.data.lab_data",
    "prepare_labs": "grader.data.prepare",
    "import_private_data": "grader.data.private", "undeclared_split": "grader.data.private",
    "dataset_status": "grader.data.sources", "fetch_sources": "grader.data.sources",
    "import_source": "grader.data.sources",
    "AttachmentsInvalid": "grader.errors", "AttachmentsTooLarge": "grader.errors", "DatasetError": "grader.errors",
    "EnvironmentNotReady": "grader.errors",
    "EnvironmentUnavailable": "grader.errors", "GraderError": "grader.errors", "InfrastructureError": "grader.errors",
    "NotebookInvalid": "grader.errors", "SandboxUnavailable": "grader.errors", "SpecInvalid": "grader.errors",
    "StoredOutputUnreadable": "grader.errors", "WorkerConfigError": "grader.errors",
    "DEFAULT_ENVIRONMENT": "grader.kernel.environments", "EnvironmentStatus": "grader.kernel.environments",
    "StudentEnvironment": "grader.kernel.environments", "build_environment": "grader.kernel.environments",
    "check_environment": "grader.kernel.environments", "environment_definitions": "grader.kernel.environments",
    "read_environment_marker": "grader.kernel.environments", "resolve_environment": "grader.kernel.environments",
    "DEFAULT_HARNESS_TIMEOUT_S": "grader.kernel.limits", "DEFAULT_OUTPUT_LIMIT_KB": "grader.kernel.limits",
    "Slot": "grader.kernel.slot",
    "lab_frameworks": "grader.kernel.warm_pool",
    "GradingContext": "grader.pipeline", "GradingOutcome": "grader.pipeline", "WarmKernelPool": "grader.pipeline",
    "grade_notebook": "grader.pipeline",
    "DEFAULT_UID_BASE": "grader.sandbox.isolation", "SandboxConfig": "grader.sandbox.isolation",
    "SandboxLimits": "grader.sandbox.isolation", "probe_isolation": "grader.sandbox.isolation",
    "sweep_abandoned_jobs": "grader.sandbox.job",
    "CheckResult": "grader.scoring.report", "GradingReport": "grader.scoring.report",
    "EvaluationPlan": "grader.scoring.stored", "MAX_STORED_EVALUATION_BYTES": "grader.scoring.stored",
    "STORED_EVALUATION_FORMAT": "grader.scoring.stored",
    "evaluation_plan": "grader.scoring.stored", "pack_evaluation": "grader.scoring.stored",
    "rescore_report": "grader.scoring.stored", "unpack_evaluation": "grader.scoring.stored",
    "EXPECTATIONS_FILE": "grader.spec.expectations", "compare_expectations": "grader.spec.expectations",
    "load_expectations": "grader.spec.expectations",
    "LabSpec": "grader.spec.lab", "LateSubmission": "grader.spec.lab", "discover_labs": "grader.spec.lab",
    "load_spec": "grader.spec.lab",
    "find_spec_problems": "grader.spec.problems",
    "BUNDLE_CONTENT_TYPE": "grader.upload.attachments", "FileLimits": "grader.upload.attachments",
    "SubmittedFile": "grader.upload.attachments", "bundle": "grader.upload.attachments",
    "collect_files": "grader.upload.attachments", "unbundle": "grader.upload.attachments",
    "check_upload": "grader.upload.notebook", "parse_notebook": "grader.upload.notebook",
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
