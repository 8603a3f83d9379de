"""Files submitted with a notebook: names that stay in the work dir, no links, limits, storage round trip."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest

from grader.errors import AttachmentsInvalid, AttachmentsTooLarge
from grader.upload.attachments import FileLimits, SubmittedFile, bundle, collect_files, place_files, safe_path, unbundle


def zip_bytes(*members: tuple[str, bytes], link: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return out.getvalue()


@pytest.mark.parametrize(("name", "why"), [
    ("../escape.txt", "'..' would leave the notebook's folder"),
    ("a/../../b", "'..' would leave the notebook's folder"),
    ("/etc/passwd", "absolute paths are refused; files land in the notebook's folder"),
    ("C:/x.png", "absolute paths are refused; files land in the notebook's folder"),
    ("data/mnist.npz", "'data/' is reserved for the lab's data, which the grader provides; put the file elsewhere"),
    (".labgrader-output-x.json", "names starting with '.labgrader' are the grader's"),
    ("a\\b.png", "use '/' between folders, not '\\'"),
    ("bad\nname", "the name is empty or holds control characters"),
    *[(name, f"'{top}/' is a hidden folder, where programs keep their settings and start-up code (.ipython, .config, "
             ".local, .jupyter); files in folders whose names start with '.' are refused")
      for name, top in [(".ipython/profile_default/startup/x.py", ".ipython"), (".config/matplotlib/matplotlibrc",
                        ".config"), (".local/lib/python3.11/site-packages/evil.pth", ".local"),
                        (".jupyter/jupyter_config.py", ".jupyter"), ("lab/.git/config", ".git")]],
    *[(name, f"'{name.rsplit('/', 1)[-1]}' is a start-up file that Python or the shell runs before the grader's "
             "set-up; it is refused")
      for name in ("sitecustomize.py", "helpers/usercustomize.py", "evil.pth", ".bashrc", ".profile",
                   "ipykernel_launcher.py")],
])
def test_unsafe_names_are_refused_with_the_reason(name: str, why: str) -> None:
    with pytest.raises(AttachmentsInvalid) as caught:
        safe_path(name)
    assert str(caught.value) == f"file {name!r}: {why}"


def test_plain_files_keep_their_last_name_and_zips_keep_their_folders() -> None:
    files = collect_files([("photos/myMnist.jpg", b"jpg"),
                           ("extra.zip", zip_bytes(("csv/a.csv", b"1,2"), ("./b.txt", b"b")))])
    assert files == (SubmittedFile("myMnist.jpg", b"jpg"), SubmittedFile("csv/a.csv", b"1,2"),
                     SubmittedFile("b.txt", b"b"))


def test_a_link_inside_a_zip_is_refused() -> None:
    with pytest.raises(AttachmentsInvalid, match=r"'x.zip': 'evil' is a link; links are refused"):
        collect_files([("x.zip", zip_bytes(("ok.txt", b"ok"), link="evil"))])


def test_a_zip_member_leaving_the_folder_is_refused() -> None:
    with pytest.raises(AttachmentsInvalid, match=r"file '../../root/.bashrc': '..' would leave"):
        collect_files([("x.zip", zip_bytes(("../../root/.bashrc", b"x")))])


def test_limits_on_count_and_size() -> None:
    limits = FileLimits(max_files=2, max_total_bytes=10)
    with pytest.raises(AttachmentsTooLarge, match="more than 2 files were submitted with the notebook"):
        collect_files([("a", b""), ("b", b""), ("c", b"")], limits)
    with pytest.raises(AttachmentsTooLarge, match=r"hold more than .* \(at 'b'\)"):
        collect_files([("a", b"123456"), ("b", b"123456")], limits)
    with pytest.raises(AttachmentsTooLarge, match=r"'z.zip': unpacks to more than the 10 bytes left"):
        collect_files([("z.zip", zip_bytes(("big", b"0" * 1000)))], limits)


def test_duplicates_and_file_folder_clashes_are_refused() -> None:
    with pytest.raises(AttachmentsInvalid, match=r"'A\.txt' is submitted twice, or is both a file and a folder"):
        collect_files([("a.txt", b"1"), ("A.txt", b"2")])
    with pytest.raises(AttachmentsInvalid, match="is submitted twice, or is both a file and a folder"):
        collect_files([("x.zip", zip_bytes(("d", b"1"), ("d/e", b"2")))])


def test_bundle_round_trip() -> None:
    files = (SubmittedFile("a.txt", b"a" * 1000), SubmittedFile("d/b.bin", bytes(range(256))))
    assert unbundle(bundle(files)) == files


def test_place_files_writes_beside_the_notebook_owned_by_the_sandbox_uid(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    place_files((SubmittedFile("myMnist.jpg", b"jpg"), SubmittedFile("d/e/f.csv", b"1,2")), work, 65123)
    assert (work / "myMnist.jpg").read_bytes() == b"jpg"
    assert (work / "d" / "e" / "f.csv").read_bytes() == b"1,2"
    assert {p.stat().st_uid for p in work.rglob("*")} == {65123}


def test_place_files_never_follows_a_link(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, work / "d")
    os.symlink(outside / "target", work / "f.txt")
    with pytest.raises(AttachmentsInvalid, match=r"'d/x\.txt': 'd' is not a folder"):
        place_files((SubmittedFile("d/x.txt", b"x"),), work, None)
    with pytest.raises(AttachmentsInvalid, match=r"'f\.txt' would replace a file the grader put there"):
        place_files((SubmittedFile("f.txt", b"x"),), work, None)
    assert list(outside.iterdir()) == []


def test_a_start_up_file_inside_a_zip_is_refused_naming_it() -> None:
    with pytest.raises(AttachmentsInvalid) as caught:
        collect_files([("x.zip", zip_bytes(("ok.txt", b"ok"), (".ipython/profile_default/startup/x.py", b"1/0")))])
    assert str(caught.value) == (
        "file '.ipython/profile_default/startup/x.py': '.ipython/' is a hidden folder, where programs keep their "
        "settings and start-up code (.ipython, .config, .local, .jupyter); files in folders whose names start with "
        "'.' are refused")
