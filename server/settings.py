"""Service settings from the environment (prefix `LABGRADER_`); nothing connects at import time."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lab_tasks import LABS_DIR

if TYPE_CHECKING:
    from grader import FileLimits, SandboxConfig, StudentEnvironment

DEFAULT_SECRET_KEY = "insecure-development-key"  # noqa: S105 (refused in production)


class QueueKind(StrEnum):
    EMBEDDED = "embedded"
    CELERY = "celery"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABGRADER_", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///./labgrader.db"
    data_dir: Path = Path("./labgrader-data")
    queue: QueueKind = QueueKind.EMBEDDED
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    secret_key: str = DEFAULT_SECRET_KEY
    metrics_token: str = ""  # a bearer token for Prometheus; instructors' API tokens work on /metrics too
    labs_dir: Path = LABS_DIR
    # job directories hold the kernel's Unix sockets, whose paths may not exceed 107 bytes: keep this short
    jobs_dir: Path = Path("/var/tmp/labgrader-jobs")

    # dispatch and the job ledger
    jobs: int = Field(default=1, ge=1, le=64)
    lease_s: float = Field(default=30, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    poll_interval_s: float = Field(default=0.5, gt=0)
    # sandboxed kernels started ahead of demand (at most one per slot; 0: every job starts its kernel cold)
    warm_kernels: int = Field(default=0, ge=0, le=64)
    warm_kernels_import_frameworks: bool = True  # import the labs' `frameworks` into warm kernels ahead

    # uploads
    max_upload_mb: float = Field(default=20, gt=0)
    # files submitted with a notebook (`submit NB --with FILE...`): how many, and their total size unpacked
    max_files: int = Field(default=50, ge=0, le=1000)
    max_files_mb: float = Field(default=20, ge=0)
    submissions_per_hour: int = Field(default=10, ge=0)

    # sandbox
    allow_unsandboxed: bool = False
    # the `default` student environment's interpreter, overriding its built venv (development; tests)
    kernel_python: str | None = None
    kernels_dir: Path | None = None  # where `labgrader kernels build` puts the venvs (default DATA_DIR/kernels)
    sandbox_uid_base: int = Field(default=61000, ge=1000)
    memory_limit_mb: int = Field(default=6144, ge=256)
    max_processes: int = Field(default=512, ge=16)
    file_size_limit_mb: int = Field(default=512, ge=1)
    open_files: int = Field(default=1024, ge=64)
    cpu_time_s: int = Field(default=3600, ge=10)
    work_dir_limit_mb: int = Field(default=2048, ge=16)
    tmp_limit_mb: int = Field(default=256, ge=1)
    shm_limit_mb: int = Field(default=64, ge=1)
    cpu_cores: float = Field(default=0, ge=0)  # 0: no CPU-share cap per job
    output_limit_kb: int = Field(default=2048, ge=16)
    cell_timeout_s: float | None = None
    notebook_timeout_s: float | None = None
    harness_timeout_s: float = 300

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.environment is Environment.PRODUCTION and self.secret_key == DEFAULT_SECRET_KEY:
            raise ValueError("LABGRADER_SECRET_KEY must be set to a random value in production")
        return self

    @property
    def kernels_root(self) -> Path:
        return (self.kernels_dir or self.data_dir / "kernels").resolve()

    def student_environment(self, name: str = "default") -> StudentEnvironment:
        """Where the kernels of environment `name` run (EnvironmentUnavailable when it is not built)."""
        from grader import resolve_environment

        return resolve_environment(name, self.kernels_root, self.kernel_python)

    def sandbox_config(self, environment: str = "default") -> SandboxConfig:
        """The grader's sandbox configuration from these settings, for kernels of the student `environment`."""
        from grader import SandboxConfig, SandboxLimits

        limits = SandboxLimits(
            memory_limit_mb=self.memory_limit_mb, max_processes=self.max_processes,
            file_size_limit_mb=self.file_size_limit_mb, open_files=self.open_files, cpu_time_s=self.cpu_time_s,
            work_dir_limit_mb=self.work_dir_limit_mb, tmp_limit_mb=self.tmp_limit_mb, shm_limit_mb=self.shm_limit_mb,
            cpu_cores=self.cpu_cores,
        )
        return SandboxConfig(limits=limits, uid_base=self.sandbox_uid_base,
                             allow_unsandboxed=self.allow_unsandboxed,
                             kernel_python=self.student_environment(environment).python)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_files_bytes(self) -> int:
        return int(self.max_files_mb * 1024 * 1024)

    def file_limits(self) -> FileLimits:
        """The limits on files submitted with a notebook."""
        from grader import FileLimits

        return FileLimits(max_files=self.max_files, max_total_bytes=self.max_files_bytes)

    @property
    def jobs_root(self) -> Path:
        return self.jobs_dir.resolve()
