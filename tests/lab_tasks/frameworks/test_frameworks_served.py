"""The loaders the frameworks lab declares in `[datasets.serve]` work offline in a real sandboxed kernel, each
answered from ./data; loaders of data the lab does not serve fail with "is not served here" (found generically)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from grader.data.lab_data import LabData
from grader.pipeline import GradingContext, GradingOutcome, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import LabSpec
from tests.lab_tasks.bundled import default_python
from tests.lab_tasks.frameworks.conftest import notebook

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
NOT_SERVED = "is not served here: the grader has no network and provides only this lab's data"
LOADERS = f"""
import json, os, urllib.request
import torchvision, keras
URL = {URL!r}
found = {{}}
def attempt(name, load):
    try:
        found[name] = load()
    except Exception as exc:
        found[name] = f"{{type(exc).__name__}}: {{exc}}"
attempt("keras", lambda: [list(part[0].shape) for part in keras.datasets.mnist.load_data()])
attempt("get_file", lambda: os.path.relpath(keras.utils.get_file("copy.npz", origin=URL)))
attempt("torchvision", lambda: len(torchvision.datasets.MNIST(root="./data", train=False, download=True)))
attempt("download_url", lambda: torchvision.datasets.utils.download_url(URL, "fetched", "copy.npz")
        or os.path.getsize("fetched/copy.npz"))
attempt("urlretrieve", lambda: os.path.getsize(urllib.request.urlretrieve(URL, "retrieved.npz")[0]))
attempt("urlopen", lambda: len(urllib.request.urlopen(URL).read()))
attempt("keras_other", lambda: keras.datasets.fashion_mnist.load_data())
attempt("torchvision_other", lambda: torchvision.datasets.KMNIST(root="./elsewhere", download=True))
"""
SHELL = f"""
!wget -q {URL} -O wget.npz
!curl -sLO {URL}
found["wget"] = os.path.getsize("wget.npz")
found["curl"] = os.path.getsize("mnist.npz")
print(json.dumps(found))
"""


async def grade(tmp_path: Path, spec: LabSpec, lab: LabData, *sources: str) -> GradingOutcome:
    ctx = GradingContext(spec=spec, lab_data=lab, jobs_root=tmp_path / "jobs",
                         sandbox=SandboxConfig(kernel_python=default_python()))
    return await grade_notebook(notebook(*sources), ctx)


def printed(outcome: GradingOutcome) -> dict[str, object]:
    nb = nbformat.reads(outcome.executed_notebook.decode(), as_version=4)  # type: ignore[no-untyped-call]
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    found: dict[str, object] = json.loads(text.strip().splitlines()[-1])
    return found


async def test_every_served_loader_answers_offline_and_others_are_not_served(tmp_path: Path, small_spec: LabSpec,
                                                                            small_lab: LabData) -> None:
    outcome = await grade(tmp_path, small_spec, small_lab, LOADERS, SHELL)
    found = printed(outcome)
    size = (small_lab.visible / "mnist.npz").stat().st_size
    assert {k: v for k, v in found.items() if not k.endswith("_other")} == {
        "keras": [[6000, 28, 28], [1000, 28, 28]], "get_file": "data/mnist.npz", "torchvision": 1000,
        "download_url": size, "urlretrieve": size, "urlopen": size, "wget": size, "curl": size}
    assert found["keras_other"] == f"DatasetNotServed: keras.datasets.fashion_mnist {NOT_SERVED}"
    assert found["torchvision_other"] == f"DatasetNotServed: torchvision.datasets.KMNIST {NOT_SERVED}"


async def test_a_lab_that_serves_no_loader_refuses_them_all(tmp_path: Path, small_spec: LabSpec,
                                                            small_lab: LabData) -> None:
    mnist = small_spec.dataset("mnist")
    quiet = small_spec.model_copy(update={"datasets": (small_spec.dataset("iris"), mnist.model_copy(
        update={"serve": mnist.serve.model_copy(update={"keras": (), "torchvision": (), "urls": {}})}))})
    outcome = await grade(tmp_path, quiet, small_lab, LOADERS, 'print(json.dumps(found))')
    found = printed(outcome)
    assert found["keras"] == f"DatasetNotServed: keras.datasets.mnist {NOT_SERVED}"
    assert str(found["urlopen"]).startswith("URLError: ")
