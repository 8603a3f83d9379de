"""The mountain_car lab: a lab whose hidden data is seeds. Its data is prepared from gymnasium (the hidden seeds only
in the lab's root-only hidden part, never in a job's files or the kernel's request), and, in real sandboxed kernels,
the PyTorch and Keras solutions grade to full marks and the starter to zero."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grader.data.lab_data import LabData
from grader.data.prepare import prepare_lab
from grader.evaluation.request import build_evaluation_job, build_request
from grader.spec.lab import load_spec
from lab_tasks import LABS_DIR
from tests.lab_tasks.bundled import lab_test, solutions

LAB = "mountain_car"
SPEC = load_spec(LABS_DIR / LAB / "lab.toml")
_EPISODES = SPEC.dataset(LAB).episodes
assert _EPISODES is not None
DECLARED = _EPISODES
HIDDEN = set(DECLARED.hidden_seeds)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabData:
    lab = LabData(tmp_path_factory.mktemp("data"), LAB)
    assert set(prepare_lab(lab, SPEC, LABS_DIR / LAB)) == {LAB}
    return lab


def test_the_hidden_seeds_are_only_in_the_hidden_part(lab: LabData) -> None:
    with np.load(lab.hidden / f"{LAB}.npz") as hidden:
        assert hidden["x"].tolist() == list(DECLARED.hidden_seeds)
    with np.load(lab.visible / f"{LAB}.npz") as visible:
        assert visible["seeds"].tolist() == list(DECLARED.visible_seeds)
        assert visible["x_train"].shape[1:] == (2,) and visible["x_train"].dtype == np.float32
        assert not HIDDEN & set(visible["seeds"].tolist())
    provenance = json.loads((lab.root / f"provenance-{LAB}.json").read_text())
    assert provenance["split"] == (f"100 hidden seeds (one episode each), 20 visible seeds; "
                                   f"{provenance['visible_rows']} observations of random actions are the visible "
                                   "sample")


def test_the_kernels_request_holds_no_hidden_seed_and_the_evaluators_job_all(lab: LabData, tmp_path: Path) -> None:
    private, host = tmp_path / "private", tmp_path / "host"
    private.mkdir()
    host.mkdir()
    request = build_request(SPEC, lab, private, "n" * 32, private / "out.json")
    assert request["slots"] == [{"name": "policy", "dataset": LAB}]
    # the kernel's files: the visible observations only (no seed at all), and nothing else
    assert sorted(p.name for p in private.iterdir()) == [f"{LAB}-sample-x.npy"]
    sample = np.load(private / f"{LAB}-sample-x.npy")
    assert sample.dtype == np.float32 and sample.shape[1:] == (2,)
    assert not any(str(seed) in json.dumps(request) for seed in HIDDEN)
    job = build_evaluation_job(SPEC, lab, host, host / "export.json", "n" * 32)
    files = job["datasets"][LAB]
    assert np.load(files["hidden_x"]).tolist() == list(DECLARED.hidden_seeds)
    assert files["environment"] == {"gymnasium": "MountainCar-v0", "max_steps": None, "success": "terminated",
                                    "visible_seeds": list(DECLARED.visible_seeds)}


@pytest.mark.slow
def test_labs_test_finds_the_solutions_full_and_the_starter_empty(tmp_path: Path) -> None:
    """`labgrader labs test mountain_car`: both solutions 100 (mean return and success rate), the starter 0."""
    graded = lab_test(tmp_path, LAB)
    assert sorted(graded) == ["solutions/" + p.name for p in solutions(LAB)] + ["starter.ipynb"]
    for notebook, checks in graded.items():
        earned, message = checks["mean_return"]
        assert earned == (0 if notebook == "starter.ipynb" else 60), message
        if notebook != "starter.ipynb":
            assert "over 100 hidden MountainCar episodes" in message, message
            assert checks["success_rate"][0] == 40, checks["success_rate"][1]


def test_changed_seeds_or_rules_are_prepared_again_and_change_the_hidden_checksum(tmp_path: Path) -> None:
    lab = LabData(tmp_path, LAB)
    assert set(prepare_lab(lab, SPEC, LABS_DIR / LAB)) == {LAB}
    assert prepare_lab(lab, SPEC, LABS_DIR / LAB) == {}  # the same declaration: nothing to do
    before = json.loads((lab.root / f"provenance-{LAB}.json").read_text())["hidden_sha256"]
    capped = SPEC.model_copy(update={"datasets": (SPEC.dataset(LAB).model_copy(
        update={"episodes": DECLARED.model_copy(update={"max_steps": 150})}),)})
    assert set(prepare_lab(lab, capped, LABS_DIR / LAB)) == {LAB}
    after = json.loads((lab.root / f"provenance-{LAB}.json").read_text())
    assert after["hidden_sha256"] != before and after["declaration"]["max_steps"] == 150
