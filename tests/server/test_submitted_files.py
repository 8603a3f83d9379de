"""A notebook submitted with the files it reads: API (multipart), `submit --with`, `grade --with`, refusals."""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import struct
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LABGRADER, LiveServer, make_server, notebook_bytes

READER = ("import os\n"
          "print('photo:', open('myMnist.jpg', 'rb').read())\n"
          "print('csv:', open('tables/a.csv').read())\n"
          "print('owner is me:', os.stat('myMnist.jpg').st_uid == os.getuid())")


def zip_bytes(*members: tuple[str, bytes], link: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return out.getvalue()


CENTRAL = {"crc": 16, "compressed": 20, "size": 24, "method": 10}  # offsets in the central directory header
LOCAL = {"crc": 14, "compressed": 18, "size": 22, "method": 8}  # and in the local header


def lying_zip(field: str, value: int) -> bytes:
    """A deflated one-member zip whose headers (both) say `value` for `field`: a size, the checksum, the method."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("t.csv", b"1,2\n" * 500)
    data = bytearray(out.getvalue())
    fmt = "<H" if field == "method" else "<I"
    for signature, offsets in ((b"PK\x01\x02", CENTRAL), (b"PK\x03\x04", LOCAL)):
        struct.pack_into(fmt, data, data.index(signature) + offsets[field], value)
    return bytes(data)


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = make_server(tmp_path_factory.mktemp("files"), LABGRADER_MAX_FILES="3", LABGRADER_MAX_FILES_MB="0.01")
    server.start()
    yield server
    server.stop()


def _printed(server: LiveServer, token: str, submission_id: int) -> str:
    with server.client(token) as client:
        executed = client.get(f"/api/v1/submissions/{submission_id}/notebook")
    assert executed.status_code == 200
    return "".join("".join(o.get("text", "")) for o in json.loads(executed.content)["cells"][0]["outputs"])


def test_files_and_a_zip_land_beside_the_notebook(files_server: LiveServer) -> None:
    token = files_server.add_user("ayse")
    with files_server.client(token) as client:
        response = client.post("/api/v1/labs/frameworks/submissions", files=[
            ("notebook", ("lab.ipynb", notebook_bytes(READER))),
            ("files", ("myMnist.jpg", b"\xff\xd8jpeg")),
            ("files", ("tables.zip", zip_bytes(("tables/a.csv", b"1,2\n")))),
        ])
    assert response.status_code == 202, response.text
    graded = files_server.wait_for(token, response.json()["id"])
    assert graded["status"] == "graded"
    assert _printed(files_server, token, graded["id"]) == (  # type: ignore[arg-type]
        "photo: b'\\xff\\xd8jpeg'\ncsv: 1,2\n\nowner is me: True\n")


@pytest.mark.parametrize(("files", "status", "detail"), [
    ([("files", ("x.zip", zip_bytes(("../../etc/cron.d/x", b"x"))))], 422,
     "file '../../etc/cron.d/x': '..' would leave the notebook's folder"),
    ([("files", ("x.zip", zip_bytes(("ok.txt", b"ok"), link="evil")))], 422,
     "file 'x.zip': 'evil' is a link; links are refused"),
    ([("files", ("mnist.zip", zip_bytes(("data/mnist.npz", b"x"))))], 422,
     "file 'data/mnist.npz': 'data/' is reserved for the lab's data, which the grader provides; put the file "
     "elsewhere"),
    ([("files", (f"f{i}.txt", b"x")) for i in range(4)], 413, "more than 3 files were submitted with the notebook"),
    ([("files", ("big.bin", b"0" * 20_000))], 413,
     "the files submitted with the notebook are larger than the 0.01 MB limit"),
])
def test_refused_files_say_why_and_store_nothing(files_server: LiveServer, files: list[tuple[str, object]],
                                                  status: int, detail: str) -> None:
    token = files_server.add_user(f"refused{status}{len(detail)}")
    with sqlite3.connect(files_server.workdir / "labgrader.db") as conn:
        before = conn.execute("SELECT count(*) FROM submissions").fetchone()[0]
    with files_server.client(token) as client:
        response = client.post("/api/v1/labs/frameworks/submissions",
                               files=[("notebook", ("lab.ipynb", notebook_bytes("print(1)"))), *files])
    assert (response.status_code, response.json()["detail"]) == (status, detail)
    with sqlite3.connect(files_server.workdir / "labgrader.db") as conn:
        assert conn.execute("SELECT count(*) FROM submissions").fetchone()[0] == before


def test_submit_with_uploads_the_files(files_server: LiveServer, tmp_path: Path) -> None:
    token = files_server.add_user("cli")
    notebook = tmp_path / "lab.ipynb"
    notebook.write_bytes(notebook_bytes(READER))
    (tmp_path / "myMnist.jpg").write_bytes(b"\xff\xd8jpeg")
    (tmp_path / "tables.zip").write_bytes(zip_bytes(("tables/a.csv", b"1,2\n")))
    out = subprocess.run([*LABGRADER, "submit", str(notebook), "--lab", "frameworks", "--server", files_server.url,
                          "--token", token, "--json", "--with", str(tmp_path / "myMnist.jpg"),
                          str(tmp_path / "tables.zip")],
                         capture_output=True, text=True, timeout=300, env=files_server.env)
    assert out.returncode == 0, out.stderr
    submission = json.loads(out.stdout)
    assert _printed(files_server, token, submission["id"]).startswith("photo: b'\\xff\\xd8jpeg'\ncsv: 1,2\n")


def test_grade_with_places_the_files_and_refuses_links(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    notebook = tmp_path / "lab.ipynb"
    notebook.write_bytes(notebook_bytes(READER))
    (tmp_path / "myMnist.jpg").write_bytes(b"\xff\xd8jpeg")
    (tmp_path / "tables.zip").write_bytes(zip_bytes(("tables/a.csv", b"1,2\n")))
    out = server.cli("grade", str(notebook), "--lab", "frameworks", "--json", "--with", str(tmp_path / "myMnist.jpg"),
                     "--with", str(tmp_path / "tables.zip"))
    report = json.loads(out.stdout)
    assert report["status"] == "graded" and report["note"] is None
    (tmp_path / "link.jpg").symlink_to(tmp_path / "myMnist.jpg")
    refused = server.cli("grade", str(notebook), "--lab", "frameworks", "--with", str(tmp_path / "link.jpg"),
                         check=False)
    assert (refused.returncode, refused.stderr) == (
        2, f"error: {tmp_path / 'link.jpg'}: not a plain file (links and folders are refused; zip a folder)\n")


@pytest.mark.parametrize(("field", "value", "why"), [
    ("size", 100, "cannot be unpacked (Bad CRC-32 for file 't.csv')"),
    ("size", 5000, "is not the size its header says"),
    ("crc", 12345, "cannot be unpacked (Bad CRC-32 for file 't.csv')"),
    ("compressed", 5, "cannot be unpacked (Bad CRC-32 for file 't.csv')"),
    ("method", 99, "cannot be unpacked (That compression method is not supported)"),
    ("method", 12, "cannot be unpacked (Invalid data stream)"),  # bzip2 claimed for deflated bytes
])
def test_a_zip_that_lies_is_refused_with_the_reason(files_server: LiveServer, field: str, value: int,
                                                   why: str) -> None:
    """Issue 20: a member that lies about its size answered 500 (BadZipFile); every lie is a 422 that says which."""
    token = files_server.add_user(f"liar-{field}-{value}")
    with files_server.client(token) as client:
        response = client.post("/api/v1/labs/frameworks/submissions", files=[
            ("notebook", ("lab.ipynb", notebook_bytes("print(1)"))), ("files", ("t.zip", lying_zip(field, value)))])
    assert (response.status_code, response.json()["detail"]) == (422, f"file 't.zip': 't.csv' {why}")
