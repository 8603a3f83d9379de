"""The files a student submitted beside a notebook, read back from their stored bundle: listed (names, sizes) on the
submission's pages and downloaded one at a time by the student and staff (the caller checks who may see it).

The bundle is the zip `grader.bundle` wrote after the upload's checks, so its names are already safe relative paths;
a member is still read no larger than the limit the upload had.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.jobs.models import Artifact, ArtifactKind
from server.jobs.stored_artifacts import artifact_content
from server.submissions.models import Submission


@dataclass(frozen=True)
class SubmittedFileEntry:
    index: int  # its place in the bundle: the download link's id
    name: str  # the path it had beside the notebook
    size_bytes: int


def _bundle(session: Session, submission: Submission) -> zipfile.ZipFile | None:
    stored = session.scalar(select(Artifact).where(Artifact.submission_id == submission.id,
                                                   Artifact.kind == ArtifactKind.SUBMITTED_FILES.value))
    return None if stored is None else zipfile.ZipFile(io.BytesIO(artifact_content(stored)))


def submitted_files(session: Session, submission: Submission) -> list[SubmittedFileEntry]:
    """The files that came with the submission, in the order they were stored (none: an empty list)."""
    archive = _bundle(session, submission)
    if archive is None:
        return []
    with archive:
        return [SubmittedFileEntry(i, info.filename, info.file_size)
                for i, info in enumerate(archive.infolist()) if not info.is_dir()]


def submitted_file(session: Session, submission: Submission, index: int, max_bytes: int) -> tuple[str, bytes]:
    """One submitted file's name and bytes."""
    archive = _bundle(session, submission)
    missing = NotFound(f"submission {submission.id} has no submitted file number {index}")
    if archive is None:
        raise missing
    with archive:
        members = archive.infolist()
        if not 0 <= index < len(members) or members[index].is_dir() or members[index].file_size > max_bytes:
            raise missing
        with archive.open(members[index]) as handle:
            return members[index].filename, handle.read(max_bytes + 1)[:max_bytes]
