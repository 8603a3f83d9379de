"""The GPU worker, proved on a GPU host: one line per fact (run by deploy/gpu-check.sh; docs/operator.md, GPU check).

Brings up docker-compose.yml (the official images, the GPU `worker` with --gpus 0 --jobs-per-gpu 2) under a project
of its own, with a labs folder holding `frameworks` and `frameworks-gpu` (the same lab with `needs_gpu = true`, so
its jobs go only to GPU slots), then prints:
  device      the GPUs `nvidia-smi` lists inside the worker image
  torch       what PyTorch sees inside the sandbox of a GPU slot (device name, CUDA_VISIBLE_DEVICES)
  tensorflow  the GPUs TensorFlow lists there (the default environment's TensorFlow is the CPU wheel: see
              docs/operator.md, "Student environments"; an empty list is the expected answer with it)
  reference   the frameworks reference solution graded on a GPU slot (score, slot)
  memory cap  a notebook asking PyTorch for 3/4 of the card on a slot capped at 1/2
Exit status 0 when every fact holds, 1 otherwise. Needs: root, Docker with the NVIDIA Container Toolkit, the images
built (`docker compose build`), python3. Only the standard library: it runs before any venv exists.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = "labgrader-gpu-check"
PORT = os.environ.get("LABGRADER_API_PORT", "8000")
VERSION = os.environ.get("LABGRADER_VERSION", "0.1.0")
PROBE = [
    "import os, torch\nprint('torch', torch.cuda.is_available(), torch.cuda.device_count(), "
    "torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', os.environ.get('CUDA_VISIBLE_DEVICES'))",
    "import tensorflow as tf\nprint('tensorflow', [d.name for d in tf.config.list_physical_devices('GPU')])",
]
CAP = [
    "import torch\ntotal = torch.cuda.get_device_properties(0).total_memory\n"
    "try:\n    x = torch.empty(int(total * 0.75), dtype=torch.uint8, device='cuda')\n    print('cap broken')\n"
    "except torch.OutOfMemoryError:\n    print('cap holds')",
]


def notebook(cells: list[str]) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": c,
         "id": f"c{i}"} for i, c in enumerate(cells)]}).encode()


class Check:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.env = {**os.environ, "COMPOSE_PROJECT_NAME": PROJECT, "LABGRADER_API_PORT": PORT,
                    "LABGRADER_GPUS": "0", "LABGRADER_JOBS_PER_GPU": "2",
                    "POSTGRES_PASSWORD": secrets.token_hex(24), "RABBITMQ_PASSWORD": secrets.token_hex(24),
                    "LABGRADER_SECRET_KEY": secrets.token_hex(32)}
        self.failed = False

    def fact(self, name: str, ok: bool, detail: str) -> None:
        self.failed |= not ok
        print(f"{name:<11} {'ok  ' if ok else 'FAIL'} {detail}", flush=True)

    def compose(self, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "compose", "-f", str(REPO / "docker-compose.yml"),
                               "-f", str(self.state / "gpu-check.yml"), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, cwd=REPO)

    def request(self, method: str, path: str, token: str, body: bytes | None = None) -> bytes:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            boundary = secrets.token_hex(8)
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"notebook\"; filename=\"c.ipynb\"\r\n"
                    "Content-Type: application/x-ipynb+json\r\n\r\n")
            body = head.encode() + body + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=body, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=60) as response:  # noqa: S310 - loopback
            return bytes(response.read())

    def grade(self, token: str, lab: str, nb: bytes, timeout_s: float = 1800) -> tuple[dict[str, object], list[str]]:
        created = json.loads(self.request("POST", f"/api/v1/labs/{lab}/submissions", token, nb))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            report = json.loads(self.request("GET", f"/api/v1/submissions/{created['id']}", token))
            if report["status"] in ("graded", "error"):
                executed = json.loads(self.request("GET", f"/api/v1/submissions/{created['id']}/notebook", token))
                printed = ["".join("".join(o.get("text", "")) for o in c.get("outputs", []))
                           for c in executed["cells"] if c["cell_type"] == "code"]
                return report, printed
            time.sleep(3)
        raise TimeoutError(f"submission {created['id']} not graded after {timeout_s} s")

    def run(self) -> int:
        smi = subprocess.run(["docker", "run", "--rm", "--gpus", "all", "--entrypoint", "nvidia-smi",
                              f"labgrader/worker:{VERSION}", "--query-gpu=index,name,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=300)
        # docker's own warnings and its "Run 'docker run --help'" hint are not the reason
        reason = [line for line in smi.stderr.splitlines()
                  if line.strip() and not line.startswith(("WARNING:", "Run 'docker run --help'"))]
        self.fact("device", smi.returncode == 0, smi.stdout.strip().replace("\n", "; ") or "; ".join(reason))
        if smi.returncode != 0:
            return 1
        labs = self.state / "labs"
        shutil.copytree(REPO / "lab_tasks" / "frameworks", labs / "frameworks")
        shutil.copytree(REPO / "lab_tasks" / "frameworks", labs / "frameworks-gpu")
        toml = labs / "frameworks-gpu" / "lab.toml"
        toml.write_text(toml.read_text().replace('id = "frameworks"', 'id = "frameworks-gpu"')
                        .replace("needs_gpu = false", "needs_gpu = true"))
        mount = {"volumes": [f"{labs}:/srv/labs:ro"], "environment": {"LABGRADER_LABS_DIR": "/srv/labs"}}
        (self.state / "gpu-check.yml").write_text(json.dumps({"services": {"api": mount, "worker": mount}}))
        up = self.compose("up", "-d")
        if up.returncode != 0:
            self.fact("up", False, up.stderr.strip().splitlines()[-1] if up.stderr.strip() else "failed")
            return 1
        try:
            deadline = time.monotonic() + 600
            while self.compose("ps", "--status", "running", "-q", "worker").stdout.strip() == "" \
                    or "ready." not in self.compose("logs", "worker").stdout:
                if time.monotonic() > deadline:
                    self.fact("worker", False, "not consuming after 600 s: docker compose logs worker")
                    return 1
                time.sleep(5)
            token = json.loads(self.compose("exec", "-T", "api", "labgrader", "users", "add", "gpu-check",
                                            "--role", "student", "--json").stdout)["token"]
            _, printed = self.grade(token, "frameworks-gpu", notebook(PROBE))
            torch_line = printed[0].strip()
            self.fact("torch", torch_line.startswith("torch True 1 "), torch_line)
            tf_line = printed[1].strip()
            self.fact("tensorflow", tf_line.startswith("tensorflow ["), tf_line)
            report, _ = self.grade(token, "frameworks-gpu", (REPO / "lab_tasks" / "frameworks" / "solutions" /
                                                             "solution_keras.ipynb").read_bytes())
            self.fact("reference", report["score"] == report["max_score"],
                      f"frameworks reference (Keras) on a GPU slot: {report['status']}, "
                      f"{report['score']}/{report['max_score']}")
            _, printed = self.grade(token, "frameworks-gpu", notebook(CAP))
            self.fact("memory cap", printed[0].strip() == "cap holds",
                      f"3/4 of the card asked on a slot capped at 1/2: {printed[0].strip() or 'no output'}")
        finally:
            self.compose("down", "-v", timeout=600)
        return 1 if self.failed else 0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="labgrader-gpu-check-", dir="/var/tmp") as state:
        os.chmod(state, 0o755)  # noqa: S103 - the labs folder is bind-mounted into containers
        return Check(Path(state)).run()


if __name__ == "__main__":
    sys.exit(main())
