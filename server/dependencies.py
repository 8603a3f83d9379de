"""Typed FastAPI dependencies: what `create_app` puts on the app, read here (routes never touch the untyped
`request.app.state`); the dispatcher's is `server.jobs.dispatch.DispatcherDep`, next to its protocol."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from server.db import SessionFactory
from server.settings import Settings
from server.throttle import AuthThrottle


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_secret_key(request: Request) -> str:
    """The key that signs page sessions (configured, or generated into the data dir: `server.secret_key`)."""
    key: str = request.app.state.secret_key
    return key


def get_session_factory(request: Request) -> SessionFactory:
    factory: SessionFactory = request.app.state.session_factory
    return factory


def get_auth_throttle(request: Request) -> AuthThrottle:
    throttle: AuthThrottle = request.app.state.auth_throttle
    return throttle


SettingsDep = Annotated[Settings, Depends(get_settings)]
