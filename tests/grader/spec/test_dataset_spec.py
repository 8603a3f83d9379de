"""`[[datasets]]` declarations: what validates, and the message and line of each declaration that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.data.serve import served_description
from grader.spec.lab import load_spec
from grader.spec.problems import find_spec_problems

HEAD = '''id = "lab"
title = "A lab"

[[checks]]
id = "accuracy"
title = "Accuracy"
kind = "accuracy"
model = "model"
dataset = "digits"
points = 10
full_credit_at = 0.9
no_credit_at = 0.5

[[datasets]]
id = "digits"
title = "Handwritten digits"
'''


PICKLED = 'input_shape = [8, 8]\nvalue_range = [0, 16]\n[[datasets.serve.pickles]]\n'
NO_PATH = ("is no path relative to the notebook's folder: write it with `/`, as `name`, `folder/name` or "
           "`../../data/name` (a Windows or absolute path exists on no grader)")


def problems(tmp_path: Path, declaration: str) -> list[str]:
    (tmp_path / "lab").mkdir(exist_ok=True)
    (tmp_path / "lab" / "starter.ipynb").write_text("{}")
    (tmp_path / "lab" / "lab.toml").write_text(HEAD + declaration)
    return [f"{p.line}: {p.key}: {p.message}" for p in find_spec_problems(tmp_path / "lab")]


def test_a_declaration_with_only_an_id_and_title_is_the_instructors_own_data(tmp_path: Path) -> None:
    assert problems(tmp_path, "") == []
    spec = load_spec(tmp_path / "lab" / "lab.toml")
    digits = spec.dataset("digits")
    assert (digits.source.kind, digits.preprocess_function, digits.layouts, spec.dataset_title("digits")) == (
        "import", "preprocess_digits", (), "Handwritten digits")
    assert served_description(spec) == {"keras": [], "torchvision": [], "urls": {}}


@pytest.mark.parametrize(("declaration", "expected"), [
    ('[datasets.source]\nfile = "d.npz"\nsklearn = "load_wine"\n',
     "17: datasets[0].source: give exactly one of file, sklearn, import = true, gymnasium (not file, sklearn)"),
    ('[datasets.source]\nsklearn = "load_wine"\n',
     "14: datasets[0]: dataset digits: a scikit-learn loader has no test part; use split.kind = \"stratified\" "
     "(\"random\" for a regression dataset) with held_out"),
    ('[datasets.split]\nkind = "stratified"\n',
     "17: datasets[0].split: held_out is given with kind = \"stratified\" or \"random\", and only then"),
    ('input_shape = [8, 8]\nlayouts = [[64], [1, 8, 8], [10]]\n',
     "14: datasets[0]: dataset digits: layout [10] holds 10 values, an input row 64"),
    ('[datasets.serve]\nkeras = ["digits"]\n',
     "14: datasets[0]: dataset digits: keras and torchvision loaders return a test part, which only a test_half "
     "split leaves visible"),
    ('dtype = "float32"\ninput_shape = [8, 8]\n[datasets.split]\nkind = "test_half"\n[datasets.serve]\n'
     'torchvision = ["Digits"]\n',
     "14: datasets[0]: dataset digits: torchvision's IDX files hold uint8 images: declare dtype = \"uint8\" and a "
     "two-dimensional input_shape"),
    ('[datasets.serve]\nurls = { "https://example.org/d.npz" = "other.npz" }\n',
     "18: datasets[0].serve.urls: 'other.npz' is no file the lab serves in ./data (digits.npz)"),
    ('preprocessings = ["scaled_255", "whitened"]\n',
     "17: datasets[0].preprocessings: Input should be 'scaled_255', 'standardised_overall', 'standardised', "
     "'min_max', 'max_abs', 'l2_rows' or 'raw'"),
    (f'{PICKLED}file = "digits.npz"\nlayout = "train_dict"\n',
     "19: datasets[0].serve.pickles[0]: 'digits.npz': a pickle file's name ends with .pkl or .pkl.gz"),
    (f'{PICKLED}file = "d.pkl"\nlayout = "train_dict"\npaths = ["C:\\\\Users\\\\me\\\\d.pkl"]\n',
     f"22: datasets[0].serve.pickles[0].paths: 'C:\\\\Users\\\\me\\\\d.pkl' {NO_PATH}"),
    (f'{PICKLED}file = "d.pkl"\nlayout = "train_dict"\npaths = ["/home/me/d.pkl"]\n',
     f"22: datasets[0].serve.pickles[0].paths: '/home/me/d.pkl' {NO_PATH}"),
    ('[[datasets.serve.pickles]]\nfile = "d.pkl"\nlayout = "train_dict"\n',
     "14: datasets[0]: dataset digits: a pickle flattens rows of a known shape and scales by the largest raw "
     "value: declare input_shape and value_range"),
    (f'{PICKLED}file = "d.pkl"\nlayout = "train_dict"\npaths = ["d.pkl", "../d.pkl"]\n'
     '[[datasets.serve.pickles]]\nfile = "e.pkl.gz"\nlayout = "train_valid_test"\npaths = ["./d.pkl"]\n',
     "19: datasets[0].serve.pickles: 'd.pkl' is the path of two pickles"),
    ('colour = "blue"\n', "17: datasets[0].colour: unknown key (a typo, or a key this version of Labgrader does not "
                          "know)"),
])
def test_declarations_that_cannot_work_are_named_by_key_and_line(tmp_path: Path, declaration: str,
                                                                  expected: str) -> None:
    assert problems(tmp_path, declaration) == [expected]


def test_the_served_description_joins_every_dataset_of_the_lab(tmp_path: Path) -> None:
    problems(tmp_path, 'input_shape = [8, 8]\ndtype = "uint8"\n[datasets.split]\nkind = "test_half"\n'
                       '[datasets.serve]\nkeras = ["digits", "digits_copy"]\ntorchvision = ["Digits"]\n'
                       'urls = { "https://example.org/d.npz" = "digits_copy.npz" }\n')
    spec = load_spec(tmp_path / "lab" / "lab.toml")
    assert served_description(spec) == {"keras": ["digits", "digits_copy"], "torchvision": ["Digits"],
                                         "urls": {"https://example.org/d.npz": "digits_copy.npz"}}
