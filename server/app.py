"""`create_app(settings)`: engine, routers, executor. Nothing connects at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import inspect, text

from grader import EnvironmentStatus, prepare_labs, probe_isolation, warn_missing_datasets
from server.api_docs import install_api_docs
from server.body_limit import FORM_SLACK_BYTES, BodySizeLimit
from server.dashboard.routes import router as dashboard_router
from server.db import SessionFactory, make_engine, make_session_factory, transaction
from server.environments import not_ready_reason, unchecked_environments
from server.errors import install_error_handlers
from server.grades import router as grades_router
from server.jobs.dispatch import Dispatcher, EmbeddedDispatcher
from server.jobs.executor import EmbeddedExecutor
from server.labs.service import list_specs, sync_labs
from server.lti import lti_installed, sso_installed
from server.metrics import router as metrics_router
from server.rescore import router as rescore_router
from server.roster import router as roster_router
from server.secret_key import resolve_secret_key
from server.settings import QueueKind, Settings
from server.submissions import router as submissions_router
from server.throttle import AuthThrottle

if TYPE_CHECKING:
    from server.lti.worker import PassbackWorker

log = logging.getLogger("labgrader.app")


def _start_lti_passbacks(settings: Settings, factory: SessionFactory) -> PassbackWorker | None:
    """The thread that sends changed scores to the LMSs (when the lti extra is installed)."""
    if not lti_installed():
        return None
    from server.lti.keys import ToolKeys
    from server.lti.passback import AgsClient
    from server.lti.worker import PassbackWorker

    worker = PassbackWorker(factory, AgsClient(ToolKeys.for_data_dir(settings.data_dir)),
                            settings.lti_passback_interval_s, settings.lti_passback_backoff_s,
                            settings.lti_roster_sync_s)
    worker.start()
    return worker


def create_app(settings: Settings | None = None, environments: Sequence[EnvironmentStatus] = ()) -> FastAPI:
    """`environments`: the student environments as `serve` checked them in the sandbox before starting."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if "grading_jobs" not in inspect(engine).get_table_names():
            raise RuntimeError("the database has no schema: run `labgrader db upgrade` first")
        with transaction(factory) as session:
            lab_ids = sync_labs(session, settings.labs_dir)
        prepare_labs(settings.data_dir.resolve(), settings.labs_dir, lab_ids)
        with factory() as session:
            warn_missing_datasets(settings.data_dir.resolve(),
                                  {spec.id: spec.evaluated_datasets() for spec in list_specs(session)}, log)
        with factory() as session:
            app.state.environments = list(environments) or unchecked_environments(settings, list_specs(session))
        executor = None
        isolation = probe_isolation(settings.sandbox_config())
        app.state.isolation = isolation
        if settings.queue is QueueKind.EMBEDDED:
            if isolation.runs_student_code:
                executor = EmbeddedExecutor(settings, factory)
                executor.start()
            else:
                log.error("not starting the executor: %s", isolation.detail)
            app.state.dispatcher = EmbeddedDispatcher(executor)
        else:
            from server.jobs.celery_publisher import CeleryDispatcher

            app.state.dispatcher = CeleryDispatcher(settings)
        passbacks = _start_lti_passbacks(settings, factory)
        try:
            yield
        finally:
            if passbacks is not None:
                passbacks.stop()
            if executor is not None:
                executor.stop()
            engine.dispose()

    app = FastAPI(title="Labgrader", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Autograding of machine-learning lab notebooks in sandboxed kernels.")
    install_api_docs(app)  # Swagger UI from local files, not a CDN
    app.state.settings = settings
    app.state.secret_key = resolve_secret_key(settings)
    app.state.engine = engine
    app.state.session_factory = factory
    app.state.auth_throttle = AuthThrottle()
    app.add_middleware(BodySizeLimit,
                       max_bytes=settings.max_upload_bytes + settings.max_files_bytes + FORM_SLACK_BYTES)
    install_error_handlers(app)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return JSONResponse({"detail": f"{where}: {first['msg']}" if where else first["msg"]}, status_code=422)

    @app.get("/healthz", tags=["health"], responses={503: {"description": "the database is unreachable"}})
    def healthz(request: Request) -> JSONResponse:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            database = f"{engine.dialect.name}: ok"
        except Exception as exc:
            database = f"{engine.dialect.name}: unreachable ({type(exc).__name__})"
        isolation = getattr(request.app.state, "isolation", None)
        dispatcher: Dispatcher | None = getattr(request.app.state, "dispatcher", None)
        ok = database.endswith(": ok")
        body: dict[str, Any] = {
            "status": "ok" if ok else "degraded",
            "database": database,
            "queue": dispatcher.describe() if dispatcher else settings.queue.value,
            "sandbox": isolation.detail if isolation else "unknown",
            "environments": {e.name: e.as_json() for e in getattr(request.app.state, "environments", [])},
        }
        for name, entry in body["environments"].items():  # checked at start; a build may have begun since
            if waiting := not_ready_reason(settings, name):
                entry["status"] = waiting
        return JSONResponse(body, status_code=200 if ok else 503)

    app.include_router(submissions_router.router)
    app.include_router(rescore_router.router)
    app.include_router(grades_router.router)
    app.include_router(roster_router.router)
    app.include_router(dashboard_router)
    if lti_installed():
        from server.dashboard.rendering import environment as page_environment
        from server.lti.pages import router as lti_pages_router
        from server.lti.platform_keys import PlatformKeys
        from server.lti.router import api_router as lti_api_router
        from server.lti.router import router as lti_router

        app.state.lti_platform_keys = PlatformKeys()
        app.include_router(lti_router)
        app.include_router(lti_pages_router)
        page_environment.globals["lms_pages"] = True  # the roster page links to them
        app.include_router(lti_api_router)
    if sso_installed():
        from server.sso.router import router as sso_router
        from server.sso.service import ProviderMetadata

        app.state.sso_metadata = ProviderMetadata()
        app.include_router(sso_router)
    app.include_router(metrics_router)
    return app
