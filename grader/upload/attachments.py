"""Files a notebook reads, submitted with it: validated, bundled for storage, and placed in the kernel's work dir.

A submission may carry files beside its notebook (an image the student photographed, a CSV): several plain files,
or zip archives that are unpacked. Each name becomes a path relative to the kernel's working directory; names that
could leave it (absolute paths, `..`), links, the grader's own places (`data/`, dot-files of the grader), and what
could change how the kernel starts (hidden folders such as `.ipython/` or `.local/`, `sitecustomize.py`,
`usercustomize.py`, `*.pth`, shell start-up files) are refused, as are more files or more bytes than the limits.
Every refusal says which file and why.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.errors import AttachmentsInvalid, AttachmentsTooLarge

MAX_FILES = 50
MAX_TOTAL_BYTES = 20 * 1024 * 1024
MAX_NAME_CHARS = 200
MAX_DEPTH = 8
RESERVED_TOP = {"data", ".tmp"}  # the lab's data (served read-only) and the kernel's temporary directory
# run before any cell by Python (site, `-m`), IPython or a shell, were they in the home or working directory
START_UP_FILES = frozenset({"sitecustomize.py", "usercustomize.py", "ipykernel_launcher.py", ".bashrc",
                            ".bash_profile", ".profile", ".pythonrc", ".pythonrc.py", ".inputrc"})
BUNDLE_CONTENT_TYPE = "application/zip"


@dataclass(frozen=True)
class SubmittedFile:
    """One file for the work directory: a safe relative POSIX path and its bytes."""

    path: str
    data: bytes


@dataclass(frozen=True)
class FileLimits:
    max_files: int = MAX_FILES
    max_total_bytes: int = MAX_TOTAL_BYTES


def safe_path(name: str) -> str:
    """`name` as a relative path inside the work directory, or AttachmentsInvalid saying why it cannot be one."""
    shown = name[:80] + ("..." if len(name) > 80 else "")
    if not name or "\x00" in name or any(ord(c) < 32 for c in name):
        raise AttachmentsInvalid(f"file {shown!r}: the name is empty or holds control characters")
    if "\\" in name:
        raise AttachmentsInvalid(f"file {shown!r}: use '/' between folders, not '\\'")
    if len(name) > MAX_NAME_CHARS:
        raise AttachmentsInvalid(f"file {shown!r}: the name is longer than {MAX_NAME_CHARS} characters")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise AttachmentsInvalid(f"file {shown!r}: absolute paths are refused; files land in the notebook's folder")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if not parts:
        raise AttachmentsInvalid(f"file {shown!r}: not a file name")
    if ".." in parts:
        raise AttachmentsInvalid(f"file {shown!r}: '..' would leave the notebook's folder")
    if len(parts) > MAX_DEPTH:
        raise AttachmentsInvalid(f"file {shown!r}: nested deeper than {MAX_DEPTH} folders")
    if parts[0] in RESERVED_TOP:
        raise AttachmentsInvalid(f"file {shown!r}: '{parts[0]}/' is reserved for the lab's data, which the grader "
                                 "provides; put the file elsewhere")
    if any(p.startswith(".labgrader") for p in parts):
        raise AttachmentsInvalid(f"file {shown!r}: names starting with '.labgrader' are the grader's")
    if hidden := next((p for p in parts[:-1] if p.startswith(".")), None):
        raise AttachmentsInvalid(f"file {shown!r}: '{hidden}/' is a hidden folder, where programs keep their settings "
                                 "and start-up code (.ipython, .config, .local, .jupyter); files in folders whose "
                                 "names start with '.' are refused")
    if parts[-1] in START_UP_FILES or parts[-1].endswith(".pth"):
        raise AttachmentsInvalid(f"file {shown!r}: '{parts[-1]}' is a start-up file that Python or the shell runs "
                                 "before the grader's set-up; it is refused")
    return "/".join(parts)


def _zip_members(archive_name: str, data: bytes, room: int) -> Iterable[SubmittedFile]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise AttachmentsInvalid(f"file {archive_name!r}: not a readable zip archive ({exc})") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_FILES * 4:
            raise AttachmentsTooLarge(f"file {archive_name!r}: holds {len(infos)} entries; the limit is {MAX_FILES}")
        declared = 0
        for info in infos:
            mode = info.external_attr >> 16
            if info.is_dir():
                continue
            if stat.S_ISLNK(mode):
                raise AttachmentsInvalid(f"file {archive_name!r}: {info.filename!r} is a link; links are refused")
            if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # archivers that record no type write 0
                raise AttachmentsInvalid(f"file {archive_name!r}: {info.filename!r} is not a plain file")
            if info.flag_bits & 0x1:
                raise AttachmentsInvalid(f"file {archive_name!r}: {info.filename!r} is encrypted")
            declared += info.file_size
            if declared > room:
                raise AttachmentsTooLarge(f"file {archive_name!r}: unpacks to more than the {room} bytes left of the "
                                         "limit on submitted files")
            path = safe_path(info.filename)
            try:
                with archive.open(info) as member:
                    content = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, ValueError) as exc:
                # a header that lies about the size or the checksum, a truncated stream, an unknown compression
                raise AttachmentsInvalid(f"file {archive_name!r}: {info.filename!r} cannot be unpacked ({exc})"
                                         ) from exc
            if len(content) != info.file_size:  # a header that lies about the size (a zip bomb)
                raise AttachmentsInvalid(f"file {archive_name!r}: {info.filename!r} is not the size its header says")
            yield SubmittedFile(path, content)


def collect_files(uploads: Iterable[tuple[str, bytes]], limits: FileLimits = FileLimits()) -> tuple[SubmittedFile, ...]:
    """The files of a submission from (name, bytes) uploads; a `.zip` is unpacked, anything else kept as it is named.

    An upload's name is reduced to its last part (browsers and `--with dir/x.png` send paths); inside a zip archive
    the folders are kept. Raises AttachmentsInvalid for any unsafe name, link, duplicate or limit passed.
    """
    files: list[SubmittedFile] = []
    total = 0
    for name, data in uploads:
        base = PurePosixPath(name.replace("\\", "/")).name if name else ""
        if base.lower().endswith(".zip"):
            found = list(_zip_members(base, data, limits.max_total_bytes - total))
        else:
            found = [SubmittedFile(safe_path(base), data)]
        for item in found:
            total += len(item.data)
            if total > limits.max_total_bytes:
                raise AttachmentsTooLarge(f"the submitted files hold more than {limits.max_total_bytes / 2**20:g} MB "
                                         f"(at {item.path!r}); the limit is {limits.max_total_bytes / 2**20:g} MB")
            files.append(item)
            if len(files) > limits.max_files:
                raise AttachmentsTooLarge(f"more than {limits.max_files} files were submitted with the notebook")
    seen: set[str] = set()
    for item in files:
        key = item.path.lower()
        if key in seen or any(other.startswith(key + "/") or key.startswith(other + "/") for other in seen):
            raise AttachmentsInvalid(f"file {item.path!r} is submitted twice, or is both a file and a folder")
        seen.add(key)
    return tuple(files)


def bundle(files: Iterable[SubmittedFile]) -> bytes:
    """The files as one zip archive, for storage beside the notebook."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in files:
            info = zipfile.ZipInfo(item.path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, item.data)
    return out.getvalue()


def unbundle(data: bytes, limits: FileLimits = FileLimits()) -> tuple[SubmittedFile, ...]:
    """The files of a stored bundle, checked again as on upload."""
    return collect_files([("bundle.zip", data)], limits)


def place_files(files: Iterable[SubmittedFile], work: Path, uid: int | None) -> None:
    """Write the files into the kernel's work directory before any student code runs, owned by the sandbox uid.

    Nothing follows a link: directories are created fresh or must be real directories, files are created
    exclusively (O_EXCL | O_NOFOLLOW).
    """
    for item in files:
        target = work
        for part in item.path.split("/")[:-1]:
            target = target / part
            try:
                target.mkdir(mode=0o755)
            except FileExistsError:
                if target.is_symlink() or not target.is_dir():
                    raise AttachmentsInvalid(f"file {item.path!r}: {part!r} is not a folder") from None
            else:
                if uid is not None:
                    os.chown(target, uid, uid, follow_symlinks=False)
        path = work / item.path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError as exc:
            raise AttachmentsInvalid(f"file {item.path!r} would replace a file the grader put there") from exc
        try:
            view = memoryview(item.data)
            while view:
                view = view[os.write(fd, view):]
            if uid is not None:
                os.fchown(fd, uid, uid)
        finally:
            os.close(fd)
