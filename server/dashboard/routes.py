"""Every dashboard route in one router for `create_app` to include, and the two static files the pages use."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from server.dashboard import (
    api_routes,
    course_routes,
    decision_routes,
    instructor_routes,
    login_routes,
    roster_routes,
    student_routes,
)
from server.dashboard.rendering import secured
from server.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"dashboard.css": "text/css; charset=utf-8", "live.js": "text/javascript; charset=utf-8"}

router = APIRouter()
for part in (login_routes, instructor_routes, course_routes, decision_routes, roster_routes, student_routes,
             api_routes):
    router.include_router(part.router)


@router.get("/assets/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"no asset named {name!r}")
    response = Response((STATIC / name).read_bytes(), media_type=ASSETS[name])
    response.headers["Cache-Control"] = "public, max-age=300"
    return secured(response)


@router.get("/", include_in_schema=False)
def home() -> Response:
    return RedirectResponse("/me", status_code=303)
