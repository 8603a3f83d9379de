"""Grading overhead: `labgrader grade` against `jupyter nbconvert --execute` and a plain Python script, side by side.

    .venv/bin/python -m bench.grading_overhead [--runs 5] [--solution-runs 3] [--only trivial,torch,solutions]
        [--parts]

For each notebook the three ways run interleaved (grade, nbconvert, script, grade, ...) so a noisy neighbour hits
them alike; the table shows medians: per notebook the difference (grade - nbconvert) and the ratio (grade /
nbconvert) against nbconvert of the same run, with the target (+0.5 s for a small notebook, 5% for a reference
solution) and the load average before and after the notebook's runs. `--parts` also prints the report's own timings
(prepare, kernel start, cells, harness, evaluate) per part.
The baselines run the same code the sandboxed kernel runs: the job's set-up cell (`grader.pipeline.job_setup_code`:
the start-up of `grader/evaluation/in_kernel/startup*.py` with seeds, `./data` on `sys.path` and the loaders the lab
serves offline, such as MNIST for Keras) and then the student's cells, in a directory made as a job's
(`grader.pipeline.prepare_work`: the same visible data, the served files linked); only the sandbox, the harness and
the scoring are missing.
Peak memory is the largest VmHWM of the kernel process (the script's own process), sampled every 0.1 s.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from bench import common
from bench.common import BENCH_ROOT, PYTHON, REPO, Run, fresh_dir, labgrader, labgrader_env, median, table, timed
from grader.data.lab_data import LabData
from grader.data.prepare import prepare_lab
from grader.evaluation.in_kernel import startup_source
from grader.pipeline import job_setup_code, prepare_work
from grader.sandbox.kernel_command import kernel_environment
from grader.spec.lab import LabSpec, discover_labs
from lab_tasks import LABS_DIR

JUPYTER = str(Path(PYTHON).parent / "jupyter")
SOLUTIONS = REPO / "lab_tasks" / "frameworks" / "solutions"
SMALL = {
    "trivial": "x = sum(range(10))\nprint(x)",
    "torch": "import torch\nx = torch.ones(3).sum()\nprint(float(x))",
    "tensorflow": "import tensorflow as tf\nx = tf.reduce_sum(tf.ones(3))\nprint(float(x))",
}
SMALL_TARGET_S = 0.5  # issue 27: the cost beyond the student's code, over nbconvert, for a small notebook
SOLUTION_TARGET = 0.05  # a reference solution within 5% of nbconvert


@dataclass
class Case:
    name: str
    notebook: Path
    runs: int
    results: dict[str, list[Run]] = field(default_factory=lambda: {"grade": [], "nbconvert": [], "script": []})
    scores: list[str] = field(default_factory=list)
    parts: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # way -> the report's timings_s
    load_before: str = ""
    load_after: str = ""


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _keep_parts(case: Case, way: str, run: Run) -> None:
    """The report's own timings (prepare, kernel start, cells, harness, evaluate) of a `labgrader grade --json`."""
    if run.returncode != 0:
        return
    for part, seconds in json.loads(run.stdout).get("timings_s", {}).items():
        case.parts.setdefault(way, {}).setdefault(part, []).append(float(seconds))


def _write_notebook(path: Path, code: str) -> Path:
    nb = new_notebook(cells=[new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def frameworks_lab() -> tuple[LabSpec, LabData]:
    """The frameworks lab and its data under the bench root, prepared as `labgrader grade` prepares it (MNIST imported
    once; the lab's student files and served files in ./data) before the baselines copy it."""
    common.ensure_lab_data()
    spec = discover_labs(LABS_DIR)["frameworks"]
    lab = LabData(BENCH_ROOT / "data", spec.id)
    prepare_lab(lab, spec, LABS_DIR / spec.id)
    return spec, lab


def _baseline_inputs(case: Case, spec: LabSpec, lab: LabData) -> tuple[Path, Path, Path]:
    """A work dir made as a grading job's (`grader.pipeline.prepare_work`: the visible data as ./data, the served
    files linked), the notebook with the job's set-up cell first (`job_setup_code`: the start-up told what the lab
    serves), and the same as a script."""
    work = fresh_dir(BENCH_ROOT / "baseline" / case.name)
    prepare_work(spec, lab, work)
    (work / ".tmp").mkdir()
    nb = nbformat.read(str(case.notebook), as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    setup = job_setup_code(spec, startup_source())
    baseline_nb = new_notebook(cells=[new_code_cell(setup), *(new_code_cell(c) for c in code)])
    baseline_nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb_path = work / "notebook.ipynb"
    nbformat.write(baseline_nb, str(nb_path))
    lines = [line for c in code for line in c.splitlines() if not line.lstrip().startswith(("%", "!"))]
    script = work / "notebook.py"
    script.write_text("def get_ipython():\n    return None\n\n" + setup + "\n" + "\n".join(lines) + "\n")
    return work, nb_path, script


def _run_case(case: Case, spec: LabSpec, lab: LabData, alt_repo: Path | None) -> None:
    work, nb_path, script = _baseline_inputs(case, spec, lab)
    env = kernel_environment(work, {})
    env["PATH"] = f"{Path(PYTHON).parent}:{env['PATH']}"
    case.load_before = load()
    for i in range(case.runs):
        grade = timed([*labgrader("grade", str(case.notebook), "--lab", "frameworks", "--json")],
                      env=labgrader_env(), kernel_marker="ipykernel_launcher")
        case.results["grade"].append(grade)
        _keep_parts(case, "grade", grade)
        if grade.returncode == 0:
            report = json.loads(grade.stdout)
            case.scores.append(f"{report['score']:g}/{report['max_score']:g}")
            if report["score"] < report["max_score"] and case.name not in SMALL:
                print(f"  {case.name}: note {report['note']!r}; {report['checks'][0]['message'][:200]}", flush=True)
        if alt_repo is not None:  # the same command from another checkout (e.g. with a proposed change)
            alt = timed([*labgrader("grade", str(case.notebook), "--lab", "frameworks", "--json")], cwd=alt_repo,
                        env=labgrader_env(PYTHONPATH=str(alt_repo)), kernel_marker="ipykernel_launcher")
            case.results.setdefault("alt", []).append(alt)
            _keep_parts(case, "alt", alt)
        nbconvert = timed([JUPYTER, "nbconvert", "--to", "notebook", "--execute", str(nb_path), "--output",
                           str(work / "executed.ipynb")], env=env, cwd=work, kernel_marker="ipykernel_launcher")
        case.results["nbconvert"].append(nbconvert)
        plain = timed([PYTHON, str(script)], env=env, cwd=work)
        case.results["script"].append(plain)
        print(f"  {case.name} run {i + 1}/{case.runs}: grade {grade.wall_s:.2f} s (rc {grade.returncode}), "
              f"nbconvert {nbconvert.wall_s:.2f} s (rc {nbconvert.returncode}), "
              f"script {plain.wall_s:.2f} s (rc {plain.returncode}) (load {load()})", flush=True)
    case.load_after = load()


def _cases(args: argparse.Namespace) -> list[Case]:
    notebooks = fresh_dir(BENCH_ROOT / "notebooks")
    wanted = set(args.only.split(","))
    cases = [Case(name, _write_notebook(notebooks / f"{name}.ipynb", code), args.runs)
             for name, code in SMALL.items() if name in wanted]
    if "solutions" in wanted:
        cases += [Case(p.stem, p, args.solution_runs) for p in sorted(SOLUTIONS.glob("*.ipynb"))]
    return cases


def _summary(cases: list[Case]) -> tuple[str, list[dict[str, object]]]:
    rows, records = [], []
    for case in cases:
        med = {k: median([r.wall_s for r in v if r.returncode == 0]) for k, v in case.results.items()}
        peak = {k: max((r.peak_mb for r in v), default=0.0) for k, v in case.results.items()}
        overhead = med["grade"] - med["nbconvert"]
        relative = overhead / med["nbconvert"]
        small = case.name in SMALL
        met = overhead <= SMALL_TARGET_S if small else relative <= SOLUTION_TARGET
        target = f"<= {SMALL_TARGET_S} s" if small else f"<= {SOLUTION_TARGET:.0%}"
        rows.append([case.name, len(case.results["grade"]), med["grade"], med["nbconvert"], med["script"], overhead,
                     med["grade"] / med["nbconvert"], med["grade"] / med["script"], peak["grade"], peak["nbconvert"],
                     peak["script"], f"{target}: {'met' if met else 'MISSED'}", ", ".join(sorted(set(case.scores)))]
                    + ([med["alt"], med["alt"] - med["nbconvert"]] if "alt" in med else [])
                    + [case.load_before, case.load_after])
        records.append({"notebook": case.name, "runs": len(case.results["grade"]), "median_s": med,
                        "peak_mb": peak, "overhead_s": overhead, "overhead_relative": relative, "target_met": met,
                        "scores": case.scores, "load_before": case.load_before, "load_after": case.load_after})
    headers = ["notebook", "runs", "grade s", "nbconvert s", "script s", "grade-nbconvert s", "grade/nbconvert",
               "grade/script", "grade kernel MB", "nbconvert kernel MB", "script MB", "target", "score"]
    if any("alt" in c.results for c in cases):
        headers += ["alt grade s", "alt grade-nbconvert s"]
    headers += ["load before", "load after"]
    return table(headers, rows), records


def _parts_table(cases: list[Case]) -> str:
    """Median seconds of each part of the report's timings, per notebook and way (grade, alt)."""
    names = sorted({part for c in cases for parts in c.parts.values() for part in parts})
    rows = [[case.name, way, *(median(parts.get(n, [])) for n in names)]
            for case in cases for way, parts in case.parts.items()]
    return table(["notebook", "way", *(f"{n} s" for n in names)], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each small notebook (median)")
    parser.add_argument("--solution-runs", type=int, default=3, help="runs of each reference solution (median)")
    parser.add_argument("--only", default="trivial,torch,tensorflow,solutions")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--parts", action="store_true", help="also print the report's timings per part")
    parser.add_argument("--alt-repo", type=Path, default=None,
                        help="also time `labgrader grade` from this checkout (a proposed change), interleaved")
    args = parser.parse_args()
    spec, lab = frameworks_lab()
    print(f"machine: {common.machine()}", flush=True)
    cases = _cases(args)
    if "solutions" in args.only and not any(c.name not in SMALL for c in cases):
        print(f"no reference solutions in {SOLUTIONS}: measuring only the small notebooks")
    for case in cases:
        _run_case(case, spec, lab, args.alt_repo)
    text, records = _summary(cases)
    print(text)
    if args.parts:
        print(_parts_table(cases))
    print(f"machine after: {common.machine()}")
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": common.machine(), "cases": records}, indent=2))


if __name__ == "__main__":
    main()
