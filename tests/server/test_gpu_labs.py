"""A lab with `needs_gpu = true` goes only to GPU slots: `serve`'s embedded executor (CPU slots) leaves it queued and
grades the CPU labs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from tests.conftest import REPO, make_server, notebook_bytes


def test_the_embedded_executor_grades_cpu_labs_and_leaves_a_gpu_lab_queued(tmp_path: Path) -> None:
    labs = tmp_path / "labs"
    shutil.copytree(REPO / "lab_tasks" / "frameworks", labs / "frameworks")
    shutil.copytree(REPO / "lab_tasks" / "frameworks", labs / "gpulab")
    shutil.copy(REPO / "lab_tasks" / "datasets.toml", labs)  # the course's MNIST declaration
    toml = labs / "gpulab" / "lab.toml"
    toml.write_text(toml.read_text().replace('id = "frameworks"', 'id = "gpulab"')
                    .replace("needs_gpu = false", "needs_gpu = true"))
    server = make_server(tmp_path, LABGRADER_LABS_DIR=str(labs))
    server.start()
    try:
        token = server.add_user("gia", "student")
        with server.client(token) as client:
            ids = {}
            for lab in ("gpulab", "frameworks"):  # the GPU lab's job is older: a CPU slot would take it first
                created = client.post(f"/api/v1/labs/{lab}/submissions",
                                      files={"notebook": ("nb.ipynb", notebook_bytes("x = 1"))})
                assert created.status_code == 202, created.text
                ids[lab] = created.json()["id"]
            assert server.wait_for(token, ids["frameworks"], timeout_s=240)["status"] == "graded"
            time.sleep(2)  # several polls of the idle slot
            assert client.get(f"/api/v1/submissions/{ids['gpulab']}").json()["status"] == "queued"
        assert ("lab(s) gpulab need a GPU: `labgrader serve` runs jobs on CPU slots only, so their submissions stay "
                "queued for a `labgrader worker --gpus ...` (LABGRADER_QUEUE=celery)") in server.log_path.read_text()
    finally:
        server.stop()
