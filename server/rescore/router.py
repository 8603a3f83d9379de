"""HTTP route for rescoring a lab from stored scoring inputs (instructors); it answers when the rescore is done."""

from __future__ import annotations

from fastapi import APIRouter

from server.auth import Instructor, SessionDep
from server.dependencies import SettingsDep
from server.rescore.schemas import RescoreOut
from server.rescore.service import rescore_lab

router = APIRouter(prefix="/api/v1", tags=["labs"])


@router.post("/labs/{lab_id}/rescore", response_model=RescoreOut)
def rescore(lab_id: str, user: Instructor, session: SessionDep, settings: SettingsDep) -> RescoreOut:
    """Apply the lab.toml as it is now to every graded submission's stored outputs (seconds, no notebook runs);
    `not_rescored` lists what needs `POST /api/v1/labs/{lab_id}/regrade` instead (minutes)."""
    return RescoreOut.from_summary(rescore_lab(session, lab_id, settings.labs_dir, settings.data_dir.resolve()))
