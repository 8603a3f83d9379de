"""A dataset as a lab declares it (`[[datasets]]` in lab.toml): everything the grader knows of a particular dataset.

Its id and title, its classes, the shape and dtype of a raw input row, the input layouts a model may take, the named
preprocessings to try, the student's own preprocessing function, where the data comes from (`source`), how the
visible and hidden parts are made (`split`) and which offline loaders the sandbox answers from ./data (`serve`).
Nothing in `grader/` or `server/` names a particular dataset; this schema is the only place one is described.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from grader.spec.environment import EnvironmentEpisodes

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


def _inside(path: str) -> str:
    if ".." in path.split("/"):
        raise ValueError(f"{path!r} must stay inside its folder (no `..`)")
    return path


# a file in ./data or in the lab's folder: a relative path without `..`
DataFile = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-][A-Za-z0-9_./-]{0,199}$"), AfterValidator(_inside)]
PreprocessingName = Literal["scaled_255", "standardised_overall", "standardised", "min_max", "max_abs", "l2_rows",
                            "raw"]
# the built-ins in the order that wins ties (`grader.evaluation.preprocessing` defines them)
PREPROCESSINGS: tuple[PreprocessingName, ...] = ("scaled_255", "standardised_overall", "standardised", "min_max",
                                                 "max_abs", "l2_rows", "raw")
DTYPES = Literal["uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "float32", "float64"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DatasetSource(_Strict):
    """Where the data comes from: exactly one of `file`, `sklearn`, `import`."""

    file: DataFile | None = Field(default=None, description=(
        "an `.npz` (`x_train`, `y_train`, `x_test`, `y_test`, or `x`, `y`) that `labgrader datasets import PATH` "
        "takes when PATH has this name or the `sha256` below"))
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description=(
        "the source file's sha256: `datasets fetch` refuses a download that differs; `datasets import` recognises "
        "the file by it whatever its name"))
    url: str | None = Field(default=None, pattern=r"^https?://\S+$", description=(
        "where `labgrader datasets fetch` downloads `file` from"))
    sklearn: str | None = Field(default=None, pattern=r"^(load|fetch)_[a-z0-9_]+$", description=(
        "a loader scikit-learn ships (`load_wine`, `load_breast_cancer`, ...): prepared when the service starts"))
    imported: bool = Field(default=False, alias="import", description=(
        "`true`: the instructor's own data, only from `labgrader datasets import --lab LAB --dataset ID FILE`"))
    gymnasium: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_/.:-]{0,99}-v[0-9]+$", description=(
        "a gymnasium environment id (an environment dataset: its hidden part is seeds, `[datasets.episodes]`); "
        "prepared when the service starts"))

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSource:
        given = [name for name, value in (("file", self.file), ("sklearn", self.sklearn),
                                          ("import", self.imported or None), ("gymnasium", self.gymnasium)) if value]
        if len(given) != 1:
            raise ValueError("give exactly one of file, sklearn, import = true, gymnasium (not "
                             f"{', '.join(given) or 'none'})")
        if (self.sha256 or self.url) and not self.file:
            raise ValueError("sha256 and url describe a `file` source")
        return self

    @property
    def kind(self) -> Literal["file", "sklearn", "import", "environment"]:
        if self.gymnasium:
            return "environment"
        return "file" if self.file else ("sklearn" if self.sklearn else "import")


class DatasetSplit(_Strict):
    """How the visible and hidden parts are made; the same seed gives the same rows on every machine."""

    kind: Literal["test_half", "stratified", "random", "given"] = Field(default="given", description=(
        "`test_half`: a seeded half of the source's test part is hidden, the other half and the training part "
        "stay visible; `stratified`: `held_out` rows, seeded, in proportion per class; `random`: `held_out` rows, "
        "seeded, drawn from all rows at once (a regression dataset's split: it has no classes); `given`: the "
        "source's test part is the hidden part as it is. Undeclared, a `file` source is `given`, and a `datasets "
        "import` of your own data is `given` when the file has a test part (x_test and y_test, or train/ and test/ "
        "folders) and otherwise stratified (random for a regression dataset): 0.2 of the rows hidden "
        "(`--hidden-fraction`), seed 20241130 (`labs validate` says so)"))
    seed: int = Field(default=20241130, ge=0, le=2**32 - 1, description="the seed of the rows chosen")
    held_out: float | None = Field(default=None, gt=0, description=(
        "`stratified` and `random` only: rows hidden (a whole number), or a share of all rows (below 1)"))
    second_sample: float | None = Field(default=None, gt=0, le=1_000_000, description=(
        "a share of the hidden part (below 1) or a number of its rows, set aside, stratified by class with the same "
        "seed, as a second held-back sample: "
        "never served and never scored; the evaluator predicts it beside the hidden part and the instructors' "
        "report states both accuracies, flagging a network that fits the hidden rows far better than unseen ones "
        "(a memorised hidden part). The hidden part the checks score keeps the other rows"))

    @model_validator(mode="after")
    def _held_out(self) -> DatasetSplit:
        if (self.kind in ("stratified", "random")) != (self.held_out is not None):
            raise ValueError("held_out is given with kind = \"stratified\" or \"random\", and only then")
        if self.held_out is not None and self.held_out >= 1 and self.held_out != int(self.held_out):
            raise ValueError("held_out is a whole number of rows, or a share below 1")
        if self.second_sample is not None and self.second_sample >= 1 and self.second_sample != int(self.second_sample):
            raise ValueError("second_sample is a whole number of rows, or a share below 1 of the hidden part")
        return self


# where a notebook reads a served file, relative to its own folder: it may climb out of it (`../../data/x.gz`), as
# notebooks written inside the curriculum's repository do; the kernel's start-up answers such a read with the file
def _notebook_path(path: str) -> str:
    if not re.fullmatch(r"(\./)?(\.\./)*[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*", path):
        raise ValueError(f"{path!r} is no path relative to the notebook's folder: write it with `/`, as `name`, "
                         "`folder/name` or `../../data/name` (a Windows or absolute path exists on no grader)")
    return path


NotebookPath = Annotated[str, Field(max_length=200), AfterValidator(_notebook_path)]
PickleLayout = Literal["train_dict", "train_valid_test", "dict_or_tuple"]


class DatasetPickle(_Strict):
    """A pickle of the visible part in a layout course notebooks load (`pickle.load`, gzipped when `file` ends .gz)."""

    file: DataFile = Field(description="the file written in ./data; `.pkl` or `.pkl.gz`")
    layout: PickleLayout = Field(description=(
        "`train_dict`: {'Train': {'Features': int64 rows flattened, as stored, 'Labels': int64}} of the first "
        "`train_rows` visible training rows; `train_valid_test`: ((x, y), (x, y), (x, y)) with x float32 rows "
        "flattened and divided by (the largest raw value + 1), y int64: the first `train_rows` visible training "
        "rows, the rest of the training part, and the visible test part (empty when the split hides it all); "
        "`dict_or_tuple`: one file for notebooks that read one name in either layout: a string key (`['Train']`) "
        "answers as `train_dict`, a position or unpacking as `train_valid_test` (with `tuple_train_rows`)"))
    train_rows: int | None = Field(default=None, ge=1, description=(
        "rows of the training part in the file (all visible training rows when unset or when fewer)"))
    tuple_train_rows: int | None = Field(default=None, ge=1, description=(
        "`dict_or_tuple` only: rows of the tuple's training part (the rest of the visible training rows are its "
        "validation part; all of them when unset or when fewer)"))
    paths: tuple[NotebookPath, ...] = Field(default=(), max_length=32, description=(
        "where notebooks read it, relative to the notebook's folder: a path inside it is a link to the file there, "
        "one that climbs out of it (`../../data/name`) is answered by the kernel's start-up"))

    @model_validator(mode="after")
    def _pickle_file(self) -> DatasetPickle:
        if not self.file.endswith((".pkl", ".pkl.gz")):
            raise ValueError(f"{self.file!r}: a pickle file's name ends with .pkl or .pkl.gz")
        if self.tuple_train_rows is not None and self.layout != "dict_or_tuple":
            raise ValueError(f"{self.file!r}: tuple_train_rows is for the dict_or_tuple layout only")
        return self


class DatasetServe(_Strict):
    """The loaders answered offline from ./data in the sandbox; any other dataset loader fails with "not served"."""

    keras: tuple[Identifier, ...] = Field(default=(), description=(
        "`keras.datasets.<name>.load_data()` reads ./data/<name>.npz (this dataset's visible part)"))
    torchvision: tuple[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")], ...] = Field(
        default=(), description=(
            "`torchvision.datasets.<Name>(root='./data')` finds its raw IDX files in ./data/<Name>/raw (uint8 "
            "images, the layout of torchvision's IDX-reading classes)"))
    urls: dict[Annotated[str, Field(pattern=r"^https?://\S+$")], DataFile] = Field(default_factory=dict, description=(
        "URL -> file in ./data: `get_file`, torchvision's `download_url`, `urllib.request.urlretrieve`/`urlopen` "
        "and `!wget URL` / `!curl -O URL` lines get the local file"))
    pickles: tuple[DatasetPickle, ...] = Field(default=(), max_length=16, description=(
        "pickles of the visible part in the layouts course notebooks load, at the paths they read them from"))


class DatasetSpec(_Strict):
    """One dataset a lab's checks evaluate models on."""

    id: Identifier = Field(description="what checks' `dataset =` name; the visible part is ./data/<id>.npz")
    title: str = Field(min_length=1, max_length=100, description='how reports name it ("multi-layer <title> model")')
    classes: tuple[str, ...] = Field(default=(), max_length=10000, description=(
        "the class names in label order: label 0 is the first; imported class names are numbered in this order, "
        "class numbers index it (their count is the number of classes); empty: taken from the data, names sorted"))
    target: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$",
                               description=(
        "a regression dataset: the name of its numeric target (the CSV column `datasets import` reads it from, "
        "`--label` aside; how reports name it), in place of `classes`; its labels are numbers stored as float64 and "
        "its checks are mse, mae and r2 (and the overfitting gap, in R²)"))
    input_shape: tuple[Annotated[int, Field(ge=1)], ...] = Field(default=(), max_length=8, description=(
        "the shape of one raw input row as stored (empty: any; `datasets import` refuses other shapes)"))
    dtype: DTYPES | None = Field(default=None, description="the raw inputs' dtype (a source is cast to it)")
    value_range: tuple[float, float] | None = Field(default=None, description=(
        "the smallest and largest raw value (`datasets import` refuses data outside it)"))
    layouts: tuple[tuple[Annotated[int, Field(ge=1)], ...], ...] = Field(default=(), description=(
        "the input layouts a model may take, one row each (empty: flat, as stored, and with a channel first or "
        "last for 2-D rows)"))
    preprocessings: tuple[PreprocessingName, ...] = Field(default=PREPROCESSINGS, description=(
        "the built-in preprocessings tried when the notebook defines none, in the order that wins ties "
        "(`scaled_255` only for whole numbers 0..255)"))
    student_preprocess: Identifier | None = Field(default=None, description=(
        "the student's own preprocessing function (raw rows -> model inputs); default `preprocess_<id>`"))
    source: DatasetSource = Field(default=DatasetSource(imported=True), description="where the data comes from")
    split: DatasetSplit = Field(default=DatasetSplit(), description="how the visible and hidden parts are made")
    serve: DatasetServe = Field(default=DatasetServe(), description="the offline loaders of the sandbox")
    episodes: EnvironmentEpisodes | None = Field(default=None, description=(
        "an environment dataset's seeds and step cap (with `source.gymnasium`, and only then)"))

    @property
    def is_environment(self) -> bool:
        return self.source.kind == "environment"

    @property
    def regression(self) -> bool:
        """A dataset with a numeric target (mse, mae, r2) rather than classes."""
        return self.target is not None

    def regression_note(self) -> str | None:
        """How `labs validate` explains a regression dataset; None for a dataset of classes."""
        if self.target is None:
            return None
        held = f", {self.split.held_out:g} of the rows hidden" if self.split.held_out is not None else ""
        return (f"dataset {self.id}: regression: the target {self.target!r} is a number per row (float64); split "
                f"{self.split.kind}{held}, seed {self.split.seed}; the kernel sees only the visible rows "
                f"(./data/{self.id}.npz: x_train, y_train); a network has one output, its prediction in the target's "
                "own units, graded by mse, mae or r2")

    @property
    def preprocess_function(self) -> str:
        return self.student_preprocess or f"preprocess_{self.id}"

    def install_command(self, lab_id: str) -> str:
        """What an operator runs to install this dataset for lab `lab_id`, as a report or `datasets status` says it."""
        if self.source.kind == "file":
            fetch = " or `labgrader datasets fetch`" if self.source.url else ""
            return f"`labgrader datasets import {self.source.file}`{fetch}"
        if self.source.kind == "import":
            return f"`labgrader datasets import --lab {lab_id} --dataset {self.id} FILE`"
        if self.source.kind == "environment":
            return f"a restart of `labgrader serve`, which prepares it from gymnasium's {self.source.gymnasium}"
        return f"a restart of `labgrader serve`, which prepares it from scikit-learn's {self.source.sklearn}"

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        size = 1
        for n in self.input_shape:
            size *= n
        for layout in self.layouts:
            count = 1
            for n in layout:
                count *= n
            if self.input_shape and count != size:
                raise ValueError(f"dataset {self.id}: layout {list(layout)} holds {count} values, an input row "
                                 f"{size}")
        if self.value_range is not None and self.value_range[0] > self.value_range[1]:
            raise ValueError(f"dataset {self.id}: value_range is [smallest, largest]")
        if self.is_environment != (self.episodes is not None):
            raise ValueError(f"dataset {self.id}: a gymnasium source declares its seeds in [datasets.episodes], and "
                             "only it has episodes")
        if self.is_environment and (self.serve != DatasetServe() or self.split != DatasetSplit()):
            raise ValueError(f"dataset {self.id}: an environment is split by its seeds ([datasets.episodes]) and "
                             "serves ./data/<id>.npz only: no [datasets.split] or [datasets.serve]")
        if self.source.kind == "sklearn" and self.split.kind not in ("stratified", "random"):
            raise ValueError(f"dataset {self.id}: a scikit-learn loader has no test part; use split.kind = "
                             "\"stratified\" (\"random\" for a regression dataset) with held_out")
        if self.target is not None and self.classes:
            raise ValueError(f"dataset {self.id}: a regression dataset (target {self.target!r}) has no classes; "
                             "declare `target` or `classes`, not both")
        if self.target is not None and self.split.kind == "stratified":
            raise ValueError(f"dataset {self.id}: a regression dataset has no classes to stratify by; use split.kind "
                             "= \"random\" with held_out")
        if self.target is not None and self.split.second_sample is not None:
            raise ValueError(f"dataset {self.id}: a second held-back sample is set aside stratified by class; a "
                             "regression dataset has no classes, so it takes no split.second_sample")
        if self.target is not None and (self.serve.keras or self.serve.torchvision or self.serve.pickles):
            raise ValueError(f"dataset {self.id}: the keras, torchvision and pickle loaders serve classes; a "
                             "regression dataset is read from ./data/<id>.npz (x_train, y_train float64)")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"dataset {self.id}: class names repeat")
        if (self.serve.keras or self.serve.torchvision) and self.split.kind != "test_half":
            raise ValueError(f"dataset {self.id}: keras and torchvision loaders return a test part, which only a "
                             "test_half split leaves visible")
        if self.serve.pickles and (not self.input_shape or self.value_range is None):
            raise ValueError(f"dataset {self.id}: a pickle flattens rows of a known shape and scales by the largest "
                             "raw value: declare input_shape and value_range")
        if self.serve.torchvision and (self.dtype != "uint8" or len(self.input_shape) != 2):
            raise ValueError(f"dataset {self.id}: torchvision's IDX files hold uint8 images: declare dtype = "
                             "\"uint8\" and a two-dimensional input_shape")
        return self

    def served_files(self) -> set[str]:
        """The files of ./data this dataset provides."""
        return {f"{self.id}.npz", *(f"{name}.npz" for name in self.serve.keras),
                *(pickle.file for pickle in self.serve.pickles)}
