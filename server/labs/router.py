"""HTTP routes for labs."""

from __future__ import annotations

from fastapi import APIRouter

from server.auth import CurrentUser, SessionDep
from server.labs.schemas import LabOut
from server.labs.service import list_specs

router = APIRouter(prefix="/api/v1", tags=["labs"])


@router.get("/labs", response_model=list[LabOut])
def labs(user: CurrentUser, session: SessionDep) -> list[LabOut]:
    return [LabOut.from_spec(spec) for spec in list_specs(session)]
