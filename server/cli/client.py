"""`labgrader submit`: upload a notebook, follow it through queued and running, print the report."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from server.cli.render import format_report, terminal_safe

TERMINAL = {"graded", "error"}


class SubmitError(Exception):
    """The server refused the upload or could not be reached; the message says why."""


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:500]


def submit(notebook: Path, lab: str, server: str, token: str, wait: bool, timeout_s: float = 3600,
           as_json: bool = False, files: list[Path] | None = None) -> int:
    if not notebook.is_file():
        raise SubmitError(f"{notebook}: no such file")
    for attached in files or []:
        if attached.is_symlink() or not attached.is_file():
            raise SubmitError(f"{attached}: not a plain file (links and folders are refused; zip a folder)")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=60) as client:
        try:
            parts = [("notebook", (notebook.name, notebook.read_bytes(), "application/x-ipynb+json"))]
            parts += [("files", (f.name, f.read_bytes(), "application/octet-stream")) for f in files or []]
            response = client.post(f"/api/v1/labs/{lab}/submissions", files=parts)
        except OSError as exc:
            raise SubmitError(f"cannot read {exc.filename}: {exc.strerror}") from exc
        except httpx.HTTPError as exc:
            raise SubmitError(f"cannot reach {server}: {exc}") from exc
        if response.status_code != 202:
            extra = ""
            if response.status_code == 429 and "retry-after" in response.headers:
                extra = f" (retry after {response.headers['retry-after']} s)"
            detail = terminal_safe(_detail(response), keep="")
            raise SubmitError(f"the server refused the upload ({response.status_code}): {detail}{extra}")
        submission = response.json()
        print(f"Submitted {notebook.name} as submission {submission['id']}: {submission['status']}", file=sys.stderr)
        if not wait:
            follow_command = f"labgrader wait {submission['id']} --server {server}"
            print(json.dumps(submission) if as_json else f"Follow it with: {follow_command}")
            return 0
        return follow(client, submission, timeout_s, as_json)


def progress_line(elapsed_s: float, status: str, progress: dict[str, Any] | None) -> str:
    """One line of what the page shows while a submission waits: queue position and estimate, or time running."""
    line = f"  {elapsed_s:5.0f} s  {terminal_safe(status, keep='')}"
    if not progress:
        return line
    estimate = progress.get("estimate_s")
    about = f", about {_duration(float(estimate))} {'left' if status == 'running' else 'to the result'}" \
        if isinstance(estimate, (int, float)) else ""
    if status == "queued" and isinstance(progress.get("position"), int):
        return f"{line}: position {progress['position']} in the {terminal_safe(str(progress.get('queue')), keep='')}" \
               f" queue{about}"
    if status == "running":
        return f"{line}: running for {_duration(float(progress.get('elapsed_s') or 0))}{about}"
    return line


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{round(seconds / 60)} min"


def follow(client: httpx.Client, submission: dict[str, Any], timeout_s: float = 3600, as_json: bool = False,
           heartbeat_s: float = 15.0, poll_s: float = 1.0) -> int:
    """Wait for a submission like its page does: each change of status or queue position, and a heartbeat line every
    `heartbeat_s` while nothing changes; then the report. Exit 0 when graded, 1 for a service error."""
    started = time.monotonic()
    deadline = started + timeout_s
    shown: tuple[object, ...] = ()
    last_line = started
    status = ""
    while status not in TERMINAL:  # at least once: the first line says where it stands even if it is done
        if time.monotonic() > deadline:
            raise SubmitError(f"submission {submission['id']} is still {status or submission['status']} after "
                              f"{timeout_s:.0f} s; follow it "
                              f"again with: labgrader wait {submission['id']}")
        response = client.get(f"/api/v1/submissions/{submission['id']}/progress")
        if response.status_code != 200:
            raise SubmitError(f"could not read submission {submission['id']}: {_detail(response)}")
        body = response.json()
        status, progress = str(body["status"]), body.get("progress")
        now = time.monotonic()
        key = (status, (progress or {}).get("position"))
        if key != shown or now - last_line >= heartbeat_s:
            print(progress_line(now - started, status, progress), file=sys.stderr)
            shown, last_line = key, now
        if status not in TERMINAL:
            time.sleep(poll_s)
    response = client.get(f"/api/v1/submissions/{submission['id']}")
    if response.status_code != 200:
        raise SubmitError(f"could not read submission {submission['id']}: {_detail(response)}")
    submission = response.json()
    print(json.dumps(submission, indent=2) if as_json else format_report(submission))
    return 0 if submission["status"] == "graded" else 1


def wait_for(submission_id: int, server: str, token: str, timeout_s: float = 3600, as_json: bool = False) -> int:
    """`labgrader wait ID`: follow a submission made earlier (`submit --no-wait`)."""
    with httpx.Client(base_url=server.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        try:
            response = client.get(f"/api/v1/submissions/{submission_id}")
        except httpx.HTTPError as exc:
            raise SubmitError(f"cannot reach {server}: {exc}") from exc
        if response.status_code != 200:
            raise SubmitError(f"could not read submission {submission_id} ({response.status_code}): "
                              f"{terminal_safe(_detail(response), keep='')}")
        return follow(client, response.json(), timeout_s, as_json)
