"""`labgrader submit`: upload a notebook, follow it through queued and running, print the report."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

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
           as_json: bool = False) -> int:
    if not notebook.is_file():
        raise SubmitError(f"{notebook}: no such file")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=60) as client:
        try:
            with notebook.open("rb") as fh:
                response = client.post(f"/api/v1/labs/{lab}/submissions",
                                       files={"notebook": (notebook.name, fh, "application/x-ipynb+json")})
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
            print(json.dumps(submission) if as_json else f"Follow it with: GET /api/v1/submissions/{submission['id']}")
            return 0
        deadline = time.monotonic() + timeout_s
        last = submission["status"]
        started = time.monotonic()
        while submission["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise SubmitError(f"submission {submission['id']} is still {last} after {timeout_s:.0f} s")
            time.sleep(1.0)
            response = client.get(f"/api/v1/submissions/{submission['id']}")
            if response.status_code != 200:
                raise SubmitError(f"could not read submission {submission['id']}: {_detail(response)}")
            submission = response.json()
            if submission["status"] != last:
                last = submission["status"]
                print(f"  {time.monotonic() - started:5.1f} s  {terminal_safe(str(last), keep='')}", file=sys.stderr)
        print(json.dumps(submission, indent=2) if as_json else format_report(submission))
        return 0 if submission["status"] == "graded" else 1
