"""The bearer-token API route of the gradebook (DESIGN section 5): `GET /api/v1/labs/{lab_id}/gradebook.csv`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from server.auth import SessionDep, Staff
from server.exports.formats import ExportFormat, render_export
from server.exports.gradebook import build_gradebook

router = APIRouter(prefix="/api/v1", tags=["exports"])


@router.get("/labs/{lab_id}/gradebook.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def gradebook_csv(lab_id: str, user: Staff, session: SessionDep,
                  format: ExportFormat = ExportFormat.CSV) -> Response:
    """The lab's gradebook (instructors and TAs): `format=csv` (default) or `canvas`; `gradescope`: results JSON."""
    body, media_type, name = render_export(build_gradebook(session, lab_id), format)
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                          "X-Content-Type-Options": "nosniff"})
