"""An instructor's image folder as a lab's evaluation data (`datasets import --lab --dataset FOLDER`): tiny PNG and
JPEG folders written here with Pillow, read back with the class order, shapes and splits the docs promise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from grader.data.lab_data import LabData
from grader.data.private import import_private_data
from grader.errors import DatasetError
from grader.spec.dataset import DatasetSpec, DatasetSplit

SHAPES = DatasetSpec(id="shapes", title="Shapes")


def write_images(folder: Path, counts: dict[str, int], size: tuple[int, int] = (6, 4), mode: str = "L",
                 suffix: str = ".png") -> None:
    """`counts[class]` images per class; image i of class c has every pixel 10 * c_index + i (RGB: on each channel)."""
    for index, name in enumerate(sorted(counts)):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(counts[name]):
            value = 10 * index + i
            colour = value if mode == "L" else (value, value, value)
            Image.new(mode, size, colour).save(folder / name / f"{i:03}{suffix}")


def test_a_folder_of_class_folders_is_split_stratified_with_sorted_classes(tmp_path: Path) -> None:
    write_images(tmp_path / "in", {"square": 10, "circle": 10, "triangle": 5})
    (tmp_path / "in" / "circle" / "notes.txt").write_text("not an image")
    lab = LabData(tmp_path / "data", "geometry")
    summary = import_private_data(lab, SHAPES, tmp_path / "in", hidden_fraction=0.2)
    assert summary == (f"imported {tmp_path / 'in'} as dataset shapes of lab geometry: 20 visible rows "
                       "(./data/shapes.npz in every job), 5 hidden rows (never in a sandbox), 3 classes, inputs "
                       "(4, 6); split stratified, seed 20241130, 5 of 25 rows hidden")
    with np.load(lab.visible / "shapes.npz") as visible, np.load(lab.hidden / "shapes.npz") as hidden:
        assert (visible["x_train"].dtype, visible["x_train"].shape, hidden["x"].shape) == (np.uint8, (20, 4, 6),
                                                                                          (5, 4, 6))
        assert np.bincount(hidden["y"]).tolist() == [2, 2, 1]
        # label 0 is circle (sorted), whose pixels are 0..9; each row is one constant image
        for x, y in zip(visible["x_train"], visible["y_train"], strict=True):
            assert x.min() == x.max() and x.max() // 10 == y
    provenance = json.loads((lab.root / "provenance-shapes.json").read_text())
    assert provenance["classes"] == ["circle", "square", "triangle"]
    assert provenance["source_sha256"] is None and provenance["input_shape"] == [4, 6]


def test_train_and_test_folders_are_a_given_split_and_rgb_is_kept(tmp_path: Path) -> None:
    write_images(tmp_path / "in" / "train", {"cat": 3, "dog": 2}, mode="RGB", suffix=".jpg")
    write_images(tmp_path / "in" / "test", {"cat": 1, "dog": 1}, mode="RGB", suffix=".jpg")
    lab = LabData(tmp_path / "data", "pets")
    declared = DatasetSpec(id="pets", title="Pets", classes=("dog", "cat"), input_shape=(4, 6, 3), dtype="uint8")
    summary = import_private_data(lab, declared, tmp_path / "in")
    assert summary.endswith("5 visible rows (./data/pets.npz in every job), 2 hidden rows (never in a sandbox), "
                            "2 classes, inputs (4, 6, 3); split as given: 2 test rows hidden")
    with np.load(lab.visible / "pets.npz") as visible, np.load(lab.hidden / "pets.npz") as hidden:
        assert visible["x_train"].shape == (5, 4, 6, 3) and hidden["x"].shape == (2, 4, 6, 3)
        # the lab declares dog before cat: dogs are label 0 whatever the sorted order of the folders
        assert visible["y_train"].tolist() == [1, 1, 1, 0, 0] and hidden["y"].tolist() == [1, 0]
    assert json.loads((lab.root / "provenance-pets.json").read_text())["classes"] == ["dog", "cat"]


def test_an_image_of_another_size_is_named(tmp_path: Path) -> None:
    write_images(tmp_path / "in", {"a": 2, "b": 2})
    Image.new("L", (5, 4)).save(tmp_path / "in" / "b" / "odd.png")
    with pytest.raises(DatasetError) as error:
        import_private_data(LabData(tmp_path / "data", "lab"), SHAPES, tmp_path / "in")
    assert str(error.value) == (f"{tmp_path / 'in' / 'b' / 'odd.png'} is 5x4 grayscale, but "
                                f"{tmp_path / 'in' / 'a' / '000.png'} is 6x4 grayscale: every image of the dataset "
                                "must have the same size and colours")
    assert not (tmp_path / "data").exists()


def test_folders_that_cannot_be_a_dataset_say_why(tmp_path: Path) -> None:
    lab = LabData(tmp_path / "data", "lab")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"has no class folders: put each class's images in FOLDER/<class name>/"):
        import_private_data(lab, SHAPES, tmp_path / "empty")
    write_images(tmp_path / "mixed", {"a": 2})
    Image.new("RGB", (6, 4)).save(tmp_path / "mixed" / "a" / "colour.png")
    with pytest.raises(DatasetError, match=r"colour\.png is 6x4 RGB, but .*000\.png is 6x4 grayscale"):
        import_private_data(lab, SHAPES, tmp_path / "mixed")
    (tmp_path / "broken" / "a").mkdir(parents=True)
    (tmp_path / "broken" / "a" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"x\.png could not be read as an image: "):
        import_private_data(lab, SHAPES, tmp_path / "broken")
    write_images(tmp_path / "other", {"a": 2, "b": 2})
    declared = SHAPES.model_copy(update={"classes": ("a", "c")})
    with pytest.raises(DatasetError) as error:
        import_private_data(lab, declared, tmp_path / "other")
    assert str(error.value) == "the source's classes (a, b) are not the classes dataset shapes declares (a, c)"
    wrong_shape = SHAPES.model_copy(update={"input_shape": (8, 8)})
    with pytest.raises(DatasetError) as error:
        import_private_data(lab, wrong_shape, tmp_path / "other")
    assert str(error.value) == (f"{tmp_path / 'other'} is not Shapes: x should be any dtype of shape (N, 8, 8), not "
                                "uint8 (4, 4, 6)")


def test_a_declared_stratified_split_sets_the_share_and_seed(tmp_path: Path) -> None:
    write_images(tmp_path / "in", {"a": 10, "b": 10})
    declared = SHAPES.model_copy(update={"split": DatasetSplit(kind="stratified", held_out=4, seed=7)})
    summary = import_private_data(LabData(tmp_path / "data", "lab"), declared, tmp_path / "in")
    assert summary.endswith("split stratified, seed 7, 4 of 20 rows hidden")
