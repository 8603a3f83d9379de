"""While a student environment's build is under way and none of it is complete, the service grades none of its
labs' submissions: they wait, queued, no attempt counted, and `/healthz` says why; once the build ends (here: it
failed and was removed, so the development fallback applies again) they are graded."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import make_server, notebook_bytes

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")


@needs_root
def test_jobs_wait_while_the_first_build_of_their_environment_is_under_way(tmp_path: Path) -> None:
    kernels = Path(tempfile.mkdtemp(prefix="labgrader-wait-", dir="/var/tmp")) / "kernels"  # /tmp: hidden
    kernels.mkdir()
    server = make_server(tmp_path, LABGRADER_KERNELS_DIR=str(kernels))
    server.start()
    try:
        building = kernels / "default@20261207T160000-4242"
        building.mkdir()  # `labgrader kernels build` has begun: nothing in it is complete
        token = server.add_user("alice")
        with server.client(token) as client:
            created = client.post("/api/v1/labs/frameworks/submissions",
                                  files={"notebook": ("lab.ipynb", notebook_bytes("print('graded')"))})
            assert created.status_code == 202, created.text
            submission = created.json()["id"]
            time.sleep(5)  # 25 polls of the executor
            assert client.get(f"/api/v1/submissions/{submission}").json()["status"] == "queued"
            health = client.get("/healthz").json()
        assert health["environments"]["default"]["status"] == (
            f"the student environment `default` is not ready in {kernels / 'default'}: a build is under way or did "
            "not finish; its labs are not graded (their jobs wait) until `labgrader kernels build default` "
            "completes")
        shutil.rmtree(building)  # the build failed and was removed: the service's interpreter runs it again
        done = server.wait_for(token, submission)
        assert done["status"] == "graded"
        with server.client(token) as client:
            assert client.get("/healthz").json()["environments"]["default"]["status"] != \
                health["environments"]["default"]["status"]
    finally:
        server.stop()
        shutil.rmtree(kernels.parent, ignore_errors=True)
