"""Service settings from the environment (prefix `LABGRADER_`); nothing connects at import time."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from grader import DEFAULT_HARNESS_TIMEOUT_S, DEFAULT_OUTPUT_LIMIT_KB, DEFAULT_UID_BASE, SandboxLimits
from lab_tasks import LABS_DIR

if TYPE_CHECKING:
    from grader import FileLimits, GradingContext, LabSpec, SandboxConfig, StudentEnvironment

# the public default key of releases before issue 20: a cookie signed with it must never verify, so it is refused
PUBLIC_OLD_DEFAULT_SECRET_KEY = "insecure-development-key"  # noqa: S105 (a refused value, not a secret)
MIN_SECRET_KEY_CHARS = 32


def weak_secret_key_reason(key: str) -> str | None:
    """Why a configured secret key must not be used, or None."""
    if key.strip() == PUBLIC_OLD_DEFAULT_SECRET_KEY:
        return "is the public default of older releases: set a random value (python -c 'import secrets; " \
               "print(secrets.token_urlsafe(32))')"
    if len(key) < MIN_SECRET_KEY_CHARS:
        return f"is shorter than {MIN_SECRET_KEY_CHARS} characters: set a random value (python -c 'import " \
               "secrets; print(secrets.token_urlsafe(32))')"
    return None


class QueueKind(StrEnum):
    EMBEDDED = "embedded"
    CELERY = "celery"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings, SandboxLimits):
    """Every setting of the service, defined once; the sandbox limits come from `grader.SandboxLimits`."""

    model_config = SettingsConfigDict(env_prefix="LABGRADER_", extra="ignore", frozen=False)

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///./labgrader.db"
    data_dir: Path = Path("./labgrader-data")
    queue: QueueKind = QueueKind.EMBEDDED
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    # signs page sessions; empty: generated on first start into DATA_DIR/secret_key (development only)
    secret_key: str = Field(default="", repr=False)
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
    # what one student's submissions may store in all, compressed (notebooks, files, outputs); 0: no quota
    student_quota_mb: float = Field(default=200, ge=0)
    cookie_secure: bool | None = None  # page cookies `Secure` (None: in production or over https)
    # a page session ends after this long without a page view (besides its 12 h lifetime)
    session_idle_minutes: float = Field(default=120, gt=0, le=720)
    # LTI grade passback: how often changed scores are looked for and sent, and the first retry's delay (doubling)
    lti_passback_interval_s: float = Field(default=30, gt=0)
    lti_passback_backoff_s: float = Field(default=30, gt=0)
    lti_roster_sync_s: float = Field(default=3600, gt=0)  # how old a link's LMS roster may get before it is synced
    # single sign-on (OpenID Connect): the provider's issuer URL and this service's client there; "" = no SSO
    sso_issuer: str = ""
    sso_client_id: str = ""
    sso_client_secret: str = ""
    sso_user_claim: str = "email"  # the id_token claim whose value is the Labgrader user name

    # sandbox (its per-job limits are the fields of `SandboxLimits`, inherited)
    allow_unsandboxed: bool = False
    # the `default` student environment's interpreter, overriding its built venv (development; tests)
    kernel_python: str | None = None
    kernels_dir: Path | None = None  # where `labgrader kernels build` puts the venvs (default DATA_DIR/kernels)
    sandbox_uid_base: int = Field(default=DEFAULT_UID_BASE, ge=1000)
    output_limit_kb: int = Field(default=DEFAULT_OUTPUT_LIMIT_KB, ge=16)
    cell_timeout_s: float | None = None
    notebook_timeout_s: float | None = None
    harness_timeout_s: float = DEFAULT_HARNESS_TIMEOUT_S

    @model_validator(mode="after")
    def _refuse_weak_or_missing_secret(self) -> Settings:
        if self.secret_key:
            reason = weak_secret_key_reason(self.secret_key)
            if reason:
                raise ValueError(f"LABGRADER_SECRET_KEY {reason}")
        elif self.environment is Environment.PRODUCTION:
            raise ValueError("LABGRADER_SECRET_KEY must be set to a random value in production (at least "
                             f"{MIN_SECRET_KEY_CHARS} characters)")
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
        from grader import SandboxConfig

        return SandboxConfig(limits=self.limits(), uid_base=self.sandbox_uid_base,
                             allow_unsandboxed=self.allow_unsandboxed,
                             kernel_python=self.student_environment(environment).python)

    def grading_context(self, spec: LabSpec) -> GradingContext:
        """What the grader needs besides the notebook to grade one for `spec`, from these settings (the worker's
        slot adds its own environment and devices)."""
        from grader import GradingContext, LabData

        return GradingContext(
            spec=spec, lab_data=LabData(self.data_dir.resolve(), spec.id), jobs_root=self.jobs_root,
            sandbox=self.sandbox_config(spec.environment), environment=spec.environment,
            output_limit_bytes=self.output_limit_kb * 1024,
            harness_timeout_s=self.harness_timeout_s, cell_timeout_s=self.cell_timeout_s,
            notebook_timeout_s=self.notebook_timeout_s,
        )

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
